"""Which original destinations the outbound TCP forwarder reaches over mTLS, in virtual time (looptime).

``MeshTargets`` asks discovery about the ``ip:port`` a connection was redirected to; a meshed pod (an
endpoint with an identity) is dialled with mutual TLS at its proxy's inbound port (the discovery hint)
with a transport header naming the original port; without the hint, at the original port unless its
proxy would relay that port without detecting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

import looptime

from lightmesh.core.addr import SocketAddr
from lightmesh.core.stats import TcpStats
from lightmesh.io.connect import ClientTls
from lightmesh.proxy.discovery import DestinationClient, Endpoint, Watch
from lightmesh.proxy.tcp import MAX_WATCHES, MeshTargets

POD = SocketAddr("10.0.0.5", 7000)
ID = "db.shop.serviceaccount.identity.lightmesh.cluster.local"


class FakeWatch:
    def __init__(self, endpoints: dict[SocketAddr, Endpoint] | None) -> None:
        self.endpoints = endpoints or {}
        self.answered = asyncio.Event()
        if endpoints is not None:
            self.answered.set()
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeDiscovery:
    """Answers every name with ``endpoints`` (``None``: never answers)."""

    def __init__(self, endpoints: dict[SocketAddr, Endpoint] | None) -> None:
        self.endpoints = endpoints
        self.asked: list[str] = []
        self.watches: list[FakeWatch] = []

    def watch(self, name: str) -> Watch:
        self.asked.append(name)
        self.watches.append(FakeWatch(self.endpoints))
        return cast(Watch, self.watches[-1])


class FakeTls:
    def client_tls(self, server_name: str, alpn: str) -> ClientTls:
        return ClientTls(cast(Any, None), f"{server_name}/{alpn}")


Endpoints = dict[SocketAddr, Endpoint]


def targets(endpoints: Endpoints | None, opaque: frozenset[int] = frozenset()) -> MeshTargets:
    discovery = cast(DestinationClient, FakeDiscovery(endpoints))
    return MeshTargets(discovery, FakeTls(), 1.0, opaque, TcpStats("outbound", "dst", "true"))


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=lambda: looptime.new_event_loop(start=0)) as runner:
        runner.run(test())


def test_a_meshed_pod_is_dialled_at_its_proxys_inbound_port_with_its_identity_and_a_header() -> None:
    async def body() -> None:
        for opaque in (frozenset(), frozenset({7000})):  # opaque ports too: the inbound port detects
            mesh = targets({POD: Endpoint(POD, identity=ID, opaque=True, inbound_port=4143)}, opaque)
            route = await mesh.route(POD)
            assert route is not None and route.addr == SocketAddr("10.0.0.5", 4143)
            assert route.tls.server_name == f"{ID}/lightmesh.opaque" and route.header == b"LMT1 7000\n"
            assert cast(FakeDiscovery, mesh.discovery).asked == ["10.0.0.5:7000"]
            await mesh.route(POD)
            assert len(cast(FakeDiscovery, mesh.discovery).asked) == 1  # one watch per address

    run(body)


def test_without_the_hint_a_pod_is_dialled_at_the_original_port_where_its_proxy_detects() -> None:
    async def body() -> None:
        route = await targets({POD: Endpoint(POD, identity=ID)}).route(POD)
        assert route is not None and route.addr == POD and route.header == b"LMT1 7000\n"
        opaque = {POD: Endpoint(POD, identity=ID, opaque=True)}
        assert await targets(opaque).route(POD) is None  # its proxy relays without detecting
        assert await targets({POD: Endpoint(POD, identity=ID)}, frozenset({7000})).route(POD) is None

    run(body)


def test_a_services_virtual_ip_is_carried_to_one_of_its_meshed_pods() -> None:
    async def body() -> None:
        pods = [SocketAddr("10.0.0.5", 6379), SocketAddr("10.0.0.6", 6379)]
        mesh = targets({p: Endpoint(p, identity=ID, inbound_port=4143) for p in pods}, frozenset({6379}))
        mesh.rng.seed(7)
        dialled = set()
        for _ in range(20):
            route = await mesh.route(SocketAddr("10.96.0.10", 6379))
            assert route is not None and route.header == b"LMT1 6379\n"
            dialled.add(route.addr)
        assert dialled == {SocketAddr("10.0.0.5", 4143), SocketAddr("10.0.0.6", 4143)}
        plain = targets({p: Endpoint(p) for p in pods})
        assert await plain.route(SocketAddr("10.96.0.10", 6379)) is None  # unmeshed pods: as sent

    run(body)


def test_addresses_that_are_not_meshed_pods_are_relayed_as_sent() -> None:
    async def body() -> None:
        assert await targets({}).route(POD) is None  # no service lists it
        assert await targets({POD: Endpoint(POD, inbound_port=4143)}).route(POD) is None  # no identity

    run(body)


def test_a_silent_controller_delays_the_connection_by_the_timeout_then_it_is_relayed_as_sent() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await targets(None).route(POD) is None
        assert loop.time() - start == 1.0

    run(body)


def test_the_least_recently_used_watch_is_closed_beyond_the_limit() -> None:
    async def body() -> None:
        mesh = targets({})
        for i in range(MAX_WATCHES + 1):
            await mesh.route(SocketAddr("10.1.0.1", 1000 + i))
        watches = cast(FakeDiscovery, mesh.discovery).watches
        assert len(mesh.watches) == MAX_WATCHES
        assert watches[0].closed and not any(w.closed for w in watches[1:])
        mesh.close()
        assert all(w.closed for w in watches) and not mesh.watches

    run(body)
