"""Downstream HTTP/2 (h2c prior knowledge): one task per stream, each a call of the service.

:class:`H2Server` feeds received bytes to ``h2`` and turns its events into
:class:`Request` objects whose bodies stream through :class:`H2Body` (window is
returned as the upstream takes the data). Every stream runs the listener's
service in its own task, so requests on one connection are routed and balanced
one by one. A client's RST_STREAM cancels that task, which resets the upstream
stream; an upstream reset (:class:`StreamReset`) resets the client's stream with
the same code. Abuse limits are enforced by a :class:`FloodGuard`; a violation
answers GOAWAY and closes this connection only.

Draining sends GOAWAY with the last accepted stream; streams up to it finish,
newer ones are refused, and the connection closes when the last stream ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

from h2 import events as ev
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes, Settings

from lightmesh.core.classify import FAILURE, SUCCESS
from lightmesh.core.errors import ProxyError, StreamReset
from lightmesh.io.context import ServerContext
from lightmesh.io.h2conn import REFUSED_STREAM, H2Body, H2Peer, new_connection
from lightmesh.protocol import h2msg
from lightmesh.protocol.h2limits import ENHANCE_YOUR_CALM, Flood, FloodGuard, H2Limits
from lightmesh.protocol.messages import NO_BODY, ConnInfo, Headers, Request, Response, error_response

log = logging.getLogger(__name__)
INTERNAL_ERROR = 0x2
DEFAULT_LIMITS = H2Limits()


class _Stream:
    __slots__ = ("body", "id", "responded", "task", "trailers")

    def __init__(self, stream_id: int, body: H2Body | None) -> None:
        self.id = stream_id
        self.body = body
        self.trailers: Headers | None = None
        self.task: asyncio.Task[None] | None = None
        self.responded = False


class H2Server(H2Peer):
    def __init__(self, ctx: ServerContext, conn: ConnInfo, limits: H2Limits = DEFAULT_LIMITS) -> None:
        super().__init__(ctx.loop)
        self.ctx = ctx
        self.conn = conn
        self.limits = limits
        self.h2 = new_connection(client_side=False, validate=False)
        self.guard = FloodGuard(limits)
        self.streams: dict[int, _Stream] = {}
        self.started = 0.0
        self.deadline: float | None = None
        self.last_accepted: int | None = None  # set once GOAWAY went out
        self._failed = False
        self._handlers: dict[type, Callable[[Any], None]] = {
            ev.RequestReceived: self._on_request,
            ev.DataReceived: self._on_data,
            ev.TrailersReceived: self._on_trailers,
            ev.StreamEnded: self._on_end,
            ev.StreamReset: self._on_reset,
            ev.WindowUpdated: self._on_window,
            ev.RemoteSettingsChanged: self._on_settings,
            ev.PingReceived: self._on_control,
            ev.PriorityUpdated: self._on_priority,
            ev.ConnectionTerminated: self._on_goaway,
        }

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        ctx, limits, h2 = self.ctx, self.limits, self.h2
        if not self.started:
            self.started = ctx.loop.time()
            ctx.stats.open()
        ctx.connections.add(self)
        ctx.sweeper.add(self)
        self.deadline = ctx.loop.time() + ctx.idle_timeout
        h2.local_settings = Settings(
            client=False,
            initial_values={
                SettingCodes.MAX_CONCURRENT_STREAMS: limits.max_concurrent_streams,
                SettingCodes.INITIAL_WINDOW_SIZE: limits.initial_stream_window,
                SettingCodes.MAX_HEADER_LIST_SIZE: limits.max_header_list_size,
            },
        )
        h2.decoder.max_header_list_size = limits.max_header_list_size
        h2.initiate_connection()
        if limits.connection_window > 65_535:
            h2.increment_flow_control_window(limits.connection_window - 65_535)
        self.flush()

    def data_received(self, data: bytes) -> None:
        self.read += len(data)
        try:
            events = self.h2.receive_data(data)
        except ProtocolError as exc:
            self._abort(int(exc.error_code), f"protocol error: {exc}")
            return
        handlers = self._handlers
        try:
            for event in events:
                handler = handlers.get(type(event))
                if handler is not None:
                    handler(event)
        except Flood as flood:
            self._abort(ENHANCE_YOUR_CALM, flood.reason)
            return
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
                stream.task.cancel()
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
            self.last_accepted = self.h2.highest_inbound_stream_id
            self.send_goaway(self.last_accepted)
        if not self.streams:
            self._close()

    # h2 events
    def _on_request(self, event: ev.RequestReceived) -> None:
        sid = event.stream_id
        self.guard.stream_opened()
        if self.last_accepted is not None and sid > self.last_accepted:
            self.cancel_stream(sid, REFUSED_STREAM)
            return
        ended = event.stream_ended is not None
        try:
            headers = event.headers
            request, length = h2msg.request_from_h2(headers, self.limits.max_header_count)
        except ProxyError as exc:
            stream = self.streams[sid] = _Stream(sid, None)
            stream.task = self.loop.create_task(self._answer(stream, error_response(exc)))
            return
        body = None if ended else H2Body(self, sid, length)
        request.body = NO_BODY if body is None else body
        request.conn = self.conn
        stream = self.streams[sid] = _Stream(sid, body)
        self.deadline = None
        stream.task = self.loop.create_task(self._serve(stream, request))

    def _on_data(self, event: ev.DataReceived) -> None:
        data = event.data
        self.guard.data(len(data), event.stream_ended is not None)
        stream = self.streams.get(event.stream_id)
        unused = event.flow_controlled_length - len(data)  # padding
        if stream is not None and stream.body is not None:
            stream.body.feed(data)
        else:
            unused = event.flow_controlled_length
        if unused:
            self.consumed(event.stream_id, unused)

    def _on_trailers(self, event: ev.TrailersReceived) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.trailers = event.headers

    def _on_end(self, event: ev.StreamEnded) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None and stream.body is not None:
            stream.body.feed_eof(stream.trailers)

    def _on_reset(self, event: ev.StreamReset) -> None:
        stream = self.streams.pop(event.stream_id, None)
        self.wake(event.stream_id, StreamReset("client reset the stream", int(event.error_code)))
        if stream is None:
            return
        if not stream.responded:
            self.guard.premature_reset()
        if stream.body is not None:
            stream.body.set_error(StreamReset("client reset the stream", int(event.error_code)))
        if stream.task is not None:
            stream.task.cancel()
        self._maybe_idle()

    def _on_window(self, event: ev.WindowUpdated) -> None:
        self.guard.window_update(self.data_frames_sent)
        self.wake(event.stream_id)

    def _on_settings(self, event: ev.RemoteSettingsChanged) -> None:
        self._on_control(event)
        self.wake(0)

    def _on_control(self, event: ev.Event) -> None:
        if self._drain is not None:  # the peer is not reading what we send
            self.guard.control_frame_queued()

    def _on_priority(self, event: ev.PriorityUpdated) -> None:
        self.guard.priority()

    def _on_goaway(self, event: ev.ConnectionTerminated) -> None:
        if event.error_code:
            self._failed = True
            self._close()
        elif self.last_accepted is None:
            self.last_accepted = self.h2.highest_inbound_stream_id
            if not self.streams:
                self._close()

    # serving
    async def _serve(self, stream: _Stream, request: Request) -> None:
        try:
            response = await self.ctx.service(request)
        except StreamReset as exc:
            self._finish(stream)
            self.cancel_stream(stream.id, exc.code)
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
        h2, sid, body = self.h2, stream.id, response.body
        try:
            if body is NO_BODY or (body.length == 0 and body.complete and not body.trailers):
                body.discard()
                h2.send_headers(sid, h2msg.response_to_h2(response), end_stream=True)
                stream.responded = True
                self.flush()
            else:
                h2.send_headers(sid, h2msg.response_to_h2(response))
                stream.responded = True
                await self.send_body(sid, body)
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
            self.cancel_stream(sid, exc.code if isinstance(exc, StreamReset) else INTERNAL_ERROR)
            return
        response.finish(None)
        self._finish(stream)

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
        try:
            self.h2.close_connection(error_code=code)
        except ProtocolError:
            pass
        self.flush()
        transport = self.transport
        if transport is not None:
            if transport.get_write_buffer_size() > 65536:
                transport.abort()
            else:
                transport.close()

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.flush()
            self.transport.close()
