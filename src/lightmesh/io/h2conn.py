"""What the HTTP/2 server and client connections share: the codec, flow control, bodies.

:class:`H2Peer` runs one :class:`~lightmesh.protocol.h2codec.H2Codec` over one
transport. Outgoing data respects both flow-control windows (a sender waits for
WINDOW_UPDATE) and the transport's write buffer (``pause_writing``). Incoming
data goes to an :class:`H2Body`, and its window is handed back to the peer only
once the consumer has read it, so a slow reader slows its own stream and nothing
else. Output is written once per loop iteration (:meth:`H2Peer.flush`), so the streams
that finish in one iteration share a write; a message that ends on a stream alone on
its connection is written at once (:meth:`H2Peer.flush_alone`): nothing could share
that write, and the reply leaves a loop turn sooner. A body that has all arrived and
fits the windows is queued with its head (:meth:`H2Peer.send_last`); others stream
through :meth:`H2Peer.send_body`, which waits for window.
"""

from __future__ import annotations

import asyncio

from mypy_extensions import mypyc_attr

from lightmesh.core.errors import StreamReset, UpstreamError
from lightmesh.io.body import StreamBody
from lightmesh.protocol.h2codec import H2Codec, StreamGone
from lightmesh.protocol.h2frames import CANCEL
from lightmesh.protocol.messages import Body, Headers


class H2Body(StreamBody):
    """A stream's incoming body; reading it returns window to the peer."""

    __slots__ = ("_peer", "_stream_id")

    def __init__(self, peer: H2Peer, stream_id: int, length: int | None) -> None:
        super().__init__(None, length)
        self._peer = peer
        self._stream_id = stream_id

    def feed(self, data: bytes) -> None:
        if self._discarded:
            self._peer.consumed(self._stream_id, len(data))  # nobody reads it: keep the window open
        else:
            super().feed(data)

    def read_nowait(self) -> bytes | None:
        data = super().read_nowait()
        if data:
            self._peer.consumed(self._stream_id, len(data))
        return data

    def discard(self) -> None:
        if not self._discarded:
            unread = self._size
            super().discard()
            if unread:
                self._peer.consumed(self._stream_id, unread)
            if not self._eof:
                self._peer.body_discarded(self._stream_id)


@mypyc_attr(allow_interpreted_subclasses=True)  # tests drive the codec through their own peers
class H2Peer(asyncio.Protocol):
    codec: H2Codec

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.read = 0
        self.written = 0
        self.data_frames_sent = 0
        self._flush_soon = False
        self._windows: dict[int, asyncio.Future[None]] = {}
        self._drain: asyncio.Future[None] | None = None

    # transport plumbing
    def flush(self) -> None:
        """Write what the codec queued at the end of this loop iteration, in one call.

        Streams that finish in the same iteration (many responses arriving in one
        read) then share a single write instead of one system call each.
        """
        if not self._flush_soon:
            self._flush_soon = True
            self.loop.call_soon(self.flush_now)

    def flush_alone(self, alone: bool) -> None:
        """Flush a finished request or response head: at once when its stream is ``alone`` on
        the connection (nothing else could share the write, and the reply is a loop turn
        sooner), else at the end of this loop iteration (:meth:`flush`)."""
        if alone:
            self.flush_now()
        else:
            self.flush()

    def flush_now(self) -> None:
        self._flush_soon = False
        data = self.codec.take()
        if data and self.transport is not None and not self.closed:
            self.written += len(data)
            self.transport.write(data)

    def pause_writing(self) -> None:
        self._drain = self.loop.create_future()

    def resume_writing(self) -> None:
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def _lost(self, error: BaseException) -> None:
        self.closed = True
        for waiter in self._windows.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._windows.clear()
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(error)

    # receiving
    def consumed(self, stream_id: int, size: int) -> None:
        if not self.closed:
            self.codec.ack(stream_id, size)
            if self.codec.out:
                self.flush()

    def deliver(self, body: H2Body | None, stream_id: int, data: bytes, flow: int, end: bool) -> None:
        """DATA for ``body``: its window returns as it is read; padding (or all of it, when
        nobody will read it) returns at once."""
        unused = flow - len(data)
        if body is not None:
            if data:
                body.feed(data)
            if end:
                body.feed_eof(None)
        else:
            unused = flow
        if unused:
            self.codec.ack(stream_id, unused)

    def body_discarded(self, stream_id: int) -> None:
        """Nobody reads the rest of the stream's incoming body: stop the peer sending it."""
        self.cancel_stream(stream_id)

    def cancel_stream(self, stream_id: int, code: int = CANCEL) -> None:
        if not self.closed:
            self.codec.reset_stream(stream_id, code)
            self.wake(stream_id, StreamReset("stream cancelled", code))
            self.flush()

    # sending
    def wake(self, stream_id: int, error: BaseException | None = None) -> None:
        """Wake writers waiting for window: one stream, or all when ``stream_id`` is 0."""
        if not self._windows:
            return
        if stream_id == 0:
            waiters = list(self._windows.values())
            self._windows.clear()
        else:
            waiter = self._windows.pop(stream_id, None)
            waiters = [waiter] if waiter is not None else []
        for waiter in waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

    async def send_data(self, stream_id: int, data: bytes, end_stream: bool = False) -> None:
        """Send ``data`` within the flow-control windows."""
        codec = self.codec
        view, offset, size = memoryview(data), 0, len(data)
        while offset < size:
            if self._drain is not None:
                await self._drain
            if self.closed:
                raise UpstreamError("connection closed while sending")
            window = codec.window(stream_id)
            if window <= 0:
                waiter = self._windows[stream_id] = self.loop.create_future()
                await waiter
                continue
            end = min(size, offset + window)
            codec.send_data(
                stream_id, view[offset:end] if offset or end < size else data, end_stream and end == size
            )
            self.data_frames_sent += 1
            offset = end
            self.flush()
        if end_stream and size == 0:
            codec.end_stream(stream_id)
            self.flush()

    def send_last(self, stream_id: int, data: bytes, trailers: Headers | None) -> bool:
        """Queue the rest of a body that has all arrived, and its end, if the windows allow it
        (no coroutine; the caller flushes); ``False``, having queued nothing, when it must wait
        (:meth:`send_body`)."""
        codec = self.codec
        if self._drain is not None or self.closed or len(data) > codec.window(stream_id):
            return False
        if data or trailers is None:
            codec.send_data(stream_id, data, trailers is None)
            if data:
                self.data_frames_sent += 1
        if trailers is not None:
            self._end(stream_id, trailers)
        return True

    async def send_body(self, stream_id: int, body: Body, data: bytes | None = None) -> None:
        """Stream ``body`` (``data``: what was already read from it) then its trailers or END_STREAM."""
        while True:
            if data is None:
                data = body.read_nowait()
                if data is None:
                    data = await body.read()
            if not data:
                break
            if body.complete:  # reads return all that is buffered: this was the last of it
                last = body.trailers is None
                await self.send_data(stream_id, data, end_stream=last)
                if last:
                    return
                break
            await self.send_data(stream_id, data)
            data = None
        self._end(stream_id, body.trailers)
        self.flush()

    def _end(self, stream_id: int, trailers: Headers | None) -> None:
        if trailers:
            self.codec.send_headers(stream_id, trailers, end_stream=True)
        else:
            self.codec.end_stream(stream_id)


__all__ = ["H2Body", "H2Peer", "StreamGone"]
