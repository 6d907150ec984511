"""Turn the proxy's own failures into responses, so outer layers (metrics) see them.

A :class:`~lightmesh.core.errors.ProxyError` raised below becomes a response with
its status and a ``lightmesh-proxy-error`` header saying why; a client never
sees a traceback. An upstream stream reset is the exception for HTTP/2 clients:
their stream is reset with the same code (RST_STREAM propagates).
"""

from __future__ import annotations

from lightmesh.core.errors import ProxyError, StreamReset
from lightmesh.protocol.messages import error_response
from lightmesh.proxy.service import Layer, Request, Response, Service


def errors_layer() -> Layer:
    def layer(inner: Service) -> Service:
        async def service(request: Request) -> Response:
            try:
                return await inner(request)
            except ProxyError as exc:
                if isinstance(exc, StreamReset) and request.version == b"2":
                    raise  # the HTTP/2 server resets its client's stream with the same code
                return error_response(exc, request)

        return service

    return layer
