"""The state an HTTP/2 connection keeps, shared by its receiving and sending halves.

:class:`H2State` declares what :class:`~lightmesh.protocol.h2codec.H2Codec` holds
(settings, windows, streams, HPACK, the output buffer) and the few operations both
halves use: closing a stream from either side, resetting it, and handing window
back to the peer. :class:`Stream` is one stream's flow-control and framing state.
Also here: the errors (:class:`H2Error` for the connection, :class:`StreamGone`
for a stream) and the :class:`H2Handler` callbacks the codec calls.
"""

from __future__ import annotations

from typing import Final, Protocol

from lightmesh.protocol import h2frames as f
from lightmesh.protocol.h2hpack import Decoder, Encoder, Headers

RECENT_RESETS: Final = 1024
_SELF_DEPENDENT: Final = 0x100  # beyond the 8 frame flag bits: a HEADERS frame depending on itself


class H2Error(Exception):
    """A connection error: answer GOAWAY with ``code`` and close."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class StreamGone(Exception):
    """The stream was reset or closed: nothing more can be sent on it."""


class H2Handler(Protocol):
    def on_headers(self, stream_id: int, headers: Headers, end_stream: bool) -> None: ...
    def on_trailers(self, stream_id: int, headers: Headers) -> None: ...
    def on_data(self, stream_id: int, data: bytes, flow_length: int, end_stream: bool) -> None: ...
    def on_reset(self, stream_id: int, code: int) -> None: ...
    def on_window(self, stream_id: int) -> None: ...
    def on_settings(self) -> None: ...
    def on_ping(self) -> None: ...
    def on_priority(self) -> None: ...
    def on_goaway(self, code: int, last_stream_id: int) -> None: ...


class Stream:
    __slots__ = (
        "expected",
        "head",
        "in_window",
        "local_closed",
        "received",
        "remote_closed",
        "unacked",
        "window",
    )

    def __init__(self, window: int, in_window: int) -> None:
        self.window = window  # what we may still send
        self.in_window = in_window  # what the peer may still send
        self.unacked = 0  # received and consumed, not yet handed back
        self.head = False  # the peer's first HEADERS arrived
        self.local_closed = False
        self.remote_closed = False
        self.expected: int | None = None  # content-length
        self.received = 0


class H2State:
    handler: H2Handler
    client_side: bool
    local: dict[int, int]
    local_window: int
    max_concurrent: int
    conn_window_target: int
    remote_max_concurrent: int
    remote_window: int
    max_frame_size: int
    out_window: int
    in_window: int
    in_unacked: int
    streams: dict[int, Stream]
    highest_inbound: int
    next_stream_id: int
    max_block: int
    decoder: Decoder
    encoder: Encoder
    out: list[bytes]  # frames queued for the peer, taken with take()
    reset_recently: dict[int, None]  # streams we reset lately, oldest first

    def _local_close(self, sid: int, stream: Stream) -> None:
        stream.local_closed = True
        if stream.remote_closed:
            del self.streams[sid]

    def _highest(self, sid: int) -> int:
        """The highest stream id in use on ``sid``'s side (ids above it are idle)."""
        if (sid % 2 == 1) == self.client_side:
            return self.next_stream_id - 2
        return self.highest_inbound

    def _remote_close(self, sid: int, stream: Stream) -> None:
        stream.remote_closed = True
        if stream.local_closed:
            del self.streams[sid]

    def _reset(self, sid: int, code: int) -> None:
        self.out.append(f.rst_stream_frame(sid, code))
        recent = self.reset_recently
        recent[sid] = None
        if len(recent) > RECENT_RESETS:
            del recent[next(iter(recent))]

    def _closed_quietly(self, sid: int) -> bool:
        """Frames the peer sent before it saw our RST_STREAM are ignored (RFC 9113 §5.1)."""
        return sid in self.reset_recently

    def _stream_error(self, sid: int, code: int) -> None:
        self._reset(sid, code)
        if self.streams.pop(sid, None) is not None:
            self.handler.on_reset(sid, code)

    def _give_back(self, size: int) -> None:
        """Connection window for ``size`` consumed (or discarded) bytes, in batches."""
        self.in_unacked += size
        if self.in_unacked >= self.conn_window_target // 2:
            self.in_window += self.in_unacked
            self.out.append(f.window_update_frame(0, self.in_unacked))
            self.in_unacked = 0


def _unpad(payload: bytes, flags: int) -> bytes:
    if not payload:
        raise H2Error(f.PROTOCOL_ERROR, "padded frame without a pad length")
    pad = payload[0]
    if pad >= len(payload):
        raise H2Error(f.PROTOCOL_ERROR, "padding longer than the frame")
    return payload[1 : len(payload) - pad]
