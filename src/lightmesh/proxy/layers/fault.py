"""Fault injection per route: delay or abort a share of requests on purpose.

For testing how callers cope (Envoy's and Istio's fault filter; Linkerd has none): a
route's :class:`~lightmesh.core.routes.Fault` delays ``delay_percent`` % of its requests
by its duration and answers ``abort_percent`` % with its status (and a
``lightmesh-proxy-error`` saying a fault was injected) without sending them upstream.
The layer sits inside the route's request timeout, so a delay can trigger it, and
outside retries, so an injected abort is never retried. Decisions use an injected
random generator.
"""

from __future__ import annotations

import asyncio
import random

from lightmesh.core.errors import FaultInjected
from lightmesh.proxy.layers.route import RouteCall
from lightmesh.proxy.service import Layer, Request, Response, Service


def fault_layer(rng: random.Random | None = None) -> Layer:
    source = rng or random.Random()

    def layer(inner: Service) -> Service:
        async def service(request: Request) -> Response:
            call = request.route
            assert isinstance(call, RouteCall)
            fault = call.route.fault
            if fault is None:
                return await inner(request)
            delay, abort = fault.decide(source)
            if delay:
                await asyncio.sleep(delay)
            if abort is not None:
                raise FaultInjected(f"fault injected by route {call.route.name!r}: abort with {abort}", abort)
            return await inner(request)

        return service

    return layer
