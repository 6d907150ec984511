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

from typing import Protocol

from hpack import HPACKError, OversizedHeaderListError

from lightmesh.protocol import h2frames as f
from lightmesh.protocol.h2hpack import Decoder, Encoder, Headers

_SELF_DEPENDENT = 0x100  # beyond the 8 frame flag bits: a HEADERS frame depending on itself


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


class _Stream:
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


class H2Codec:
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
        self.streams: dict[int, _Stream] = {}
        self.highest_inbound = 0
        self.next_stream_id = 1 if client_side else 2
        self.max_block = max_block
        self.decoder = Decoder(settings.get(f.MAX_HEADER_LIST_SIZE, 64 * 1024))
        self.encoder = Encoder()
        self._out: list[bytes] = []
        self._buf = b""
        self._preface = not client_side  # a server first reads the client's preface
        self._settled = False  # the peer's first SETTINGS arrived
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
            self._out.append(f.PREFACE)
        self._out.append(f.settings_frame(self.local))
        if self.conn_window_target > f.DEFAULT_WINDOW:
            self._out.append(f.window_update_frame(0, self.conn_window_target - f.DEFAULT_WINDOW))

    def take(self) -> bytes:
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    @property
    def pending_output(self) -> bool:
        return bool(self._out)

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
            if not self._settled:
                if kind != f.SETTINGS or flags & f.ACK:
                    raise H2Error(f.PROTOCOL_ERROR, "the first frame must be SETTINGS")
                self._settled = True
            if self._cont is not None and kind != f.CONTINUATION:
                raise H2Error(f.PROTOCOL_ERROR, "expected CONTINUATION")
            handler = dispatch.get(kind)
            if handler is not None:
                handler(flags, sid, payload)
            elif self._cont is not None:
                raise H2Error(f.PROTOCOL_ERROR, "expected CONTINUATION")
        self._buf = buf[pos:] if pos < size else b""

    # frames
    def _on_data(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0:
            raise H2Error(f.PROTOCOL_ERROR, "DATA on stream 0")
        flow = len(payload)
        data = _unpad(payload, flags) if flags & f.PADDED else payload
        if flow > self.in_window:
            raise H2Error(f.FLOW_CONTROL_ERROR, "DATA beyond the connection window")
        self.in_window -= flow
        stream = self.streams.get(sid)
        if stream is None:
            self._give_back(flow)  # nobody will read it: the connection window comes back at once
            if sid > self._highest(sid):
                raise H2Error(f.PROTOCOL_ERROR, f"DATA on idle stream {sid}")
            self._reset(sid, f.STREAM_CLOSED)
            return
        end = bool(flags & f.END_STREAM)
        stream.received += len(data)
        code = 0
        if stream.remote_closed:
            code = f.STREAM_CLOSED
        elif not stream.head or (
            stream.expected is not None
            and (stream.received > stream.expected or (end and stream.received != stream.expected))
        ):
            code = f.PROTOCOL_ERROR  # DATA before the head, or a body that contradicts content-length
        elif flow > stream.in_window:
            code = f.FLOW_CONTROL_ERROR
        if code:
            self._give_back(flow)
            self._stream_error(sid, code)
            return
        stream.in_window -= flow
        if end:
            self._remote_close(sid, stream)
        self.handler.on_data(sid, data, flow, end)

    def _on_headers(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0:
            raise H2Error(f.PROTOCOL_ERROR, "HEADERS on stream 0")
        block = _unpad(payload, flags) if flags & f.PADDED else payload
        if flags & f.PRIORITY_FLAG:
            if len(block) < 5:
                raise H2Error(f.FRAME_SIZE_ERROR, "HEADERS too short for its priority")
            if f.u32(block) & 0x7FFFFFFF == sid:
                flags |= _SELF_DEPENDENT  # decoded all the same (HPACK state), then refused
            block = block[5:]
        if flags & f.END_HEADERS:
            self._on_block(flags, sid, block)
        else:
            self._cont = (sid, flags, [block])

    def _on_stray_continuation(self, flags: int, sid: int, payload: bytes) -> None:
        cont = self._cont
        if cont is None or cont[0] != sid:
            raise H2Error(f.PROTOCOL_ERROR, "CONTINUATION without HEADERS")
        cont[2].append(payload)
        if sum(map(len, cont[2])) > self.max_block:
            raise H2Error(f.ENHANCE_YOUR_CALM, "header block too large")
        if flags & f.END_HEADERS:
            self._cont = None
            self._on_block(cont[1], sid, b"".join(cont[2]))

    def _on_block(self, flags: int, sid: int, block: bytes) -> None:
        stream = self.streams.get(sid)
        role = (
            f.TRAILERS
            if stream is not None and stream.head
            else (f.RESPONSE if self.client_side else f.REQUEST)
        )
        try:
            headers, known = self.decoder.decode(block, role)
        except OversizedHeaderListError:
            raise H2Error(f.ENHANCE_YOUR_CALM, "header list over the limit") from None
        except HPACKError as exc:
            raise H2Error(f.COMPRESSION_ERROR, f"header block: {exc}") from None
        end = bool(flags & f.END_STREAM)
        if flags & _SELF_DEPENDENT:
            if stream is None:
                self._reset(sid, f.PROTOCOL_ERROR)
                if not self.client_side and sid % 2 == 1:  # the id is used up all the same
                    self.highest_inbound = max(self.highest_inbound, sid)
            else:
                self._stream_error(sid, f.PROTOCOL_ERROR)
            return
        if stream is None:
            self._open_inbound(sid, block, headers, known, end)
            return
        if stream.remote_closed:
            self._stream_error(sid, f.STREAM_CLOSED)
            return
        if role == f.RESPONSE:
            if not known and f.check_block(headers, role) is not None:
                self._stream_error(sid, f.PROTOCOL_ERROR)
                return
            self.decoder.remember(block, role, headers)
            if headers[0][1][:1] == b"1":  # informational: the real head follows
                if end:
                    self._stream_error(sid, f.PROTOCOL_ERROR)
                return
            self._head(sid, stream, headers, end)
            return
        if (
            not end
            or (not known and f.check_block(headers, f.TRAILERS) is not None)
            or (stream.expected is not None and stream.received != stream.expected)
        ):
            self._stream_error(sid, f.PROTOCOL_ERROR)
            return
        self.decoder.remember(block, f.TRAILERS, headers)
        self._remote_close(sid, stream)
        self.handler.on_trailers(sid, headers)

    def _open_inbound(self, sid: int, block: bytes, headers: Headers, known: bool, end: bool) -> None:
        if self.client_side or sid % 2 == 0:
            if sid <= self.next_stream_id - 2 and sid % 2 == 1:
                self._reset(sid, f.STREAM_CLOSED)  # a stream we already forgot
                return
            raise H2Error(f.PROTOCOL_ERROR, f"HEADERS on stream {sid} that was never opened")
        if sid <= self.highest_inbound:
            self._reset(sid, f.STREAM_CLOSED)
            return
        self.highest_inbound = sid
        if len(self.streams) >= self.max_concurrent:
            self._reset(sid, f.REFUSED_STREAM)
            return
        if not known and f.check_block(headers, f.REQUEST) is not None:
            self._reset(sid, f.PROTOCOL_ERROR)
            return
        self.decoder.remember(block, f.REQUEST, headers)
        stream = self.streams[sid] = _Stream(self.remote_window, self.local_window)
        self._head(sid, stream, headers, end)

    def _head(self, sid: int, stream: _Stream, headers: Headers, end: bool) -> None:
        stream.head = True
        for name, value in headers:
            if name == b"content-length":
                if not value.isdigit() or (stream.expected is not None and int(value) != stream.expected):
                    self._stream_error(sid, f.PROTOCOL_ERROR)
                    return
                stream.expected = int(value)
        if end:
            if stream.expected and not self.client_side:  # a response to HEAD may declare a length
                self._stream_error(sid, f.PROTOCOL_ERROR)
                return
            self._remote_close(sid, stream)
        self.handler.on_headers(sid, headers, end)

    def _on_priority(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0:
            raise H2Error(f.PROTOCOL_ERROR, "PRIORITY on stream 0")
        if len(payload) != 5:
            raise H2Error(f.FRAME_SIZE_ERROR, "PRIORITY must be 5 bytes")
        if f.u32(payload) & 0x7FFFFFFF == sid:
            self._stream_error(sid, f.PROTOCOL_ERROR)
            return
        self.handler.on_priority()

    def _on_rst(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0:
            raise H2Error(f.PROTOCOL_ERROR, "RST_STREAM on stream 0")
        if len(payload) != 4:
            raise H2Error(f.FRAME_SIZE_ERROR, "RST_STREAM must be 4 bytes")
        if sid > self._highest(sid):
            raise H2Error(f.PROTOCOL_ERROR, f"RST_STREAM on idle stream {sid}")
        if self.streams.pop(sid, None) is not None:
            self.handler.on_reset(sid, f.u32(payload))

    def _on_settings(self, flags: int, sid: int, payload: bytes) -> None:
        if sid != 0:
            raise H2Error(f.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & f.ACK:
            if payload:
                raise H2Error(f.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise H2Error(f.FRAME_SIZE_ERROR, "SETTINGS length is not a multiple of 6")
        for key, value in f.parse_settings(payload):
            self._apply_setting(key, value)
        self._out.append(f.frame(f.SETTINGS, f.ACK, 0))
        self.handler.on_settings()

    def _apply_setting(self, key: int, value: int) -> None:
        if key == f.INITIAL_WINDOW_SIZE:
            if value > f.MAX_WINDOW:
                raise H2Error(f.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE over 2^31-1")
            delta, self.remote_window = value - self.remote_window, value
            for stream in self.streams.values():
                stream.window += delta
                if stream.window > f.MAX_WINDOW:
                    raise H2Error(f.FLOW_CONTROL_ERROR, "stream window over 2^31-1")
        elif key == f.MAX_FRAME_SIZE:
            if not f.DEFAULT_FRAME_SIZE <= value <= 2**24 - 1:
                raise H2Error(f.PROTOCOL_ERROR, f"invalid MAX_FRAME_SIZE {value}")
            self.max_frame_size = value
        elif key == f.MAX_CONCURRENT_STREAMS:
            self.remote_max_concurrent = value
        elif key == f.HEADER_TABLE_SIZE:
            self.encoder.set_table_size(min(value, 4096))
        elif key == f.ENABLE_PUSH and (value > 1 or (value == 1 and self.client_side)):
            raise H2Error(f.PROTOCOL_ERROR, "ENABLE_PUSH must be 0 or 1, and 0 from a server")

    def _on_push(self, flags: int, sid: int, payload: bytes) -> None:
        raise H2Error(f.PROTOCOL_ERROR, "PUSH_PROMISE is not accepted")

    def _on_ping(self, flags: int, sid: int, payload: bytes) -> None:
        if sid != 0:
            raise H2Error(f.PROTOCOL_ERROR, "PING on a stream")
        if len(payload) != 8:
            raise H2Error(f.FRAME_SIZE_ERROR, "PING must be 8 bytes")
        if not flags & f.ACK:
            self._out.append(f.frame(f.PING, f.ACK, 0, payload))
            self.handler.on_ping()

    def _on_goaway(self, flags: int, sid: int, payload: bytes) -> None:
        if sid != 0:
            raise H2Error(f.PROTOCOL_ERROR, "GOAWAY on a stream")
        if len(payload) < 8:
            raise H2Error(f.FRAME_SIZE_ERROR, "GOAWAY too short")
        self.handler.on_goaway(f.u32(payload, 4), f.u32(payload) & 0x7FFFFFFF)

    def _on_window_update(self, flags: int, sid: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise H2Error(f.FRAME_SIZE_ERROR, "WINDOW_UPDATE must be 4 bytes")
        increment = f.u32(payload) & 0x7FFFFFFF
        if sid == 0:
            if increment == 0:
                raise H2Error(f.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            self.out_window += increment
            if self.out_window > f.MAX_WINDOW:
                raise H2Error(f.FLOW_CONTROL_ERROR, "connection window over 2^31-1")
            self.handler.on_window(0)
            return
        stream = self.streams.get(sid)
        if stream is None:
            if sid > self._highest(sid):
                raise H2Error(f.PROTOCOL_ERROR, f"WINDOW_UPDATE on idle stream {sid}")
            self.handler.on_window(sid)  # counted against floods all the same
            return
        if increment == 0:
            self._stream_error(sid, f.PROTOCOL_ERROR)
            return
        stream.window += increment
        if stream.window > f.MAX_WINDOW:
            self._stream_error(sid, f.FLOW_CONTROL_ERROR)
            return
        self.handler.on_window(sid)

    # sending
    def new_stream(self) -> int:
        """Open a stream for a request (client side); its HEADERS must be sent next."""
        sid = self.next_stream_id
        self.next_stream_id += 2
        self.streams[sid] = _Stream(self.remote_window, self.local_window)
        return sid

    def _sendable(self, sid: int) -> _Stream:
        stream = self.streams.get(sid)
        if stream is None or stream.local_closed:
            raise StreamGone(f"stream {sid} is closed")
        return stream

    def send_headers(self, sid: int, headers: Headers, end_stream: bool = False) -> None:
        stream = self._sendable(sid)
        block = self.encoder.encode(headers)
        flags = f.END_STREAM if end_stream else 0
        limit, out = self.max_frame_size, self._out
        if len(block) <= limit:
            out.append(f.frame(f.HEADERS, flags | f.END_HEADERS, sid, block))
        else:
            out.append(f.frame(f.HEADERS, flags, sid, block[:limit]))
            for i in range(limit, len(block), limit):
                last = f.END_HEADERS if i + limit >= len(block) else 0
                out.append(f.frame(f.CONTINUATION, last, sid, block[i : i + limit]))
        if end_stream:
            self._local_close(sid, stream)

    def window(self, sid: int) -> int:
        """How many bytes of DATA may be sent on ``sid`` now (both windows, one frame)."""
        stream = self._sendable(sid)
        return max(0, min(stream.window, self.out_window, self.max_frame_size))

    def send_data(self, sid: int, data: bytes | memoryview, end_stream: bool = False) -> None:
        """Send one DATA frame; ``len(data)`` must be within :meth:`window`."""
        stream = self._sendable(sid)
        n = len(data)
        stream.window -= n
        self.out_window -= n
        flags = f.END_STREAM if end_stream else 0
        self._out.append(f.FRAME_HEADER.pack(n >> 16, n & 0xFFFF, f.DATA, flags, sid))
        if n:
            self._out.append(bytes(data))
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
                self._out.append(f.window_update_frame(sid, stream.unacked))
                stream.unacked = 0

    def _give_back(self, size: int) -> None:
        """Connection window for ``size`` consumed (or discarded) bytes, in batches."""
        self.in_unacked += size
        if self.in_unacked >= self.conn_window_target // 2:
            self.in_window += self.in_unacked
            self._out.append(f.window_update_frame(0, self.in_unacked))
            self.in_unacked = 0

    def goaway(self, last_stream_id: int, code: int = f.NO_ERROR) -> None:
        self._out.append(f.goaway_frame(last_stream_id, code))

    # helpers
    def _local_close(self, sid: int, stream: _Stream) -> None:
        stream.local_closed = True
        if stream.remote_closed:
            del self.streams[sid]

    def _highest(self, sid: int) -> int:
        """The highest stream id in use on ``sid``'s side (ids above it are idle)."""
        if (sid % 2 == 1) == self.client_side:
            return self.next_stream_id - 2
        return self.highest_inbound

    def _remote_close(self, sid: int, stream: _Stream) -> None:
        stream.remote_closed = True
        if stream.local_closed:
            del self.streams[sid]

    def _reset(self, sid: int, code: int) -> None:
        self._out.append(f.rst_stream_frame(sid, code))

    def _stream_error(self, sid: int, code: int) -> None:
        self._reset(sid, code)
        if self.streams.pop(sid, None) is not None:
            self.handler.on_reset(sid, code)


def _unpad(payload: bytes, flags: int) -> bytes:
    if not payload:
        raise H2Error(f.PROTOCOL_ERROR, "padded frame without a pad length")
    pad = payload[0]
    if pad >= len(payload):
        raise H2Error(f.PROTOCOL_ERROR, "padding longer than the frame")
    return payload[1 : len(payload) - pad]
