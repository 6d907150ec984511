"""h2frames: ``check_block`` for each role (RFC 9113 §8.2 and §8.3), and the frame builders.

Every invalid kind is checked on its own next to a valid block of the same role, so a
rule that is too loose or too strict shows up as exactly one failing row.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightmesh.protocol import h2frames as f

Headers = list[tuple[bytes, bytes]]

GET: Headers = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"web:80"), (b":path", b"/a?b")]
OK: Headers = [(b":status", b"200")]


# REQUEST

VALID_REQUESTS: dict[str, Headers] = {
    "plain GET": GET,
    "GET with fields": [*GET, (b"accept", b"*/*"), (b"x-b3-traceid", b"80f198ee56343ba8")],
    "no :authority (host instead)": [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":path", b"/"),
        (b"host", b"h"),
    ],
    "pseudo-headers in any order": [
        (b":path", b"/"),
        (b":authority", b"a"),
        (b":scheme", b"http"),
        (b":method", b"GET"),
    ],
    "te: trailers": [*GET, (b"te", b"trailers")],
    "empty value": [*GET, (b"x-empty", b"")],
    "obs-text and inner whitespace in a value": [*GET, (b"x-v", b"a \tb\x80\xff")],
    "every token character in a name": [*GET, (b"!#$%&'*+-.^_`|~09az", b"v")],
    "repeated regular field": [*GET, (b"x-a", b"1"), (b"x-a", b"2")],
    "content-length": [(b":method", b"POST"), *GET[1:], (b"content-length", b"5")],
    "CONNECT with only :authority": [(b":method", b"CONNECT"), (b":authority", b"db:5432")],
    "extended CONNECT (RFC 8441)": [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", b"https"),
        (b":path", b"/chat"),
        (b":authority", b"h"),
    ],
}

INVALID_REQUESTS: dict[str, Headers] = {
    "no pseudo-headers at all": [(b"accept", b"*/*")],
    "empty block": [],
    "missing :method": GET[1:],
    "missing :scheme": [GET[0], *GET[2:]],
    "missing :path": GET[:3],
    "duplicate :method": [GET[0], *GET],
    "duplicate :path": [*GET, (b":path", b"/x")],
    "pseudo after regular": [*GET[:3], (b"accept", b"*/*"), GET[3]],
    "unknown pseudo-header": [*GET, (b":foo", b"bar")],
    "response pseudo-header in a request": [*GET, (b":status", b"200")],
    "upper-case name": [*GET, (b"Accept", b"*/*")],
    "empty name": [*GET, (b"", b"v")],
    "space in a name": [*GET, (b"x a", b"v")],
    "colon inside a name": [*GET, (b"x:a", b"v")],
    "non-ASCII name": [*GET, (b"x-\xe9", b"v")],
    "connection": [*GET, (b"connection", b"close")],
    "keep-alive": [*GET, (b"keep-alive", b"timeout=5")],
    "proxy-connection": [*GET, (b"proxy-connection", b"keep-alive")],
    "transfer-encoding": [*GET, (b"transfer-encoding", b"chunked")],
    "upgrade": [*GET, (b"upgrade", b"h2c")],
    "te: gzip": [*GET, (b"te", b"gzip")],
    "te: trailers, gzip": [*GET, (b"te", b"trailers, gzip")],
    "CR in a value": [*GET, (b"x-a", b"a\rb")],
    "LF in a value": [*GET, (b"x-a", b"a\nb")],
    "NUL in a value": [*GET, (b"x-a", b"a\x00b")],
    "CRLF in :path": [*GET[:3], (b":path", b"/\r\nx-injected: 1")],
    "CONNECT with :path": [(b":method", b"CONNECT"), (b":authority", b"h:1"), (b":path", b"/")],
    "CONNECT with :scheme": [(b":method", b"CONNECT"), (b":authority", b"h:1"), (b":scheme", b"http")],
    "CONNECT without :authority": [(b":method", b"CONNECT")],
    # RFC 9113 §8.3.1: ":path MUST NOT be empty for http or https URIs" (h2 rejects it too).
    "empty :path": [*GET[:3], (b":path", b"")],
}


@pytest.mark.parametrize("headers", VALID_REQUESTS.values(), ids=VALID_REQUESTS.keys())
def test_valid_request_blocks(headers: Headers) -> None:
    assert f.check_block(headers, f.REQUEST) is None


@pytest.mark.parametrize("headers", INVALID_REQUESTS.values(), ids=INVALID_REQUESTS.keys())
def test_invalid_request_blocks(headers: Headers) -> None:
    reason = f.check_block(headers, f.REQUEST)
    assert isinstance(reason, str) and reason


# RESPONSE

VALID_RESPONSES: dict[str, Headers] = {
    "status only": OK,
    "status and fields": [*OK, (b"content-type", b"text/plain"), (b"content-length", b"0")],
    "informational": [(b":status", b"100")],
    "te: trailers": [*OK, (b"te", b"trailers")],
    "grpc fields": [*OK, (b"content-type", b"application/grpc"), (b"grpc-encoding", b"identity")],
}

INVALID_RESPONSES: dict[str, Headers] = {
    "missing :status": [(b"content-type", b"text/plain")],
    "empty block": [],
    "duplicate :status": [*OK, (b":status", b"204")],
    "pseudo after regular": [(b"server", b"x"), *OK],
    "request pseudo-header in a response": [*OK, (b":path", b"/")],
    "unknown pseudo-header": [*OK, (b":foo", b"1")],
    "upper-case name": [*OK, (b"Server", b"x")],
    "empty name": [*OK, (b"", b"x")],
    "connection": [*OK, (b"connection", b"keep-alive")],
    "transfer-encoding": [*OK, (b"transfer-encoding", b"chunked")],
    "upgrade": [*OK, (b"upgrade", b"websocket")],
    "keep-alive": [*OK, (b"keep-alive", b"timeout=5")],
    "proxy-connection": [*OK, (b"proxy-connection", b"close")],
    "te: gzip": [*OK, (b"te", b"gzip")],
    "CR in a value": [*OK, (b"location", b"/a\r\nset-cookie: x=1")],
    "LF in a value": [*OK, (b"x-a", b"\n")],
    "NUL in a value": [*OK, (b"x-a", b"\x00")],
}


@pytest.mark.parametrize("headers", VALID_RESPONSES.values(), ids=VALID_RESPONSES.keys())
def test_valid_response_blocks(headers: Headers) -> None:
    assert f.check_block(headers, f.RESPONSE) is None


@pytest.mark.parametrize("headers", INVALID_RESPONSES.values(), ids=INVALID_RESPONSES.keys())
def test_invalid_response_blocks(headers: Headers) -> None:
    reason = f.check_block(headers, f.RESPONSE)
    assert isinstance(reason, str) and reason


# TRAILERS

VALID_TRAILERS: dict[str, Headers] = {
    "empty block": [],
    "grpc status": [(b"grpc-status", b"0"), (b"grpc-message", b"")],
    "repeated field": [(b"x-a", b"1"), (b"x-a", b"2")],
    "obs-text value": [(b"x-checksum", b"\x80\xfe")],
}

INVALID_TRAILERS: dict[str, Headers] = {
    ":status in trailers": [(b":status", b"200")],
    ":path in trailers": [(b":path", b"/")],
    "pseudo after regular": [(b"x-a", b"1"), (b":method", b"GET")],
    "unknown pseudo-header": [(b":foo", b"1")],
    "upper-case name": [(b"Grpc-Status", b"0")],
    "empty name": [(b"", b"0")],
    "connection": [(b"connection", b"close")],
    "transfer-encoding": [(b"transfer-encoding", b"chunked")],
    "te: gzip": [(b"te", b"gzip")],
    "CR in a value": [(b"x-a", b"\r")],
    "LF in a value": [(b"x-a", b"a\nb")],
    "NUL in a value": [(b"x-a", b"a\x00")],
}


@pytest.mark.parametrize("headers", VALID_TRAILERS.values(), ids=VALID_TRAILERS.keys())
def test_valid_trailer_blocks(headers: Headers) -> None:
    assert f.check_block(headers, f.TRAILERS) is None


@pytest.mark.parametrize("headers", INVALID_TRAILERS.values(), ids=INVALID_TRAILERS.keys())
def test_invalid_trailer_blocks(headers: Headers) -> None:
    reason = f.check_block(headers, f.TRAILERS)
    assert isinstance(reason, str) and reason


@pytest.mark.parametrize(
    ("headers", "role"),
    [(GET, f.RESPONSE), (GET, f.TRAILERS), (OK, f.REQUEST), (OK, f.TRAILERS)],
    ids=["request as response", "request as trailers", "response as request", "response as trailers"],
)
def test_a_block_valid_in_one_role_is_invalid_in_another(headers: Headers, role: int) -> None:
    assert f.check_block(headers, role) is not None


# frame builders


def test_frame_header_layout() -> None:
    payload = b"x" * 70_000  # a length over 16 bits uses the 24-bit field
    data = f.frame(f.DATA, f.END_STREAM, 0x7FFFFFFF, payload)
    assert data[:9] == bytes([0x01, 0x11, 0x70, 0x00, 0x01, 0x7F, 0xFF, 0xFF, 0xFF])
    assert data[9:] == payload
    assert f.frame(f.PING, f.ACK, 0) == b"\x00\x00\x00\x06\x01\x00\x00\x00\x00"


def test_control_frame_builders() -> None:
    assert f.settings_frame({f.INITIAL_WINDOW_SIZE: 1 << 20, f.ENABLE_PUSH: 0}) == (
        b"\x00\x00\x0c\x04\x00\x00\x00\x00\x00" + b"\x00\x04\x00\x10\x00\x00" + b"\x00\x02\x00\x00\x00\x00"
    )
    assert f.parse_settings(b"\x00\x04\x00\x10\x00\x00\x00\x02\x00\x00\x00\x00") == [(4, 1 << 20), (2, 0)]
    assert f.window_update_frame(3, 1000) == b"\x00\x00\x04\x08\x00\x00\x00\x00\x03\x00\x00\x03\xe8"
    assert f.rst_stream_frame(5, f.CANCEL) == b"\x00\x00\x04\x03\x00\x00\x00\x00\x05\x00\x00\x00\x08"
    assert f.goaway_frame(7, f.ENHANCE_YOUR_CALM) == (
        b"\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x0b"
    )
    assert f.u32(b"\x00\x80\x00\x00\x01", 1) == 0x80000001


# check_block against a field-by-field reference


def reference_valid(headers: Headers, role: int) -> bool:
    """RFC 9113 §8.2-8.3 as a plain loop: one regex per name and per value."""
    allowed = {
        f.REQUEST: {b":method", b":scheme", b":authority", b":path", b":protocol"},
        f.RESPONSE: {b":status"},
        f.TRAILERS: set(),
    }[role]
    seen: set[bytes] = set()
    regular = False
    for name, value in headers:
        if re.search(rb"[\r\n\x00]", value):
            return False
        if name.startswith(b":"):
            if regular or name not in allowed or name in seen:
                return False
            if (name == b":path" and not value) or (
                name == b":status" and not (len(value) == 3 and value.isdigit())
            ):
                return False
            seen.add(name)
            continue
        regular = True
        if not name or re.search(rb"[^!#$%&'*+\-.^_`|~0-9a-z]", name) or name in f.CONNECTION_SPECIFIC:
            return False
        if name == b"te" and value != b"trailers":
            return False
    if role == f.REQUEST:
        if b":method" not in seen:
            return False
        if (b":method", b"CONNECT") in headers[: len(seen)] and b":protocol" not in seen:
            return b":authority" in seen and b":path" not in seen and b":scheme" not in seen
        return b":path" in seen and b":scheme" in seen
    return role != f.RESPONSE or b":status" in seen


field_names = st.sampled_from(
    [
        b":method",
        b":path",
        b":scheme",
        b":authority",
        b":status",
        b"te",
        b"x-a",
        b"X-A",
        b"",
        b"a b",
        b"connection",
    ]
)
field_values = st.sampled_from(
    [b"GET", b"CONNECT", b"/", b"200", b"trailers", b"", b"a\rb", b"\n", b"\x00", b"v"]
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.tuples(field_names, field_values), max_size=7),
    st.sampled_from([f.REQUEST, f.RESPONSE, f.TRAILERS]),
)
def test_check_block_agrees_with_a_field_by_field_check(headers: Headers, role: int) -> None:
    reason = f.check_block(headers, role)
    assert (reason is None) == reference_valid(headers, role), reason
