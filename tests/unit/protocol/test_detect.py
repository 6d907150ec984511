"""Protocol detection from a connection's first bytes: tables and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightmesh.protocol.detect import MAX_REQUEST_LINE, PREFACE, Protocol, detect

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
TLS_CLIENT_HELLO = bytes.fromhex("16030100f8010000f40303") + bytes(32)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (b"", None),
        (PREFACE, Protocol.HTTP2),
        (PREFACE + b"\x00\x00\x12\x04", Protocol.HTTP2),
        (b"P", None),
        (b"PRI * HTTP/2.0\r\n", None),
        (PREFACE[:-1], None),
        (b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", Protocol.OPAQUE),
        (TLS_CLIENT_HELLO, Protocol.TLS),
        (b"\x16\x03\x03", Protocol.TLS),
        (b"\x16\x03\x00", Protocol.TLS),
        (b"\x16", None),
        (b"\x16\x03", None),
        (b"\x16\x03\x05", Protocol.OPAQUE),
        (b"\x16\x02\x01", Protocol.OPAQUE),
        (b"GET / HTTP/1.1\r\n", Protocol.HTTP1),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Protocol.HTTP1),
        (b"POST /a?b=c HTTP/1.0\r\n", Protocol.HTTP1),
        (b"OPTIONS * HTTP/1.1\r\n", Protocol.HTTP1),
        (b"CONNECT example.com:443 HTTP/1.1\r\n", Protocol.HTTP1),
        (b"GET http://a/b HTTP/1.1\r\n", Protocol.HTTP1),
        (b"GET / HTTP/1.1\n", Protocol.HTTP1),
        (b"G", None),
        (b"GET", None),
        (b"BREW ", None),
        (b"BREW /index.html", None),
        (b"BREW / ", None),
        (b"BREW / HTTP/1.", None),
        (b"BREW / HTTP/1.1", None),
        (b"BREW / HTTP/1.1\r", None),
        (b"BREW / HTTP/2.0\r\n", Protocol.OPAQUE),
        (b"BREW / HTTP/1.2\r\n", Protocol.OPAQUE),
        (b"BREW  / HTTP/1.1\r\n", Protocol.OPAQUE),
        (b"BREW / HTTP/1.1\rX", Protocol.OPAQUE),
        (b"BREW / FTP", Protocol.OPAQUE),
        # A standard method and a space: HTTP/1, so a malformed line gets a 400, not a relay.
        (b"GET ", Protocol.HTTP1),
        (b"POST /a b HTTP/1.1\r\n", Protocol.HTTP1),
        (b"GET / HTTP/1.2\r\n", Protocol.HTTP1),
        (b"A" * 33 + b" / HTTP/1.1\r\n", Protocol.OPAQUE),
        (b"SSH-2.0-OpenSSH_9.6\r\n", Protocol.OPAQUE),
        (b"\x00\x00\x00\x01", Protocol.OPAQUE),
        (b"*2\r\n$4\r\nPING\r\n", Protocol.OPAQUE),
        (b"\r\n", Protocol.OPAQUE),
    ],
)
def test_detect_table(prefix: bytes, expected: Protocol | None) -> None:
    assert detect(prefix) is expected


def test_partial_preface_needs_more_bytes() -> None:
    assert all(detect(PREFACE[:n]) is None for n in range(1, len(PREFACE)))


def test_a_long_unfinished_request_line_is_http1() -> None:
    prefix = b"BREW /" + b"a" * MAX_REQUEST_LINE
    assert detect(prefix[:MAX_REQUEST_LINE]) is None
    assert detect(prefix) is Protocol.HTTP1


def test_a_long_request_line_stays_http1_whatever_follows() -> None:
    prefix = b"GET /" + b"a" * MAX_REQUEST_LINE
    assert detect(prefix + b" NOT-HTTP\r\n") is Protocol.HTTP1


request_lines = st.builds(
    lambda method, target, minor: b"%s %s HTTP/1.%d\r\n" % (method, target, minor),
    st.text(TOKEN_CHARS, min_size=1, max_size=32).map(str.encode),
    st.binary(min_size=1, max_size=64).map(lambda b: bytes(0x21 + c % 94 for c in b)),
    st.integers(0, 1),
)

streams = st.one_of(
    st.binary(max_size=64),
    st.builds(bytes.__add__, request_lines, st.binary(max_size=16)),
    st.builds(
        lambda line, cut, tail: line[:cut] + tail, request_lines, st.integers(0, 80), st.binary(max_size=8)
    ),
    st.builds(lambda cut, tail: PREFACE[:cut] + tail, st.integers(0, len(PREFACE)), st.binary(max_size=8)),
    st.builds(bytes.__add__, st.sampled_from([b"\x16", b"\x16\x03", b"P", b"GET "]), st.binary(max_size=8)),
)


@given(st.binary(max_size=256))
def test_detect_never_raises_on_arbitrary_bytes(prefix: bytes) -> None:
    assert detect(prefix) in (None, *Protocol)


@given(streams)
def test_an_answer_never_changes_when_more_bytes_arrive(stream: bytes) -> None:
    answers = [detect(stream[:n]) for n in range(len(stream) + 1)]
    decided = [answer for answer in answers if answer is not None]
    assert answers[len(answers) - len(decided) :] == decided, "None after an answer"
    assert len(set(decided)) <= 1


@given(request_lines, st.binary(max_size=32))
def test_valid_request_lines_are_http1(line: bytes, rest: bytes) -> None:
    assert detect(line) is Protocol.HTTP1
    assert detect(line + rest) is Protocol.HTTP1


@given(request_lines)
def test_unfinished_valid_request_lines_need_more_bytes(line: bytes) -> None:
    assert all(detect(line[:n]) is None for n in range(1, len(line)))


@given(st.binary(max_size=64))
def test_full_preface_is_http2_whatever_follows(rest: bytes) -> None:
    assert detect(PREFACE + rest) is Protocol.HTTP2
