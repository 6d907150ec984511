"""The HTTP/1 serializer, checked against h11: what we write is what h11 reads.

Requests go to an ``h11.Connection(h11.SERVER)``; responses to an
``h11.Connection(h11.CLIENT)`` that has sent the matching request first.
"""

from __future__ import annotations

from collections.abc import Iterable

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightmesh.protocol.http1 import Framing
from lightmesh.protocol.http1write import (
    CONTINUE,
    encode_chunk,
    encode_last_chunk,
    encode_request_head,
    encode_response_head,
    request_framing,
    response_framing,
)
from lightmesh.protocol.messages import NO_BODY, Body, BytesBody, Headers, Request, Response
from tests.unit.protocol._http1 import (
    METHODS,
    VISIBLE,
    StreamedBody,
    chunk_lists,
    field_names,
    field_values,
    fields,
    hosts,
    origin_targets,
    parse_requests,
)

FRAMING_FIELDS = (b"content-length", b"transfer-encoding", b"connection")

lower_fields = fields.map(lambda fs: [(n.lower().encode(), v.encode()) for n, v in fs])
trailer_fields = st.lists(st.tuples(field_names, field_values), max_size=3).map(
    lambda fs: [(n.lower().encode(), v.encode()) for n, v in fs] or None
)
bodies: st.SearchStrategy[Body] = st.one_of(
    st.binary(max_size=64).map(BytesBody),
    st.builds(StreamedBody, chunk_lists, trailer_fields),
)
reasons = st.text(VISIBLE + " ", max_size=20).map(lambda r: r.strip().encode())


@st.composite
def outgoing_requests(draw: st.DrawFn) -> Request:
    headers = [(b"host", draw(hosts).encode()), *draw(lower_fields)]
    body = draw(st.one_of(st.just(NO_BODY), bodies))
    return Request(draw(st.sampled_from(METHODS)).encode(), draw(origin_targets).encode(), headers, body)


@st.composite
def outgoing_responses(draw: st.DrawFn) -> Response:
    status = draw(st.one_of(st.integers(200, 599), st.sampled_from([200, 204, 304])))
    return Response(status, draw(lower_fields), draw(bodies), reason=draw(reasons))


def chunks_of(body: Body) -> list[bytes]:
    if isinstance(body, StreamedBody):
        return body.chunks
    data = body.read_nowait()
    return [data] if data else []


def framed(chunks: list[bytes], trailers: Headers | None, framing: Framing) -> bytes:
    if framing is Framing.NONE:
        return b""
    if framing is Framing.CHUNKED:
        return b"".join(encode_chunk(c) for c in chunks if c) + encode_last_chunk(trailers)
    return b"".join(chunks)


def h11_server_read(data: bytes) -> tuple[h11.Request, bytes, list[tuple[bytes, bytes]]]:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    request = conn.next_event()
    assert isinstance(request, h11.Request)
    body = b""
    while not isinstance(event := conn.next_event(), h11.EndOfMessage):
        assert isinstance(event, h11.Data)
        body += event.data
    assert conn.trailing_data == (b"", False), "bytes left over after the request"
    return request, body, list(event.headers)


def h11_client(method: bytes, *headers: tuple[str, str], target: str = "/") -> h11.Connection:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target=target, headers=[("Host", "a"), *headers]))
    conn.send(h11.EndOfMessage())
    return conn


def h11_client_read(
    method: bytes, data: bytes, eof: bool
) -> tuple[h11.Response, bytes, list[tuple[bytes, bytes]], object]:
    conn = h11_client(method)
    conn.receive_data(data)
    if eof:
        conn.receive_data(b"")
    response = conn.next_event()
    assert isinstance(response, h11.Response)
    body = b""
    while not isinstance(event := conn.next_event(), h11.EndOfMessage):
        assert isinstance(event, h11.Data), event
        body += event.data
    assert conn.trailing_data[0] == b"", "bytes left over after the response"
    return response, body, list(event.headers), conn.their_state


def without(headers: Iterable[tuple[bytes, bytes]], names: tuple[bytes, ...]) -> list[tuple[bytes, bytes]]:
    return [(n, v) for n, v in headers if n not in names]


# Requests


@settings(max_examples=200)
@given(outgoing_requests())
def test_requests_we_write_parse_with_h11(request: Request) -> None:
    framing = request_framing(request.body)
    trailers = request.body.trailers
    chunks = chunks_of(request.body)
    data = encode_request_head(request, framing) + framed(chunks, trailers, framing)
    theirs, body, their_trailers = h11_server_read(data)
    assert (theirs.method, theirs.target, theirs.http_version) == (request.method, request.path, b"1.1")
    assert without(theirs.headers, FRAMING_FIELDS) == request.headers
    assert body == b"".join(chunks)
    assert their_trailers == (trailers if framing is Framing.CHUNKED and trailers else [])


@given(outgoing_requests())
def test_requests_we_write_parse_back_with_our_parser(request: Request) -> None:
    framing = request_framing(request.body)
    chunks = chunks_of(request.body)
    data = encode_request_head(request, framing) + framed(chunks, request.body.trailers, framing)
    [parsed] = parse_requests(data)
    assert (parsed.request.method, parsed.request.path) == (request.method, request.path)
    assert parsed.request.headers == request.headers
    assert parsed.body == b"".join(chunks)


@pytest.mark.parametrize(
    ("body", "framing"),
    [(NO_BODY, Framing.NONE), (BytesBody(b""), Framing.LENGTH), (BytesBody(b"x"), Framing.LENGTH)],
)
def test_request_framing_follows_the_body(body: Body, framing: Framing) -> None:
    assert request_framing(body) is framing


def test_request_body_of_unknown_length_is_chunked() -> None:
    assert request_framing(StreamedBody([b"x"])) is Framing.CHUNKED


def test_request_head_is_http_1_1_origin_form_with_framing() -> None:
    request = Request(b"POST", b"/p?q", [(b"host", b"a")], BytesBody(b"abc"), version=b"1.0")
    assert encode_request_head(request, Framing.LENGTH) == (
        b"POST /p?q HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\n"
    )


def test_connect_request_names_the_authority() -> None:
    request = Request(b"CONNECT", b"", [(b"host", b"a:443")], NO_BODY, authority=b"a:443")
    data = encode_request_head(request, Framing.NONE)
    assert data.startswith(b"CONNECT a:443 HTTP/1.1\r\n")
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    event = conn.next_event()
    assert isinstance(event, h11.Request)
    assert (event.method, event.target) == (b"CONNECT", b"a:443")


def test_upgrade_request_asks_for_the_upgrade() -> None:
    request = Request(b"GET", b"/ws", [(b"host", b"a")], NO_BODY, upgrade=b"websocket")
    data = encode_request_head(request, Framing.NONE)
    theirs, _, _ = h11_server_read(data)
    assert (b"connection", b"upgrade") in list(theirs.headers)
    assert (b"upgrade", b"websocket") in list(theirs.headers)


def test_request_without_host_gets_one_from_the_authority() -> None:
    # HTTP/1.1 requires Host (RFC 9112 section 3.2); an HTTP/1.0 client may not have sent one.
    request = Request(b"GET", b"/", [], NO_BODY, authority=b"web:8080", version=b"1.0")
    theirs, _, _ = h11_server_read(encode_request_head(request, Framing.NONE))
    assert list(theirs.headers) == [(b"host", b"web:8080")]


# Responses


@settings(max_examples=200)
@given(
    outgoing_responses(),
    st.sampled_from([b"GET", b"HEAD", b"POST"]),
    st.sampled_from([b"1.1", b"1.0"]),
    st.booleans(),
)
def test_responses_we_write_parse_with_h11(
    response: Response, method: bytes, client_version: bytes, keep_alive: bool
) -> None:
    trailers = response.body.trailers
    chunks = chunks_of(response.body)
    framing = response_framing(method, response.status, response.body, client_version)
    keep_alive = keep_alive and framing is not Framing.CLOSE
    data = encode_response_head(response, framing, client_version, keep_alive)
    data += framed(chunks, trailers, framing)
    theirs, body, their_trailers, state = h11_client_read(method, data, eof=framing is Framing.CLOSE)
    assert theirs.status_code == response.status
    if response.reason:
        assert theirs.reason == response.reason
    assert without(theirs.headers, FRAMING_FIELDS) == response.headers
    if method == b"HEAD" or response.status in (204, 304):
        assert framing is Framing.NONE
        assert body == b""
    else:
        assert body == b"".join(chunks)
    assert their_trailers == (trailers if framing is Framing.CHUNKED and trailers else [])
    assert state in ((h11.DONE,) if keep_alive else (h11.MUST_CLOSE, h11.CLOSED))


def test_every_content_length_is_written_exactly_before_and_after_the_cache_of_lengths_fills() -> None:
    for length in [*range(600), 10**12, 5, 599]:
        body = BytesBody()
        body.length = length  # a streamed body whose Content-Length is known
        head = encode_response_head(Response(200, [], body), Framing.LENGTH, b"1.1", True)
        assert head == b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % length


@given(st.integers(200, 599), st.sampled_from([b"GET", b"HEAD", b"POST"]), bodies)
def test_http_1_0_clients_never_get_chunked(status: int, method: bytes, body: Body) -> None:
    assert response_framing(method, status, body, b"1.0") is not Framing.CHUNKED


@pytest.mark.parametrize(
    ("method", "status", "length", "version", "framing"),
    [
        (b"GET", 200, 5, b"1.1", Framing.LENGTH),
        (b"GET", 200, 0, b"1.1", Framing.LENGTH),
        (b"GET", 200, None, b"1.1", Framing.CHUNKED),
        (b"GET", 200, None, b"1.0", Framing.CLOSE),
        (b"GET", 200, 5, b"1.0", Framing.LENGTH),
        (b"HEAD", 200, 5, b"1.1", Framing.NONE),
        (b"HEAD", 200, None, b"1.1", Framing.NONE),
        (b"GET", 204, None, b"1.1", Framing.NONE),
        (b"GET", 304, 5, b"1.1", Framing.NONE),
        (b"GET", 101, None, b"1.1", Framing.NONE),
        (b"GET", 103, None, b"1.1", Framing.NONE),
        (b"CONNECT", 200, None, b"1.1", Framing.NONE),
        (b"CONNECT", 299, 5, b"1.1", Framing.NONE),
        (b"CONNECT", 407, 5, b"1.1", Framing.LENGTH),
        (b"CONNECT", 502, None, b"1.1", Framing.CHUNKED),
    ],
)
def test_response_framing(
    method: bytes, status: int, length: int | None, version: bytes, framing: Framing
) -> None:
    body: Body = StreamedBody([]) if length is None else BytesBody(b"x" * length)
    assert response_framing(method, status, body, version) is framing


def test_connect_2xx_has_no_framing_and_h11_sees_a_tunnel() -> None:
    response = Response(200, [], StreamedBody([b"never sent"]))
    framing = response_framing(b"CONNECT", 200, response.body, b"1.1")
    data = encode_response_head(response, framing, b"1.1", True)
    assert b"content-length" not in data and b"transfer-encoding" not in data
    conn = h11_client(b"CONNECT", target="a:443")
    conn.receive_data(data + b"tunnel bytes")
    assert isinstance(conn.next_event(), h11.Response)
    assert conn.next_event() is h11.PAUSED
    assert conn.trailing_data == (b"tunnel bytes", False)


def test_101_response_says_connection_upgrade_and_h11_switches() -> None:
    response = Response(101, [(b"upgrade", b"websocket")], NO_BODY)
    data = encode_response_head(response, Framing.NONE, b"1.1", True)
    conn = h11_client(b"GET", ("Connection", "upgrade"), ("Upgrade", "websocket"))
    conn.receive_data(data + b"frames")
    event = conn.next_event()
    assert isinstance(event, h11.InformationalResponse)
    assert event.status_code == 101
    assert list(event.headers) == [(b"upgrade", b"websocket"), (b"connection", b"upgrade")]
    assert conn.next_event() is h11.PAUSED
    assert conn.trailing_data == (b"frames", False)


def test_keep_alive_false_writes_connection_close() -> None:
    data = encode_response_head(Response(200, [], BytesBody(b"")), Framing.LENGTH, b"1.1", False)
    assert data == b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def test_http_1_0_keep_alive_is_announced() -> None:
    data = encode_response_head(Response(200, [], BytesBody(b"")), Framing.LENGTH, b"1.0", True)
    assert data.endswith(b"connection: keep-alive\r\n\r\n")


def test_http_1_1_keep_alive_writes_no_connection_field() -> None:
    data = encode_response_head(Response(200, [], BytesBody(b"ab")), Framing.LENGTH, b"1.1", True)
    assert b"connection" not in data


def test_close_delimited_response_to_http_1_0_has_no_length() -> None:
    data = encode_response_head(Response(200, [], StreamedBody([])), Framing.CLOSE, b"1.0", False)
    assert data == b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n"


@pytest.mark.parametrize(
    ("status", "reason", "line"),
    [
        (200, b"", b"HTTP/1.1 200 OK\r\n"),
        (431, b"", b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        (299, b"", b"HTTP/1.1 299 Unknown\r\n"),
        (200, b"Fine Thanks", b"HTTP/1.1 200 Fine Thanks\r\n"),
        (200, b"OK", b"HTTP/1.1 200 OK\r\n"),
        (404, b"OK", b"HTTP/1.1 404 OK\r\n"),
        (502, b"Bad Gateway", b"HTTP/1.1 502 Bad Gateway\r\n"),
    ],
)
def test_status_line_uses_the_given_or_standard_reason(status: int, reason: bytes, line: bytes) -> None:
    data = encode_response_head(Response(status, [], NO_BODY, reason=reason), Framing.NONE, b"1.1", True)
    assert data.startswith(line)


def test_trailers_survive_chunked_encoding() -> None:
    trailers = [(b"grpc-status", b"0"), (b"grpc-message", b"all good")]
    response = Response(200, [(b"content-type", b"application/grpc")], StreamedBody([b"ab", b"c"], trailers))
    framing = response_framing(b"POST", 200, response.body, b"1.1")
    assert framing is Framing.CHUNKED
    data = encode_response_head(response, framing, b"1.1", True) + framed([b"ab", b"c"], trailers, framing)
    _, body, their_trailers, _ = h11_client_read(b"POST", data, eof=False)
    assert (body, their_trailers) == (b"abc", trailers)


# Chunks


@pytest.mark.parametrize(
    ("data", "encoded"),
    [(b"abc", b"3\r\nabc\r\n"), (b"x" * 255, b"ff\r\n" + b"x" * 255 + b"\r\n"), (b"\r\n", b"2\r\n\r\n\r\n")],
)
def test_chunks_are_hex_sized(data: bytes, encoded: bytes) -> None:
    assert encode_chunk(data) == encoded


def test_last_chunk_with_and_without_trailers() -> None:
    assert encode_last_chunk(None) == b"0\r\n\r\n"
    assert encode_last_chunk([]) == b"0\r\n\r\n"
    assert encode_last_chunk([(b"x-a", b"1"), (b"x-b", b"2")]) == b"0\r\nx-a: 1\r\nx-b: 2\r\n\r\n"


def test_continue_is_an_interim_response() -> None:
    assert CONTINUE == b"HTTP/1.1 100 Continue\r\n\r\n"
