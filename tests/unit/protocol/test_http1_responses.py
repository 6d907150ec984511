"""ResponseParser: interim responses, upgrades, bodiless responses, framing and errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightmesh.core.errors import UpstreamError
from lightmesh.protocol.http1 import MAX_HEAD_BYTES, Framing, ResponseParser
from lightmesh.protocol.messages import NO_BODY
from tests.unit.protocol._http1 import response_parser, split

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_a_response_with_content_length() -> None:
    parser, recorder = response_parser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok") is None
    [message] = recorder.messages
    assert (message.response.status, message.response.reason) == (200, b"OK")
    assert message.response.headers == [(b"content-type", b"text/plain")]
    assert message.framing is Framing.LENGTH
    assert parser.length == 2
    assert (message.body, message.complete, message.keep_alive_at_end) == (b"ok", True, True)


def test_interim_1xx_responses_are_skipped() -> None:
    parser, recorder = response_parser()
    parser.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK)
    [message] = recorder.messages
    assert message.response.status == 200
    assert message.response.headers == []
    assert (message.body, message.complete) == (b"ok", True)


def test_101_keeps_the_upgrade_header_and_returns_the_tunnel_bytes() -> None:
    parser, recorder = response_parser()
    data = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    assert parser.feed(data + b"\x81\x02hi") == b"\x81\x02hi"
    [message] = recorder.messages
    assert message.response.status == 101
    assert message.response.headers == [(b"upgrade", b"websocket")]
    assert message.framing is Framing.NONE
    assert message.response.keep_alive is False


def test_head_response_has_no_body_and_keeps_content_length() -> None:
    parser, recorder = response_parser(b"HEAD")
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n") is None
    [message] = recorder.messages
    assert message.framing is Framing.NONE
    assert message.response.body is NO_BODY
    assert message.response.headers == [(b"content-length", b"1234")]
    assert message.complete
    assert message.keep_alive_at_end is True


def test_the_connection_is_reusable_after_a_head_response() -> None:
    parser, recorder = response_parser(b"HEAD")
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
    parser.expect(b"GET")
    parser.feed(OK)
    assert [(m.response.status, m.body, m.complete) for m in recorder.messages] == [
        (200, b"", True),
        (200, b"ok", True),
    ]


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", id="chunked"),
        pytest.param(b"HTTP/1.1 200 OK\r\n\r\n", id="no-framing"),
    ],
)
def test_head_response_ends_at_its_head_whatever_its_framing_fields_say(head: bytes) -> None:
    parser, recorder = response_parser(b"HEAD")
    parser.feed(head)
    [message] = recorder.messages
    assert message.framing is Framing.NONE
    assert message.complete


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body(status: int) -> None:
    parser, recorder = response_parser()
    parser.feed(b"HTTP/1.1 %d X\r\nContent-Length: 5\r\n\r\n" % status + OK)
    first, second = recorder.messages
    assert (first.response.status, first.framing, first.complete) == (status, Framing.NONE, True)
    assert first.body == b""
    assert first.response.body is NO_BODY
    assert second.body == b"ok"


def test_close_delimited_body_ends_at_eof() -> None:
    parser, recorder = response_parser()
    parser.feed(b"HTTP/1.1 200 OK\r\n\r\nhello ")
    parser.feed(b"world")
    [message] = recorder.messages
    assert message.framing is Framing.CLOSE
    assert not message.complete
    assert parser.feed_eof() is True
    assert (message.body, message.complete) == (b"hello world", True)


def test_eof_mid_length_body_is_not_a_clean_end() -> None:
    parser, recorder = response_parser()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
    assert parser.feed_eof() is False
    assert not recorder.messages[0].complete


def test_eof_between_responses_is_clean() -> None:
    parser, _ = response_parser()
    assert parser.feed_eof() is True
    parser.feed(OK)
    assert parser.feed_eof() is True


def test_chunked_body_and_trailers_are_delivered() -> None:
    parser, recorder = response_parser()
    parser.feed(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status\r\n\r\n"
        b"2\r\nok\r\n3\r\n!!!\r\n0\r\ngrpc-status: 0\r\nGrpc-Message: fine\r\n\r\n"
    )
    [message] = recorder.messages
    assert message.framing is Framing.CHUNKED
    assert parser.length is None
    assert message.response.headers == []
    assert message.body == b"ok!!!"
    assert message.trailers == [(b"grpc-status", b"0"), (b"grpc-message", b"fine")]


@given(st.lists(st.integers(0, 500), max_size=6))
def test_chunked_responses_do_not_depend_on_splits(cuts: list[int]) -> None:
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-t: done\r\n\r\n"
    )
    parser, recorder = response_parser()
    for piece in split(data, cuts):
        parser.feed(piece)
    [message] = recorder.messages
    assert message.response.headers == [(b"x-a", b"1")]
    assert (message.body, message.trailers, message.complete) == (b"hello world", [(b"x-t", b"done")], True)


def test_hop_by_hop_fields_are_removed_from_responses() -> None:
    parser, recorder = response_parser()
    parser.feed(
        b"HTTP/1.1 200 OK\r\nConnection: X-A\r\nX-A: 1\r\nKeep-Alive: 5\r\n"
        b"X-B: 2\r\nContent-Length: 0\r\n\r\n"
    )
    assert recorder.messages[0].response.headers == [(b"x-b", b"2")]


@pytest.mark.parametrize(
    ("data", "keep_alive"),
    [
        (OK, True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", True),
    ],
)
def test_keep_alive_at_the_end_of_a_response(data: bytes, keep_alive: bool) -> None:
    parser, recorder = response_parser()
    parser.feed(data)
    assert recorder.messages[0].keep_alive_at_end is keep_alive
    assert parser.keep_alive is keep_alive  # and it stays so after the read


def test_a_close_delimited_response_does_not_keep_the_connection() -> None:
    parser, recorder = response_parser()
    parser.feed(OK)
    parser.feed(b"HTTP/1.1 200 OK\r\n\r\npart")
    assert parser.feed_eof() is True
    assert recorder.messages[1].complete
    assert parser.keep_alive is False


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTX/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        b"<html>not http</html>",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_responses_are_upstream_errors(data: bytes) -> None:
    parser, _ = response_parser()
    with pytest.raises(UpstreamError) as caught:
        parser.feed(data)
    assert caught.value.status == 502


def test_too_many_response_fields_is_an_upstream_error() -> None:
    parser, _ = response_parser()
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(101))
    with pytest.raises(UpstreamError):
        parser.feed(b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n")


def feed_all(parser: ResponseParser, pieces: list[bytes]) -> None:
    for piece in pieces:
        parser.feed(piece)


@settings(max_examples=60)
@given(st.lists(st.integers(0, MAX_HEAD_BYTES + 100), max_size=6), st.booleans())
def test_the_size_limit_is_exact_however_the_head_arrives(cuts: list[int], over: bool) -> None:
    big = b"v" * (MAX_HEAD_BYTES - len(b"X-Big") - len(b"Content-Length1") + over)
    data = b"HTTP/1.1 200 OK\r\nX-Big: " + big + b"\r\nContent-Length: 1\r\n\r\nx"
    parser, recorder = response_parser()
    if over:
        with pytest.raises(UpstreamError, match="response headers exceed 60 KiB"):
            feed_all(parser, split(data, cuts))
    else:
        feed_all(parser, split(data, cuts))
    assert [m.complete for m in recorder.messages] == ([] if over else [True])


def test_a_response_head_still_arriving_is_refused_once_over_the_limit() -> None:
    parser, recorder = response_parser()
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(UpstreamError, match="response headers exceed 60 KiB"):
        parser.feed(b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(70)))
    assert recorder.messages == []


def test_response_trailers_over_the_limit_are_an_upstream_error() -> None:
    parser, _ = response_parser()
    trailers = b"".join(b"X-%d: %s\r\n" % (i, b"t" * 1000) for i in range(62))
    with pytest.raises(UpstreamError, match="response headers exceed 60 KiB"):
        parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + trailers + b"\r\n")
