"""HTTP/2 wire constants, frame headers, and header-block rules (RFC 9113), without I/O.

Frames are built with one precompiled :mod:`struct` per layout. Header blocks are
checked by :func:`check_block`: pseudo-headers first and only the ones the role
allows, no duplicates, lower-case names, none of the connection-specific fields,
``te`` only ``trailers``, and no CR, LF or NUL in values (which would let a
request split when it is later written as HTTP/1).
"""

from __future__ import annotations

import struct
from typing import Final

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x5, 0x6, 0x7, 0x8, 0x9

END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM = 0x4, 0x5, 0x6, 0x7
CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0x8, 0x9, 0xB

HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS = 0x1, 0x2, 0x3
INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = 0x4, 0x5, 0x6

MAX_WINDOW: Final = 2**31 - 1
DEFAULT_WINDOW: Final = 65_535
DEFAULT_FRAME_SIZE: Final = 16_384

FRAME_HEADER: Final = struct.Struct(">BHBBL")  # length (24 bits as 8 + 16), type, flags, stream id
_U32: Final = struct.Struct(">L")
_SETTING: Final = struct.Struct(">HL")
_GOAWAY: Final = struct.Struct(">LL")


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return FRAME_HEADER.pack(n >> 16, n & 0xFFFF, kind, flags, stream_id) + payload


def settings_frame(values: dict[int, int]) -> bytes:
    return frame(SETTINGS, 0, 0, b"".join(_SETTING.pack(k, v) for k, v in values.items()))


def parse_settings(payload: bytes) -> list[tuple[int, int]]:
    return [_SETTING.unpack_from(payload, i) for i in range(0, len(payload), 6)]


def window_update_frame(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, _U32.pack(increment))


def rst_stream_frame(stream_id: int, code: int) -> bytes:
    return frame(RST_STREAM, 0, stream_id, _U32.pack(code))


def goaway_frame(last_stream_id: int, code: int) -> bytes:
    return frame(GOAWAY, 0, 0, _GOAWAY.pack(last_stream_id, code))


def u32(payload: bytes, offset: int = 0) -> int:
    value: int = _U32.unpack_from(payload, offset)[0]
    return value


# header blocks
REQUEST, RESPONSE, TRAILERS = 0, 1, 2
_PSEUDO: Final = {
    REQUEST: frozenset({b":method", b":scheme", b":authority", b":path", b":protocol"}),
    RESPONSE: frozenset({b":status"}),
    TRAILERS: frozenset(),
}
CONNECTION_SPECIFIC: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
# Checked with translate(), which deletes these bytes at C speed: what is left is what is wrong.
_NAME_BYTES: Final = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"  # RFC 9110 token, lower case
_VALUE_BAD_BYTES: Final = b"\r\n\x00"


def _bad_name(name: bytes) -> bool:
    return bool(name.translate(None, _NAME_BYTES))


def _bad_value(value: bytes) -> bool:
    return len(value.translate(None, _VALUE_BAD_BYTES)) != len(value)


def check_block(headers: list[tuple[bytes, bytes]], role: int) -> str | None:
    """Why ``headers`` are not a valid block for ``role``, or ``None`` when they are.

    Names and values are checked for bad bytes all at once, joined by a byte that is
    fine in either (one ``translate`` each, not two regex searches per field); only a
    block that fails is searched field by field, to say which field it was."""
    allowed = _PSEUDO[role]
    pseudo: set[bytes] = set()
    regular = False
    names: list[bytes] = []
    values: list[bytes] = []
    for name, value in headers:
        if name[:1] == b":":
            if regular or name not in allowed or name in pseudo:
                return f"misplaced, unknown or repeated pseudo-header {name!r}"
            if name == b":path" and not value:
                return "empty :path"
            if name == b":status" and not (len(value) == 3 and value.isdigit()):
                return f"invalid :status {value!r}"
            pseudo.add(name)
        else:
            regular = True
            if not name:
                return f"invalid header name {name!r}"
            if name in CONNECTION_SPECIFIC or (name == b"te" and value != b"trailers"):
                return f"connection-specific header {name.decode('latin-1')!r}"
            names.append(name)
        values.append(value)
    if _bad_name(b"-".join(names)) or _bad_value(b" ".join(values)):
        return _bad_field(headers)
    if role == REQUEST:
        if b":method" not in pseudo:
            return "request without :method"
        connect = any(name == b":method" and value == b"CONNECT" for name, value in headers[: len(pseudo)])
        if connect and b":protocol" not in pseudo:
            if b":authority" not in pseudo or b":path" in pseudo or b":scheme" in pseudo:
                return "CONNECT needs :authority and no :path or :scheme"
        elif b":path" not in pseudo or b":scheme" not in pseudo:
            return "request without :scheme or :path"
    elif role == RESPONSE and b":status" not in pseudo:
        return "response without :status"
    return None


def _bad_field(headers: list[tuple[bytes, bytes]]) -> str:
    """The first field with a bad byte in its name or value."""
    for name, value in headers:
        if name[:1] != b":" and _bad_name(name):
            return f"invalid header name {name!r}"
        if _bad_value(value):
            return f"header {name!r} has a CR, LF or NUL in its value"
    raise AssertionError("no bad field in a block that failed the check")
