"""HTTP/2 header blocks <-> :mod:`messages`, without I/O.

The codec (:mod:`h2codec`) decodes and validates header blocks (pseudo-header
order, forbidden connection-specific fields, lower-case names); this module maps
them to the protocol-neutral :class:`Request`/:class:`Response` and back.
Pseudo-headers become fields of the message, everything else stays a header and is
forwarded as-is, ``content-length`` included (the codec checks it against the DATA
received).
"""

from __future__ import annotations

from typing import Final

from lightmesh.core.errors import BadRequest, HeadersTooLarge, Unsupported
from lightmesh.protocol.messages import NO_BODY, Body, Headers, Request, Response

MAX_HEADERS: Final = 100


def _content_length(value: bytes) -> int | None:
    return int(value) if value.isdigit() else None


def request_from_h2(headers: Headers, max_headers: int = MAX_HEADERS) -> tuple[Request, int | None]:
    """The request a HEADERS block opens, and its declared body length (if any)."""
    method = path = authority = host = None
    length: int | None = None
    fields: Headers = []
    for field in headers:  # regular fields are forwarded as the tuples they are, not copies
        name = field[0]
        if name[:1] == b":":
            if name == b":method":
                method = field[1]
            elif name == b":path":
                path = field[1]
            elif name == b":authority":
                authority = field[1]
            continue
        if name == b"host":
            host = field[1]
            continue
        if name == b"content-length":
            length = _content_length(field[1])
        fields.append(field)
    if len(fields) > max_headers:
        raise HeadersTooLarge(f"request has {len(fields)} header fields, over the limit of {max_headers}")
    if method is None:
        raise BadRequest("request has no :method")
    if method == b"CONNECT":
        raise Unsupported("CONNECT over HTTP/2 is not supported; use HTTP/1.1 CONNECT")
    if path is None:
        raise BadRequest("request has no :path")
    request = Request(method, path, fields, NO_BODY, authority or host, version=b"2")
    return request, length


def response_from_h2(headers: Headers, body: Body) -> Response:
    status = 0
    fields: Headers = []
    for field in headers:
        name = field[0]
        if name == b":status":
            status = int(field[1])
        elif name[:1] != b":":
            fields.append(field)
    return Response(status, fields, body)


def request_to_h2(request: Request, authority: bytes, grpc_timeout: bytes | None = None) -> Headers:
    """The HEADERS block for ``request`` upstream; ``grpc_timeout`` replaces the caller's."""
    headers: Headers = [
        (b":method", request.method),
        (b":scheme", b"http"),
        (b":authority", request.authority or authority),
        (b":path", request.path),
    ]
    if grpc_timeout is None:
        headers.extend(request.headers)
    else:
        headers.extend(
            (name, grpc_timeout if name == b"grpc-timeout" else value) for name, value in request.headers
        )
    return headers


def response_to_h2(response: Response) -> Headers:
    headers: Headers = [(b":status", b"%d" % response.status)]
    headers.extend(response.headers)
    return headers
