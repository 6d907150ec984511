"""A route's request timeout (-> 504 with ``lightmesh-proxy-error``) and idle timeout.

The request timeout covers every attempt (retries included) up to the response head; the
work under it is cancelled when it passes, which resets the upstream HTTP/2 stream or
closes the upstream HTTP/1 connection. ``lightmesh-timeout`` may replace it per request
(see :mod:`lightmesh.proxy.layers.route`). The idle timeout bounds each pause of the
response body once it streams (:class:`IdleBody`): when it passes, the upstream is
discarded (reset or closed) and the body fails, so the client's stream is reset or its
connection closed. Expiries are counted in ``route_timeout_total`` with ``kind``
``request`` or ``idle``.
"""

from __future__ import annotations

import asyncio

from lightmesh.core.errors import ResponseTimeout, RouteTimeout
from lightmesh.protocol.messages import Body, Headers
from lightmesh.proxy.layers.route import RouteCall
from lightmesh.proxy.service import Layer, Request, Response, Service


def timeout_layer() -> Layer:
    def layer(inner: Service) -> Service:
        async def service(request: Request) -> Response:
            call = request.route
            assert isinstance(call, RouteCall)
            if call.timeout is None:
                response = await inner(request)
            else:
                scope = asyncio.timeout(call.timeout)
                try:
                    async with scope:
                        response = await inner(request)
                except TimeoutError:
                    if not scope.expired():
                        raise
                    call.counters.timed_out("request")
                    ms = call.timeout * 1000
                    raise RouteTimeout(f"route {call.route.name!r} timed out after {ms:.0f}ms") from None
            idle = call.route.idle_timeout
            if idle is not None and not response.body.complete:
                response.body = IdleBody(response.body, idle, call)
            return response

        return service

    return layer


class IdleBody:
    """A response body whose reads fail when nothing arrives for ``idle`` seconds."""

    __slots__ = ("_call", "_idle", "_inner", "length")

    def __init__(self, inner: Body, idle: float, call: RouteCall) -> None:
        self._inner = inner
        self._idle = idle
        self._call = call
        self.length = inner.length

    @property
    def complete(self) -> bool:
        return self._inner.complete

    @property
    def trailers(self) -> Headers | None:
        return self._inner.trailers

    def read_nowait(self) -> bytes | None:
        return self._inner.read_nowait()

    async def read(self) -> bytes:
        scope = asyncio.timeout(self._idle)
        try:
            async with scope:
                return await self._inner.read()
        except TimeoutError:
            if not scope.expired():
                raise
            self._inner.discard()
            self._call.counters.timed_out("idle")
            ms = self._idle * 1000
            raise ResponseTimeout(f"route {self._call.route.name!r}: response idle for {ms:.0f}ms") from None

    def discard(self) -> None:
        self._inner.discard()
