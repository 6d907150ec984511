"""The concrete stage: a balancer over one destination's endpoints, per request.

Each request picks an endpoint by power-of-two-choices over peak-EWMA cost (the
endpoint's latency estimate times its pending requests, :mod:`lightmesh.core.ewma`):
HTTP/1 pools for HTTP/1 requests, multiplexed HTTP/2 pools for HTTP/2 ones, so
calls on one client connection spread over all endpoints and slow endpoints get
fewer of them. The endpoint set can be replaced while requests are in flight;
pools of removed endpoints finish their requests and are dropped.

Circuit breaking: the router reports each request's outcome (:meth:`Balancer.succeeded`,
:meth:`Balancer.failed`: a 5xx head or a connection failure). An endpoint that fails
``MAX_FAILURES`` (7) times in a row is ejected (:class:`~lightmesh.core.accrual.FailureAccrual`)
for 1 s doubling to 60 s with jitter 0.5, then one real request probes it. Picks skip
ejected endpoints; when every endpoint is ejected the request fails fast with 503. While
nothing ever failed, the only cost is one truthiness check per outcome. A retry names the
endpoint its failed attempt went to, which is then picked only when no other is left.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable, Sequence
from typing import Final, TypeVar

from lightmesh.core import p2c
from lightmesh.core.accrual import ACTIVE, PROBING, FailureAccrual
from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import Unavailable
from lightmesh.io.h1client import Pool
from lightmesh.io.h2client import H2Pool
from lightmesh.io.pool import EndpointPool
from lightmesh.proxy.endpoint import Connector

log: Final = logging.getLogger(__name__)
P = TypeVar("P", bound=EndpointPool)


def _load(pool: EndpointPool) -> float:
    return pool.load.cost(pool.loop.time())


class Balancer:
    def __init__(self, connector: Connector, authority: bytes | None, name: str) -> None:
        self.connector = connector
        self.authority = authority
        self.name = name
        self.pools: list[Pool] = []
        self.h2_pools: list[H2Pool] | None = None  # made on the first HTTP/2 request
        self.meshed = False  # every endpoint is a lightmesh proxy: HTTP/1 goes over HTTP/2
        self.labels: dict[SocketAddr, tuple[tuple[str, str], ...]] = {}  # dst_* metric labels
        self._rng = random.Random()
        self.health: dict[SocketAddr, FailureAccrual] = {}  # endpoints that failed at least once
        self.impaired = 0  # endpoints not active (ejected or probing)
        self.ejections = 0
        self._timers: dict[SocketAddr, asyncio.TimerHandle] = {}

    @property
    def addrs(self) -> list[SocketAddr]:
        return [pool.addr for pool in self.pools]

    @property
    def size(self) -> int:
        return len(self.pools)

    def update(self, addrs: list[SocketAddr]) -> None:
        self.pools = [self.connector.pool(addr, self.authority) for addr in dict.fromkeys(addrs)]
        if self.h2_pools is not None:
            self.h2_pools = [self.connector.h2_pool(pool.addr) for pool in self.pools]
        if self.health:
            kept = set(addrs)
            for addr in [a for a in self.health if a not in kept]:
                del self.health[addr]
                timer = self._timers.pop(addr, None)
                if timer is not None:
                    timer.cancel()
            self._count()

    def pick(self, avoid: SocketAddr | None = None) -> Pool:
        """An endpoint's HTTP/1 pool; ``avoid`` (a retry's failed endpoint) only if it is the last."""
        pools = self.pools
        if not pools:
            raise Unavailable(f"no endpoints for {self.name}")
        if self.impaired or avoid is not None:
            return self._pick_healthy(pools, avoid)
        if len(pools) == 1:  # what p2c.pick does first, without the call
            return pools[0]
        return p2c.pick(pools, _load, self._rng)

    def pick_h2(self, avoid: SocketAddr | None = None) -> H2Pool:
        pools = self.h2_pools
        if pools is None:
            pools = self.h2_pools = [self.connector.h2_pool(pool.addr) for pool in self.pools]
        if not pools:
            raise Unavailable(f"no endpoints for {self.name}")
        if self.impaired or avoid is not None:
            return self._pick_healthy(pools, avoid)
        if len(pools) == 1:
            return pools[0]
        return p2c.pick(pools, _load, self._rng)

    def _pick_healthy(self, pools: Sequence[P], avoid: SocketAddr | None = None) -> P:
        health = self.health
        live = [p for p in pools if (h := health.get(p.addr)) is None or h.available]
        if avoid is not None and len(live) > 1:
            live = [p for p in live if p.addr != avoid] or live
        if not live:
            raise Unavailable(f"every endpoint of {self.name} is ejected after consecutive failures")
        pool = p2c.pick(live, _load, self._rng)
        accrual = health.get(pool.addr)
        if accrual is not None and accrual.state == PROBING:
            accrual.take_probe()
        return pool

    # outcomes
    def succeeded(self, addr: SocketAddr) -> None:
        accrual = self.health.get(addr)
        if accrual is not None and (accrual.failures or accrual.state != ACTIVE):
            was = accrual.state
            accrual.success()
            if was != ACTIVE:
                log.info("endpoint %s of %s is back after a successful probe", addr, self.name)
                self._count()

    def failed(self, addr: SocketAddr) -> None:
        accrual = self.health.get(addr)
        if accrual is None:
            if addr not in {p.addr for p in self.pools}:
                return  # an endpoint removed meanwhile
            accrual = self.health[addr] = FailureAccrual(self._rng)
        loop = asyncio.get_running_loop()
        penalty = accrual.failure(loop.time())
        if penalty is not None:
            self.ejections += 1
            log.warning(
                "endpoint %s of %s ejected for %.1fs after %d consecutive failures",
                addr,
                self.name,
                penalty,
                accrual.failures,
            )
            self._timers[addr] = loop.call_later(penalty, self._end_penalty, addr, accrual)
            self._count()

    def released(self, addr: SocketAddr) -> None:
        """A request ended with neither success nor failure (cancelled): free a probe slot."""
        accrual = self.health.get(addr)
        if accrual is not None and accrual.state == PROBING:
            accrual.probe_out = False

    def _end_penalty(self, addr: SocketAddr, accrual: FailureAccrual) -> None:
        self._timers.pop(addr, None)
        accrual.end_penalty()

    def _count(self) -> None:
        self.impaired = sum(1 for a in self.health.values() if a.state != ACTIVE)

    def states(self) -> Iterable[tuple[str, str]]:
        return [(str(addr), accrual.state) for addr, accrual in self.health.items()]

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
