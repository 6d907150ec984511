"""An HTTP/2 connection without I/O: frames in, handler callbacks out; calls in, bytes out.

:class:`H2Codec` is what the proxy's HTTP/2 server and client run on. It keeps the
connection's state (settings, streams, both flow-control windows, HPACK) and
enforces RFC 9113: malformed frames and connection-level violations raise
:class:`H2Error` (the caller answers GOAWAY with its code and closes); stream-level
ones reset just that stream. Everything the peer says reaches an
:class:`H2Handler` as a method call (``on_headers``, ``on_data`` ...), like the
HTTP/1 parsers' handlers, with no event objects in between; everything the proxy
says is appended to an output buffer taken with :meth:`take`.

The library ``h2`` is the reference this codec is tested against; it is not used
here because its generality costs several hundred microseconds per request.
"""

from __future__ import annotations

from lightmesh.protocol import h2frames as f
from lightmesh.protocol.h2hpack import Decoder, Encoder, Headers
from lightmesh.protocol.h2receive import Receiver
from lightmesh.protocol.h2state import H2Error, H2Handler, Stream, StreamGone

__all__ = ["H2Codec", "H2Error", "H2Handler", "StreamGone"]


class H2Codec(Receiver):
    def __init__(
        self,
        handler: H2Handler,
        client_side: bool,
        settings: dict[int, int],
        connection_window: int = f.DEFAULT_WINDOW,
        max_block: int = 64 * 1024,
    ) -> None:
        self.handler = handler
        self.client_side = client_side
        self.local = settings
        self.local_window = settings.get(f.INITIAL_WINDOW_SIZE, f.DEFAULT_WINDOW)
        self.max_concurrent = settings.get(f.MAX_CONCURRENT_STREAMS, 2**31)
        self.conn_window_target = connection_window
        self.remote_max_concurrent = 2**31
        self.remote_window = f.DEFAULT_WINDOW  # peer's INITIAL_WINDOW_SIZE
        self.max_frame_size = f.DEFAULT_FRAME_SIZE  # what we may send
        self.out_window = f.DEFAULT_WINDOW  # connection window we may still send
        self.in_window = connection_window  # connection window the peer may still send
        self.in_unacked = 0
        self.streams: dict[int, Stream] = {}
        self.highest_inbound = 0
        self.next_stream_id = 1 if client_side else 2
        self.max_block = max_block
        self.decoder = Decoder(settings.get(f.MAX_HEADER_LIST_SIZE, 64 * 1024))
        self.encoder = Encoder()
        self.out: list[bytes] = []
        self.reset_recently: dict[int, None] = {}
        self._buf = b""
        self._preface = not client_side  # a server first reads the client's preface
        self.settled = False  # the peer's first SETTINGS arrived: it does speak HTTP/2
        self._cont: tuple[int, int, list[bytes]] | None = None  # (stream, flags, fragments)
        self._dispatch = {
            f.DATA: self._on_data,
            f.HEADERS: self._on_headers,
            f.PRIORITY: self._on_priority,
            f.RST_STREAM: self._on_rst,
            f.SETTINGS: self._on_settings,
            f.PUSH_PROMISE: self._on_push,
            f.PING: self._on_ping,
            f.GOAWAY: self._on_goaway,
            f.WINDOW_UPDATE: self._on_window_update,
            f.CONTINUATION: self._on_stray_continuation,
        }

    # output
    def initiate(self) -> None:
        if self.client_side:
            self.out.append(f.PREFACE)
        self.out.append(f.settings_frame(self.local))
        if self.conn_window_target > f.DEFAULT_WINDOW:
            self.out.append(f.window_update_frame(0, self.conn_window_target - f.DEFAULT_WINDOW))

    def take(self) -> bytes:
        out = self.out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    # input
    def feed(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        if self._preface:
            if len(buf) < 24:
                if not f.PREFACE.startswith(buf):
                    raise H2Error(f.PROTOCOL_ERROR, "invalid connection preface")
                self._buf = buf
                return
            if buf[:24] != f.PREFACE:
                raise H2Error(f.PROTOCOL_ERROR, "invalid connection preface")
            self._preface = False
            buf = buf[24:]
        pos, size, header, limit = 0, len(buf), f.FRAME_HEADER, self.local.get(f.MAX_FRAME_SIZE, 16384)
        dispatch = self._dispatch
        while size - pos >= 9:
            hi, lo, kind, flags, sid = header.unpack_from(buf, pos)
            length = (hi << 16) | lo
            if length > limit:
                raise H2Error(f.FRAME_SIZE_ERROR, f"frame of {length} bytes over the limit of {limit}")
            end = pos + 9 + length
            if end > size:
                break
            payload = buf[pos + 9 : end]
            pos = end
            sid &= 0x7FFFFFFF
            if not self.settled:
                if kind != f.SETTINGS or flags & f.ACK:
                    raise H2Error(f.PROTOCOL_ERROR, "the first frame must be SETTINGS")
                self.settled = True
            if self._cont is not None and kind != f.CONTINUATION:
                raise H2Error(f.PROTOCOL_ERROR, "expected CONTINUATION")
            handler = dispatch.get(kind)
            if handler is not None:
                handler(flags, sid, payload)
            elif self._cont is not None:
                raise H2Error(f.PROTOCOL_ERROR, "expected CONTINUATION")
        self._buf = buf[pos:] if pos < size else b""

    # frames
    # sending
    def new_stream(self) -> int:
        """Open a stream for a request (client side); its HEADERS must be sent next."""
        sid = self.next_stream_id
        self.next_stream_id += 2
        self.streams[sid] = Stream(self.remote_window, self.local_window)
        return sid

    def _sendable(self, sid: int) -> Stream:
        stream = self.streams.get(sid)
        if stream is None or stream.local_closed:
            raise StreamGone(f"stream {sid} is closed")
        return stream

    def send_headers(self, sid: int, headers: Headers, end_stream: bool = False) -> None:
        stream = self._sendable(sid)
        block = self.encoder.encode(headers)
        flags = f.END_STREAM if end_stream else 0
        limit, out, n = self.max_frame_size, self.out, len(block)
        if n <= limit:  # the usual single frame: header and block go out as two pieces, not copied
            out.append(f.FRAME_HEADER.pack(n >> 16, n & 0xFFFF, f.HEADERS, flags | f.END_HEADERS, sid))
            out.append(block)
        else:
            out.append(f.frame(f.HEADERS, flags, sid, block[:limit]))
            for i in range(limit, len(block), limit):
                last = f.END_HEADERS if i + limit >= len(block) else 0
                out.append(f.frame(f.CONTINUATION, last, sid, block[i : i + limit]))
        if end_stream:
            self._local_close(sid, stream)

    def window(self, sid: int) -> int:
        """How many bytes of DATA may be sent on ``sid`` now (both windows, one frame)."""
        n = self._sendable(sid).window  # compared one by one: min()/max() box every int
        if self.out_window < n:
            n = self.out_window
        if self.max_frame_size < n:
            n = self.max_frame_size
        return n if n > 0 else 0

    def send_data(self, sid: int, data: bytes | memoryview, end_stream: bool = False) -> None:
        """Send one DATA frame; ``len(data)`` must be within :meth:`window`."""
        stream = self._sendable(sid)
        n = len(data)
        stream.window -= n
        self.out_window -= n
        flags = f.END_STREAM if end_stream else 0
        self.out.append(f.FRAME_HEADER.pack(n >> 16, n & 0xFFFF, f.DATA, flags, sid))
        if n:
            self.out.append(data if isinstance(data, bytes) else bytes(data))
        if end_stream:
            self._local_close(sid, stream)

    def end_stream(self, sid: int) -> None:
        self.send_data(sid, b"", end_stream=True)

    def reset_stream(self, sid: int, code: int) -> None:
        if self.streams.pop(sid, None) is not None:
            self._reset(sid, code)

    def ack(self, sid: int, size: int) -> None:
        """``size`` received bytes were consumed: hand window back when half of it is used."""
        self._give_back(size)
        stream = self.streams.get(sid)
        if stream is not None and not stream.remote_closed:
            stream.unacked += size
            if stream.unacked >= self.local_window // 2:
                stream.in_window += stream.unacked
                self.out.append(f.window_update_frame(sid, stream.unacked))
                stream.unacked = 0

    def goaway(self, last_stream_id: int, code: int = f.NO_ERROR) -> None:
        self.out.append(f.goaway_frame(last_stream_id, code))
