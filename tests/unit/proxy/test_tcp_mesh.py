"""Which original destinations the outbound TCP forwarder reaches over mTLS, in virtual time (looptime).

``MeshTargets`` asks discovery about the ``ip:port`` a connection was redirected to; only a meshed pod
(an endpoint with an identity) on a port where its proxy detects protocols gets mutual TLS.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

import looptime

from lightmesh.core.addr import SocketAddr
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
    return MeshTargets(discovery, FakeTls(), 1.0, opaque)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=lambda: looptime.new_event_loop(start=0)) as runner:
        runner.run(test())


def test_a_meshed_pod_is_reached_with_its_identity_and_the_opaque_alpn() -> None:
    async def body() -> None:
        mesh = targets({POD: Endpoint(POD, identity=ID)})
        tls = await mesh.client_tls(POD)
        assert tls is not None and tls.server_name == f"{ID}/lightmesh.opaque"
        assert cast(FakeDiscovery, mesh.discovery).asked == ["10.0.0.5:7000"]
        await mesh.client_tls(POD)
        assert len(cast(FakeDiscovery, mesh.discovery).asked) == 1  # one watch per address

    run(body)


def test_addresses_that_are_not_meshed_pods_are_relayed_as_sent() -> None:
    async def body() -> None:
        assert await targets({}).client_tls(POD) is None  # no service lists it
        assert await targets({POD: Endpoint(POD)}).client_tls(POD) is None  # no identity
        opaque = {POD: Endpoint(POD, identity=ID, opaque=True)}
        assert await targets(opaque).client_tls(POD) is None  # its proxy relays without detecting
        mesh = targets({POD: Endpoint(POD, identity=ID)}, opaque=frozenset({7000}))
        assert await mesh.client_tls(POD) is None  # an opaque port: not even asked
        assert cast(FakeDiscovery, mesh.discovery).asked == []

    run(body)


def test_a_silent_controller_delays_the_connection_by_the_timeout_then_it_is_relayed_as_sent() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await targets(None).client_tls(POD) is None
        assert loop.time() - start == 1.0

    run(body)


def test_the_least_recently_used_watch_is_closed_beyond_the_limit() -> None:
    async def body() -> None:
        mesh = targets({})
        for i in range(MAX_WATCHES + 1):
            await mesh.client_tls(SocketAddr("10.1.0.1", 1000 + i))
        watches = cast(FakeDiscovery, mesh.discovery).watches
        assert len(mesh.watches) == MAX_WATCHES
        assert watches[0].closed and not any(w.closed for w in watches[1:])
        mesh.close()
        assert all(w.closed for w in watches) and not mesh.watches

    run(body)
