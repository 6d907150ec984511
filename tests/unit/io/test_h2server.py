"""H2Server's stream workers: a task that served a stream serves the next one, of any connection
of the listener, even after its stream was reset or its connection lost; any other cancellation
ends it; and only so many wait. Driven over loopback by the tests' HTTP/2 client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from lightmesh.core.stats import TcpStats
from lightmesh.io.context import ServerContext
from lightmesh.io.h2server import MAX_IDLE_WORKERS, H2Server
from lightmesh.io.sweep import Sweeper
from lightmesh.protocol.messages import BytesBody, ConnInfo, Request, Response
from tests.support.h2_peers import H2Client


class App:
    """The service: ``/hang`` waits until cancelled, ``/gate/...`` until the gate opens; anything
    else answers at once. Notes the task that served each path, and the cancelled hangs."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self.hanging = asyncio.Event()
        self.cancelled = 0
        self.gate = asyncio.Event()
        self.at_gate = 0

    async def __call__(self, request: Request) -> Response:
        path = request.path.decode()
        task = asyncio.current_task()
        assert task is not None
        self.tasks[path] = task
        if path == "/hang":
            self.hanging.set()
            try:
                await asyncio.get_running_loop().create_future()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        if path.startswith("/gate/"):
            self.at_gate += 1
            await self.gate.wait()
        return Response(200, [], BytesBody(path.encode()))


async def connect(port: int) -> H2Client:
    """The project's synchronous test client; its blocking reads run in a thread so this loop serves."""
    return await asyncio.to_thread(H2Client, f"127.0.0.1:{port}")


async def answer(client: H2Client, sid: int) -> tuple[int | None, bytes]:
    response = await asyncio.to_thread(client.response, sid)
    return response.status, response.body


Test = Callable[[App, ServerContext, int], Coroutine[Any, Any, None]]


def run(test: Test) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        app = App()
        ctx = ServerContext("inbound", app, TcpStats("inbound", ""), Sweeper(loop))

        def protocol() -> H2Server:
            return H2Server(ctx, ConnInfo("inbound", ("127.0.0.1", 1), ("127.0.0.1", 2)))

        server = await loop.create_server(protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            await test(app, ctx, port)
        finally:
            server.close()
            for task, _ in ctx.h2_idle:
                task.cancel()

    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(main())


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_the_worker_of_a_stream_the_client_reset_serves_the_next_stream() -> None:
    async def test(app: App, ctx: ServerContext, port: int) -> None:
        client = await connect(port)
        hang = client.request("GET", "/hang", "svc")
        await asyncio.wait_for(app.hanging.wait(), 5)
        client.send_reset(hang)
        await settle()
        assert app.cancelled == 1  # the service call was cancelled
        assert await answer(client, client.request("GET", "/next", "svc")) == (200, b"/next")
        assert app.tasks["/next"] is app.tasks["/hang"]
        assert [task for task, _ in ctx.h2_idle] == [app.tasks["/hang"]]
        assert app.tasks["/hang"].cancelling() == 0  # the reset's cancel was withdrawn
        client.close()

    run(test)


def test_a_worker_whose_connection_was_lost_serves_a_stream_of_another_connection() -> None:
    async def test(app: App, ctx: ServerContext, port: int) -> None:
        first = await connect(port)
        first.request("GET", "/hang", "svc")
        await asyncio.wait_for(app.hanging.wait(), 5)
        first.close()
        await settle()
        assert app.cancelled == 1
        second = await connect(port)
        assert await answer(second, second.request("GET", "/other", "svc")) == (200, b"/other")
        assert app.tasks["/other"] is app.tasks["/hang"]
        second.close()

    run(test)


def test_a_worker_cancelled_while_it_waits_ends_and_the_next_stream_gets_a_new_one() -> None:
    async def test(app: App, ctx: ServerContext, port: int) -> None:
        client = await connect(port)
        assert await answer(client, client.request("GET", "/first", "svc")) == (200, b"/first")
        await settle()
        worker = app.tasks["/first"]
        worker.cancel()  # as at shutdown
        await settle()
        assert worker.cancelled()
        assert await answer(client, client.request("GET", "/second", "svc")) == (200, b"/second")
        assert app.tasks["/second"] is not worker
        client.close()

    run(test)


def test_at_most_max_idle_workers_wait_after_a_burst_of_streams() -> None:
    async def test(app: App, ctx: ServerContext, port: int) -> None:
        client = await connect(port)
        count = MAX_IDLE_WORKERS + 10
        sids = [client.request("GET", f"/gate/{i}", "svc") for i in range(count)]
        for _ in range(500):  # every stream in a worker of its own
            if app.at_gate == count:
                break
            await asyncio.sleep(0.01)
        assert app.at_gate == count
        app.gate.set()
        for i, sid in enumerate(sids):
            assert await answer(client, sid) == (200, f"/gate/{i}".encode())
        await settle()
        assert len(ctx.h2_idle) == MAX_IDLE_WORKERS
        assert all(not task.done() for task, _ in ctx.h2_idle)
        client.close()

    run(test)
