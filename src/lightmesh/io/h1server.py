"""Downstream HTTP/1.x: parses client requests, calls the service, writes responses.

One :class:`H1Server` protocol per client connection. Request heads are parsed by
:mod:`lightmesh.protocol.http1` in the ``data_received`` callback; each request is
served by the connection's coroutine, which awaits the service and sends the response;
a :class:`~lightmesh.io.drive.Driver` runs it (a Task's work, without a future to idle
on between requests). Pipelined requests wait in a queue so responses go out in order.
Request bodies stream to the service through :class:`StreamBody` (pausing this socket
when the upstream is slower); response bodies are written with back-pressure from
``pause_writing``. A response that switches protocols hands the socket to a TCP relay.
Deadlines (slow head, idle keep-alive) are expired by the shared sweeper.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final, cast

from lightmesh.core.classify import FAILURE, SUCCESS
from lightmesh.core.errors import BadRequest, ProxyError
from lightmesh.io.body import StreamBody
from lightmesh.io.context import ServerContext
from lightmesh.io.drive import Driver
from lightmesh.io.tcp import Pipe, join
from lightmesh.protocol import http1, http1write
from lightmesh.protocol.http1 import CHUNKED, CLOSE, NONE, Framing
from lightmesh.protocol.messages import (
    NO_BODY,
    Body,
    BytesBody,
    ConnInfo,
    Headers,
    Request,
    Response,
    error_response,
)

log: Final = logging.getLogger(__name__)
MAX_PIPELINE: Final = 16


class H1Server(asyncio.Protocol):
    def __init__(self, ctx: ServerContext, conn: ConnInfo) -> None:
        self.ctx = ctx
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.parser = http1.RequestParser(self, self._make_body)
        self.deadline: float | None = None
        self.closed = False
        self.read = 0
        self.written = 0
        self.started = 0.0
        self._failed = False
        self._current: Request | None = None
        self._queue: list[Request] = []  # pipelined requests, few: compiled list ops beat deque calls
        self._reading: StreamBody | None = None
        self._driver = Driver(ctx.loop, self._ended)
        self._pauses = 0
        self._drain: asyncio.Future[None] | None = None
        self._upgrade_rest: bytes | None = None
        self._broken: ProxyError | None = None
        self._timing_head = True  # the first head is timed from connection_made

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        ctx = self.ctx
        if not self.started:
            self.started = ctx.loop.time()
            ctx.stats.open()
        ctx.connections.add(self)
        ctx.sweeper.add(self)
        self.deadline = ctx.loop.time() + ctx.header_timeout

    def data_received(self, data: bytes) -> None:
        self.read += len(data)
        if self._upgrade_rest is not None:
            self._upgrade_rest += data
            self._pause()
            return
        try:
            rest = self.parser.feed(data)
        except ProxyError as exc:
            self._reject(exc)
            return
        if rest is not None:
            self._upgrade_rest = rest
            self._pause()
        elif self.parser.in_head and not self._timing_head:
            self._timing_head = True  # a request head has begun: it must finish in time
            self.deadline = self.ctx.loop.time() + self.ctx.header_timeout

    def eof_received(self) -> bool:
        if self._reading is not None:
            self._reading.set_error(BadRequest("client closed the connection mid-request"))
            self._reading = None
        return self._current is not None  # half-closed client: still send the response

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        ctx = self.ctx
        ctx.sweeper.discard(self)
        ctx.forget(self)
        failed = self._failed or exc is not None
        ctx.stats.close(
            (ctx.loop.time() - self.started) * 1000.0, self.read, self.written, FAILURE if failed else SUCCESS
        )
        if self._reading is not None:
            self._reading.set_error(BadRequest("client closed the connection mid-request"))
        if self._driver.running:
            self._driver.cancel()
        if self._drain is not None and not self._drain.done():
            self._drain.cancel()

    def pause_writing(self) -> None:
        self._drain = self.ctx.loop.create_future()

    def resume_writing(self) -> None:
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    # Flow, for request bodies
    def pause_reading(self) -> None:
        self._pause()

    def resume_reading(self) -> None:
        self._resume()

    def body_discarded(self) -> None:
        pass  # the parser keeps consuming the rest; _send closes if it is still arriving

    def _pause(self) -> None:
        self._pauses += 1
        if self._pauses == 1 and self.transport is not None:
            self.transport.pause_reading()

    def _resume(self) -> None:
        self._pauses -= 1
        if self._pauses == 0 and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    # Expirable / Drainable
    def expire(self) -> None:
        self.deadline = None
        if self._current is None:
            log.debug(
                "closing %s connection from %s: idle or slow request head", self.ctx.direction, self.conn.peer
            )
            self._failed = self.parser.in_head
            self._close()

    def drain(self) -> None:
        if self._current is None:
            self._close()

    # RequestHandler
    def _make_body(self, length: int | None, chunked: bool) -> Body:
        if chunked or length:
            self._reading = StreamBody(self, length)
            return self._reading
        return NO_BODY if length is None else BytesBody(b"")

    def on_request(self, request: Request) -> None:
        request.conn = self.conn
        self.deadline = None
        self._timing_head = False
        queue = self._queue
        queue.append(request)
        driver = self._driver
        if driver.is_parked and self._current is None:  # it waits on an empty queue: wake it
            driver.wake()
        elif not driver.running:
            driver.start(self._run())
        elif len(queue) == MAX_PIPELINE:  # it is busy and this many wait: read no more
            self._pause()

    def on_body(self, data: bytes) -> None:
        if self._reading is not None:
            self._reading.feed(data)

    def on_request_end(self, trailers: Headers | None) -> None:
        if self._reading is not None:
            self._reading.feed_eof(trailers)
            self._reading = None

    # serving: one coroutine per connection, alive while the connection is
    async def _run(self) -> None:
        queue, ctx, driver = self._queue, self.ctx, self._driver
        while True:
            while not queue:
                self.deadline = ctx.loop.time() + ctx.idle_timeout
                await driver.parked()
            if self._pauses and len(queue) == MAX_PIPELINE:  # on_request paused reading
                self._resume()
            request = self._current = queue.pop(0)
            if request.expect_continue and not request.body.complete:
                self._write(http1write.CONTINUE)
            try:
                response = await ctx.service(request)
            except ProxyError as exc:
                response = error_response(exc)
            except Exception:
                log.exception("%s request %s failed inside the proxy", ctx.direction, request.path[:200])
                response = error_response(ProxyError("internal proxy error"))
            keep_alive = await self._send(request, response)
            self._current = None
            if self._broken is not None and not queue and keep_alive:
                self._send_error(self._broken)
                return
            if not keep_alive or self.closed or ctx.draining:
                self._close()
                return

    def _ended(self, error: BaseException | None) -> None:
        if error is not None and not isinstance(error, asyncio.CancelledError):
            log.error("serving %s failed", self.conn.peer, exc_info=error)
            self._close()

    async def _send(self, request: Request, response: Response) -> bool:
        if response.tunnel is not None:
            return self._tunnel(response)
        body = response.body
        framing = http1write.response_framing(request.method, response.status, body, request.version)
        keep_alive = (
            request.keep_alive
            and response.keep_alive
            and framing is not CLOSE
            and request.body.complete
            and self._reading is not request.body  # else the client is still sending a body
            and self._upgrade_rest is None
            and not self.ctx.draining
        )
        head = http1write.encode_response_head(response, framing, request.version, keep_alive)
        try:
            if framing is NONE:
                body.discard()
                self._write(head)
            else:
                chunked = framing is CHUNKED
                data = body.read_nowait()
                if body.complete:  # all of it is here: one write
                    self._write(
                        head
                        + (http1write.encode_final_chunks(data, body.trailers) if chunked else data or b"")
                    )
                else:
                    self._write(head + (http1write.encode_chunk(data) if chunked and data else data or b""))
                    await self._send_rest(data, body, chunked)
        except asyncio.CancelledError:
            body.discard()
            response.finish(ConnectionError("client went away"))
            raise
        except Exception as exc:
            log.debug("response body to %s failed: %s", self.conn.peer, exc)
            body.discard()
            response.finish(exc)
            self._failed = True
            if self.transport is not None:
                self.transport.abort()
            return False
        response.finish(None)
        return keep_alive

    async def _send_rest(self, data: bytes | None, body: Body, chunked: bool) -> None:
        """Stream the rest of a body that is still arriving; ``data`` was its first read."""
        while data != b"":
            if self.closed:
                raise ConnectionError("client went away")
            if self._drain is not None:
                await self._drain
            data = body.read_nowait()
            if data is None:
                data = await body.read()
            if data:
                self._write(http1write.encode_chunk(data) if chunked else data)
        if chunked:
            self._write(http1write.encode_last_chunk(body.trailers))

    def _tunnel(self, response: Response) -> bool:
        upstream = response.tunnel
        assert isinstance(upstream, Pipe) and self.transport is not None
        request = self._current
        framing = NONE
        if request is not None:
            framing = http1write.response_framing(
                request.method, response.status, response.body, request.version
            )
        self._write(http1write.encode_response_head(response, framing, b"1.1", True))
        response.finish(None)
        down = Pipe(self.ctx.stats)
        down.read, down.written = self.read, self.written
        self.closed = True
        self.ctx.sweeper.discard(self)
        self.ctx.forget(self)
        transport, self.transport = self.transport, None  # the relay owns the socket now
        down.adopt(transport, self.started)
        join(down, upstream, a_pending=self._upgrade_rest or b"")
        if self._pauses:
            transport.resume_reading()
        if upstream.transport is not None:
            upstream.transport.resume_reading()
        return True

    def _reject(self, error: ProxyError) -> None:
        """The client sent something unparsable: answer 400/431 once earlier requests are done."""
        log.debug("rejecting request from %s: %s", self.conn.peer, error.reason)
        self._failed = True
        if self._reading is not None:  # broke off mid-body: the request it belonged to fails too
            self._reading.set_error(error)
            self._reading = None
        self._pause()  # read nothing more from this client
        busy = self._current is not None or self._queue
        last = self._queue[-1] if self._queue else self._current
        if last is not None and not last.keep_alive:
            return  # bytes after "Connection: close" are ignored, not answered
        if busy:
            self._broken = error  # answered by _run after the requests before it
            return
        self._send_error(error)

    def _send_error(self, error: ProxyError) -> None:
        response = error_response(error)
        head = http1write.encode_response_head(response, Framing.LENGTH, b"1.1", False)
        self._write(head + (response.body.read_nowait() or b""))
        self._close()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.written += len(data)
            self.transport.write(data)

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
