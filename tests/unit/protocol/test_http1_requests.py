"""RequestParser: h11 as an oracle for valid requests, split-independence, and the guards.

The guards are the proxy's reasons to exist at the edge: no request smuggling
(ambiguous framing, bare LF, obs-fold), no hop-by-hop fields passed on, no h2c
upgrade passed on, bounded heads.
"""

from __future__ import annotations

import contextlib

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightmesh.core.errors import BadRequest, HeadersTooLarge
from lightmesh.protocol.http1 import HOP_BY_HOP, MAX_HEAD_BYTES, MAX_HEADERS, RequestParser
from tests.unit.protocol._http1 import (
    ParsedRequest,
    RawRequest,
    RecordingBody,
    parse_requests,
    raw_requests,
    request_parser,
    split,
)


def h11_parse(data: bytes) -> tuple[h11.Request, bytes, list[tuple[bytes, bytes]]]:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    request = conn.next_event()
    assert isinstance(request, h11.Request)
    body = b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        else:
            assert isinstance(event, h11.EndOfMessage)
            return request, body, list(event.headers)


def parse_one(data: bytes) -> ParsedRequest:
    [message] = parse_requests(data)
    return message


def head(*lines: str, target: str = "/", method: str = "GET", version: str = "1.1") -> bytes:
    return "\r\n".join([f"{method} {target} HTTP/{version}", *lines, "", ""]).encode()


# Oracle and split properties


@settings(max_examples=200)
@given(raw_requests)
def test_valid_requests_parse_like_h11(raw: RawRequest) -> None:
    data = raw.encode()
    ours = parse_one(data)
    theirs, body, trailers = h11_parse(data)
    request = ours.request
    assert request.method == theirs.method
    assert request.path == theirs.target
    assert request.authority == raw.host.encode()
    assert request.headers == [(name, value) for name, value in theirs.headers if name not in HOP_BY_HOP]
    assert ours.body == body == raw.body
    assert (ours.trailers or []) == trailers
    assert ours.complete


@given(raw_requests)
def test_the_body_factory_is_told_the_framing(raw: RawRequest) -> None:
    body = parse_one(raw.encode()).request.body
    assert isinstance(body, RecordingBody)
    expected = {"none": (None, False), "length": (len(raw.body), False), "chunked": (None, True)}
    assert body.requested == expected[raw.framing]


@settings(max_examples=100)
@given(st.lists(raw_requests, min_size=1, max_size=3), st.lists(st.integers(0, 10_000), max_size=8))
def test_results_do_not_depend_on_how_the_bytes_are_split(raws: list[RawRequest], cuts: list[int]) -> None:
    data = b"".join(raw.encode() for raw in raws)
    whole = [message.summary() for message in parse_requests(data)]
    parser, recorder = request_parser()
    for piece in split(data, cuts):
        assert parser.feed(piece) is None
    assert [message.summary() for message in recorder.messages] == whole
    assert len(whole) == len(raws)


# Targets and authorities


def test_origin_form_takes_the_authority_from_host() -> None:
    request = parse_one(head("Host: web:8080", target="/a?b=c")).request
    assert (request.authority, request.path) == (b"web:8080", b"/a?b=c")


def test_absolute_form_target_becomes_authority_and_origin_form_path() -> None:
    request = parse_one(head("Host: other", target="http://example.com:8080/p?q=1")).request
    assert (request.authority, request.path) == (b"example.com:8080", b"/p?q=1")
    assert request.headers == [(b"host", b"example.com:8080")]


@pytest.mark.parametrize(
    ("target", "path"),
    [("http://example.com", b"/"), ("http://example.com?q", b"/?q"), ("HTTPS://example.com/x", b"/x")],
)
def test_absolute_form_without_a_path_gets_slash(target: str, path: bytes) -> None:
    assert parse_one(head("Host: a", target=target)).request.path == path


def test_absolute_form_without_host_adds_host() -> None:
    request = parse_one(head("X-A: 1", target="http://example.com/p")).request
    assert request.headers == [(b"host", b"example.com"), (b"x-a", b"1")]


@pytest.mark.parametrize("target", ["ftp://a/b", "http://user@a/b", "http:///b"])
def test_bad_absolute_form_targets_are_rejected(target: str) -> None:
    with pytest.raises(BadRequest):
        parse_requests(head("Host: a", target=target))


def test_connect_takes_the_authority_from_the_target_and_returns_the_tunnel_bytes() -> None:
    parser, recorder = request_parser()
    data = head("Host: example.com:443", method="CONNECT", target="example.com:443") + b"\x16\x03\x01"
    assert parser.feed(data) == b"\x16\x03\x01"
    [message] = recorder.messages
    assert (message.request.method, message.request.authority, message.request.path) == (
        b"CONNECT",
        b"example.com:443",
        b"",
    )
    assert parser.upgrading is message.request


def test_asterisk_form_is_kept() -> None:
    assert parse_one(head("Host: a", method="OPTIONS", target="*")).request.path == b"*"


# Hop-by-hop fields


def test_hop_by_hop_fields_are_removed() -> None:
    request = parse_one(
        head(
            "Host: a",
            "Connection: keep-alive, X-Private",
            "Keep-Alive: timeout=5",
            "Proxy-Connection: keep-alive",
            "TE: trailers",
            "Trailer: X-Checksum",
            "Upgrade: websocket",
            "Proxy-Authorization: Basic Zm9vOmJhcg==",
            "X-Private: secret",
            "X-Kept: yes",
        )
    ).request
    assert request.headers == [(b"host", b"a"), (b"x-kept", b"yes")]


def test_fields_named_in_any_connection_header_are_removed_whatever_their_case() -> None:
    request = parse_one(
        head("Host: a", "X-A: 1", "Connection: x-a", "connection: X-B", "X-B: 2", "X-C: 3")
    ).request
    assert request.headers == [(b"host", b"a"), (b"x-c", b"3")]


def test_header_names_are_lower_cased_and_values_kept() -> None:
    request = parse_one(head("HOST: a", "X-Mixed-Case: Some Value")).request
    assert request.headers == [(b"host", b"a"), (b"x-mixed-case", b"Some Value")]


# Upgrades, Expect, keep-alive


def test_h2c_upgrade_is_never_passed_on_and_the_next_request_is_parsed() -> None:
    parser, recorder = request_parser()
    data = head(
        "Host: a", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__"
    )
    assert parser.feed(data + head("Host: a", target="/next")) is None
    first, second = recorder.messages
    assert first.request.upgrade is None
    assert first.request.headers == [(b"host", b"a")]
    assert second.request.path == b"/next"
    assert parser.upgrading is None


@pytest.mark.parametrize("upgrade", ["h2c ", "H2C", "h2c, websocket"])
def test_h2c_upgrade_is_not_passed_on_in_any_spelling(upgrade: str) -> None:
    parser, recorder = request_parser()
    parser.feed(head("Host: a", "Connection: upgrade", f"Upgrade: {upgrade}"))
    assert recorder.messages[0].request.upgrade is None


def test_h2c_upgrade_request_body_is_not_parsed_as_a_request() -> None:
    smuggled = b"GET /admin HTTP/1.1\r\nHost: internal\r\n\r\n"
    data = head(
        "Host: a", "Connection: upgrade", "Upgrade: h2c", f"Content-Length: {len(smuggled)}", method="POST"
    )
    parser, recorder = request_parser()
    with contextlib.suppress(BadRequest):  # refusing the request is as good as reading its body
        parser.feed(data + smuggled)
    assert [(m.request.path, m.body) for m in recorder.messages] in ([], [(b"/", smuggled)])


def test_websocket_upgrade_is_kept_and_the_rest_is_tunnel_data() -> None:
    parser, recorder = request_parser()
    data = head("Host: a", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13")
    assert parser.feed(data + b"\x81\x05hello") == b"\x81\x05hello"
    request = recorder.messages[0].request
    assert request.upgrade == b"websocket"
    assert request.headers == [(b"host", b"a"), (b"sec-websocket-version", b"13")]
    assert parser.upgrading is request


@given(st.lists(st.integers(0, 200), max_size=4))
def test_tunnel_bytes_after_an_upgrade_do_not_depend_on_splits(cuts: list[int]) -> None:
    data = head("Host: a", "Connection: Upgrade", "Upgrade: websocket") + b"frames and more frames"
    parser, recorder = request_parser()
    tunnel: bytes | None = None
    for piece in split(data, cuts):
        if tunnel is not None:
            tunnel += piece
        else:
            tunnel = parser.feed(piece)
    assert tunnel == b"frames and more frames"
    assert len(recorder.messages) == 1


def test_upgrade_without_connection_upgrade_is_ignored() -> None:
    request = parse_one(head("Host: a", "Upgrade: websocket")).request
    assert request.upgrade is None


def test_upgrade_needs_the_upgrade_token_in_connection_not_a_substring() -> None:
    parser, recorder = request_parser()
    parser.feed(head("Host: a", "Connection: x-upgraded", "Upgrade: websocket"))
    assert recorder.messages[0].request.upgrade is None
    assert parser.upgrading is None


@pytest.mark.parametrize("expect", ["100-continue", "100-Continue", "100-continue "])
def test_expect_100_continue_is_remembered_and_removed(expect: str) -> None:
    request = parse_one(
        head("Host: a", f"Expect: {expect}", "Content-Length: 2", method="POST") + b"ok"
    ).request
    assert request.expect_continue
    assert request.headers == [(b"host", b"a")]


def test_without_expect_no_continue_is_due() -> None:
    assert not parse_one(head("Host: a")).request.expect_continue


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        ("1.1", None, True),
        ("1.1", "close", False),
        ("1.0", None, False),
        ("1.0", "keep-alive", True),
        ("1.0", "Keep-Alive", True),
    ],
)
def test_keep_alive_follows_version_and_connection(
    version: str, connection: str | None, keep_alive: bool
) -> None:
    lines = ["Host: a"] + ([f"Connection: {connection}"] if connection else [])
    request = parse_one(head(*lines, version=version)).request
    assert request.version == version.encode()
    assert request.keep_alive is keep_alive


@pytest.mark.parametrize(
    ("version", "field", "keep_alive"),
    [
        ("1.0", "Proxy-Connection: keep-alive", True),
        ("1.1", "Proxy-Connection: close", False),
        ("1.0", "Connection: upgrade", False),
        ("1.1", "Connection: upgrade", True),
        ("1.0", "Keep-Alive: timeout=5", False),
        ("1.0", "Connection: x-foo, keep-alive", True),
    ],
)
def test_version_is_exact_whatever_the_connection_fields(version: str, field: str, keep_alive: bool) -> None:
    request = parse_one(head("Host: a", field, version=version)).request
    assert request.version == version.encode()
    assert request.keep_alive is keep_alive


# Smuggling guards


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
            id="transfer-encoding-with-content-length",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            id="content-length-with-transfer-encoding",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            id="two-content-lengths",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", id="content-length-list"
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", id="plus-content-length"
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc", id="hex-content-length"
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", id="negative-content-length"
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
            id="chunked-not-last",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n",
            id="bad-chunk-size",
        ),
        pytest.param(b"GET / HTTP/1.1\nHost: a\n\n", id="bare-lf-request-line"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", id="bare-lf-header"),
        pytest.param(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", id="whitespace-before-colon"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n  z\r\n\r\n", id="obs-fold"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", id="nul-in-value"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", id="two-hosts"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", id="two-equal-hosts"),
    ],
)
def test_ambiguous_or_malformed_requests_are_bad_requests(data: bytes) -> None:
    parser, recorder = request_parser()
    with pytest.raises(BadRequest) as caught:
        parser.feed(data)
    assert caught.value.status == 400
    assert all(not m.complete for m in recorder.messages)


def test_smuggling_is_caught_however_the_bytes_arrive() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
    parser, _ = request_parser()

    def feed_byte_by_byte() -> None:
        for byte in split(data, list(range(len(data)))):
            parser.feed(byte)

    with pytest.raises(BadRequest):
        feed_byte_by_byte()


# Head limits


def test_exactly_the_field_limit_is_accepted() -> None:
    lines = ["Host: a"] + [f"X-{i}: v" for i in range(MAX_HEADERS - 1)]
    assert len(parse_one(head(*lines)).request.headers) == MAX_HEADERS


def test_more_than_100_fields_is_431() -> None:
    lines = ["Host: a"] + [f"X-{i}: v" for i in range(MAX_HEADERS)]
    with pytest.raises(HeadersTooLarge) as caught:
        parse_requests(head(*lines))
    assert caught.value.status == 431


def test_hop_by_hop_fields_count_towards_the_limit() -> None:
    lines = ["Host: a"] + ["Connection: keep-alive"] * MAX_HEADERS
    with pytest.raises(HeadersTooLarge):
        parse_requests(head(*lines))


def test_more_than_60_kib_of_fields_is_431() -> None:
    with pytest.raises(HeadersTooLarge) as caught:
        parse_requests(head("Host: a", "X-Big: " + "v" * MAX_HEAD_BYTES))
    assert caught.value.status == 431


def test_many_fields_adding_up_to_more_than_60_kib_is_431() -> None:
    lines = ["Host: a"] + [f"X-{i}: " + "v" * 1024 for i in range(61)]
    with pytest.raises(HeadersTooLarge):
        parse_requests(head(*lines))


def test_a_request_target_over_60_kib_is_431() -> None:
    with pytest.raises(HeadersTooLarge):
        parse_requests(head("Host: a", target="/" + "a" * MAX_HEAD_BYTES))


def feed_all(parser: RequestParser, pieces: list[bytes]) -> None:
    for piece in pieces:
        parser.feed(piece)


def exactly(size: int) -> list[str]:
    """``Host: a`` and one more field: names and values of exactly ``size`` bytes."""
    return ["Host: a", "X-Big: " + "v" * (size - len("Hosta") - len("X-Big"))]


@settings(max_examples=60)
@given(st.lists(st.integers(0, MAX_HEAD_BYTES + 100), max_size=6), st.booleans())
def test_the_size_limit_is_exact_however_the_head_arrives(cuts: list[int], over: bool) -> None:
    data = head(*exactly(MAX_HEAD_BYTES + over))
    parser, recorder = request_parser()
    if over:
        with pytest.raises(HeadersTooLarge, match="request headers exceed 60 KiB"):
            feed_all(parser, split(data, cuts))
    else:
        feed_all(parser, split(data, cuts))
    assert len(recorder.messages) == (0 if over else 1)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ([b"X-%d: %s" % (i, b"v" * 1000) for i in range(70)], "request headers exceed 60 KiB"),
        ([b"X-%d: v" % i for i in range(MAX_HEADERS + 1)], "more than 100 header fields"),
    ],
)
def test_a_head_still_arriving_is_refused_once_over_a_limit(fields: list[bytes], error: str) -> None:
    parser, recorder = request_parser()
    parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n")
    with pytest.raises(HeadersTooLarge, match=error):
        parser.feed(b"\r\n".join(fields) + b"\r\n")  # the head has not ended
    assert recorder.messages == []


@pytest.mark.parametrize("piece", [1000, 4096])
def test_a_head_in_many_small_reads_is_refused_before_it_ends(piece: int) -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 900) for i in range(90))
    parser, recorder = request_parser()
    with pytest.raises(HeadersTooLarge, match="request headers exceed 60 KiB"):
        feed_all(parser, [data[start : start + piece] for start in range(0, len(data), piece)])
    assert recorder.messages == []


def test_a_target_still_arriving_is_refused_once_over_the_limit() -> None:
    parser, _ = request_parser()
    with pytest.raises(HeadersTooLarge, match="request target exceeds 60 KiB"):
        parser.feed(b"GET /" + b"a" * MAX_HEAD_BYTES)


def test_a_head_over_the_limit_is_431_even_if_broken_after_that() -> None:
    fields = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
    with pytest.raises(HeadersTooLarge):
        parse_requests(b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"no colon here\r\n\r\n")


@pytest.mark.parametrize("cuts", [[], [100], [100, 30_000, 60_000]])
def test_trailers_over_the_limit_are_431(cuts: list[int]) -> None:
    trailers = b"".join(b"X-%d: %s\r\n" % (i, b"t" * 1000) for i in range(62))
    data = head("Host: a", "Transfer-Encoding: chunked", method="POST") + b"3\r\nabc\r\n0\r\n" + trailers
    parser, recorder = request_parser()
    with pytest.raises(HeadersTooLarge, match="request headers exceed 60 KiB"):
        feed_all(parser, split(data + b"\r\n", cuts))
    assert not recorder.messages[0].complete


def test_limits_apply_per_request_not_per_connection() -> None:
    one = head("Host: a", *(f"X-{i}: v" for i in range(60)))
    assert len(parse_requests(one * 3)) == 3


# Pipelining and bodies


def test_pipelined_requests_are_delivered_in_order() -> None:
    data = head("Host: a", target="/first") + head(
        "Host: a", "Content-Length: 3", target="/second", method="POST"
    )
    first, second = parse_requests(data + b"abc")
    assert (first.request.path, second.request.path) == (b"/first", b"/second")
    assert (first.body, second.body) == (b"", b"abc")
    assert first.complete and second.complete


def test_chunked_trailers_are_delivered_at_the_end() -> None:
    data = head("Host: a", "Transfer-Encoding: chunked", method="POST") + b"3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n"
    message = parse_one(data)
    assert (message.body, message.trailers) == (b"abc", [(b"x-sum", b"1")])


def test_a_request_without_framing_has_no_body() -> None:
    message = parse_one(head("Host: a", method="POST"))
    assert isinstance(message.request.body, RecordingBody)
    assert message.request.body.requested == (None, False)
    assert message.complete


def test_unfinished_body_is_not_complete() -> None:
    message = parse_one(head("Host: a", "Content-Length: 10", method="POST") + b"abc")
    assert (message.body, message.complete) == (b"abc", False)
