"""H2Peer's sending half: a body that has all arrived is queued with its head (``send_last``) when
the flow-control windows allow it, and otherwise nothing is queued and ``send_body`` streams it,
starting from the bytes already read. Output is written once per loop iteration, or at once for a
stream alone on its connection (``flush_alone``). The frames written are checked on a recording
transport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from lightmesh.io.h2conn import H2Peer
from lightmesh.protocol import h2frames as f
from lightmesh.protocol.h2codec import H2Codec
from lightmesh.protocol.messages import BytesBody, Headers

Frame = tuple[int, int, int, bytes]
TRAILERS: Headers = [(b"grpc-status", b"0")]


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.data = b""

    def write(self, data: Any) -> None:
        self.data += bytes(data)

    def is_closing(self) -> bool:
        return False


class Peer(H2Peer):
    """A client-side peer whose one request stream is open, with the peer's SETTINGS applied."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stream_window: int = f.DEFAULT_WINDOW) -> None:
        super().__init__(loop)
        self.codec = H2Codec(self, True, {})  # type: ignore[arg-type]  # only the callbacks below arrive
        self.transport = Transport()
        self.codec.feed(f.settings_frame({f.INITIAL_WINDOW_SIZE: stream_window}))
        self.sid = self.codec.new_stream()
        self.codec.send_headers(self.sid, [(b":method", b"POST"), (b":path", b"/")])
        self.codec.take()

    def on_settings(self) -> None:
        self.wake(0)

    def on_window(self, stream_id: int) -> None:
        self.wake(stream_id)

    def frames(self) -> list[Frame]:
        self.flush_now()
        frames, data, pos = [], self.transport.data, 0  # type: ignore[union-attr]
        while pos < len(data):
            hi, lo, kind, flags, sid = f.FRAME_HEADER.unpack_from(data, pos)
            end = pos + 9 + ((hi << 16) | lo)
            frames.append((kind, flags, sid, data[pos + 9 : end]))
            pos = end
        return [frame for frame in frames if frame[0] != f.SETTINGS]


def run(test: Callable[[asyncio.AbstractEventLoop], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        await test(asyncio.get_running_loop())

    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(main())


def test_a_body_without_trailers_goes_out_as_one_data_frame_that_ends_the_stream() -> None:
    async def test(loop: asyncio.AbstractEventLoop) -> None:
        peer = Peer(loop)
        assert peer.send_last(peer.sid, b"hello", None)
        assert peer.frames() == [(f.DATA, f.END_STREAM, peer.sid, b"hello")]
        assert peer.data_frames_sent == 1

    run(test)


def test_a_body_with_trailers_ends_with_a_headers_frame() -> None:
    async def test(loop: asyncio.AbstractEventLoop) -> None:
        peer = Peer(loop)
        assert peer.send_last(peer.sid, b"hello", TRAILERS)
        kinds = [(kind, flags, payload) for kind, flags, _, payload in peer.frames()]
        assert kinds[0] == (f.DATA, 0, b"hello")
        assert kinds[1][:2] == (f.HEADERS, f.END_STREAM | f.END_HEADERS)

    run(test)


def test_an_empty_rest_sends_only_the_end_and_empty_trailers_end_with_an_empty_data_frame() -> None:
    async def test(loop: asyncio.AbstractEventLoop) -> None:
        peer = Peer(loop)
        assert peer.send_last(peer.sid, b"", None)
        assert peer.frames() == [(f.DATA, f.END_STREAM, peer.sid, b"")]
        assert peer.data_frames_sent == 0
        other = Peer(loop)
        assert other.send_last(other.sid, b"abc", [])
        assert other.frames() == [(f.DATA, 0, other.sid, b"abc"), (f.DATA, f.END_STREAM, other.sid, b"")]

    run(test)


def test_a_body_over_the_window_is_not_sent_and_send_body_streams_it_from_the_bytes_read() -> None:
    async def test(loop: asyncio.AbstractEventLoop) -> None:
        peer = Peer(loop, stream_window=3)
        body = BytesBody(b"hello")
        data = body.read_nowait()
        assert not peer.send_last(peer.sid, data, None)
        assert peer.frames() == []
        task = loop.create_task(peer.send_body(peer.sid, body, data))
        await asyncio.sleep(0)
        assert peer.frames() == [(f.DATA, 0, peer.sid, b"hel")]
        peer.codec.feed(f.window_update_frame(peer.sid, 10))
        await task
        assert peer.frames()[-1] == (f.DATA, f.END_STREAM, peer.sid, b"lo")

    run(test)


def test_nothing_is_sent_at_once_while_the_transport_is_paused() -> None:
    async def test(loop: asyncio.AbstractEventLoop) -> None:
        peer = Peer(loop)
        peer.pause_writing()
        assert not peer.send_last(peer.sid, b"hello", None)
        assert peer.frames() == []

    run(test)


def test_a_stream_alone_on_its_connection_is_written_at_once_and_others_at_the_end_of_the_iteration() -> None:
    async def test(loop: asyncio.AbstractEventLoop) -> None:
        peer = Peer(loop)
        transport = peer.transport
        assert isinstance(transport, Transport)
        assert peer.send_last(peer.sid, b"alone", None)
        assert transport.data == b""  # queued, not written
        peer.flush_alone(True)
        assert transport.data.endswith(b"alone")
        written = len(transport.data)
        other = peer.codec.new_stream()
        peer.codec.send_headers(other, [(b":method", b"GET"), (b":path", b"/")], end_stream=True)
        peer.flush_alone(False)
        assert len(transport.data) == written  # shares the write of this loop iteration
        await asyncio.sleep(0)
        assert len(transport.data) > written

    run(test)
