"""The CPython floor: the least an HTTP/1.1 proxy on uvloop + httptools can do per request.

A bare keep-alive relay with no mesh features at all: no layers, metrics, pool, routing,
timeouts or error handling. Each client connection gets one upstream connection; request
and response heads are parsed by httptools (the parser lightmesh uses) and re-serialized,
response bodies are passed on whole. It exists only to be measured next to lightmesh
(``pyfloor`` in ``python bench/run.py``): its rps and CPU per request are what the
interpreter, the event loop and the parser cost before any feature, i.e. the ceiling for
any proxy written on this stack on this machine.

    python bench/floor_relay.py LISTEN_PORT UPSTREAM_PORT
"""

from __future__ import annotations

import asyncio
import sys

import httptools
import uvloop

HOST = "127.0.0.1"


class Upstream(asyncio.Protocol):
    def __init__(self, client: Client) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[bytes] = []
        self.body: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() != b"connection":
            self.headers.append(b"%s: %s\r\n" % (name, value))

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        head = b"HTTP/1.1 %d OK\r\n%s\r\n" % (self.parser.get_status_code(), b"".join(self.headers))
        self.client.send(head + b"".join(self.body))
        self.headers, self.body = [], []


class Client(asyncio.Protocol):
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.parser = httptools.HttpRequestParser(self)
        self.headers: list[bytes] = []
        self.url = b""
        self.upstream: Upstream | None = None
        self.waiting: list[bytes] = []  # requests parsed before the upstream connection is up
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, self.upstream = await loop.create_connection(lambda: Upstream(self), HOST, self.upstream_port)
        for head in self.waiting:
            self.upstream.transport.write(head)  # type: ignore[union-attr]
        self.waiting = []

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append(b"%s: %s\r\n" % (name, value))

    def on_message_complete(self) -> None:
        head = b"%s %s HTTP/1.1\r\n%s\r\n" % (self.parser.get_method(), self.url, b"".join(self.headers))
        self.headers, self.url = [], b""
        if self.upstream is None or self.upstream.transport is None:
            self.waiting.append(head)
        else:
            self.upstream.transport.write(head)

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)


async def serve(port: int, upstream_port: int) -> None:
    server = await asyncio.get_running_loop().create_server(
        lambda: Client(upstream_port), HOST, port, backlog=4096
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2])))
