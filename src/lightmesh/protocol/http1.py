"""HTTP/1.x without I/O: httptools parsing into :mod:`messages`, and our serializer.

httptools (llhttp) does the byte-level parsing and already rejects the classic
smuggling vectors (Transfer-Encoding with Content-Length, duplicate
Content-Length, bad chunk sizes, bare LF, obs-fold). On top of it this module:

* enforces head limits (60 KiB, 100 fields -> 431);
* lower-cases header names and removes hop-by-hop fields (RFC 9110 §7.6.1),
  remembering what they said (keep-alive, ``Upgrade``, ``Expect``);
* turns absolute-form targets into origin-form and takes the authority from them
  (RFC 9112 §3.2.2), else from ``Host``;
* decides response framing for the client (:func:`response_framing`) and writes
  heads and chunks.

Parsers call a handler object; they never touch sockets or clocks.
"""

from __future__ import annotations

import enum
from typing import Protocol

import httptools

from lightmesh.core.errors import BadRequest, HeadersTooLarge, UpstreamError
from lightmesh.protocol.messages import NO_BODY, Body, Headers, Request, Response

MAX_HEAD_BYTES = 60 * 1024
MAX_HEADERS = 100

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authorization",
        b"proxy-authenticate",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"http2-settings",
        b"expect",
        b"content-length",  # re-derived from the body's framing when writing
    }
)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Framing(enum.Enum):
    NONE = "none"  # no body at all (HEAD, 1xx, 204, 304, or no framing header on a request)
    LENGTH = "length"
    CHUNKED = "chunked"
    CLOSE = "close"  # delimited by closing the connection


class RequestHandler(Protocol):
    def on_request(self, request: Request) -> None: ...
    def on_body(self, data: bytes) -> None: ...
    def on_request_end(self, trailers: Headers | None) -> None: ...


class ResponseHandler(Protocol):
    def on_response(self, response: Response, framing: Framing) -> None: ...
    def on_body(self, data: bytes) -> None: ...
    def on_response_end(self, trailers: Headers | None) -> None: ...


class _Head:
    """Header collection shared by both parsers: limits, lower-casing, hop-by-hop."""

    __slots__ = ("chunked", "connection", "count", "expect", "headers", "host", "in_body", "length", "size",
                 "trailers", "upgrade")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.headers: Headers = []
        self.trailers: Headers | None = None
        self.size = 0
        self.count = 0
        self.in_body = False
        self.connection: bytes | None = None
        self.upgrade: bytes | None = None
        self.expect: bytes | None = None
        self.host: bytes | None = None
        self.length: int | None = None
        self.chunked = False

    def add(self, name: bytes, value: bytes, error: type[Exception]) -> None:
        self.size += len(name) + len(value) + 4
        self.count += 1
        if self.size > MAX_HEAD_BYTES or self.count > MAX_HEADERS:
            raise error(f"request headers exceed {MAX_HEAD_BYTES // 1024} KiB or {MAX_HEADERS} fields")
        name = name.lower()
        if self.in_body:
            if self.trailers is None:
                self.trailers = []
            self.trailers.append((name, value))
        elif name in HOP_BY_HOP:
            if name == b"connection":
                self.connection = value.lower() if self.connection is None else self.connection + b"," + value.lower()
            elif name == b"upgrade":
                self.upgrade = value
            elif name == b"expect":
                self.expect = value.lower()
            elif name == b"content-length":
                self.length = int(value)
            elif name == b"transfer-encoding":
                self.chunked = value.rstrip().lower().endswith(b"chunked")
        else:
            if name == b"host":
                if self.host is not None:
                    raise BadRequest("multiple Host headers")
                self.host = value
            self.headers.append((name, value))

    def drop_connection_tokens(self) -> None:
        """Remove headers the ``Connection`` field names as hop-by-hop (RFC 9110 §7.6.1)."""
        tokens = {t.strip() for t in self.connection.split(b",")} if self.connection else set()
        tokens -= {b"keep-alive", b"close", b"upgrade", b""}
        if tokens:
            self.headers = [(n, v) for n, v in self.headers if n not in tokens or n == b"host"]


def split_absolute(target: bytes) -> tuple[bytes, bytes] | None:
    """``http://host:port/path?q`` -> ``(host:port, /path?q)``; ``None`` for origin-form."""
    if target[:1] == b"/" or b"://" not in target[:10]:
        return None
    scheme, _, rest = target.partition(b"://")
    if scheme.lower() not in (b"http", b"https"):
        raise BadRequest(f"unsupported scheme {scheme.decode('latin-1')!r} in request target")
    slash = rest.find(b"/")
    query = rest.find(b"?")
    cut = min(i for i in (slash, query, len(rest)) if i >= 0)
    authority, path = rest[:cut], rest[cut:]
    if not authority or b"@" in authority:
        raise BadRequest("invalid authority in absolute-form request target")
    if not path.startswith(b"/"):
        path = b"/" + path
    return authority, path


class BodyFactory(Protocol):
    def __call__(self, length: int | None, chunked: bool) -> Body: ...


class RequestParser:
    """Parses a stream of pipelined requests from one client connection."""

    def __init__(self, handler: RequestHandler, body_factory: BodyFactory) -> None:
        self._handler = handler
        self._body_factory = body_factory
        self._parser = httptools.HttpRequestParser(self)
        self._head = _Head()
        self._url = b""
        self._error: Exception | None = None
        self.upgrading: Request | None = None
        self.in_head = False

    def feed(self, data: bytes) -> bytes | None:
        """Parse ``data``; return the bytes after an accepted upgrade/CONNECT, else ``None``."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            offset = int(exc.args[0])
            if self.upgrading is not None:
                return data[offset:]
            self._parser = httptools.HttpRequestParser(self)  # h2c upgrade was stripped: carry on
            return self.feed(data[offset:]) if offset < len(data) else None
        except httptools.HttpParserCallbackError:
            raise self._error or BadRequest("invalid request")
        except httptools.HttpParserError as exc:
            raise self._error or BadRequest(f"malformed request: {exc}")
        return None

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._head.reset()
        self._url = b""
        self.in_head = True

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_HEAD_BYTES:
            self._error = HeadersTooLarge("request target exceeds 60 KiB")
            raise self._error

    def on_header(self, name: bytes, value: bytes) -> None:
        try:
            self._head.add(name, value, HeadersTooLarge)
        except Exception as exc:
            self._error = exc if isinstance(exc, BadRequest | HeadersTooLarge) else BadRequest(str(exc))
            raise

    def on_headers_complete(self) -> None:
        try:
            request = self._build()
        except BadRequest as exc:
            self._error = exc
            raise
        self._head.in_body = True
        self.in_head = False
        self._handler.on_request(request)

    def on_body(self, body: bytes) -> None:
        self._handler.on_body(body)

    def on_message_complete(self) -> None:
        self._handler.on_request_end(self._head.trailers)

    def _build(self) -> Request:
        head, parser = self._head, self._parser
        method: bytes = parser.get_method()
        head.drop_connection_tokens()
        chunked = head.chunked
        length = None if chunked else head.length
        body = self._body_factory(length, chunked)
        url = self._url
        authority = head.host
        if method == b"CONNECT":
            authority, path = url, b""
        else:
            absolute = split_absolute(url)
            if absolute is not None:
                authority, path = absolute
                head.headers = [(b"host", authority) if n == b"host" else (n, v) for n, v in head.headers]
                if head.host is None:
                    head.headers.insert(0, (b"host", authority))
            else:
                path = url
        upgrade = head.upgrade
        if upgrade is not None and (upgrade.lower() == b"h2c" or b"upgrade" not in (head.connection or b"")):
            upgrade = None  # never pass an h2c upgrade through (request smuggling guard)
        request = Request(
            method,
            path,
            head.headers,
            body,
            authority=authority,
            version=parser.get_http_version().encode(),
            keep_alive=parser.should_keep_alive(),
            upgrade=upgrade,
        )
        request.expect_continue = head.expect == b"100-continue"
        self.upgrading = request if (upgrade is not None or method == b"CONNECT") else None
        return request



class _SkipBody(Exception):
    """Raised from a callback to stop llhttp after a bodiless response head (HEAD)."""


class ResponseParser:
    """Parses the responses on one upstream connection, one request at a time.

    ``expect(method)`` must be called before each request is sent, so a response to
    HEAD is known to have no body. Interim 1xx responses (except 101) are skipped.
    """

    def __init__(self, handler: ResponseHandler, body_factory: BodyFactory) -> None:
        self._handler = handler
        self._body_factory = body_factory
        self._parser = httptools.HttpResponseParser(self)
        self._head = _Head()
        self._reason = b""
        self._head_request = False
        self._interim = False
        self.framing = Framing.NONE
        self.in_message = False

    def expect(self, method: bytes) -> None:
        self._head_request = method == b"HEAD"

    def feed(self, data: bytes) -> bytes | None:
        """Parse ``data``; return bytes after a 101 response (tunnel data), else ``None``."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            return data[int(exc.args[0]) :]
        except httptools.HttpParserCallbackError:
            if isinstance(self._error, _SkipBody):
                self._parser = httptools.HttpResponseParser(self)
                self._error = None
                return None
            raise UpstreamError(f"invalid response from upstream: {self._error}")
        except httptools.HttpParserError as exc:
            raise UpstreamError(f"malformed response from upstream: {exc}")
        return None

    def feed_eof(self) -> bool:
        """The upstream closed. Return ``True`` if that ended a close-delimited body."""
        if self.in_message and self.framing is Framing.CLOSE:
            self.in_message = False
            self._handler.on_response_end(None)
            return True
        return not self.in_message

    @property
    def keep_alive(self) -> bool:
        return bool(self._parser.should_keep_alive())

    _error: Exception | None = None

    def on_message_begin(self) -> None:
        self._head.reset()
        self._reason = b""
        self.in_message = True

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        try:
            self._head.add(name, value, UpstreamError)
        except Exception as exc:
            self._error = exc
            raise

    def on_headers_complete(self) -> None:
        head, status = self._head, self._parser.get_status_code()
        self._interim = 100 <= status < 200 and status != 101
        if self._interim:
            return
        head.in_body = True
        head.drop_connection_tokens()
        if self._head_request or status in (204, 304) or status < 200:
            self.framing = Framing.NONE
        elif head.chunked:
            self.framing = Framing.CHUNKED
        elif head.length is not None:
            self.framing = Framing.LENGTH
        else:
            self.framing = Framing.CLOSE
        if self.framing is Framing.NONE:
            body = NO_BODY
            if head.length is not None:  # HEAD and 304 keep the size of the entity they describe
                head.headers.append((b"content-length", b"%d" % head.length))
        else:
            body = self._body_factory(head.length, self.framing is Framing.CHUNKED)
        response = Response(status, head.headers, body, reason=self._reason)
        if status == 101:
            response.keep_alive = False
            if head.upgrade is not None:
                response.headers.append((b"upgrade", head.upgrade))
        self._handler.on_response(response, self.framing)
        if self._head_request and head.length:
            self.in_message = False
            self._handler.on_response_end(None)
            self._error = _SkipBody()
            raise self._error

    def on_body(self, body: bytes) -> None:
        self._handler.on_body(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.in_message = False
        self._handler.on_response_end(self._head.trailers)


# Serializer


def response_framing(method: bytes, status: int, body: Body, client_version: bytes) -> Framing:
    """How to delimit a response body sent to a client of ``client_version``."""
    if method == b"HEAD" or status in (204, 304) or status < 200:
        return Framing.NONE
    if method == b"CONNECT" and status < 300:
        return Framing.NONE
    if body.length is not None:
        return Framing.LENGTH
    return Framing.CHUNKED if client_version == b"1.1" else Framing.CLOSE


def request_framing(body: Body) -> Framing:
    if body is NO_BODY:
        return Framing.NONE
    return Framing.CHUNKED if body.length is None else Framing.LENGTH


def _header_block(headers: Headers) -> bytes:
    return b"".join([b"%s: %s\r\n" % pair for pair in headers])


def encode_request_head(request: Request, framing: Framing) -> bytes:
    """The request line and headers for an upstream (always HTTP/1.1, origin-form)."""
    target = request.authority if request.method == b"CONNECT" else request.path
    head = b"%s %s HTTP/1.1\r\n%s" % (request.method, target, _header_block(request.headers))
    if request.upgrade is not None:
        head += b"connection: upgrade\r\nupgrade: %s\r\n" % request.upgrade
    if framing is Framing.LENGTH:
        head += b"content-length: %d\r\n" % request.body.length  # type: ignore[str-format]
    elif framing is Framing.CHUNKED:
        head += b"transfer-encoding: chunked\r\n"
    return head + b"\r\n"


def encode_response_head(response: Response, framing: Framing, client_version: bytes, keep_alive: bool) -> bytes:
    """The status line and headers for a client; adds framing and connection fields."""
    head = b"HTTP/1.1 %d %s\r\n%s" % (
        response.status,
        response.reason or _REASONS.get(response.status, b"Unknown"),
        _header_block(response.headers),
    )
    if framing is Framing.LENGTH:
        head += b"content-length: %d\r\n" % response.body.length  # type: ignore[str-format]
    elif framing is Framing.CHUNKED:
        head += b"transfer-encoding: chunked\r\n"
    if response.status == 101:
        head += b"connection: upgrade\r\n"
    elif not keep_alive:
        head += b"connection: close\r\n"
    elif client_version == b"1.0":
        head += b"connection: keep-alive\r\n"
    return head + b"\r\n"


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def encode_last_chunk(trailers: Headers | None) -> bytes:
    return b"0\r\n%s\r\n" % _header_block(trailers) if trailers else b"0\r\n\r\n"


CONTINUE = _CONTINUE

_REASONS: dict[int, bytes] = {
    100: b"Continue", 101: b"Switching Protocols", 200: b"OK", 201: b"Created", 202: b"Accepted",
    204: b"No Content", 206: b"Partial Content", 301: b"Moved Permanently", 302: b"Found",
    304: b"Not Modified", 307: b"Temporary Redirect", 308: b"Permanent Redirect", 400: b"Bad Request",
    401: b"Unauthorized", 403: b"Forbidden", 404: b"Not Found", 405: b"Method Not Allowed",
    408: b"Request Timeout", 413: b"Content Too Large", 429: b"Too Many Requests",
    431: b"Request Header Fields Too Large", 500: b"Internal Server Error", 502: b"Bad Gateway",
    503: b"Service Unavailable", 504: b"Gateway Timeout",
}  # fmt: skip
