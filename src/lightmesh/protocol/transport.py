"""The transport header of opaque TCP between lightmesh proxies (sans-I/O).

An outbound proxy that carries an opaque connection to a meshed pod dials the pod's
proxy on its inbound port, with mutual TLS and ALPN ``lightmesh.opaque``, and sends
this header first, inside TLS: ``LMT1 <port>\\n``, the port the application connected
to. The inbound proxy reads it, then relays the rest to its application at that port.
Dialling the inbound port directly (rather than the application's port, where iptables
would redirect it) is what lets this work for server-speaks-first protocols too: the
inbound proxy relays ports on its opaque list without detection, so it could never
see the ClientHello there.

:func:`parse_header` returns ``None`` while the header is incomplete, else the port and
the bytes after it; anything else is :class:`BadTransportHeader`.
"""

from __future__ import annotations

import re

MAGIC = b"LMT1 "
MAX_HEADER = len(MAGIC) + 6  # "LMT1 " + up to 5 digits + "\n"
_HEADER = re.compile(rb"LMT1 ([1-9][0-9]{0,4})\n")


class BadTransportHeader(ValueError):
    """The stream does not start with a valid transport header."""


def encode_header(port: int) -> bytes:
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} out of range")
    return b"%s%d\n" % (MAGIC, port)


def parse_header(data: bytes) -> tuple[int, bytes] | None:
    """``(port, rest)`` once ``data`` holds a whole header; ``None`` while it may still become one."""
    match = _HEADER.match(data)
    if match is not None:
        port = int(match[1])
        if port > 65535:
            raise BadTransportHeader(f"port {port} out of range")
        return port, data[match.end() :]
    head = data[:MAX_HEADER]
    if b"\n" in head or len(head) >= MAX_HEADER or not _could_start(head):
        raise BadTransportHeader(f"not a lightmesh transport header: {head[:16]!r}")
    return None


def _could_start(head: bytes) -> bool:
    if len(head) <= len(MAGIC):
        return MAGIC.startswith(head)
    digits = head[len(MAGIC) :]
    return head.startswith(MAGIC) and digits.isdigit() and not digits.startswith(b"0")
