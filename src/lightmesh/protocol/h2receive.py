"""The receiving half of the HTTP/2 codec: one method per frame type (RFC 9113 §6).

:class:`Receiver` checks each frame against the connection and stream state and
either tells the :class:`~lightmesh.protocol.h2state.H2Handler`, resets the stream
(a stream error: the connection goes on) or raises
:class:`~lightmesh.protocol.h2state.H2Error` (a connection error). Header blocks are
always decoded, even for a stream about to be refused, so the HPACK tables of both
ends stay in step; a block decoded and validated before is not validated again.
"""

from __future__ import annotations

from lightmesh.protocol import h2frames as f
from lightmesh.protocol.h2hpack import HeaderBlockError, HeaderListTooLarge, Headers
from lightmesh.protocol.h2state import _SELF_DEPENDENT, H2Error, H2State, Stream, _unpad


class Receiver(H2State):
    _cont: tuple[int, int, list[bytes]] | None

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
            if not self._closed_quietly(sid):
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
        except HeaderListTooLarge:
            raise H2Error(f.ENHANCE_YOUR_CALM, "header list over the limit") from None
        except HeaderBlockError as exc:
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
                if not self._closed_quietly(sid):
                    self._reset(sid, f.STREAM_CLOSED)  # a stream we already forgot
                return
            raise H2Error(f.PROTOCOL_ERROR, f"HEADERS on stream {sid} that was never opened")
        if sid <= self.highest_inbound:
            if not self._closed_quietly(sid):  # e.g. trailers racing our RST_STREAM
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
        stream = self.streams[sid] = Stream(self.remote_window, self.local_window)
        self._head(sid, stream, headers, end)

    def _head(self, sid: int, stream: Stream, headers: Headers, end: bool) -> None:
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
        self.out.append(f.frame(f.SETTINGS, f.ACK, 0))
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
            self.out.append(f.frame(f.PING, f.ACK, 0, payload))
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
