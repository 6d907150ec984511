"""Turn the proxy's own failures into responses, so outer layers (metrics) see them.

A :class:`~lightmesh.core.errors.ProxyError` raised below becomes a response with
its status and a ``lightmesh-proxy-error`` header saying why; a client never
sees a traceback. An upstream stream reset is the exception for HTTP/2 clients:
their stream is reset with the same code (RST_STREAM propagates).

The proxy's stacks do this in the metrics layer's own ``try`` (one coroutine per request
fewer, see :mod:`lightmesh.proxy.layers.metrics`) with :func:`proxy_error_response`;
:func:`errors_layer` is the same as a layer of its own, for stacks without metrics.
"""

from __future__ import annotations

from lightmesh.core.errors import ProxyError, StreamReset
from lightmesh.protocol.messages import error_response
from lightmesh.proxy.service import Layer, Request, Response, Service


def proxy_error_response(exc: ProxyError, request: Request) -> Response:
    """The response for ``exc`` raised while serving ``request``; re-raises it when the HTTP/2
    server must reset its client's stream instead (an upstream stream reset)."""
    if isinstance(exc, StreamReset) and request.version == b"2":
        raise exc  # the HTTP/2 server resets its client's stream with the same code
    return error_response(exc, request)


def errors_layer() -> Layer:
    def layer(inner: Service) -> Service:
        async def service(request: Request) -> Response:
            try:
                return await inner(request)
            except ProxyError as exc:
                return proxy_error_response(exc, request)

        return service

    return layer
