"""The HTTP/1 pool against a scripted upstream on loopback: reuse, stale keep-alive retry, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import UpstreamError
from lightmesh.core.stats import TcpStats
from lightmesh.io.h1client import Pool
from lightmesh.io.sweep import Sweeper
from lightmesh.protocol.messages import NO_BODY, BytesBody, Request

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
Script = Callable[[int, int, asyncio.StreamWriter], Awaitable[bool]]


class Upstream:
    """Answers each request head as ``script(connection number, request number on it, writer)``
    says; the script returns ``False`` to close the connection instead."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.closed = 0
        self.heads: list[bytes] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number, served = self.connections, 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                served += 1
                if not await self.script(number, served, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed += 1
            writer.close()


def _run(test: Callable[[Pool, Upstream], Coroutine[Any, Any, None]], script: Script, balanced: bool) -> None:
    """Run ``test`` with a pool to a new ``Upstream(script)``, on a loop of its own."""

    async def main() -> None:
        upstream = Upstream(script)
        server = await asyncio.start_server(upstream.serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sweeper = Sweeper(asyncio.get_running_loop())
        pool = Pool(SocketAddr("127.0.0.1", port), TcpStats("inbound", "dst"), sweeper)
        pool.balanced = balanced
        try:
            async with server:
                await test(pool, upstream)
        finally:
            pool.close()
            sweeper.close()

    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:  # leaves the current loop alone
        runner.run(main())


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in 5 s")


async def _answer(_conn: int, _n: int, writer: asyncio.StreamWriter) -> bool:
    writer.write(OK)
    return True


@pytest.mark.parametrize("balanced", [False, True])
def test_requests_reuse_the_idle_connection(balanced: bool) -> None:
    async def test(pool: Pool, upstream: Upstream) -> None:
        for _ in range(3):
            response = await pool.send(Request(b"GET", b"/", [], NO_BODY))
            assert response.body.read_nowait() == b"ok"
        assert upstream.connections == 1

    _run(test, _answer, balanced)


async def _close_second(conn: int, n: int, writer: asyncio.StreamWriter) -> bool:
    if conn == 1 and n == 2:
        return False  # closes its idle keep-alive connection just as a request arrives
    writer.write(OK)
    return True


@pytest.mark.parametrize("balanced", [False, True])
def test_a_bodiless_request_on_a_stale_connection_is_sent_again_on_a_new_one(balanced: bool) -> None:
    async def test(pool: Pool, upstream: Upstream) -> None:
        await pool.send(Request(b"GET", b"/first", [], NO_BODY))
        response = await pool.send(Request(b"GET", b"/second", [], NO_BODY))
        assert response.status == 200 and response.body.read_nowait() == b"ok"
        assert upstream.connections == 2
        assert [head.split(b" ")[1] for head in upstream.heads] == [b"/first", b"/second", b"/second"]

    _run(test, _close_second, balanced)


def test_a_request_with_a_body_on_a_stale_connection_fails() -> None:
    async def test(pool: Pool, upstream: Upstream) -> None:
        await pool.send(Request(b"GET", b"/first", [], NO_BODY))
        with pytest.raises(UpstreamError, match="closed before responding"):
            await pool.send(Request(b"POST", b"/second", [], BytesBody(b"data")))
        assert upstream.connections == 1

    _run(test, _close_second, False)


async def _never_second(conn: int, n: int, writer: asyncio.StreamWriter) -> bool:
    if n == 1:
        writer.write(OK)
    return True  # the second request on a connection never gets an answer


@pytest.mark.parametrize("balanced", [False, True])
def test_giving_up_on_a_response_aborts_the_upstream_connection(balanced: bool) -> None:
    async def test(pool: Pool, upstream: Upstream) -> None:
        await pool.send(Request(b"GET", b"/", [], NO_BODY))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await pool.send(Request(b"GET", b"/slow", [], NO_BODY))
        await _until(lambda: upstream.closed == 1)
        assert pool.idle == []
        assert pool.load.pending == 0

    _run(test, _never_second, balanced)
