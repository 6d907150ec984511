"""The inbound side (mesh -> app): forward every request to the local application.

The target is ``LIGHTMESH_PROXY_INBOUND_FORWARD`` when set, else 127.0.0.1 at the
port the connection was originally sent to (iptables redirect). With neither, the
proxy cannot know where the application listens and answers 502 saying so.
HTTP/2 requests go on as HTTP/2, except HTTP/1 requests another lightmesh proxy
carried over HTTP/2 (``lightmesh-orig-proto``), which are restored to HTTP/1.

Every request loses any ``lightmesh-client-id`` header its client sent (the inbound deadline
layer's header scan removes the fields in :data:`STRIPPED`); a request that arrived over
mesh TLS gets one naming the client's proven identity, and its metrics carry it as
``client_id``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Final

from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import UpstreamError
from lightmesh.core.routes import OVERRIDE_HEADERS
from lightmesh.protocol.messages import ConnInfo
from lightmesh.proxy import orig_proto
from lightmesh.proxy.endpoint import Connector
from lightmesh.proxy.layers.deadline import forward_deadline
from lightmesh.proxy.service import Request, Response

CLIENT_ID: Final = b"lightmesh-client-id"
STRIPPED: Final = frozenset(
    {*OVERRIDE_HEADERS, CLIENT_ID}
)  # never reach the application as the client sent them


def set_client_id(request: Request, conn: ConnInfo) -> None:
    """Name the proven client of a mesh TLS connection (a client-sent one is gone: see :data:`STRIPPED`)."""
    assert conn.peer_id is not None
    request.headers.append((CLIENT_ID, conn.peer_id.encode()))
    request.dst_labels = conn.id_labels


def inbound_target(forward: SocketAddr | None, conn: ConnInfo | None) -> SocketAddr:
    if forward is not None:
        return forward
    if conn is not None and conn.redirected and conn.orig_dst is not None:
        return SocketAddr("127.0.0.1", conn.orig_dst[1])
    raise UpstreamError("no inbound forward address configured and the connection was not redirected")


class InboundForwarder:
    """The inbound endpoint stage: :meth:`send` is the Service (the stack holds the bound
    method, which is cheaper to call than an instance with ``__call__``)."""

    def __init__(self, forward: SocketAddr | None, connector: Connector) -> None:
        self.forward = forward
        self.connector = connector

    def send(self, request: Request) -> Awaitable[Response]:
        conn = request.conn
        if conn is not None and conn.peer_id is not None:
            set_client_id(request, conn)
        target = self.forward
        if target is None:
            target = inbound_target(None, conn)
        if request.deadline is not None:
            forward_deadline(request, asyncio.get_running_loop().time())
        if request.version == b"2":
            if orig_proto.downgrade_request(request):
                return self._restored(target, request)
            return self.connector.send_http2(self.connector.h2_pool(target), request)
        if request.method == b"CONNECT":
            return self.connector.tunnel(target)
        pool = self.connector.pools.get((target, request.authority))  # found without a call once made
        if pool is None:
            pool = self.connector.pool(target, request.authority)
        return pool.send(request)

    async def _restored(self, target: SocketAddr, request: Request) -> Response:
        response = await self.connector.pool(target, request.authority).send(request)
        orig_proto.upgrade_response(response)
        return response
