"""H2Server's stream workers: a task that served a stream serves the next one, of any connection
of the listener, even after its stream was reset or its connection lost; any other cancellation
ends it; and only so many wait. Driven over loopback by the ``h2`` library as the client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import h2.config
import h2.connection
import h2.events

from lightmesh.core.stats import TcpStats
from lightmesh.io.context import ServerContext
from lightmesh.io.h2server import MAX_IDLE_WORKERS, H2Server
from lightmesh.io.sweep import Sweeper
from lightmesh.protocol.messages import BytesBody, ConnInfo, Request, Response

REQUEST = [(":method", "GET"), (":scheme", "http"), (":authority", "svc")]


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


class Client:
    """An HTTP/2 client connection: send requests, read answers (a reset stream's status is minus
    its error code), reset streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.answers: dict[int, tuple[int, bytes]] = {}
        self._status: dict[int, int] = {}
        self._data: dict[int, bytes] = {}

    @classmethod
    async def connect(cls, port: int) -> Client:
        client = cls(*await asyncio.open_connection("127.0.0.1", port))
        client.flush()
        return client

    def flush(self) -> None:
        self.writer.write(self.conn.data_to_send())

    def request(self, path: str) -> int:
        sid: int = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [*REQUEST, (":path", path)], end_stream=True)
        self.flush()
        return sid

    def reset(self, sid: int) -> None:
        self.conn.reset_stream(sid)
        self.flush()

    async def answer(self, sid: int) -> tuple[int, bytes]:
        while sid not in self.answers:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            assert data, "the server closed the connection"
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    self._status[event.stream_id] = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    self._data[event.stream_id] = self._data.get(event.stream_id, b"") + event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamReset):
                    self.answers[event.stream_id] = (-int(event.error_code), b"")
                elif isinstance(event, h2.events.StreamEnded):
                    sid_ = event.stream_id
                    self.answers[sid_] = (self._status[sid_], self._data.get(sid_, b""))
            self.flush()
        return self.answers[sid]

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


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
        client = await Client.connect(port)
        hang = client.request("/hang")
        await asyncio.wait_for(app.hanging.wait(), 5)
        client.reset(hang)
        await settle()
        assert app.cancelled == 1  # the service call was cancelled
        assert await client.answer(client.request("/next")) == (200, b"/next")
        assert app.tasks["/next"] is app.tasks["/hang"]
        assert [task for task, _ in ctx.h2_idle] == [app.tasks["/hang"]]
        assert app.tasks["/hang"].cancelling() == 0  # the reset's cancel was withdrawn
        await client.close()

    run(test)


def test_a_worker_whose_connection_was_lost_serves_a_stream_of_another_connection() -> None:
    async def test(app: App, ctx: ServerContext, port: int) -> None:
        first = await Client.connect(port)
        first.request("/hang")
        await asyncio.wait_for(app.hanging.wait(), 5)
        await first.close()
        await settle()
        assert app.cancelled == 1
        second = await Client.connect(port)
        assert await second.answer(second.request("/other")) == (200, b"/other")
        assert app.tasks["/other"] is app.tasks["/hang"]
        await second.close()

    run(test)


def test_a_worker_cancelled_while_it_waits_ends_and_the_next_stream_gets_a_new_one() -> None:
    async def test(app: App, ctx: ServerContext, port: int) -> None:
        client = await Client.connect(port)
        assert await client.answer(client.request("/first")) == (200, b"/first")
        await settle()
        worker = app.tasks["/first"]
        worker.cancel()  # as at shutdown
        await settle()
        assert worker.cancelled()
        assert await client.answer(client.request("/second")) == (200, b"/second")
        assert app.tasks["/second"] is not worker
        await client.close()

    run(test)


def test_at_most_max_idle_workers_wait_after_a_burst_of_streams() -> None:
    async def test(app: App, ctx: ServerContext, port: int) -> None:
        client = await Client.connect(port)
        count = MAX_IDLE_WORKERS + 10
        sids = [client.request(f"/gate/{i}") for i in range(count)]
        for _ in range(500):  # every stream in a worker of its own
            if app.at_gate == count:
                break
            await asyncio.sleep(0.01)
        assert app.at_gate == count
        app.gate.set()
        for i, sid in enumerate(sids):
            assert await client.answer(sid) == (200, f"/gate/{i}".encode())
        await settle()
        assert len(ctx.h2_idle) == MAX_IDLE_WORKERS
        assert all(not task.done() for task, _ in ctx.h2_idle)
        await client.close()

    run(test)
