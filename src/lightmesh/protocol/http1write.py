"""HTTP/1.x serialization without I/O: framing decisions, heads and chunks.

:func:`response_framing` decides how a response body is delimited for a client of a given
version, :func:`request_framing` the same upstream. Heads are built as one flat list of pieces
joined once (header names are already lower-case, hop-by-hop fields already removed by
:mod:`lightmesh.protocol.http1`); framing and connection fields are added here. Status
lines for the usual status codes are ready-made. The unit tests check every head and
chunk against h11.
"""

from __future__ import annotations

from typing import Final

from lightmesh.protocol.http1 import CHUNKED, CLOSE, LENGTH, NONE, Framing
from lightmesh.protocol.messages import NO_BODY, Body, Headers, Request, Response


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


_LENGTH_LINES: Final[dict[int, bytes]] = {}  # the Content-Length fields formatted so far
_LENGTH_LINES_MAX: Final = 256


def _content_length(length: int) -> bytes:
    """``CRLF content-length: N``, formatted once for each of the first lengths seen: most
    services answer with a few sizes over and over, and formatting an int is not cheap."""
    line = _LENGTH_LINES.get(length)
    if line is None:
        line = b"\r\ncontent-length: %d" % length
        if len(_LENGTH_LINES) < _LENGTH_LINES_MAX:
            _LENGTH_LINES[length] = line
    return line


def _add_fields(parts: list[bytes], headers: Headers) -> bool:
    """Append ``CRLF name: value`` for every field: one flat list, joined once by the caller.
    Return whether one of them was ``Host`` (a request head needs one)."""
    has_host = False
    for name, value in headers:
        if name == b"host":
            has_host = True
        parts.append(b"\r\n")
        parts.append(name)
        parts.append(b": ")
        parts.append(value)
    return has_host


def encode_request_head(request: Request, framing: Framing, default_host: bytes | None = None) -> bytes:
    """The request line and headers for an upstream (always HTTP/1.1, origin-form).

    HTTP/1.1 requires ``Host``: a request without one (from an HTTP/1.0 client) gets
    its authority, else ``default_host`` (the upstream's address). The head is built
    as one list of pieces and joined once.
    """
    method, headers = request.method, request.headers
    target = request.authority if method == b"CONNECT" and request.authority else request.path
    parts = [method, b" ", target, b" HTTP/1.1"]
    if not _add_fields(parts, headers):
        host = request.authority or default_host
        if host is not None:  # first, as RFC 9110 asks of a client that sends it
            parts.insert(4, b"\r\nhost: ")
            parts.insert(5, host)
    if request.upgrade is not None:
        parts.append(b"\r\nconnection: upgrade\r\nupgrade: ")
        parts.append(request.upgrade)
    if framing is LENGTH:
        length = request.body.length
        assert length is not None  # LENGTH framing: the length is known
        parts.append(_content_length(length))
    elif framing is CHUNKED:
        parts.append(b"\r\ntransfer-encoding: chunked")
    parts.append(b"\r\n\r\n")
    return b"".join(parts)


def encode_response_head(
    response: Response, framing: Framing, client_version: bytes, keep_alive: bool
) -> bytes:
    """The status line and headers for a client; adds framing and connection fields."""
    status, reason = response.status, response.reason
    known = _STATUS_LINES.get(status)
    if known is not None and (not reason or reason == known[0]):
        line = known[1]
    else:
        line = b"HTTP/1.1 %d %s" % (status, reason or _REASONS.get(status, b"Unknown"))
    parts = [line]
    _add_fields(parts, response.headers)
    if framing is LENGTH:
        length = response.body.length
        assert length is not None  # LENGTH framing: the length is known
        parts.append(_content_length(length))
    elif framing is CHUNKED:
        parts.append(b"\r\ntransfer-encoding: chunked")
    if status == 101:
        parts.append(b"\r\nconnection: upgrade")
    elif not keep_alive:
        parts.append(b"\r\nconnection: close")
    elif client_version == b"1.0":
        parts.append(b"\r\nconnection: keep-alive")
    parts.append(b"\r\n\r\n")
    return b"".join(parts)


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def encode_last_chunk(trailers: Headers | None) -> bytes:
    if not trailers:
        return b"0\r\n\r\n"
    parts = [b"0"]
    _add_fields(parts, trailers)
    parts.append(b"\r\n\r\n")
    return b"".join(parts)


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

# The status line for each usual status, ready-made for its usual reason (or none given).
_STATUS_LINES: Final = {
    status: (reason, b"HTTP/1.1 %d %s" % (status, reason)) for status, reason in _REASONS.items()
}
