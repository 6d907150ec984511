"""Upstream HTTP/1.1: one :class:`H1Client` per connection, pooled per endpoint and authority.

``H1Client.send`` writes a request and returns a :class:`~lightmesh.io.drive.Handoff` for
the response head (the serving coroutine waits parked on it, without a future);
the response body then streams through a :class:`StreamBody` whose back-pressure
pauses this socket. A small request body that has fully arrived is written with
the head in one call; a streaming one is pumped by a task. When both the request
and the response are complete the connection goes back to its :class:`Pool` if the
upstream allows keep-alive, else it is closed. A 101 response (or a tunnel) turns
the connection into one side of a TCP relay and it never returns to the pool.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final, cast

from mypy_extensions import mypyc_attr

from lightmesh.core.addr import SocketAddr
from lightmesh.core.classify import FAILURE, SUCCESS
from lightmesh.core.errors import ProxyError, UpstreamError
from lightmesh.core.stats import TcpStats
from lightmesh.io.body import StreamBody
from lightmesh.io.connect import open_connection
from lightmesh.io.drive import Handoff
from lightmesh.io.pool import EndpointPool
from lightmesh.io.sweep import Sweeper
from lightmesh.io.tcp import Pipe
from lightmesh.io.tlsconfig import ALPN_HTTP1
from lightmesh.protocol import http1, http1write
from lightmesh.protocol.http1 import CHUNKED, CLOSE, NONE, Framing
from lightmesh.protocol.messages import NO_BODY, Body, BytesBody, Headers, Request, Response

log: Final = logging.getLogger(__name__)


class StaleConnection(UpstreamError):
    """A reused keep-alive connection closed before any byte of the response: safe to retry."""


class H1Client(asyncio.Protocol):
    def __init__(self, pool: Pool, stats: TcpStats) -> None:
        self.pool = pool
        self.stats = stats
        self._loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = http1.ResponseParser(self)
        self.closed = False
        self.uses = 0
        self.deadline: float | None = None
        self.read = 0
        self.written = 0
        self._started = 0.0
        self._waiter: Handoff[Response] | None = None  # the response head, for the request sent
        self._response: Response | None = None  # parsed, not yet handed over
        self._chunks: list[bytes] = []  # its body so far
        self._body: StreamBody | None = None
        self._request_sent = True  # False only while a pump still sends a request body
        self._response_done = True
        self._read_at_send = 0  # ``read`` when the last request went: no byte since means stale
        self._pump: asyncio.Task[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._tunnel: Pipe | None = None

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._started = self._loop.time()
        self.stats.open()
        self.pool.sweeper.add(self)

    def data_received(self, data: bytes) -> None:
        self.read += len(data)
        try:
            rest = self.parser.feed(data)
        except ProxyError as exc:
            self._fail(exc)
            return
        if self._response is not None:
            self._deliver_streaming()
        if rest is not None and self._tunnel is not None:
            self._become_tunnel(rest)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        ended_cleanly = self.parser.feed_eof()
        failed = exc is not None or not ended_cleanly or not self._response_done
        elapsed = (self._loop.time() - self._started) * 1000.0
        self.stats.close(elapsed, self.read, self.written, FAILURE if failed else SUCCESS)
        waiter = self._waiter
        if waiter is not None and waiter.pending:
            if self.uses > 1 and self.read == self._read_at_send:
                waiter.set_exception(
                    StaleConnection(f"connection to {self.pool.addr} closed before responding")
                )
            else:
                waiter.set_exception(
                    UpstreamError(f"connection to {self.pool.addr} closed before responding")
                )
        elif self._body is not None:
            self._body.set_error(UpstreamError(f"connection to {self.pool.addr} closed mid-response"))
        if self._pump is not None:
            self._pump.cancel()
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(UpstreamError("upstream connection closed"))

    def pause_writing(self) -> None:
        self._drain = self._loop.create_future()

    def resume_writing(self) -> None:
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    # Flow, for the response body
    def pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def body_discarded(self) -> None:
        self.close()  # nobody reads the rest: the connection cannot be reused

    # sending
    def send(self, request: Request) -> Handoff[Response]:
        transport = self.transport
        assert transport is not None
        self.uses += 1
        self.deadline = None
        self._read_at_send = self.read
        waiter: Handoff[Response] = Handoff()  # one per request: the last one's waiter may not have woken yet
        self._waiter = waiter
        self._response_done = False
        self.parser.expect(request.method)
        body = request.body
        framing = http1write.request_framing(body)
        head = http1write.encode_request_head(request, framing, self.pool.authority)
        if framing is not NONE:
            if body.complete:  # a small body that has fully arrived goes with the head
                data = body.read_nowait() or b""
                head += http1write.encode_final_chunks(data, body.trailers) if framing is CHUNKED else data
            else:
                self._request_sent = False
                self._pump = self._loop.create_task(self._send_body(body, framing is CHUNKED))
        self.written += len(head)
        transport.write(head)
        return waiter

    def _write(self, data: bytes) -> None:
        assert self.transport is not None
        self.written += len(data)
        self.transport.write(data)

    async def _send_body(self, body: Body, chunked: bool) -> None:
        try:
            while True:
                if self._drain is not None:
                    await self._drain
                data = body.read_nowait()
                if data is None:
                    data = await body.read()
                if not data:
                    break
                self._write(http1write.encode_chunk(data) if chunked else data)
            if chunked:
                self._write(http1write.encode_last_chunk(body.trailers))
        except asyncio.CancelledError:
            body.discard()
            raise
        except Exception as exc:
            log.debug("request body to %s failed: %s", self.pool.addr, exc)
            body.discard()
            # a client that broke its own body (BadRequest) hears so; else the upstream failed
            self._fail(exc if isinstance(exc, ProxyError) else UpstreamError(f"sending request body: {exc}"))
            return
        finally:
            self._pump = None
        self._request_sent = True
        self._maybe_release()

    # ResponseHandler. A response is handed over when it is complete or, if its body is
    # still arriving, at the end of the read that carried its head; so a small response
    # reaches the server whole and goes out in one write.
    def on_response(self, response: Response, framing: Framing) -> None:
        if response.status == 101:
            self._tunnel = Pipe(self.stats)
            response.tunnel = self._tunnel
        self._response = response

    def on_body(self, data: bytes) -> None:
        if self._body is not None:
            self._body.feed(data)
        else:
            self._chunks.append(data)

    def on_response_end(self, trailers: Headers | None) -> None:
        response = self._response
        if response is not None:
            self._response = None
            if self.parser.framing is not NONE:
                response.body = BytesBody(b"".join(self._chunks), trailers)
                self._chunks.clear()
            self._hand_over(response)
        elif self._body is not None:
            self._body.feed_eof(trailers)
            self._body = None
        self._response_done = True
        if self._tunnel is None:
            self._maybe_release()

    def _deliver_streaming(self) -> None:
        response, self._response = self._response, None
        assert response is not None
        if self.parser.framing is not NONE:
            body = self._body = StreamBody(self, self.parser.length)
            for chunk in self._chunks:
                body.feed(chunk)
            self._chunks.clear()
            response.body = body
        self._hand_over(response)

    def _hand_over(self, response: Response) -> None:
        waiter = self._waiter
        if waiter is not None:
            waiter.set_result(response)

    def _maybe_release(self) -> None:
        if not self._response_done or self.closed:
            return
        if not self._request_sent:
            self.close()  # the upstream answered before reading the whole request
        elif self.parser.keep_alive and self.parser.framing is not CLOSE:
            self.pool.release(self)
        else:
            self.close()

    def _become_tunnel(self, rest: bytes) -> None:
        pipe, transport = self._tunnel, self.transport
        assert pipe is not None and transport is not None
        self.pool.forget(self)
        pipe.read, pipe.written = self.read, self.written
        pipe.adopt(transport, self._started)
        if rest:
            pipe._pending.append(rest)
        transport.pause_reading()  # resumed when the relay is joined

    def _fail(self, error: ProxyError) -> None:
        waiter = self._waiter
        if waiter is not None and waiter.pending:
            waiter.set_exception(error)
        elif self._body is not None:
            self._body.set_error(error)
        self.abort()

    def expire(self) -> None:
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.closed = True
            self.transport.abort()


@mypyc_attr(allow_interpreted_subclasses=True)  # tests stand in fakes
class Pool(EndpointPool):
    """Keep-alive HTTP/1.1 connections to one endpoint address (for one authority)."""

    def __init__(
        self,
        addr: SocketAddr,
        stats: TcpStats,
        sweeper: Sweeper,
        connect_timeout: float = 1.0,
        idle_timeout: float = 3.0,
        max_idle: int = 256,
    ) -> None:
        super().__init__(addr, stats, sweeper, connect_timeout, idle_timeout)
        self.max_idle = max_idle
        self.idle: list[H1Client] = []

    async def send(self, request: Request) -> Response:
        load = self.load if self.balanced else None  # nothing reads the load of an unbalanced pool
        start = 0.0
        if load is not None:
            load.start()
            start = self.loop.time()
        try:
            idle = self.idle
            while idle and idle[-1].closed:
                idle.pop()
            conn = idle.pop() if idle else await self._connect()
            try:
                return await conn.send(request)
            except asyncio.CancelledError:
                conn.abort()  # a timeout or deadline gave up on it: stop the upstream's work
                raise
            except StaleConnection:
                if request.body is not NO_BODY:
                    raise
                conn = await self._connect()
                return await conn.send(request)
        finally:
            if load is not None:
                now = self.loop.time()
                load.finish(now, now - start)

    async def _connect(self) -> H1Client:
        tls = self.client_tls(ALPN_HTTP1)
        stats = self.conn_stats(tls)
        _, conn = await open_connection(self.addr, lambda: H1Client(self, stats), self.connect_timeout, tls)
        return conn

    def release(self, conn: H1Client) -> None:
        if len(self.idle) >= self.max_idle:
            conn.close()
            return
        conn.deadline = self.loop.time() + self.idle_timeout
        self.idle.append(conn)

    def forget(self, conn: H1Client) -> None:
        self.sweeper.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()
