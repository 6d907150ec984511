"""Downstream HTTP/2 (h2c prior knowledge): every stream a call of the service in a task of its own.

:class:`H2Server` feeds received bytes to its :class:`H2Codec` and turns its
callbacks into :class:`Request` objects whose bodies stream through :class:`H2Body`
(window is returned as the upstream takes the data). A response whose body has all
arrived goes out at once; a streaming one is pumped within the flow-control windows.
Every stream runs the listener's service in a task of its own, so requests on one
connection are routed and balanced one by one. The tasks are workers: one that has
served its stream waits for the next stream of any connection of the listener (up to
:data:`MAX_IDLE_WORKERS` wait), which costs a future where a new task costs far more
(3.11 registers every task in a ``WeakSet``, in Python). A client's RST_STREAM, or the
connection's loss, cancels the stream's worker with :data:`STREAM_GONE`: that stream's
upstream call is cancelled (resetting the upstream stream) and the worker goes on to
the next; any other cancellation ends the worker. An upstream reset
(:class:`StreamReset`) resets the client's stream with the same code. Abuse limits are
enforced by a :class:`FloodGuard`; a violation answers GOAWAY and closes this connection only.

Draining sends GOAWAY with the last accepted stream; streams up to it finish,
newer ones are refused, and the connection closes when the last stream ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final, cast

from lightmesh.core.classify import FAILURE, SUCCESS
from lightmesh.core.errors import ProxyError, StreamReset
from lightmesh.io.context import ServerContext
from lightmesh.io.h2conn import H2Body, H2Peer
from lightmesh.protocol import h2frames as fr
from lightmesh.protocol import h2msg
from lightmesh.protocol.h2codec import H2Codec, H2Error
from lightmesh.protocol.h2limits import ENHANCE_YOUR_CALM, Flood, FloodGuard, H2Limits
from lightmesh.protocol.messages import NO_BODY, ConnInfo, Headers, Request, Response, error_response

log: Final = logging.getLogger(__name__)
DEFAULT_LIMITS: Final = H2Limits()
MAX_IDLE_WORKERS: Final = 64  # per listener
STREAM_GONE: Final = "HTTP/2 stream gone"  # the cancel message that abandons a stream, not its worker
_Job = tuple["H2Server", "_Stream", Request | None, Response | None]


class _Stream:
    __slots__ = ("body", "id", "responded", "task")

    def __init__(self, stream_id: int, body: H2Body | None) -> None:
        self.id = stream_id
        self.body = body
        self.task: asyncio.Task[None] | None = None
        self.responded = False


class H2Server(H2Peer):
    def __init__(self, ctx: ServerContext, conn: ConnInfo, limits: H2Limits = DEFAULT_LIMITS) -> None:
        super().__init__(ctx.loop)
        self.ctx = ctx
        self.conn = conn
        self.limits = limits
        settings = {
            fr.MAX_CONCURRENT_STREAMS: limits.max_concurrent_streams,
            fr.INITIAL_WINDOW_SIZE: limits.initial_stream_window,
            fr.MAX_HEADER_LIST_SIZE: limits.max_header_list_size,
        }
        self.codec = H2Codec(self, False, settings, limits.connection_window)
        self.guard = FloodGuard(limits)
        self.streams: dict[int, _Stream] = {}
        self.started = 0.0
        self.deadline: float | None = None
        self.last_accepted: int | None = None  # set once GOAWAY went out
        self._failed = False

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        ctx = self.ctx
        if not self.started:
            self.started = ctx.loop.time()
            ctx.stats.open()
        ctx.connections.add(self)
        ctx.sweeper.add(self)
        self.deadline = ctx.loop.time() + ctx.idle_timeout
        self.codec.initiate()
        self.flush()

    def data_received(self, data: bytes) -> None:
        self.read += len(data)
        try:
            self.codec.feed(data)
        except H2Error as exc:
            self._abort(exc.code, f"protocol error: {exc.reason}")
            return
        except Flood as flood:
            self._abort(ENHANCE_YOUR_CALM, flood.reason)
            return
        if self.codec.out:  # acks, window updates
            self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self._lost(ConnectionError("client connection closed"))
        ctx = self.ctx
        ctx.sweeper.discard(self)
        ctx.forget(self)
        failed = self._failed or exc is not None
        ctx.stats.close(
            (ctx.loop.time() - self.started) * 1000.0, self.read, self.written, FAILURE if failed else SUCCESS
        )
        for stream in self.streams.values():
            if stream.body is not None:
                stream.body.set_error(StreamReset("client connection closed", 0))
            if stream.task is not None:
                stream.task.cancel(STREAM_GONE)
        self.streams.clear()

    def resume_writing(self) -> None:
        self.guard.output_drained()
        super().resume_writing()

    # Expirable / Drainable
    def expire(self) -> None:
        self.deadline = None
        if not self.streams:
            self.drain()

    def drain(self) -> None:
        if self.last_accepted is None:
            self.last_accepted = self.codec.highest_inbound
            self.codec.goaway(self.last_accepted)
            self.flush()
        if not self.streams:
            self._close()

    # H2Handler
    def on_headers(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        self.guard.stream_opened()
        if self.last_accepted is not None and stream_id > self.last_accepted:
            self.codec.reset_stream(stream_id, fr.REFUSED_STREAM)
            return
        try:
            request, length = h2msg.request_from_h2(headers, self.limits.max_header_count)
        except ProxyError as exc:
            stream = self.streams[stream_id] = _Stream(stream_id, None)
            self._start(stream, None, error_response(exc))
            return
        body = None if end_stream else H2Body(self, stream_id, length)
        if body is not None:
            request.body = body
        request.conn = self.conn
        stream = self.streams[stream_id] = _Stream(stream_id, body)
        self.deadline = None
        self._start(stream, request, None)

    def _start(self, stream: _Stream, request: Request | None, response: Response | None) -> None:
        """Hand the stream (its request, or the answer already made) to an idle worker, or a new one."""
        job = (self, stream, request, response)
        idle = self.ctx.h2_idle
        while idle:
            task, waiter = idle.pop()  # the one that ran last: its memory is the warmest
            if not waiter.done():  # else the worker was cancelled while it waited
                stream.task = task
                waiter.set_result(job)
                return
        waiter = self.loop.create_future()
        waiter.set_result(job)
        stream.task = self.loop.create_task(_work(idle, waiter))

    def on_data(self, stream_id: int, data: bytes, flow_length: int, end_stream: bool) -> None:
        self.guard.data(len(data), end_stream)
        stream = self.streams.get(stream_id)
        self.deliver(stream.body if stream is not None else None, stream_id, data, flow_length, end_stream)

    def on_trailers(self, stream_id: int, headers: Headers) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None and stream.body is not None:
            stream.body.feed_eof(headers)

    def on_reset(self, stream_id: int, code: int) -> None:
        stream = self.streams.pop(stream_id, None)
        self.wake(stream_id, StreamReset("client reset the stream", code))
        if stream is None:
            return
        if not stream.responded:
            self.guard.premature_reset()
        if stream.body is not None:
            stream.body.set_error(StreamReset("client reset the stream", code))
        if stream.task is not None:
            stream.task.cancel(STREAM_GONE)
        self._maybe_idle()

    def on_window(self, stream_id: int) -> None:
        self.guard.window_update(self.data_frames_sent)
        self.wake(stream_id)

    def on_settings(self) -> None:
        self.on_ping()
        self.wake(0)

    def on_ping(self) -> None:
        if self._drain is not None or self._flush_soon:  # earlier answers are still unsent
            self.guard.control_frame_queued()

    def flush_now(self) -> None:
        super().flush_now()
        transport = self.transport
        if not self.guard.control_queued or self._drain is not None or transport is None:
            return  # nothing to count down, or the output is not drained
        if not transport.get_write_buffer_size():
            self.guard.output_drained()

    def on_priority(self) -> None:
        self.guard.priority()

    def on_goaway(self, code: int, last_stream_id: int) -> None:
        if code:
            self._failed = True
            self._close()
        elif self.last_accepted is None:
            self.last_accepted = self.codec.highest_inbound
            if not self.streams:
                self._close()

    # serving
    async def _serve(self, stream: _Stream, request: Request) -> None:
        try:
            response = await self.ctx.h2_service(request)
        except StreamReset as reset:
            self._finish(stream)
            self.cancel_stream(stream.id, reset.code)
            return
        except ProxyError as exc:
            response = error_response(exc, request)
        except Exception:
            log.exception("%s request %s failed inside the proxy", self.ctx.direction, request.path[:200])
            response = error_response(ProxyError("internal proxy error"), request)
        except asyncio.CancelledError:
            self._finish(stream)
            raise
        await self._answer(stream, response)

    async def _answer(self, stream: _Stream, response: Response) -> None:
        codec, sid, body = self.codec, stream.id, response.body
        try:
            if body is NO_BODY or (body.length == 0 and body.complete and not body.trailers):
                body.discard()
                codec.send_headers(sid, h2msg.response_to_h2(response), end_stream=True)
                stream.responded = True
                self.flush_alone(len(self.streams) == 1)
            else:
                codec.send_headers(sid, h2msg.response_to_h2(response))
                stream.responded = True
                data = body.read_nowait() if body.complete else None
                if data is not None and self.send_last(sid, data, body.trailers):
                    self.flush_alone(len(self.streams) == 1)
                else:
                    self.flush()  # the head goes now even if the body waits (gRPC streams)
                    await self.send_body(sid, body, data)
        except asyncio.CancelledError:
            body.discard()
            response.finish(ConnectionError("client reset the stream"))
            self._finish(stream)
            raise
        except Exception as exc:
            log.debug("response on stream %d to %s failed: %s", sid, self.conn.peer, exc)
            body.discard()
            response.finish(exc)
            self._finish(stream)
            self.cancel_stream(sid, exc.code if isinstance(exc, StreamReset) else fr.INTERNAL_ERROR)
            return
        response.finish(None)
        self._finish(stream)

    def body_discarded(self, stream_id: int) -> None:
        """A request body the service gave up on (its upstream failed): the client hears the
        response first, then :meth:`_finish` stops the upload with ``NO_ERROR`` (RFC 9113 §8.1)."""
        stream = self.streams.get(stream_id)
        if stream is None or stream.responded:
            self.cancel_stream(stream_id)

    def _finish(self, stream: _Stream) -> None:
        stream.responded = True
        if self.streams.get(stream.id) is stream:
            del self.streams[stream.id]
            if stream.body is not None and not stream.body.complete:
                self.cancel_stream(stream.id, 0)  # answered before the request ended: stop it
                stream.body.discard()
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if self.streams:
            return
        if self.last_accepted is not None or self.ctx.draining:
            self._close()
        else:
            self.deadline = self.loop.time() + self.ctx.idle_timeout

    def _abort(self, code: int, reason: str) -> None:
        log.info("closing HTTP/2 connection from %s: %s", self.conn.peer, reason)
        self._failed = True
        self.codec.goaway(self.codec.highest_inbound, code)
        self.flush_now()
        transport = self.transport
        if transport is not None:
            if transport.get_write_buffer_size() > 65536:
                transport.abort()
            else:
                transport.close()

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.flush_now()
            self.transport.close()


async def _work(
    idle: list[tuple[asyncio.Task[None], asyncio.Future[Any]]], waiter: asyncio.Future[_Job]
) -> None:
    """Serve the stream ``waiter`` holds, then wait in ``idle`` for the next (unless enough wait)."""
    task = asyncio.current_task()
    assert task is not None
    loop = task.get_loop()
    while True:
        try:
            await waiter
            await _serve_job(waiter.result())
        except asyncio.CancelledError as exc:
            if not _stream_gone(task, exc):
                raise
        if len(idle) >= MAX_IDLE_WORKERS:
            return
        waiter = loop.create_future()  # the served stream's job goes with the old one
        idle.append((task, waiter))


async def _serve_job(job: _Job) -> None:
    server, stream, request, response = job
    if request is not None:
        await server._serve(stream, request)
    elif response is not None:
        await server._answer(stream, response)


def _stream_gone(task: asyncio.Task[None], exc: asyncio.CancelledError) -> bool:
    """Whether ``exc`` only abandoned the worker's stream (then its cancel is withdrawn)."""
    if not exc.args or exc.args[0] != STREAM_GONE:
        return False
    return task.uncancel() == 0
