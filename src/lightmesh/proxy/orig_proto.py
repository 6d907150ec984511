"""HTTP/1 between two lightmesh proxies, carried over one multiplexed HTTP/2 connection.

When every endpoint of a destination is meshed (the controller marks it with the
``h2`` protocol hint: a lightmesh proxy's inbound listener), the outbound proxy
sends HTTP/1 requests to it as HTTP/2 streams, so one connection carries any
number of requests and each is balanced on its own. The request says what it was
in ``lightmesh-orig-proto: HTTP/1.1``; the inbound proxy restores it to HTTP/1 for
the application and drops the header, which never reaches an application (HTTP/1
parsing treats it as hop-by-hop, so an application cannot send one through
either). ``CONNECT`` and ``Upgrade`` requests stay HTTP/1: they need a byte tunnel.
"""

from __future__ import annotations

from typing import Final

from lightmesh.protocol.messages import NO_BODY, Request, Response

HEADER: Final = b"lightmesh-orig-proto"
_HTTP2_ONLY: Final = frozenset({HEADER, b"content-length", b"te"})  # fields an HTTP/1 upstream must not get


def can_upgrade(request: Request) -> bool:
    return request.method != b"CONNECT" and request.upgrade is None


def upgrade(request: Request) -> None:
    """Make an HTTP/1 request fit for HTTP/2; ``request.version`` stays what the client spoke."""
    fields = [field for field in request.headers if field[0] != b"host"]  # the tuples, not copies
    body = request.body
    if body is not NO_BODY and body.length is not None:
        fields.append((b"content-length", b"%d" % body.length))
    fields.append((HEADER, b"HTTP/" + request.version))
    request.headers = fields


def downgrade_response(response: Response) -> None:
    """An HTTP/2 response for an HTTP/1 client: the body's length frames it instead."""
    response.headers = [field for field in response.headers if field[0] != b"content-length"]


def upgrade_response(response: Response) -> None:
    """An HTTP/1 response going back over HTTP/2: keep its length so the far side can frame it."""
    body = response.body
    if body is not NO_BODY and body.length is not None:
        response.headers.append((b"content-length", b"%d" % body.length))


def downgrade_request(request: Request) -> bool:
    """Restore an upgraded request to HTTP/1; ``False`` when it was HTTP/2 from the start."""
    version = None
    for name, value in request.headers:
        if name == HEADER:
            version = value
            break
    if version is None:
        return False
    to_http1(request, b"1.0" if version == b"HTTP/1.0" else b"1.1")
    return True


def to_http1(request: Request, version: bytes = b"1.1") -> None:
    """An HTTP/2 request for an HTTP/1 upstream: framing comes from the body, not headers."""
    request.headers = [field for field in request.headers if field[0] not in _HTTP2_ONLY]
    request.version = version
