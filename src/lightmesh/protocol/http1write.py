"""HTTP/1.x serialization without I/O: framing decisions, heads and chunks.

:func:`response_framing` decides how a response body is delimited for a client of a given
version, :func:`request_framing` the same upstream. Heads are built as one list of lines
joined once (header names are already lower-case, hop-by-hop fields already removed by
:mod:`lightmesh.protocol.http1`); framing and connection fields are added here. Status
lines for the usual status codes are ready-made. The unit tests check every head and
chunk against h11.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Final

from lightmesh.protocol.http1 import CHUNKED, CLOSE, LENGTH, NONE, Framing
from lightmesh.protocol.messages import NO_BODY, Body, Headers, Request, Response

_NAME: Final = itemgetter(0)


def response_framing(method: bytes, status: int, body: Body, client_version: bytes) -> Framing:
    """How to delimit a response body sent to a client of ``client_version``."""
    if method == b"HEAD" or status in (204, 304) or status < 200:
        return NONE
    if method == b"CONNECT" and status < 300:
        return NONE
    if body.length is not None:
        return LENGTH
    return CHUNKED if client_version == b"1.1" else CLOSE


def request_framing(body: Body) -> Framing:
    if body is NO_BODY:
        return NONE
    return CHUNKED if body.length is None else LENGTH


_JOIN_FIELD: Final = b": ".join
_END_OF_HEAD: Final = (b"", b"")  # joined with CRLF: ends the last line, then the empty line


def _header_block(headers: Headers) -> bytes:
    return b"\r\n".join(map(_JOIN_FIELD, headers)) + b"\r\n" if headers else b""


def encode_request_head(request: Request, framing: Framing, default_host: bytes | None = None) -> bytes:
    """The request line and headers for an upstream (always HTTP/1.1, origin-form).

    HTTP/1.1 requires ``Host``: a request without one (from an HTTP/1.0 client) gets
    its authority, else ``default_host`` (the upstream's address). The head is built
    as a list of lines and joined once.
    """
    method, headers = request.method, request.headers
    lines = [b"%s %s HTTP/1.1" % (method, request.authority if method == b"CONNECT" else request.path)]
    host = request.authority or default_host
    if host is not None and b"host" not in map(_NAME, headers):
        lines.append(b"host: " + host)
    lines += map(_JOIN_FIELD, headers)
    if request.upgrade is not None:
        lines += (b"connection: upgrade", b"upgrade: " + request.upgrade)
    if framing is LENGTH:
        lines.append(b"content-length: %d" % request.body.length)  # type: ignore[str-format]
    elif framing is CHUNKED:
        lines.append(b"transfer-encoding: chunked")
    lines += _END_OF_HEAD
    return b"\r\n".join(lines)


def encode_response_head(
    response: Response, framing: Framing, client_version: bytes, keep_alive: bool
) -> bytes:
    """The status line and headers for a client; adds framing and connection fields."""
    status = response.status
    line = _STATUS_LINES.get((status, response.reason))
    if line is None:
        line = b"HTTP/1.1 %d %s" % (status, response.reason or _REASONS.get(status, b"Unknown"))
    lines = [line, *map(_JOIN_FIELD, response.headers)]
    if framing is LENGTH:
        lines.append(b"content-length: %d" % response.body.length)  # type: ignore[str-format]
    elif framing is CHUNKED:
        lines.append(b"transfer-encoding: chunked")
    if status == 101:
        lines.append(b"connection: upgrade")
    elif not keep_alive:
        lines.append(b"connection: close")
    elif client_version == b"1.0":
        lines.append(b"connection: keep-alive")
    lines += _END_OF_HEAD
    return b"\r\n".join(lines)


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def encode_last_chunk(trailers: Headers | None) -> bytes:
    return b"0\r\n%s\r\n" % _header_block(trailers) if trailers else b"0\r\n\r\n"


def encode_final_chunks(data: bytes | None, trailers: Headers | None) -> bytes:
    """The end of a chunked body in one piece: its last ``data`` (if any), then the last chunk."""
    last = encode_last_chunk(trailers)
    return encode_chunk(data) + last if data else last


CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"

_REASONS: Final[dict[int, bytes]] = {
    100: b"Continue", 101: b"Switching Protocols", 200: b"OK", 201: b"Created", 202: b"Accepted",
    204: b"No Content", 206: b"Partial Content", 301: b"Moved Permanently", 302: b"Found",
    304: b"Not Modified", 307: b"Temporary Redirect", 308: b"Permanent Redirect", 400: b"Bad Request",
    401: b"Unauthorized", 403: b"Forbidden", 404: b"Not Found", 405: b"Method Not Allowed",
    408: b"Request Timeout", 413: b"Content Too Large", 429: b"Too Many Requests",
    431: b"Request Header Fields Too Large", 500: b"Internal Server Error", 502: b"Bad Gateway",
    503: b"Service Unavailable", 504: b"Gateway Timeout",
}  # fmt: skip

# The status lines for the usual reasons (or none given), ready-made.
_STATUS_LINES: Final = {
    (status, given): b"HTTP/1.1 %d %s" % (status, reason)
    for status, reason in _REASONS.items()
    for given in (b"", reason)
}
