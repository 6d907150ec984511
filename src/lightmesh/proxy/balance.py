"""The concrete stage: a balancer over one destination's endpoints, per request.

Each request picks an endpoint by power-of-two-choices over peak-EWMA cost (the
endpoint's latency estimate times its pending requests, :mod:`lightmesh.core.ewma`):
HTTP/1 pools for HTTP/1 requests, multiplexed HTTP/2 pools for HTTP/2 ones, so
calls on one client connection spread over all endpoints and slow endpoints get
fewer of them. The endpoint set can be replaced while requests are in flight;
pools of removed endpoints finish their requests and are dropped.
"""

from __future__ import annotations

import random

from lightmesh.core import p2c
from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import Unavailable
from lightmesh.io.h1client import Pool
from lightmesh.io.h2client import H2Pool
from lightmesh.io.pool import EndpointPool
from lightmesh.proxy.endpoint import Connector


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

    @property
    def addrs(self) -> list[SocketAddr]:
        return [pool.addr for pool in self.pools]

    def update(self, addrs: list[SocketAddr]) -> None:
        self.pools = [self.connector.pool(addr, self.authority) for addr in dict.fromkeys(addrs)]
        if self.h2_pools is not None:
            self.h2_pools = [self.connector.h2_pool(pool.addr) for pool in self.pools]

    def pick(self) -> Pool:
        pools = self.pools
        if not pools:
            raise Unavailable(f"no endpoints for {self.name}")
        return p2c.pick(pools, _load, self._rng)

    def pick_h2(self) -> H2Pool:
        pools = self.h2_pools
        if pools is None:
            pools = self.h2_pools = [self.connector.h2_pool(pool.addr) for pool in self.pools]
        if not pools:
            raise Unavailable(f"no endpoints for {self.name}")
        return p2c.pick(pools, _load, self._rng)
