"""HTTP/1.x parsing without I/O: httptools (llhttp) into :mod:`messages`.

httptools (llhttp) does the byte-level parsing and already rejects the classic
smuggling vectors (Transfer-Encoding with Content-Length, duplicate
Content-Length, bad chunk sizes, bare LF, obs-fold). On top of it this module:

* enforces head limits (60 KiB of names and values, 100 fields -> 431), checked
  once a head is complete and after every read that leaves one unfinished, not
  per field: a head that starts and ends within a read of at most 60 KiB cannot
  break the size limit, so it is not even measured;
* lower-cases header names and removes hop-by-hop fields (RFC 9110 §7.6.1),
  remembering what they said (keep-alive, ``Upgrade``, ``Expect``);
* turns absolute-form targets into origin-form and takes the authority from them
  (RFC 9112 §3.2.2), else from ``Host``.

Parsers call a handler object; they never touch sockets or clocks. Writing heads and
chunks is :mod:`lightmesh.protocol.http1write`.
"""

from __future__ import annotations

import enum
from itertools import chain, islice
from operator import itemgetter
from typing import Final, Protocol

import httptools

from lightmesh.core.errors import BadRequest, HeadersTooLarge, UpstreamError
from lightmesh.protocol.messages import NO_BODY, Body, Headers, Request, Response

MAX_HEAD_BYTES: Final = 60 * 1024
MAX_HEADERS: Final = 100

HOP_BY_HOP: Final = frozenset(
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
        b"lightmesh-orig-proto",  # between lightmesh proxies only (proxy/orig_proto.py)
    }
)


class Framing(enum.Enum):
    NONE = "none"  # no body at all (HEAD, 1xx, 204, 304, or no framing header on a request)
    LENGTH = "length"
    CHUNKED = "chunked"
    CLOSE = "close"  # delimited by closing the connection


# The members as module globals for per-message code (here and in the io modules): on
# Python 3.11 every attribute read on an Enum class goes through EnumType.__getattr__,
# about 1k instructions.
NONE: Final = Framing.NONE
LENGTH: Final = Framing.LENGTH
CHUNKED: Final = Framing.CHUNKED
CLOSE: Final = Framing.CLOSE


class RequestHandler(Protocol):
    def on_request(self, request: Request) -> None: ...
    def on_body(self, data: bytes) -> None: ...
    def on_request_end(self, trailers: Headers | None) -> None: ...


class ResponseHandler(Protocol):
    """Receives responses; ``on_response`` gets the head with ``NO_BODY``: the handler
    attaches the body it wants, using the parser's ``framing`` and ``length``."""

    def on_response(self, response: Response, framing: Framing) -> None: ...
    def on_body(self, data: bytes) -> None: ...
    def on_response_end(self, trailers: Headers | None) -> None: ...


_NAME: Final = itemgetter(0)
_PLAIN_CONNECTION: Final = frozenset({b"keep-alive", b"close", b"upgrade"})
_MERGED: Final = (b"connection", b"transfer-encoding")
_READ: Final = HOP_BY_HOP | {b"host"}  # the fields split_fields hands the parsers


def split_fields(raw: Headers, request: bool = True) -> tuple[Headers, dict[bytes, bytes]]:
    """Separate end-to-end fields from hop-by-hop ones.

    ``raw`` has lower-case names. Returns the fields to forward and a dict of the
    fields the parsers read: every hop-by-hop one and ``Host``, each with its last
    value (or the comma-joined ones for ``Connection`` and ``Transfer-Encoding``).
    One pass sorts the fields: a name is hashed once, and only the few that are read
    go into the dict.
    """
    fields: dict[bytes, bytes] = {}
    kept: Headers = []
    repeated = False
    for field in raw:
        name = field[0]
        if name in _READ:
            if name in fields:
                repeated = True
            fields[name] = field[1]
            if name != b"host":  # hop-by-hop: not forwarded
                continue
        kept.append(field)
    if repeated:
        names = list(map(_NAME, raw))
        if request and names.count(b"host") > 1:
            raise BadRequest("multiple Host headers")
        for name in _MERGED:
            if names.count(name) > 1:
                fields[name] = b",".join(v for n, v in raw if n == name)
    connection = fields.get(b"connection")
    if connection is not None and connection not in _PLAIN_CONNECTION:  # other spellings: below
        tokens = {t.strip() for t in connection.lower().split(b",")}
        named = tokens - _PLAIN_CONNECTION - HOP_BY_HOP - {b"host", b""}
        if named:  # Connection names more hop-by-hop fields
            kept = [field for field in kept if field[0] not in named]
    return kept, fields


def _ends_chunked(transfer_encoding: bytes) -> bool:
    return transfer_encoding.rsplit(b",", 1)[-1].strip().lower() == b"chunked"


def _keep_codings(headers: Headers, transfer_encoding: bytes) -> Headers:
    """Keep codings applied before ``chunked`` (``gzip, chunked`` -> ``gzip``): the proxy
    re-chunks the body but must not drop what the sender encoded it with."""
    codings = transfer_encoding.rsplit(b",", 1)
    if len(codings) == 1:
        return headers
    return [*headers, (b"transfer-encoding", codings[0].strip())]


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


def _over_size_limit(fields: Headers) -> bool:
    """Whether a head's (or trailer section's) names and values add up to more than 60 KiB."""
    return sum(map(len, chain.from_iterable(fields))) > MAX_HEAD_BYTES


class _Unfinished:
    """The size of a field section still arriving, each field counted once across reads
    (so a head sent in many tiny reads costs no more to measure than one sent at once).
    A parser starts a new list for each section, which is how a new one is told apart."""

    __slots__ = ("_counted", "_fields", "_size")

    def __init__(self) -> None:
        self._fields: Headers | None = None
        self._counted = 0
        self._size = 0

    def over_size_limit(self, fields: Headers) -> bool:
        if fields is not self._fields:
            self._fields, self._counted, self._size = fields, 0, 0
        self._size += sum(map(len, chain.from_iterable(islice(fields, self._counted, None))))
        self._counted = len(fields)
        return self._size > MAX_HEAD_BYTES


class BodyFactory(Protocol):
    def __call__(self, length: int | None, chunked: bool) -> Body: ...


class RequestParser:
    """Parses a stream of pipelined requests from one client connection.

    httptools calls these methods back; ``on_body`` is the handler's own method, so
    body bytes reach the connection without an extra call.
    """

    def __init__(self, handler: RequestHandler, body_factory: BodyFactory) -> None:
        self._handler = handler
        self._body_factory = body_factory
        self.on_body = handler.on_body
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._raw: Headers = []  # the fields of the head (then the trailers) being parsed
        self._error: Exception | None = None
        self._measure = False  # whether the head now parsed might break the size limits
        self._unfinished = _Unfinished()
        self._manual = 0  # body bytes of a stripped h2c upgrade request still to pass on
        self.upgrading: Request | None = None
        self.in_head = False

    def feed(self, data: bytes) -> bytes | None:
        """Parse ``data``; return the bytes after an accepted upgrade/CONNECT, else ``None``."""
        if self._manual:
            data = self._pass_body(data)
            if not data:
                return None
        # A head that starts and ends in a read of at most 60 KiB is within the size limits.
        self._measure = self.in_head or len(data) > MAX_HEAD_BYTES
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            offset = int(upgrade.args[0])
            if self.upgrading is not None:
                return data[offset:]
            self._parser = httptools.HttpRequestParser(self)  # h2c upgrade was stripped: carry on
            return self.feed(data[offset:]) if offset < len(data) or self._manual else None
        except httptools.HttpParserCallbackError:
            raise self._error or BadRequest("invalid request")
        except httptools.HttpParserError as exc:
            if self.in_head or self._raw:  # too large is the answer, whatever broke after that
                self._check_limits(self._raw, self.in_head, unfinished=True)
            raise self._error or BadRequest(f"malformed request: {exc}")
        if self.in_head or self._raw:  # a head or trailer section is unfinished: bound it now
            self._check_limits(self._raw, self.in_head, unfinished=True)
        return None

    def _check_limits(self, raw: Headers, head: bool, unfinished: bool = False) -> None:
        """Refuse a request head (or trailer section) over the limits.

        Checked when a head is complete and after each read that leaves one unfinished,
        rather than per field, so the callbacks stay cheap; a slow head still cannot grow
        without bound.
        """
        if head and len(self._url) > MAX_HEAD_BYTES:
            raise HeadersTooLarge("request target exceeds 60 KiB")
        if self._unfinished.over_size_limit(raw) if unfinished else _over_size_limit(raw):
            raise HeadersTooLarge(f"request headers exceed {MAX_HEAD_BYTES // 1024} KiB")
        if head and len(raw) > MAX_HEADERS:
            raise HeadersTooLarge(f"request has more than {MAX_HEADERS} header fields")

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self.in_head = True

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        raw = self._raw
        self._raw = []  # trailers, if any, are collected here
        self.in_head = False
        try:
            request = self._build(raw)
        except (BadRequest, HeadersTooLarge) as exc:
            self._error = exc
            raise
        self._handler.on_request(request)

    def on_message_complete(self) -> None:
        trailers = self._raw
        if trailers:
            self._raw = []
            try:
                self._check_limits(trailers, False)
            except HeadersTooLarge as exc:
                self._error = exc
                raise
        if not self._manual:  # else llhttp ends an upgrade request at its head; see _pass_body
            self._handler.on_request_end(trailers or None)

    def _pass_body(self, data: bytes) -> bytes:
        """Hand on the Content-Length body of a stripped h2c offer; return what follows it."""
        n = min(self._manual, len(data))
        if n:
            self._handler.on_body(data[:n])
            self._manual -= n
        if not self._manual:
            self._handler.on_request_end(None)
        return data[n:]

    def _build(self, raw: Headers) -> Request:
        if self._measure or len(raw) > MAX_HEADERS:
            self._check_limits(raw, True)
        headers, fields = split_fields(raw)
        parser = self._parser
        method: bytes = parser.get_method()
        te = fields.get(b"transfer-encoding")
        chunked = te is not None
        if chunked:
            if not _ends_chunked(te):  # type: ignore[arg-type]
                raise BadRequest("Transfer-Encoding of a request must end in chunked")
            headers = _keep_codings(headers, te)  # type: ignore[arg-type]
        length = fields.get(b"content-length")
        body = self._body_factory(None if chunked or length is None else int(length), chunked)
        url = self._url
        authority = fields.get(b"host")
        if method == b"CONNECT":
            authority, path = url, b""
        elif url[:1] == b"/" or (absolute := split_absolute(url)) is None:
            path = url
        else:
            authority, path = absolute
            headers = [(b"host", authority), *(f for f in headers if f[0] != b"host")]
        keep_alive: bool = parser.should_keep_alive()
        if keep_alive and b"connection" not in fields and b"proxy-connection" not in fields:
            version = b"1.1"  # llhttp keeps a request without them alive only for HTTP/1.1
        else:
            version = _VERSIONS.get(parser.get_http_version()) or b"1.1"  # formats a str: costly
        request = Request(method, path, headers, body, authority, version, keep_alive)
        if (
            (b"upgrade" in fields or b"expect" in fields)
            and self._flags(request, fields)
            and (chunked or length)
        ):
            if chunked:
                raise BadRequest("Upgrade: h2c with a chunked request body is not supported")
            self._manual = int(length)  # type: ignore[arg-type]
        self.upgrading = request if request.upgrade is not None or method == b"CONNECT" else None
        return request

    @staticmethod
    def _flags(request: Request, fields: dict[bytes, bytes]) -> bool:
        """Set upgrade and expect-continue; ``True`` when an h2c upgrade offer is stripped.

        llhttp stops at the head of any upgrade request, so the caller must then pass
        the body on itself (an h2c offer is never honoured: request smuggling guard).
        """
        request.expect_continue = fields.get(b"expect", b"").strip().lower() == b"100-continue"
        upgrade = fields.get(b"upgrade")
        connection = {token.strip() for token in fields.get(b"connection", b"").lower().split(b",")}
        if upgrade is None or b"upgrade" not in connection:
            return False
        if b"h2c" in {token.strip() for token in upgrade.lower().split(b",")}:
            return True
        request.upgrade = upgrade.strip()
        return False


_VERSIONS: Final = {"1.1": b"1.1", "1.0": b"1.0"}


_TOO_LARGE: Final = f"response headers exceed {MAX_HEAD_BYTES // 1024} KiB"


class _SkipBody(Exception):
    """Raised from a callback to stop llhttp after a bodiless response head (HEAD)."""


class ResponseParser:
    """Parses the responses on one upstream connection, one request at a time.

    ``expect(method)`` must be called before each request is sent, so a response to
    HEAD is known to have no body. Interim 1xx responses (except 101) are skipped.
    """

    def __init__(self, handler: ResponseHandler) -> None:
        self._handler = handler
        self.on_body = handler.on_body
        self._parser = httptools.HttpResponseParser(self)
        self._raw: Headers = []  # the fields of the head (then the trailers) being parsed
        self._reason = b""
        self._measure = False  # whether the head now parsed might break the size limit
        self._unfinished = _Unfinished()
        self._head_request = False
        self._interim = False
        self.framing = NONE
        self.length: int | None = None
        self.in_message = False
        self.keep_alive = False  # whether the upstream keeps the connection: set as a response ends

    def expect(self, method: bytes) -> None:
        self._head_request = method == b"HEAD"

    def feed(self, data: bytes) -> bytes | None:
        """Parse ``data``; return bytes after a 101 response (tunnel data), else ``None``."""
        # A head that starts and ends in a read of at most 60 KiB is within the size limit.
        self._measure = self.in_message or len(data) > MAX_HEAD_BYTES
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            return data[int(upgrade.args[0]) :]
        except httptools.HttpParserCallbackError:
            if isinstance(self._error, _SkipBody):
                self._parser = httptools.HttpResponseParser(self)
                self._error = None
                return None
            raise UpstreamError(f"invalid response from upstream: {self._error}")
        except httptools.HttpParserError as exc:
            if self._raw:  # too large is the answer, whatever broke after that
                self._check_unfinished()
            raise UpstreamError(f"malformed response from upstream: {exc}")
        if self._raw:  # a head or trailer section is unfinished: bound it now
            self._check_unfinished()
        return None

    def _check_unfinished(self) -> None:
        """Refuse a head or trailer section over the limit before it is complete."""
        if self._unfinished.over_size_limit(self._raw):
            raise UpstreamError(f"invalid response from upstream: {_TOO_LARGE}")

    def feed_eof(self) -> bool:
        """The upstream closed. Return ``True`` if that ended a close-delimited body."""
        if self.in_message and self.framing is CLOSE:
            self.in_message = self.keep_alive = False
            self._handler.on_response_end(None)
            return True
        return not self.in_message

    _error: Exception | None = None

    def on_message_begin(self) -> None:
        self._reason = b""
        self.in_message = True

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        raw = self._raw
        self._raw = []  # trailers, if any, are collected here
        if self._measure and _over_size_limit(raw):
            self._error = UpstreamError(_TOO_LARGE)
            raise self._error
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._interim = True  # on_message_complete clears it
            return
        if len(raw) > MAX_HEADERS:
            self._error = UpstreamError(f"response has more than {MAX_HEADERS} header fields")
            raise self._error
        headers, fields = split_fields(raw, False)
        te = fields.get(b"transfer-encoding")
        length = fields.get(b"content-length")
        self.length = None
        if self._head_request or status in (204, 304) or status < 200:
            self.framing = NONE
            if length is not None:  # HEAD and 304 keep the size of the entity they describe
                headers = [*headers, (b"content-length", length)]
        elif te is not None and _ends_chunked(te):
            self.framing = CHUNKED
            headers = _keep_codings(headers, te)
        elif length is not None and te is None:
            self.framing = LENGTH
            self.length = int(length)
        else:
            self.framing = CLOSE
        response = Response(status, headers, NO_BODY, self._reason)
        if status == 101:
            response.keep_alive = False
            upgrade = fields.get(b"upgrade")
            if upgrade is not None:
                response.headers.append((b"upgrade", upgrade))
        self._handler.on_response(response, self.framing)
        if self._head_request:
            self.in_message = False
            self.keep_alive = self._parser.should_keep_alive()
            self._handler.on_response_end(None)
            self._error = _SkipBody()
            raise self._error

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        trailers = self._raw
        if trailers:
            self._raw = []
            if _over_size_limit(trailers):
                self._error = UpstreamError(_TOO_LARGE)
                raise self._error
        self.in_message = False
        self.keep_alive = self._parser.should_keep_alive()
        self._handler.on_response_end(trailers or None)
