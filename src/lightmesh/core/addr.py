"""Addresses and authorities: parsing ``host:port`` forms and the static destination map.

An *authority* is what a request names (``web.default.svc:8080``, ``10.0.0.1:80``,
``[::1]:80``); a missing port means the scheme's default (80 for HTTP). A
*socket address* is a literal ``(ip, port)`` pair. All parsers raise ``ValueError``
with a message that says what was wrong, so configuration errors are clear.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final, NamedTuple


class SocketAddr(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _port(text: str, where: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"invalid port {text!r} in {where!r}")
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} out of range in {where!r}")
    return port


def split_host_port(text: str, default_port: int | None = None) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 in brackets); use ``default_port`` when the port is missing."""
    if not text:
        raise ValueError("empty address")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"unclosed '[' in {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"unexpected {rest!r} after ']' in {text!r}")
        if rest == ":":
            raise ValueError(f"missing port after ':' in {text!r}")
        if host and not _is_ipv6(host):
            raise ValueError(f"{host!r} in brackets is not an IPv6 address in {text!r}")
        port_text = rest[1:]
    elif text.count(":") > 1:
        if not _is_ipv6(text):
            raise ValueError(f"too many ':' in {text!r} (write an IPv6 address with a port as [addr]:port)")
        host, port_text = text, ""  # bare IPv6 literal without port
    else:
        host, _, port_text = text.partition(":")
        if not port_text and text.endswith(":"):
            raise ValueError(f"missing port after ':' in {text!r}")
    if not host:
        raise ValueError(f"missing host in {text!r}")
    if port_text:
        return host.lower(), _port(port_text, text)
    if default_port is None:
        raise ValueError(f"missing port in {text!r}")
    return host.lower(), default_port


def parse_socket_addr(text: str) -> SocketAddr:
    """Parse ``ip:port`` or ``host:port`` (a host name is kept for the resolver)."""
    host, port = split_host_port(text.strip())
    return SocketAddr(host, port)


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def normalize_authority(authority: bytes, default_port: int = 80) -> str:
    """``Host``/URI authority bytes to a canonical lower-case ``host:port`` key."""
    host, port = split_host_port(authority.decode("latin-1").strip(), default_port)
    return str(SocketAddr(host, port))


def parse_static_destinations(spec: str) -> dict[str, list[SocketAddr]]:
    """Parse ``name:port=ip:port,ip:port;name2:port=...`` into a map keyed by authority."""
    table: dict[str, list[SocketAddr]] = {}
    for entry in filter(None, (e.strip() for e in spec.split(";"))):
        name, sep, targets = entry.partition("=")
        if not sep:
            raise ValueError(f"static destination {entry!r} needs '=' between name:port and endpoints")
        name = name.strip()
        try:
            host, port = split_host_port(name)
            endpoints = [parse_socket_addr(t) for t in targets.split(",") if t.strip()]
        except ValueError as exc:
            raise ValueError(f"static destination {entry!r}: {exc}") from None
        if not endpoints:
            raise ValueError(f"static destination {name!r} lists no endpoints")
        key = str(SocketAddr(host, port))
        if key in table:
            raise ValueError(f"static destination {key!r} is listed more than once")
        table[key] = endpoints
    return table


def parse_ports(spec: str) -> frozenset[int]:
    """Parse a comma-separated list of ports and ``lo-hi`` ranges."""
    ports: set[int] = set()
    for item in filter(None, (p.strip() for p in spec.split(","))):
        lo, sep, hi = item.partition("-")
        first = _port(lo, spec)
        last = _port(hi, spec) if sep else first
        if last < first:
            raise ValueError(f"empty port range {item!r}")
        ports.update(range(first, last + 1))
    return frozenset(ports)


_LABEL: Final = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")


def check_hostname(host: str) -> None:
    """Raise ``ValueError`` unless ``host`` is a valid DNS name (RFC 1123, ``_`` allowed)."""
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253:
        raise ValueError("a host name must have 1 to 253 characters")
    for label in name.split("."):
        if not _LABEL.match(label):
            raise ValueError(f"invalid label {label!r}: use letters, digits and '-', 1 to 63 characters")
