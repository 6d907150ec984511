"""Failure accrual in the balancer, in virtual time (looptime): ejection, backoff, probe, 503 fast."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from lightmesh.core.accrual import ACTIVE, EJECTED, PROBING
from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import Unavailable
from lightmesh.core.stats import TcpStats
from lightmesh.io.sweep import Sweeper
from lightmesh.proxy.balance import Balancer
from lightmesh.proxy.endpoint import Connector
from tests.support.virtual_time import in_loop

A = SocketAddr("127.0.0.1", 9001)
B = SocketAddr("127.0.0.1", 9002)


def with_balancer(test: Callable[[Balancer], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run ``test`` in virtual time with a balancer over A and B."""

    @in_loop()
    async def run() -> None:
        sweeper = Sweeper(asyncio.get_running_loop())
        connector = Connector(TcpStats("outbound", "dst"), sweeper, 1.0, 3.0)
        balancer = Balancer(connector, b"web:80", "web:80")
        balancer.update([A, B])
        try:
            await test(balancer)
        finally:
            balancer.close()
            connector.close()
            sweeper.close()

    run.__name__ = run.__qualname__ = test.__name__
    return run


@with_balancer
async def test_an_ejected_endpoint_gets_no_requests_until_its_probe(balancer: Balancer) -> None:
    for _ in range(7):
        balancer.failed(A)
    assert balancer.health[A].state == EJECTED
    assert {balancer.pick().addr for _ in range(50)} == {B}
    await asyncio.sleep(1.5)  # the first penalty is 1 s to 1.5 s
    assert balancer.health[A].state == PROBING
    picks = [balancer.pick().addr for _ in range(50)]
    assert picks.count(A) == 1  # exactly one probe
    balancer.succeeded(A)
    assert balancer.health[A].state == ACTIVE and balancer.impaired == 0


@with_balancer
async def test_a_failed_probe_ejects_for_twice_as_long(balancer: Balancer) -> None:
    loop = asyncio.get_running_loop()
    for _ in range(7):
        balancer.failed(A)
    first = balancer.health[A].until - loop.time()
    await asyncio.sleep(first)
    while balancer.pick().addr != A:
        pass
    balancer.failed(A)
    second = balancer.health[A].until - loop.time()
    assert 2.0 <= second <= 3.0 and 1.0 <= first <= 1.5
    assert balancer.ejections == 2


@with_balancer
async def test_every_endpoint_ejected_fails_fast_with_503(balancer: Balancer) -> None:
    for addr in (A, B):
        for _ in range(7):
            balancer.failed(addr)
    with pytest.raises(Unavailable, match="ejected"):
        balancer.pick()
    with pytest.raises(Unavailable):
        balancer.pick_h2()
    assert dict(balancer.states()) == {str(A): EJECTED, str(B): EJECTED}


@with_balancer
async def test_a_cancelled_probe_frees_the_probe_slot(balancer: Balancer) -> None:
    for _ in range(7):
        balancer.failed(A)
    await asyncio.sleep(1.5)
    while balancer.pick().addr != A:
        pass
    balancer.released(A)
    assert balancer.health[A].available


@with_balancer
async def test_removed_endpoints_forget_their_state(balancer: Balancer) -> None:
    for _ in range(7):
        balancer.failed(A)
    balancer.update([B])
    assert balancer.health == {} and balancer.impaired == 0


@with_balancer
async def test_a_retry_avoids_the_endpoint_that_failed_unless_it_is_the_last(balancer: Balancer) -> None:
    assert {balancer.pick(avoid=A).addr for _ in range(50)} == {B}
    assert {balancer.pick_h2(avoid=B).addr for _ in range(50)} == {A}
    balancer.update([A])
    assert balancer.pick(avoid=A).addr == A
