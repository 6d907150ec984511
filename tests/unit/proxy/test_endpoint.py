"""Connector pools: HTTP/1 and HTTP/2 pools keep a peak-EWMA load only when a balancer reads it."""

from __future__ import annotations

import asyncio

from lightmesh.core.addr import SocketAddr
from lightmesh.core.ewma import DEFAULT_RTT
from lightmesh.core.stats import TcpStats
from lightmesh.io.sweep import Sweeper
from lightmesh.protocol.messages import NO_BODY, Request
from lightmesh.proxy.endpoint import Connector

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


async def _estimate_after_one_request(balanced: bool) -> tuple[float, int, bytes]:
    served: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(RESPONSE)
        await reader.read()  # until the pool closes the connection
        writer.close()
        await writer.wait_closed()
        served.set_result(None)

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sweeper = Sweeper(asyncio.get_running_loop())
    connector = Connector(TcpStats("inbound", "dst"), sweeper, 1.0, 3.0, balanced=balanced)
    try:
        pool = connector.pool(SocketAddr("127.0.0.1", port), None)
        await asyncio.sleep(0.05)  # time passes: a faster answer pulls a tracked estimate down
        response = await pool.send(Request(b"GET", b"/", [], NO_BODY))
        data = response.body.read_nowait() or b""
        return pool.load.estimate, pool.load.pending, data
    finally:
        connector.close()
        await asyncio.wait_for(served, 10.0)
        sweeper.close()
        server.close()
        await server.wait_closed()


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
