"""Count requests and responses per authority, with latency to the response head.

``request_total`` is counted once the request was routed and answered (or failed),
so outbound series carry the chosen endpoint's ``dst_*`` labels (from the
controller's endpoint metadata), and ``server_id`` last when the endpoint is reached
over mesh TLS, which makes the series ``tls="true"``; inbound series of mesh TLS
connections carry ``client_id``. The response is recorded when it has been fully
sent (``Response.on_end``, :meth:`~lightmesh.proxy.telemetry.RouteStats.ended`), so its
classification sees the end of the stream: a body that breaks midway is a failure even
after a 200, and a ``grpc-status`` trailer decides for gRPC.

The layer also turns a :class:`~lightmesh.core.errors.ProxyError` raised below into the
response the client gets (:func:`~lightmesh.proxy.layers.errors.proxy_error_response`),
so that response is what gets counted; doing it here rather than in a layer of its own
saves a coroutine per request.
"""

from __future__ import annotations

import time
from typing import Final

from lightmesh.core.errors import ProxyError
from lightmesh.protocol.messages import Response
from lightmesh.proxy.layers.errors import proxy_error_response
from lightmesh.proxy.service import Layer, Request, Service
from lightmesh.proxy.telemetry import HttpTable, ResponseEnd

_clock: Final = time.perf_counter


def metrics_layer(table: HttpTable) -> Layer:
    def layer(inner: Service) -> Service:
        async def service(request: Request) -> Response:
            start = _clock()
            try:
                response = await inner(request)
            except ProxyError as exc:
                response = proxy_error_response(exc, request)
            finally:  # counted once routed, so the request carries its endpoint's labels
                authority, conn, labels = request.authority, request.conn, request.dst_labels
                # inbound: the client's connection was mesh TLS; outbound: the endpoint's is
                tls = (conn is not None and conn.tls) or (bool(labels) and labels[-1][0] == "server_id")
                stats = table.tables[tls].get((authority, labels)) or table.get(authority, tls, labels)
                stats.requests += 1
            response.add_end_callback(ResponseEnd(stats, (_clock() - start) * 1000.0))
            return response

        return service

    return layer
