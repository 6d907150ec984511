"""The outbound router over fake endpoint pools, in virtual time: routing, outcomes reported
to the balancer, endpoint labels and routing listeners, eviction of idle destinations."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import UpstreamError
from lightmesh.core.stats import TcpStats
from lightmesh.io.h1client import Pool
from lightmesh.io.sweep import Sweeper
from lightmesh.protocol.messages import NO_BODY, BytesBody, Request, Response
from lightmesh.proxy.endpoint import Connector
from lightmesh.proxy.outbound import IDLE_EVICT, OutboundRouter
from lightmesh.proxy.resolve import StaticDnsResolver
from tests.support.virtual_time import in_loop

A = SocketAddr("10.0.0.1", 8080)
B = SocketAddr("10.0.0.2", 8080)
WEB = b"web:80"


class FakePool(Pool):
    """Answers every request with ``status`` (or raises ``error``) and remembers them."""

    def __init__(self, addr: SocketAddr, status: int = 200, error: Exception | None = None) -> None:
        super().__init__(addr, TcpStats("outbound", "dst"), Sweeper(asyncio.get_running_loop()))
        self.status = status
        self.error = error
        self.sent: list[Request] = []

    async def send(self, request: Request) -> Response:
        self.sent.append(request)
        if self.error is not None:
            raise self.error
        return Response(self.status, [], BytesBody(b"ok"))


def with_router(test: Callable[[OutboundRouter], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    @in_loop()
    async def run() -> None:
        sweeper = Sweeper(asyncio.get_running_loop())
        connector = Connector(TcpStats("outbound", "dst"), sweeper, 1.0, 3.0)
        router = OutboundRouter(StaticDnsResolver({"web:80": [A], "api:80": [B]}), connector, set())
        try:
            await test(router)
        finally:
            router.close()
            connector.close()
            sweeper.close()

    run.__name__ = run.__qualname__ = test.__name__
    return run


def _request(authority: bytes = WEB) -> Request:
    return Request(b"GET", b"/", [], NO_BODY, authority=authority)


async def _fake(router: OutboundRouter, pool: FakePool, authority: bytes = WEB) -> None:
    """Make the destination of ``authority`` and put ``pool`` in place of its real pool."""
    dest = await router._destination((authority, None))
    dest.balancer.pools = [pool]


@with_router
async def test_a_request_goes_to_its_destination_and_is_named_after_it(router: OutboundRouter) -> None:
    pool = FakePool(A)
    await _fake(router, pool)
    request = _request()
    response = await router.route(request)
    assert response.status == 200 and pool.sent == [request]
    assert request.dst == "web:80" and request.dst_labels == ()
    assert router.destinations[WEB, None].balancer.health == {}  # nothing ever failed: no state


@with_router
async def test_5xx_heads_and_endpoint_failures_count_against_the_endpoint(router: OutboundRouter) -> None:
    pool = FakePool(A, status=503)
    await _fake(router, pool)
    balancer = router.destinations[WEB, None].balancer
    assert (await router.route(_request())).status == 503
    assert balancer.health[A].failures == 1
    pool.error = UpstreamError("connection refused")
    with pytest.raises(UpstreamError):
        await router.route(_request())
    assert balancer.health[A].failures == 2
    pool.status, pool.error = 200, None
    await router.route(_request())
    assert balancer.health[A].failures == 0


@with_router
async def test_the_endpoint_labels_and_routing_listener_see_the_pick(router: OutboundRouter) -> None:
    await _fake(router, FakePool(A))
    router.destinations[WEB, None].balancer.labels = {A: (("dst_pod", "web-0"),)}
    routed: list[SocketAddr] = []
    request = _request()
    request.on_routed = lambda _, addr: routed.append(addr)
    await router.route(request)
    assert request.dst_labels == (("dst_pod", "web-0"),) and routed == [A]


@with_router
async def test_a_destination_no_request_used_for_the_idle_period_is_dropped(router: OutboundRouter) -> None:
    await _fake(router, FakePool(A))
    await _fake(router, FakePool(B), b"api:80")
    for _ in range(3):
        await asyncio.sleep(IDLE_EVICT * 0.75)
        await router.route(_request())  # web is used all along; api never after its creation
    assert (WEB, None) in router.destinations
    assert (b"api:80", None) not in router.destinations
    await asyncio.sleep(IDLE_EVICT * 2.1)
    assert router.destinations == {}
