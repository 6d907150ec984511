"""Match each request of a profiled service to its route, count it there, apply overrides.

The router puts this layer (and the fault, timeout and retry layers under it) in front of
a destination only when the controller sent it a profile with routes, so a service
without one pays nothing. The layer picks the first route whose condition matches
(:meth:`~lightmesh.core.routes.Profile.route_for`) and leaves a :class:`RouteCall` in
``request.route`` for the layers below. The override headers ``lightmesh-retry-limit``
(a count) and ``lightmesh-timeout`` (``500ms``, ``2s`` or bare milliseconds) replace the
route's retry limit and request timeout when the profile allows overrides; they are
always removed before the request goes on, so the application never sees them. Proxy
errors below are answered here, so the route's metrics count them (a 504 timeout, an
injected abort) like any response.
"""

from __future__ import annotations

import time
from typing import Final

from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import ProxyError, StreamReset
from lightmesh.core.routes import (
    OVERRIDE_HEADERS,
    RETRY_LIMIT_HEADER,
    TIMEOUT_HEADER,
    Profile,
    Route,
    parse_retry_limit,
    parse_timeout_header,
)
from lightmesh.protocol.messages import Headers, Response, ended_grpc_status, error_response
from lightmesh.proxy.routestats import RouteCounters, RouteTable
from lightmesh.proxy.service import Layer, Request, Service
from lightmesh.proxy.telemetry import RouteStats

RETRY_LIMIT: Final = RETRY_LIMIT_HEADER
TIMEOUT: Final = TIMEOUT_HEADER
_clock: Final = time.perf_counter


class RouteCall:
    """One request's route, its counters and the effective retry limit and timeout."""

    __slots__ = ("avoid", "counters", "last", "once", "retry_limit", "route", "timeout")

    def __init__(
        self, route: Route, counters: RouteCounters, retry_limit: int, timeout: float | None
    ) -> None:
        self.route = route
        self.counters = counters
        self.retry_limit = retry_limit
        self.timeout = timeout
        self.once = False  # set below when the request went upstream once: its actual = effective
        self.last: SocketAddr | None = None  # the endpoint of the latest attempt (set by the router)
        self.avoid: SocketAddr | None = None  # a retry's failed endpoint: picked only if the last


def _overrides(request: Request, call: RouteCall, allowed: bool) -> None:
    """Strip the override headers; apply them when the profile allows."""
    kept: Headers = []
    for name, value in request.headers:
        if name == RETRY_LIMIT:
            limit = parse_retry_limit(value)
            if allowed and limit is not None:
                call.retry_limit = limit
        elif name == TIMEOUT:
            timeout = parse_timeout_header(value)
            if allowed and timeout is not None:
                call.timeout = timeout
        else:
            kept.append((name, value))
    request.headers = kept


def _has_overrides(headers: Headers) -> bool:
    for name, _ in headers:  # noqa: SIM110 - a plain loop: no generator per request
        if name in OVERRIDE_HEADERS:
            return True
    return False


def route_layer(profile: Profile, dst: str, table: RouteTable) -> Layer:
    def layer(inner: Service) -> Service:
        async def service(request: Request) -> Response:
            route = profile.route_for(request.method, request.path, request.headers)
            counters = table.get(dst, route.name)
            call = RouteCall(route, counters, route.retry_limit, route.timeout)
            if _has_overrides(request.headers):
                _overrides(request, call, profile.allow_overrides)
            request.route = call
            start = _clock()
            try:
                response = await inner(request)
            except ProxyError as exc:
                if isinstance(exc, StreamReset) and request.version == b"2":
                    counters.effective.requests += 1
                    raise
                response = error_response(exc, request)
            counters.effective.requests += 1
            stats = (counters.effective, counters.actual) if call.once else (counters.effective,)
            response.add_end_callback(RouteRecorder(route, stats, (_clock() - start) * 1000.0))
            return response

        return service

    return layer


class RouteRecorder:
    """Records a response in route stats once it ended, classified by the route's classes."""

    __slots__ = ("latency_ms", "route", "stats")

    def __init__(self, route: Route, stats: tuple[RouteStats, ...], latency_ms: float) -> None:
        self.route = route
        self.stats = stats
        self.latency_ms = latency_ms

    def __call__(self, response: Response, error: BaseException | None) -> None:
        grpc = ended_grpc_status(response)
        failed = error is not None or self.route.failed(response.status, grpc)
        classification = "failure" if failed else "success"
        for stats in self.stats:
            stats.response(response.status, grpc, classification, self.latency_ms)
