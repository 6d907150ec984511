"""Shared helpers for the HTTP/1 tests: recording handlers and hypothesis strategies."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hypothesis import strategies as st

from lightmesh.protocol.http1 import HOP_BY_HOP, Framing, RequestParser, ResponseParser
from lightmesh.protocol.messages import Headers, Request, Response

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VISIBLE = "".join(map(chr, range(0x21, 0x7F)))
# Methods llhttp knows (it rejects other tokens); CONNECT has its own target form.
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "PROPFIND", "PURGE"]


class RecordingBody:
    """A body factory's product that remembers how the parser framed it.

    ``requested`` is what the parser passed to the factory. Like the server's factory,
    a message without framing fields gets a body of length 0. The handler records the data.
    """

    def __init__(self, length: int | None, chunked: bool) -> None:
        self.requested = (length, chunked)
        self.length = 0 if length is None and not chunked else length

    def read_nowait(self) -> bytes | None:
        return None

    async def read(self) -> bytes:
        raise NotImplementedError

    @property
    def trailers(self) -> Headers | None:
        return None

    @property
    def complete(self) -> bool:
        return False

    def discard(self) -> None:
        return None


class StreamedBody(RecordingBody):
    """An outgoing body of unknown length (sent chunked), given as its chunks and trailers."""

    def __init__(self, chunks: list[bytes], trailers: Headers | None = None) -> None:
        super().__init__(None, True)
        self.chunks = chunks
        self._trailers = trailers

    @property
    def trailers(self) -> Headers | None:
        return self._trailers


@dataclass
class ParsedRequest:
    request: Request
    body: bytes = b""
    trailers: Headers | None = None
    complete: bool = False

    def summary(self) -> tuple[object, ...]:
        r = self.request
        assert isinstance(r.body, RecordingBody)
        return (
            r.method, r.path, r.authority, r.headers, r.version, r.keep_alive, r.upgrade,
            r.expect_continue, r.body.requested, self.body, self.trailers, self.complete,
        )  # fmt: skip


@dataclass
class RequestRecorder:
    """A RequestHandler that keeps every request with its body bytes and trailers."""

    messages: list[ParsedRequest] = field(default_factory=list)

    def on_request(self, request: Request) -> None:
        self.messages.append(ParsedRequest(request))

    def on_body(self, data: bytes) -> None:
        self.messages[-1].body += data

    def on_request_end(self, trailers: Headers | None) -> None:
        self.messages[-1].trailers = trailers
        self.messages[-1].complete = True


def request_parser() -> tuple[RequestParser, RequestRecorder]:
    recorder = RequestRecorder()
    return RequestParser(recorder, RecordingBody), recorder


def parse_requests(data: bytes) -> list[ParsedRequest]:
    parser, recorder = request_parser()
    assert parser.feed(data) is None
    return recorder.messages


@dataclass
class ParsedResponse:
    response: Response
    framing: Framing
    body: bytes = b""
    trailers: Headers | None = None
    complete: bool = False
    keep_alive_at_end: bool | None = None


@dataclass
class ResponseRecorder:
    """A ResponseHandler that keeps every response; notes the parser's keep-alive at the end."""

    parser: ResponseParser | None = None
    messages: list[ParsedResponse] = field(default_factory=list)

    def on_response(self, response: Response, framing: Framing) -> None:
        self.messages.append(ParsedResponse(response, framing))

    def on_body(self, data: bytes) -> None:
        self.messages[-1].body += data

    def on_response_end(self, trailers: Headers | None) -> None:
        message = self.messages[-1]
        message.trailers, message.complete = trailers, True
        if self.parser is not None:
            message.keep_alive_at_end = self.parser.keep_alive


def response_parser(method: bytes = b"GET") -> tuple[ResponseParser, ResponseRecorder]:
    recorder = ResponseRecorder()
    parser = recorder.parser = ResponseParser(recorder)
    parser.expect(method)
    return parser, recorder


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# Strategies

tokens = st.text(TOKEN_CHARS, min_size=1, max_size=16)
field_names = tokens.filter(lambda n: n.lower().encode() not in HOP_BY_HOP and n.lower() != "host")
# Visible ASCII and inner spaces: no leading or trailing whitespace.
field_values = st.text(VISIBLE + " ", max_size=30).map(str.strip)
fields = st.lists(st.tuples(field_names, field_values), max_size=6)
origin_targets = st.text(VISIBLE, max_size=40).map(lambda t: "/" + t)
hosts = st.builds(
    lambda name, port: name + port,
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-.", max_size=20).map(lambda s: "h" + s),
    st.sampled_from(["", ":80", ":8080", ":65535"]),
)
chunk_lists = st.lists(st.binary(min_size=1, max_size=40), max_size=4)


@dataclass
class RawRequest:
    method: str
    target: str
    host: str
    headers: list[tuple[str, str]]
    framing: str  # "none", "length" or "chunked"
    chunks: list[bytes]
    trailers: list[tuple[str, str]]

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def encode(self) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.framing == "length":
            lines.append(f"Content-Length: {len(self.body)}")
        elif self.framing == "chunked":
            lines.append("Transfer-Encoding: chunked")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        if self.framing != "chunked":
            return head + self.body
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in self.chunks)
        trailer = "".join(f"{name}: {value}\r\n" for name, value in self.trailers)
        return head + body + b"0\r\n" + trailer.encode() + b"\r\n"


def _normalize(r: RawRequest) -> RawRequest:
    if r.framing == "none":
        r.chunks = []
    if r.framing != "chunked":
        r.trailers = []
    return r


raw_requests = st.builds(
    RawRequest,
    method=st.sampled_from(METHODS),
    target=origin_targets,
    host=hosts,
    headers=fields,
    framing=st.sampled_from(["none", "length", "chunked"]),
    chunks=chunk_lists,
    trailers=st.lists(st.tuples(field_names, field_values), max_size=3),
).map(_normalize)
