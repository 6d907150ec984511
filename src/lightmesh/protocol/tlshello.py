"""The TLS ClientHello, parsed sans-I/O for its SNI and ALPN (RFC 8446 4.1.2, RFC 6066 3, RFC 7301).

:func:`parse_client_hello` takes the bytes a client sent so far and returns the
:class:`ClientHello` once the whole message has arrived, ``None`` while more bytes are
needed, or raises :class:`NotClientHello` when the bytes cannot be one. The message may
be split over several handshake records (each record's header is checked) and the
bytes after it are ignored. It is capped at :data:`MAX_HELLO` bytes, so a client
cannot make the proxy buffer more than that before it decides.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_HELLO = 64 * 1024
HANDSHAKE = 0x16
CLIENT_HELLO = 1
EXT_SERVER_NAME = 0
EXT_ALPN = 16


class NotClientHello(ValueError):
    """The bytes are not a well-formed TLS ClientHello."""


@dataclass(frozen=True, slots=True)
class ClientHello:
    server_name: str | None
    alpn: tuple[bytes, ...] = ()


def _handshake_bytes(data: bytes) -> bytes | None:
    """The handshake message carried by the leading records, or ``None`` until it is complete."""
    out = bytearray()
    pos = 0
    need: int | None = None
    while need is None or len(out) < need:
        if len(data) < pos + 5:
            return None
        if data[pos] != HANDSHAKE or data[pos + 1] != 3:
            raise NotClientHello("not a TLS handshake record")
        length = int.from_bytes(data[pos + 3 : pos + 5], "big")
        if length == 0 or length > 16384 + 2048:
            raise NotClientHello(f"invalid TLS record length {length}")
        if len(data) < pos + 5 + length:
            return None
        out += data[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if need is None and len(out) >= 4:
            if out[0] != CLIENT_HELLO:
                raise NotClientHello("the first handshake message is not a ClientHello")
            need = 4 + int.from_bytes(out[1:4], "big")
            if need > MAX_HELLO:
                raise NotClientHello(f"ClientHello of {need} bytes exceeds {MAX_HELLO}")
    return bytes(out[:need])


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise NotClientHello("truncated ClientHello")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def vector(self, size: int) -> bytes:
        return self.take(int.from_bytes(self.take(size), "big"))

    @property
    def done(self) -> bool:
        return self.pos == len(self.data)


def parse_client_hello(data: bytes) -> ClientHello | None:
    message = _handshake_bytes(data)
    if message is None:
        return None
    body = _Reader(message[4:])
    body.take(2 + 32)  # legacy_version, random
    body.vector(1)  # legacy_session_id
    if len(body.vector(2)) % 2:
        raise NotClientHello("odd cipher_suites length")
    body.vector(1)  # legacy_compression_methods
    if body.done:
        return ClientHello(None)  # no extensions at all (only before TLS 1.2)
    extensions = _Reader(body.vector(2))
    if not body.done:
        raise NotClientHello("bytes after the extensions")
    server_name: str | None = None
    alpn: tuple[bytes, ...] = ()
    seen: set[int] = set()
    while not extensions.done:
        kind = int.from_bytes(extensions.take(2), "big")
        value = extensions.vector(2)
        if kind in seen:
            raise NotClientHello(f"duplicate extension {kind}")
        seen.add(kind)
        if kind == EXT_SERVER_NAME:
            server_name = _server_name(value)
        elif kind == EXT_ALPN:
            alpn = _alpn(value)
    return ClientHello(server_name, alpn)


def _server_name(value: bytes) -> str | None:
    names = _Reader(_Reader(value).vector(2))
    found = None
    while not names.done:
        kind = names.take(1)[0]
        name = names.vector(2)
        if kind == 0:
            if found is not None:
                raise NotClientHello("more than one host_name in server_name")
            if not name or not name.isascii():
                raise NotClientHello("invalid host_name in server_name")
            found = name.decode("ascii").lower()
    return found


def _alpn(value: bytes) -> tuple[bytes, ...]:
    protocols = _Reader(_Reader(value).vector(2))
    out = []
    while not protocols.done:
        name = protocols.vector(1)
        if not name:
            raise NotClientHello("empty ALPN protocol name")
        out.append(name)
    return tuple(out)
