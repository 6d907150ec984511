"""Per-route counters and balancer endpoint states, rendered at scrape time.

A destination with a service profile counts each of its routes in a
:class:`RouteCounters`: *effective* requests and responses (what the client saw, after
retries: ``route_request_total``, ``route_response_total``, ``route_response_latency_ms``)
and *actual* ones (every attempt sent upstream: ``route_actual_request_total``,
``route_actual_response_total``), plus ``route_retry_total``, ``route_retry_skipped_total``
by reason (``budget``, ``limit``, ``body``) and ``route_timeout_total`` by kind
(``request``: the route's whole-request timeout, ``response``: one attempt's, ``idle``: a
response body's pause). Series carry
``direction="outbound"``, ``dst`` (the service) and ``rt_route`` (the route's name,
``[DEFAULT]`` for requests no route matched), as Linkerd's route metrics.

:class:`BalancerStates` renders ``outbound_http_balancer_endpoints`` (endpoints per
destination by ``endpoint_state``: ``ready`` or ``pending``, i.e. ejected or probing) and
``outbound_endpoint_state`` (1 for each endpoint's current failure-accrual state:
``active``, ``ejected`` or ``probing``) plus ``outbound_endpoint_ejections_total``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final, Protocol

from lightmesh.core.accrual import ACTIVE
from lightmesh.protocol.prometheus import Family
from lightmesh.proxy.telemetry import RouteStats, add_stats

MAX_ROUTES: Final = 5000  # (dst, route) series; beyond, counted under rt_route="overflow"


class RouteCounters:
    __slots__ = ("actual", "effective", "retries", "skipped", "timeouts")

    def __init__(self, dst: str, route: str) -> None:
        labels = (("dst", dst), ("rt_route", route))
        self.effective = RouteStats("", labels)
        self.actual = RouteStats("", labels)
        self.retries = 0
        self.skipped: dict[str, int] = {}
        self.timeouts: dict[str, int] = {}

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def timed_out(self, kind: str) -> None:
        self.timeouts[kind] = self.timeouts.get(kind, 0) + 1


class RouteTable:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], RouteCounters] = {}

    def get(self, dst: str, route: str) -> RouteCounters:
        key = (dst, route)
        counters = self.routes.get(key)
        if counters is None:
            if len(self.routes) >= MAX_ROUTES:
                key = (dst, "overflow")
                counters = self.routes.get(key)
            if counters is None:
                counters = self.routes[key] = RouteCounters(*key)
        return counters

    def collect(self) -> Iterator[Family]:
        requests = Family("route_request_total", "counter", "Requests per route (after retries)")
        responses = Family("route_response_total", "counter", "Responses per route (after retries)")
        latency = Family("route_response_latency_ms", "histogram", "Route response latency (ms)")
        actual_req = Family("route_actual_request_total", "counter", "Attempts sent per route")
        actual_resp = Family("route_actual_response_total", "counter", "Attempt responses per route")
        retries = Family("route_retry_total", "counter", "Retries per route")
        skipped = Family("route_retry_skipped_total", "counter", "Failed requests not retried, by reason")
        timeouts = Family(
            "route_timeout_total", "counter", "Route timeouts by kind (request, response, idle)"
        )
        for counters in self.routes.values():
            labels = [("direction", "outbound"), *counters.effective.dst_labels]
            add_stats(requests, responses, latency, labels, counters.effective)
            add_stats(actual_req, actual_resp, None, labels, counters.actual)
            retries.add(labels, counters.retries)
            for reason, count in counters.skipped.items():
                skipped.add([*labels, ("reason", reason)], count)
            for kind, count in counters.timeouts.items():
                timeouts.add([*labels, ("kind", kind)], count)
        yield from (requests, responses, latency, actual_req, actual_resp, retries, skipped, timeouts)


class EndpointView(Protocol):
    """What :class:`BalancerStates` reads from a balancer."""

    name: str
    ejections: int

    @property
    def size(self) -> int: ...

    def states(self) -> Iterable[tuple[str, str]]:
        """(endpoint address, accrual state) of the endpoints that ever failed."""
        ...


class BalancerStates:
    """Renders endpoint states of every balancer ``balancers()`` lists at scrape time."""

    def __init__(self, balancers: Callable[[], Iterable[EndpointView]]) -> None:
        self.balancers = balancers

    def collect(self) -> Iterator[Family]:
        endpoints = Family(
            "outbound_http_balancer_endpoints", "gauge", "Endpoints per destination by state (ready, pending)"
        )
        state = Family("outbound_endpoint_state", "gauge", "1 for an endpoint's failure-accrual state")
        ejections = Family("outbound_endpoint_ejections_total", "counter", "Endpoint ejections (accrual)")
        for balancer in self.balancers():
            pending = 0
            for addr, current in balancer.states():
                if current != ACTIVE:
                    pending += 1
                state.add([("dst", balancer.name), ("endpoint", addr), ("state", current)], 1)
            labels = [("direction", "outbound"), ("dst", balancer.name)]
            endpoints.add([*labels, ("endpoint_state", "ready")], balancer.size - pending)
            endpoints.add([*labels, ("endpoint_state", "pending")], pending)
            ejections.add([("dst", balancer.name)], balancer.ejections)
        yield from (endpoints, state, ejections)
