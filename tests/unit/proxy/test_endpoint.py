"""Connector pools: HTTP/1 and HTTP/2 pools keep a peak-EWMA load only when a balancer reads it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from lightmesh.core.addr import SocketAddr
from lightmesh.core.ewma import DEFAULT_RTT
from lightmesh.core.stats import TcpStats
from lightmesh.io.h1client import Pool
from lightmesh.io.sweep import Sweeper
from lightmesh.protocol.messages import NO_BODY, Request
from lightmesh.proxy.endpoint import MAX_POOLS, Connector

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@contextlib.asynccontextmanager
async def _connector_and_upstream(
    balanced: bool, pool_idle_timeout: float = 3.0
) -> AsyncIterator[tuple[Connector, SocketAddr]]:
    """A connector and an upstream that answers one request per connection, then waits for
    the pool to close it; on exit the connector is closed and the upstream saw that close."""
    served: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(RESPONSE)
        await reader.read()  # until the pool closes the connection
        writer.close()
        await writer.wait_closed()
        served.set_result(None)

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    sweeper = Sweeper(asyncio.get_running_loop())
    connector = Connector(TcpStats("inbound", "dst"), sweeper, 1.0, pool_idle_timeout, balanced=balanced)
    try:
        yield connector, SocketAddr("127.0.0.1", server.sockets[0].getsockname()[1])
    finally:
        connector.close()
        await asyncio.wait_for(served, 10.0)
        sweeper.close()
        server.close()
        await server.wait_closed()


async def _estimate_after_one_request(balanced: bool) -> tuple[float, int, bytes]:
    async with _connector_and_upstream(balanced) as (connector, addr):
        pool = connector.pool(addr, None)
        await asyncio.sleep(0.05)  # time passes: a faster answer pulls a tracked estimate down
        response = await pool.send(Request(b"GET", b"/", [], NO_BODY))
        data = response.body.read_nowait() or b""
        return pool.load.estimate, pool.load.pending, data


def _run(balanced: bool) -> tuple[float, int, bytes]:
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:  # leaves the current loop alone
        return runner.run(_estimate_after_one_request(balanced))


def test_a_balanced_pool_updates_its_load_around_each_request() -> None:
    estimate, pending, data = _run(balanced=True)
    assert data == b"ok"
    assert pending == 0
    assert estimate != DEFAULT_RTT


def test_an_unbalanced_pool_sends_the_same_but_keeps_no_load() -> None:
    estimate, pending, data = _run(balanced=False)
    assert data == b"ok"
    assert pending == 0
    assert estimate == DEFAULT_RTT


def test_the_connector_makes_every_kind_of_pool_balanced_or_not() -> None:
    async def kinds(balanced: bool) -> tuple[bool, bool]:
        sweeper = Sweeper(asyncio.get_running_loop())
        connector = Connector(TcpStats("inbound", "dst"), sweeper, 1.0, 3.0, balanced=balanced)
        addr = SocketAddr("127.0.0.1", 1)
        try:
            return connector.pool(addr, None).balanced, connector.h2_pool(addr).balanced
        finally:
            connector.close()
            sweeper.close()

    for balanced in (True, False):
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            assert runner.run(kinds(balanced)) == (balanced, balanced)


async def _with_idle_connection(check: Callable[[Connector, Pool], Awaitable[None]]) -> None:
    """Run ``check`` with a connector whose pool for authority ``b"kept"`` holds an idle connection."""
    async with _connector_and_upstream(False, pool_idle_timeout=30.0) as (connector, addr):
        kept = connector.pool(addr, b"kept")
        response = await kept.send(Request(b"GET", b"/", [], NO_BODY))
        assert response.body.read_nowait() == b"ok"
        assert len(kept.idle) == 1
        await check(connector, kept)


def _run_check(check: Callable[[Connector, Pool], Awaitable[None]]) -> None:
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(_with_idle_connection(check))


def test_pools_for_ever_new_authorities_stay_bounded_and_keep_idle_connections() -> None:
    async def check(connector: Connector, kept: Pool) -> None:
        addr = kept.addr
        for i in range(3 * MAX_POOLS):
            connector.pool(addr, b"host-%d" % i)
            assert len(connector.pools) <= MAX_POOLS
        assert connector.pool(addr, b"kept") is kept  # it holds a connection: never dropped for empty ones
        assert not kept.idle[0].closed

    _run_check(check)


def test_when_every_pool_holds_idle_connections_the_oldest_are_dropped_and_closed() -> None:
    async def check(connector: Connector, kept: Pool) -> None:
        addr, conn = kept.addr, kept.idle[0]
        for i in range(MAX_POOLS - 1):
            connector.pool(addr, b"host-%d" % i).idle.append(conn)  # stands for an idle connection each
        connector.pool(addr, b"one-more")
        assert len(connector.pools) <= MAX_POOLS // 2
        assert (addr, b"kept") not in connector.pools  # the oldest went first, its connection closed
        assert conn.closed
        assert (addr, b"host-%d" % (MAX_POOLS - 2)) in connector.pools

    _run_check(check)


def test_a_balanced_connector_keeps_every_pool_its_balancers_may_hold() -> None:
    async def many() -> int:
        sweeper = Sweeper(asyncio.get_running_loop())
        connector = Connector(TcpStats("outbound", "dst"), sweeper, 1.0, 3.0, balanced=True)
        try:
            first = connector.pool(SocketAddr("127.0.0.1", 1), b"first")
            for i in range(MAX_POOLS + 10):
                connector.pool(SocketAddr("127.0.0.1", 1), b"host-%d" % i)
            connector.set_identity(SocketAddr("127.0.0.1", 1), "web.default.serviceaccount.identity.lm.local")
            assert first.server_id == "web.default.serviceaccount.identity.lm.local"  # still reached
            return len(connector.pools)
        finally:
            connector.close()
            sweeper.close()

    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        assert runner.run(many()) == MAX_POOLS + 11
