"""A route's request timeout: no response head within it -> 504 with ``lightmesh-proxy-error``.

The timeout covers every attempt (retries included) up to the response head; the work
under it is cancelled when it passes, which resets the upstream HTTP/2 stream or closes
the upstream HTTP/1 connection. ``lightmesh-timeout`` may replace it per request (see
:mod:`lightmesh.proxy.layers.route`). Each expiry is counted in ``route_timeout_total``
with ``kind="request"``.
"""

from __future__ import annotations

import asyncio

from lightmesh.core.errors import RouteTimeout
from lightmesh.proxy.layers.route import RouteCall
from lightmesh.proxy.service import Layer, Request, Response, Service


def timeout_layer() -> Layer:
    def layer(inner: Service) -> Service:
        async def service(request: Request) -> Response:
            call = request.route
            assert isinstance(call, RouteCall)
            if call.timeout is None:
                return await inner(request)
            scope = asyncio.timeout(call.timeout)
            try:
                async with scope:
                    return await inner(request)
            except TimeoutError:
                if not scope.expired():
                    raise
                call.counters.timed_out("request")
                ms = call.timeout * 1000
                raise RouteTimeout(f"route {call.route.name!r} timed out after {ms:.0f}ms") from None

        return service

    return layer
