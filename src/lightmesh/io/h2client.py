"""Upstream HTTP/2: multiplexed connections to one endpoint, one stream per request.

An :class:`H2Pool` keeps as few connections to its endpoint as the peer's
``MAX_CONCURRENT_STREAMS`` allows (usually one) and opens another only when all
are full or going away; concurrent first requests share one connect.
:meth:`H2Client.send` opens a stream, sends the head (and a body that has fully
arrived, in the same write) and returns the response once its head arrives; a
streaming body is pumped by a task within the flow-control windows.

Cancelling the caller resets the stream (``CANCEL``), and so does discarding the
response body. An upstream RST_STREAM fails the call with :class:`StreamReset`
carrying its code, which an HTTP/2 server passes on to its client. After a
GOAWAY no new streams start on that connection; streams the peer did not accept
fail with :class:`Refused`, which the pool retries once on a new connection when
no body byte was sent.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final, cast

from lightmesh.core.addr import SocketAddr
from lightmesh.core.classify import FAILURE, SUCCESS
from lightmesh.core.errors import ProxyError, StreamReset, UpstreamError
from lightmesh.core.stats import TcpStats
from lightmesh.io.connect import open_connection
from lightmesh.io.h2conn import H2Body, H2Peer, StreamGone
from lightmesh.io.pool import EndpointPool
from lightmesh.io.sweep import Sweeper
from lightmesh.io.tlsconfig import ALPN_H2
from lightmesh.protocol import grpc, h2msg
from lightmesh.protocol import h2frames as fr
from lightmesh.protocol.h2codec import H2Codec, H2Error
from lightmesh.protocol.messages import NO_BODY, Body, Headers, Request, Response

log: Final = logging.getLogger(__name__)
CONNECTION_WINDOW: Final = 1 << 20
_SETTINGS: Final = {fr.ENABLE_PUSH: 0, fr.MAX_HEADER_LIST_SIZE: 256 * 1024}


class Refused(UpstreamError):
    """The upstream did not process the stream (GOAWAY or REFUSED_STREAM): safe to retry."""


class NotHttp2(UpstreamError):
    """The endpoint answered the HTTP/2 preface with something else (HTTP/1): it speaks HTTP/1 only."""


class _Call:
    __slots__ = ("body", "future", "pump")

    def __init__(self, future: asyncio.Future[Response]) -> None:
        self.future = future
        self.body: H2Body | None = None
        self.pump: asyncio.Task[None] | None = None


class H2Client(H2Peer):
    def __init__(self, pool: H2Pool, stats: TcpStats) -> None:
        super().__init__(pool.loop)
        self.pool = pool
        self.stats = stats
        self.codec = H2Codec(self, True, _SETTINGS, CONNECTION_WINDOW, max_block=512 * 1024)
        self.calls: dict[int, _Call] = {}
        self.goaway: int | None = None
        self.deadline: float | None = None
        self._started = 0.0
        self._failed = False

    @property
    def available(self) -> bool:
        return not self.closed and self.goaway is None and len(self.calls) < self.codec.remote_max_concurrent

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._started = self.loop.time()
        self.stats.open()
        self.pool.sweeper.add(self)
        self.codec.initiate()
        self.flush()

    def data_received(self, data: bytes) -> None:
        self.read += len(data)
        if not self.codec.settled and len(data) >= 4 and data[3] != 0x4:  # the first frame must be SETTINGS
            self.pool.http1_only = True
            self._failed = True
            why = f"{self.pool.addr} does not speak HTTP/2 with prior knowledge: it speaks HTTP/1 only"
            self._fail_all(NotHttp2(why))
            self.abort()
            return
        try:
            self.codec.feed(data)
        except H2Error as exc:
            self._failed = True
            self._fail_all(UpstreamError(f"HTTP/2 protocol error from {self.pool.addr}: {exc.reason}"))
            self.codec.goaway(self.codec.highest_inbound, exc.code)
            self.flush_now()
            self.abort()
            return
        if self.codec.out:  # acks, window updates
            self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(UpstreamError(f"connection to {self.pool.addr} closed"))
        self.transport = None
        self.pool.forget(self)
        failed = self._failed or exc is not None or bool(self.calls)
        elapsed = (self.loop.time() - self._started) * 1000.0
        self.stats.close(elapsed, self.read, self.written, FAILURE if failed else SUCCESS)
        self._fail_all(UpstreamError(f"connection to {self.pool.addr} closed mid-stream"))

    # sending
    async def send(self, request: Request) -> Response:
        codec, loop = self.codec, self.loop
        sid = codec.new_stream()
        call = self.calls[sid] = _Call(loop.create_future())
        self.deadline = None
        timeout = None
        if request.deadline is not None:
            timeout = grpc.encode_timeout(request.deadline - loop.time())
        headers = h2msg.request_to_h2(request, self.pool.authority, timeout)
        body = request.body
        if body is NO_BODY or (body.complete and body.length == 0 and not body.trailers):
            codec.send_headers(sid, headers, end_stream=True)
            self.flush_alone(len(self.calls) == 1)
        else:
            codec.send_headers(sid, headers)
            data = body.read_nowait() if body.complete else None
            if data is not None and self.send_last(sid, data, body.trailers):
                self.flush_alone(len(self.calls) == 1)
            else:
                self.flush()  # the head goes now even if the body waits (gRPC streams)
                call.pump = loop.create_task(self._pump(sid, body, data))
        try:
            return await call.future
        except asyncio.CancelledError:
            self._cancel(sid, call)
            raise

    async def _pump(self, sid: int, body: Body, data: bytes | None) -> None:
        try:
            await self.send_body(sid, body, data)
        except asyncio.CancelledError:
            body.discard()
            raise
        except (StreamGone, StreamReset):
            body.discard()  # the upstream is done with this stream
        except Exception as exc:
            log.debug("request body to %s failed: %s", self.pool.addr, exc)
            body.discard()
            call = self.calls.get(sid)
            if call is not None:
                self._cancel(sid, call)
                error = exc if isinstance(exc, ProxyError) else UpstreamError(f"sending request body: {exc}")
                self._settle(call, error)
        finally:
            call = self.calls.get(sid)
            if call is not None:
                call.pump = None

    def _cancel(self, sid: int, call: _Call) -> None:
        self.calls.pop(sid, None)
        if call.pump is not None:
            call.pump.cancel()
        self.cancel_stream(sid)
        self._maybe_idle()

    # H2Handler
    def on_headers(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        call = self.calls.get(stream_id)
        if call is None:
            return
        if end_stream:
            body: Body = NO_BODY
            del self.calls[stream_id]
        else:  # the codec checked content-length and keeps it for the stream it left open
            body = call.body = H2Body(self, stream_id, self.codec.streams[stream_id].expected)
        if not call.future.done():
            call.future.set_result(h2msg.response_from_h2(headers, body))
        if end_stream:
            self._maybe_idle()

    def on_data(self, stream_id: int, data: bytes, flow_length: int, end_stream: bool) -> None:
        call = self.calls.get(stream_id)
        self.deliver(call.body if call is not None else None, stream_id, data, flow_length, end_stream)
        if end_stream:
            self._ended(stream_id)

    def on_trailers(self, stream_id: int, headers: Headers) -> None:
        call = self.calls.get(stream_id)
        if call is not None and call.body is not None:
            call.body.feed_eof(headers)
        self._ended(stream_id)

    def _ended(self, stream_id: int) -> None:
        call = self.calls.pop(stream_id, None)
        if call is not None:
            if not call.future.done():  # else the body has its end already
                why = f"{self.pool.addr} ended the stream without a response"
                call.future.set_exception(UpstreamError(why))
            self._maybe_idle()

    def on_reset(self, stream_id: int, code: int) -> None:
        self.wake(stream_id, StreamReset(f"upstream {self.pool.addr} reset the stream (code {code})", code))
        call = self.calls.pop(stream_id, None)
        if call is None:
            return
        if call.pump is not None:
            call.pump.cancel()
        if code == fr.REFUSED_STREAM and not call.future.done():
            self._settle(call, Refused(f"{self.pool.addr} refused the stream"))
        else:
            self._settle(call, StreamReset(f"upstream {self.pool.addr} reset the stream (code {code})", code))
        self._maybe_idle()

    def on_window(self, stream_id: int) -> None:
        self.wake(stream_id)

    def on_settings(self) -> None:
        self.wake(0)

    def on_ping(self) -> None:
        pass

    def on_priority(self) -> None:
        pass

    def on_goaway(self, code: int, last_stream_id: int) -> None:
        self.goaway = last_stream_id
        self.pool.retire(self)
        if code:
            self._failed = True
            self._fail_all(UpstreamError(f"{self.pool.addr} closed the connection (GOAWAY {code})"))
            self.abort()
            return
        for sid in [sid for sid in self.calls if sid > last_stream_id]:
            call = self.calls.pop(sid)
            if call.pump is not None:
                call.pump.cancel()
            self._settle(call, Refused(f"{self.pool.addr} is going away"))
        self._maybe_idle()

    # endings
    def _settle(self, call: _Call, error: ProxyError) -> None:
        if not call.future.done():
            call.future.set_exception(error)
        elif call.body is not None:
            call.body.set_error(error)

    def _fail_all(self, error: ProxyError) -> None:
        calls, self.calls = self.calls, {}
        for call in calls.values():
            if call.pump is not None:
                call.pump.cancel()
            self._settle(call, error)

    def _maybe_idle(self) -> None:
        if self.calls:
            return
        if self.goaway is not None:
            self.close()
        else:
            self.deadline = self.loop.time() + self.pool.idle_timeout

    def expire(self) -> None:
        if not self.calls:
            self.close()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.codec.goaway(0)
            self.flush_now()
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.closed = True
            self.transport.abort()


class H2Pool(EndpointPool):
    """Multiplexed HTTP/2 connections to one endpoint address."""

    def __init__(
        self,
        addr: SocketAddr,
        stats: TcpStats,
        sweeper: Sweeper,
        connect_timeout: float = 1.0,
        idle_timeout: float = 3.0,
    ) -> None:
        super().__init__(addr, stats, sweeper, connect_timeout, idle_timeout)
        self.conns: list[H2Client] = []
        self.http1_only = False  # learnt when the endpoint answers the preface in HTTP/1
        self._connecting: asyncio.Task[H2Client] | None = None

    async def send(self, request: Request) -> Response:
        load = self.load if self.balanced else None  # nothing reads the load of an unbalanced pool
        start = 0.0
        if load is not None:
            load.start()
            start = self.loop.time()
        try:
            conn = self._available() or await self._conn()
            try:
                return await conn.send(request)
            except Refused:
                if request.body is not NO_BODY:
                    raise
                conn = await self._conn()
                return await conn.send(request)
        finally:
            if load is not None:
                now = self.loop.time()
                load.finish(now, now - start)

    def _available(self) -> H2Client | None:
        for conn in self.conns:
            if conn.available:
                return conn
        return None

    async def _conn(self) -> H2Client:
        while True:
            conn = self._available()
            if conn is not None:
                return conn
            if self._connecting is None:
                self._connecting = self.loop.create_task(self._open())
                self._connecting.add_done_callback(_retrieve)
            await asyncio.shield(self._connecting)

    async def _open(self) -> H2Client:
        try:
            tls = self.client_tls(ALPN_H2)
            stats = self.conn_stats(tls)
            _, conn = await open_connection(
                self.addr, lambda: H2Client(self, stats), self.connect_timeout, tls
            )
        finally:
            self._connecting = None
        self.conns.append(conn)
        return conn

    def retire(self, conn: H2Client) -> None:
        if conn in self.conns:
            self.conns.remove(conn)

    def forget(self, conn: H2Client) -> None:
        self.sweeper.discard(conn)
        self.retire(conn)

    def close(self) -> None:
        for conn in list(self.conns):
            conn.close()
        self.conns.clear()


def _retrieve(task: asyncio.Task[H2Client]) -> None:
    if not task.cancelled():
        task.exception()  # waiters re-raise it; nobody else should be told it was lost
