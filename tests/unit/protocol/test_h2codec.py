"""H2Codec: interop with ``h2`` both ways, RFC 9113 errors with their codes, and fuzzing.

``h2`` is the oracle, as h11 is for the HTTP/1 code: our codec talks to an
``h2.connection.H2Connection`` in memory (as a server to an h2 client and as a
client to an h2 server) and what one side sends the other must decode exactly,
bodies split by flow control included. Protocol violations are hand-built frames
and must fail with the code RFC 9113 gives them: a connection error raises
:class:`H2Error`, a stream error resets only that stream and leaves the
connection usable. Arbitrary bytes never raise anything but :class:`H2Error`,
and how they are split into reads never changes what the handler sees.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightmesh.protocol import h2frames as f
from lightmesh.protocol.h2codec import H2Codec, H2Error, StreamGone

Headers = list[tuple[bytes, bytes]]
Call = tuple[Any, ...]
Frame = tuple[int, int, int, bytes]  # type, flags, stream id, payload

GET: Headers = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"svc:80"), (b":path", b"/")]
POST: Headers = [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"svc:80"), (b":path", b"/up")]
OK: Headers = [(b":status", b"200")]
S = h2.settings.SettingCodes


def plain(headers: Any) -> Headers:
    return [(bytes(name), bytes(value)) for name, value in headers]


def parse_frames(data: bytes) -> list[Frame]:
    frames: list[Frame] = []
    pos = 0
    while pos < len(data):
        hi, lo, kind, flags, sid = f.FRAME_HEADER.unpack_from(data, pos)
        end = pos + 9 + ((hi << 16) | lo)
        assert end <= len(data), "a truncated frame"
        frames.append((kind, flags, sid & 0x7FFFFFFF, data[pos + 9 : end]))
        pos = end
    return frames


def resets(frames: list[Frame]) -> list[tuple[int, int]]:
    return [(sid, f.u32(payload)) for kind, _, sid, payload in frames if kind == f.RST_STREAM]


class Recorder:
    """An H2Handler that records every call; with ``auto_ack`` it consumes DATA at once, like the proxy."""

    def __init__(self, auto_ack: bool = False) -> None:
        self.calls: list[Call] = []
        self.auto_ack = auto_ack
        self.codec: H2Codec | None = None

    def on_headers(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        self.calls.append(("headers", stream_id, plain(headers), end_stream))

    def on_trailers(self, stream_id: int, headers: Headers) -> None:
        self.calls.append(("trailers", stream_id, plain(headers)))

    def on_data(self, stream_id: int, data: bytes, flow_length: int, end_stream: bool) -> None:
        self.calls.append(("data", stream_id, bytes(data), flow_length, end_stream))
        if self.auto_ack and self.codec is not None:
            self.codec.ack(stream_id, flow_length)

    def on_reset(self, stream_id: int, code: int) -> None:
        self.calls.append(("reset", stream_id, code))

    def on_window(self, stream_id: int) -> None:
        self.calls.append(("window", stream_id))

    def on_settings(self) -> None:
        self.calls.append(("settings",))

    def on_ping(self) -> None:
        self.calls.append(("ping",))

    def on_priority(self) -> None:
        self.calls.append(("priority",))

    def on_goaway(self, code: int, last_stream_id: int) -> None:
        self.calls.append(("goaway", code, last_stream_id))

    def of(self, *kinds: str) -> list[Call]:
        return [call for call in self.calls if call[0] in kinds]


@dataclass
class Message:
    head: Headers | None = None
    body: bytes = b""
    trailers: Headers | None = None
    ended: bool = False
    reset: int | None = None


@dataclass
class Spec:
    """A request or response to send: head, body chunks (each possibly split by flow control), trailers."""

    head: Headers
    chunks: list[bytes]
    trailers: Headers | None = None

    def received(self) -> Message:
        return Message(self.head, b"".join(self.chunks), self.trailers, ended=True)


class Pair:
    """Our codec and an h2 connection wired back to back in memory."""

    def __init__(
        self,
        ours_client: bool,
        local: dict[int, int] | None = None,
        connection_window: int = f.DEFAULT_WINDOW,
        auto_ack: bool = True,
    ) -> None:
        self.handler = Recorder(auto_ack)
        self.ours = H2Codec(self.handler, ours_client, dict(local or {}), connection_window)
        self.handler.codec = self.ours
        config = h2.config.H2Configuration(client_side=not ours_client, header_encoding=None)
        self.peer = h2.connection.H2Connection(config)
        self.events: list[h2.events.Event] = []
        self.auto_ack = auto_ack
        self.sent: list[Frame] = []  # every frame our codec sent, for checks on framing
        self.ours.initiate()
        self.peer.initiate_connection()
        self.pump()

    def pump(self) -> bool:
        """Move bytes both ways until both sides are quiet; whether anything moved."""
        moved = False
        for _ in range(10_000):
            out, back = self.ours.take(), self.peer.data_to_send()
            if not out and not back:
                return moved
            moved = True
            if out:
                self.sent += parse_frames(out[24:] if out.startswith(f.PREFACE) else out)
                events = self.peer.receive_data(out)
                self.events += events
                for event in events:
                    if self.auto_ack and isinstance(event, h2.events.DataReceived):
                        self.peer.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if back:
                self.ours.feed(back)
        raise AssertionError("the two sides never went quiet")

    def peer_stream(self) -> int:
        sid: int = self.peer.get_next_available_stream_id()
        return sid

    # sending
    def ours_send(self, sid: int, spec: Spec) -> None:
        ours = self.ours
        ours.send_headers(sid, spec.head, end_stream=not spec.chunks and spec.trailers is None)
        for i, chunk in enumerate(spec.chunks):
            last = spec.trailers is None and i == len(spec.chunks) - 1
            while True:
                n = min(len(chunk), ours.window(sid))
                if chunk and not n:
                    assert self.pump(), f"stream {sid} stalled: no window"
                    continue
                ours.send_data(sid, chunk[:n], end_stream=last and n == len(chunk))
                chunk = chunk[n:]
                if not chunk:
                    break
        if spec.trailers is not None:
            ours.send_headers(sid, spec.trailers, end_stream=True)
        self.pump()

    def peer_send(self, sid: int, spec: Spec) -> None:
        peer = self.peer
        peer.send_headers(sid, spec.head, end_stream=not spec.chunks and spec.trailers is None)
        for i, chunk in enumerate(spec.chunks):
            last = spec.trailers is None and i == len(spec.chunks) - 1
            while True:
                n = min(len(chunk), peer.local_flow_control_window(sid), peer.max_outbound_frame_size)
                if chunk and not n:
                    assert self.pump(), f"stream {sid} stalled: no window"
                    continue
                peer.send_data(sid, chunk[:n], end_stream=last and n == len(chunk))
                chunk = chunk[n:]
                if not chunk:
                    break
        if spec.trailers is not None:
            peer.send_headers(sid, spec.trailers, end_stream=True)
        self.pump()

    # receiving
    def ours_got(self, sid: int) -> Message:
        message = Message()
        for call in self.handler.of("headers", "data", "trailers", "reset"):
            if call[1] != sid:
                continue
            if call[0] == "headers":
                assert message.head is None, "two heads"
                message.head, message.ended = call[2], call[3]
            elif call[0] == "data":
                assert message.head is not None and not message.ended
                message.body += call[2]
                message.ended = call[4]
            elif call[0] == "trailers":
                assert not message.ended
                message.trailers, message.ended = call[2], True
            else:
                message.reset = call[2]
        return message

    def peer_got(self, sid: int) -> Message:
        message = Message()
        for event in self.events:
            if getattr(event, "stream_id", None) != sid:
                continue
            if isinstance(event, h2.events.RequestReceived | h2.events.ResponseReceived):
                message.head = plain(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                message.body += event.data
            elif isinstance(event, h2.events.TrailersReceived):
                message.trailers = plain(event.headers)
            elif isinstance(event, h2.events.StreamEnded):
                message.ended = True
            elif isinstance(event, h2.events.StreamReset):
                message.reset = event.error_code
        return message

    def peer_events(self, kind: type[h2.events.Event]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


def body(size: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) & 0xFF for i in range(256)) * (size // 256) + b"z" * (size % 256)


both_ways = pytest.mark.parametrize("ours_client", [False, True], ids=["ours-server", "ours-client"])


def exchange(pair: Pair, ours_client: bool, request: Spec, response: Spec) -> tuple[Message, Message]:
    """One request and its response; what the server got and what the client got."""
    if ours_client:
        sid = pair.ours.new_stream()
        pair.ours_send(sid, request)
        got_request = pair.peer_got(sid)
        pair.peer_send(sid, response)
        return got_request, pair.ours_got(sid)
    sid = pair.peer_stream()
    pair.peer_send(sid, request)
    got_request = pair.ours_got(sid)
    pair.ours_send(sid, response)
    return got_request, pair.peer_got(sid)


# Interop with h2


@both_ways
def test_handshake_settles_both_sides(ours_client: bool) -> None:
    pair = Pair(ours_client, {f.MAX_CONCURRENT_STREAMS: 50})
    assert pair.handler.of("settings") == [("settings",)]
    assert len(pair.peer_events(h2.events.SettingsAcknowledged)) == 1
    assert pair.peer.remote_settings.max_concurrent_streams == 50
    assert pair.ours.remote_max_concurrent == 100  # h2 announces 100 on both sides
    assert not pair.ours.streams


@both_ways
def test_request_and_response_without_bodies(ours_client: bool) -> None:
    pair = Pair(ours_client)
    request, response = Spec(GET, []), Spec([*OK, (b"server", b"x")], [])
    assert exchange(pair, ours_client, request, response) == (request.received(), response.received())
    assert not pair.ours.streams
    assert pair.ours.highest_inbound == (0 if ours_client else 1)


@both_ways
def test_bodies_and_trailers(ours_client: bool) -> None:
    pair = Pair(ours_client)
    request = Spec([*POST, (b"content-type", b"application/grpc"), (b"te", b"trailers")], [b"ab", b"", b"cd"])
    response = Spec(OK, [b"hello", b" world"], [(b"grpc-status", b"0"), (b"grpc-message", b"")])
    assert exchange(pair, ours_client, request, response) == (request.received(), response.received())
    request = Spec([*POST, (b"content-length", b"3")], [b"abc"], [(b"x-checksum", b"1")])
    response = Spec([*OK, (b"content-length", b"0")], [])
    assert exchange(pair, ours_client, request, response) == (request.received(), response.received())
    assert not pair.ours.streams


@both_ways
def test_a_head_with_end_stream_and_a_body_ended_by_an_empty_data_frame(ours_client: bool) -> None:
    pair = Pair(ours_client)
    request, response = Spec(POST, [b"x", b""]), Spec(OK, [b""])
    assert exchange(pair, ours_client, request, response) == (request.received(), response.received())


def test_ours_as_client_skips_informational_responses() -> None:
    pair = Pair(ours_client=True)
    sid = pair.ours.new_stream()
    pair.ours.send_headers(sid, [*POST, (b"expect", b"100-continue")])
    pair.pump()
    pair.peer.send_headers(sid, [(b":status", b"100")])
    pair.pump()
    assert pair.ours_got(sid) == Message()
    pair.ours.send_data(sid, b"payload", end_stream=True)
    pair.pump()
    pair.peer_send(sid, Spec(OK, [b"done"]))
    assert pair.ours_got(sid) == Message(OK, b"done", None, ended=True)
    assert pair.peer_got(sid).body == b"payload"


def test_ours_as_client_accepts_a_head_response_that_declares_a_length() -> None:
    pair = Pair(ours_client=True)
    sid = pair.ours.new_stream()
    pair.ours_send(sid, Spec([(b":method", b"HEAD"), *GET[1:]], []))
    pair.peer_send(sid, Spec([*OK, (b"content-length", b"1234")], []))
    assert pair.ours_got(sid) == Message([*OK, (b"content-length", b"1234")], b"", None, ended=True)


@both_ways
def test_large_bodies_are_split_by_flow_control_and_windows_flow_back(ours_client: bool) -> None:
    pair = Pair(ours_client)
    up, down = body(1_000_000, 1), body(700_001, 2)
    request, response = Spec(POST, [up[:300_000], up[300_000:]]), Spec(OK, [down], [(b"x-done", b"1")])
    got_request, got_response = exchange(pair, ours_client, request, response)
    assert got_request.body == up and got_request.ended
    assert got_response.body == down and got_response.trailers == [(b"x-done", b"1")]
    # the windows were exhausted and handed back many times each way
    assert len(pair.handler.of("window")) > 10
    assert len(pair.peer_events(h2.events.WindowUpdated)) > 10
    data_frames = [payload for kind, _, _, payload in pair.sent if kind == f.DATA]
    assert max(map(len, data_frames)) == f.DEFAULT_FRAME_SIZE


def test_a_peer_that_is_not_acked_stops_at_the_stream_window_and_ack_hands_it_back() -> None:
    pair = Pair(ours_client=False, auto_ack=False)
    sid = pair.peer_stream()
    pair.peer.send_headers(sid, POST)
    sent = 0
    while n := min(pair.peer.local_flow_control_window(sid), pair.peer.max_outbound_frame_size):
        pair.peer.send_data(sid, b"x" * n)
        sent += n
        pair.pump()
    assert sent == f.DEFAULT_WINDOW
    assert not pair.peer_events(h2.events.WindowUpdated)
    pair.ours.ack(sid, 30_000)  # under half a window: nothing yet
    pair.pump()
    assert pair.peer.local_flow_control_window(sid) == 0
    pair.ours.ack(sid, 5_000)  # 35,000 consumed: over half, both windows get it back
    pair.pump()
    assert pair.peer.local_flow_control_window(sid) == 35_000
    assert pair.peer.outbound_flow_control_window == 35_000
    assert sum(len(call[2]) for call in pair.handler.of("data")) == sent


def test_a_larger_connection_window_is_announced_in_the_handshake() -> None:
    pair = Pair(ours_client=False, local={f.INITIAL_WINDOW_SIZE: 1 << 20}, connection_window=4 << 20)
    assert pair.peer.outbound_flow_control_window == 4 << 20
    sid = pair.peer_stream()
    pair.peer.send_headers(sid, POST)
    assert pair.peer.local_flow_control_window(sid) == 1 << 20


@both_ways
def test_many_concurrent_streams_interleaved(ours_client: bool) -> None:
    pair = Pair(ours_client)
    sids = []
    for _ in range(40):  # all open at once
        if ours_client:
            sids.append(pair.ours.new_stream())
            pair.ours.send_headers(sids[-1], POST)
        else:
            sids.append(pair.peer_stream())
            pair.peer.send_headers(sids[-1], POST)
    client_send = pair.ours.send_data if ours_client else pair.peer.send_data
    for round_ in range(3):  # a piece of every body in turn
        for sid in sids:
            client_send(sid, b"%d:%d;" % (sid, round_), end_stream=round_ == 2)
        pair.pump()
    server_send = pair.peer_send if ours_client else pair.ours_send
    for sid in reversed(sids):  # answered in the opposite order
        server_send(sid, Spec([*OK, (b"x-for", b"%d" % sid)], [b"r%d" % sid] * 3))
    for sid in sids:
        request = pair.peer_got(sid) if ours_client else pair.ours_got(sid)
        response = pair.ours_got(sid) if ours_client else pair.peer_got(sid)
        assert request.body == b"%d:0;%d:1;%d:2;" % (sid, sid, sid) and request.ended
        assert response == Message([*OK, (b"x-for", b"%d" % sid)], b"r%d" % sid * 3, None, ended=True)
    assert not pair.ours.streams
    if not ours_client:
        assert pair.ours.highest_inbound == sids[-1]


@both_ways
def test_the_peer_resets_a_stream(ours_client: bool) -> None:
    pair = Pair(ours_client)
    if ours_client:
        sid = pair.ours.new_stream()
        pair.ours.send_headers(sid, POST)
    else:
        sid = pair.peer_stream()
        pair.peer.send_headers(sid, POST)
    pair.pump()
    pair.peer.reset_stream(sid, f.CANCEL)
    pair.pump()
    assert pair.handler.of("reset") == [("reset", sid, f.CANCEL)]
    assert sid not in pair.ours.streams
    with pytest.raises(StreamGone):
        pair.ours.send_headers(sid, OK)
    with pytest.raises(StreamGone):
        pair.ours.window(sid)
    # the connection goes on
    request, response = Spec(GET, []), Spec(OK, [b"fine"])
    assert exchange(pair, ours_client, request, response) == (request.received(), response.received())


@both_ways
def test_we_reset_a_stream(ours_client: bool) -> None:
    pair = Pair(ours_client)
    if ours_client:
        sid = pair.ours.new_stream()
        pair.ours.send_headers(sid, POST)
    else:
        sid = pair.peer_stream()
        pair.peer.send_headers(sid, POST)
    pair.pump()
    pair.ours.reset_stream(sid, f.REFUSED_STREAM)
    pair.pump()
    assert pair.peer_got(sid).reset == f.REFUSED_STREAM
    assert sid not in pair.ours.streams
    with pytest.raises(StreamGone):
        pair.ours.send_data(sid, b"x")
    pair.ours.reset_stream(sid, f.CANCEL)  # a second reset sends nothing
    assert pair.ours.take() == b""
    assert not pair.handler.of("reset")  # our own reset is not reported back to us
    request, response = Spec(GET, []), Spec(OK, [b"fine"])
    assert exchange(pair, ours_client, request, response) == (request.received(), response.received())


@both_ways
def test_goaway_both_ways(ours_client: bool) -> None:
    pair = Pair(ours_client)
    exchange(pair, ours_client, Spec(GET, []), Spec(OK, []))
    pair.ours.goaway(1, f.ENHANCE_YOUR_CALM)
    pair.pump()
    [terminated] = pair.peer_events(h2.events.ConnectionTerminated)
    assert (terminated.error_code, terminated.last_stream_id) == (f.ENHANCE_YOUR_CALM, 1)

    pair = Pair(ours_client)
    exchange(pair, ours_client, Spec(GET, []), Spec(OK, []))
    pair.peer.close_connection(error_code=f.NO_ERROR, last_stream_id=1 if not ours_client else 0)
    pair.pump()
    assert pair.handler.of("goaway") == [("goaway", f.NO_ERROR, 1 if not ours_client else 0)]


@both_ways
def test_ping_is_answered_with_an_ack(ours_client: bool) -> None:
    pair = Pair(ours_client)
    pair.peer.ping(b"12345678")
    pair.pump()
    assert pair.handler.of("ping") == [("ping",)]
    [ack] = pair.peer_events(h2.events.PingAckReceived)
    assert ack.ping_data == b"12345678"
    acks = [(flags, payload) for kind, flags, _, payload in pair.sent if kind == f.PING]
    assert acks == [(f.ACK, b"12345678")]


@both_ways
def test_initial_window_size_changes_adjust_open_streams(ours_client: bool) -> None:
    pair = Pair(ours_client, auto_ack=False)  # no WINDOW_UPDATE from the peer: only settings move the window
    if ours_client:
        sid = pair.ours.new_stream()
        pair.ours.send_headers(sid, POST)
    else:
        sid = pair.peer_stream()
        pair.peer.send_headers(sid, GET, end_stream=True)
        pair.pump()
        pair.ours.send_headers(sid, OK)
    pair.pump()
    assert pair.ours.window(sid) == f.DEFAULT_FRAME_SIZE
    pair.peer.update_settings({S.INITIAL_WINDOW_SIZE: 100})
    pair.pump()
    assert pair.ours.window(sid) == 100
    pair.ours.send_data(sid, b"x" * 60)
    assert pair.ours.window(sid) == 40
    pair.peer.update_settings({S.INITIAL_WINDOW_SIZE: 1000})
    pair.pump()
    assert pair.ours.window(sid) == 940
    pair.peer.update_settings({S.INITIAL_WINDOW_SIZE: 10})  # the stream window goes negative
    pair.pump()
    assert pair.ours.window(sid) == 0
    pair.peer.update_settings({S.INITIAL_WINDOW_SIZE: 200})
    pair.pump()
    assert pair.ours.window(sid) == 140
    pair.ours.send_data(sid, b"y" * 140, end_stream=True)
    pair.pump()
    assert pair.peer_got(sid).body == b"x" * 60 + b"y" * 140
    if ours_client:  # a new stream starts from the new initial window
        assert pair.ours.window(pair.ours.new_stream()) == 200
    assert len(pair.handler.of("settings")) == 5
    assert len(pair.peer_events(h2.events.SettingsAcknowledged)) == 5


@both_ways
def test_max_frame_size_is_respected_when_sending(ours_client: bool) -> None:
    pair = Pair(ours_client)
    pair.peer.update_settings({S.MAX_FRAME_SIZE: 40_000, S.INITIAL_WINDOW_SIZE: 1 << 20})
    pair.peer.increment_flow_control_window(1 << 20)
    pair.pump()
    assert pair.ours.max_frame_size == 40_000
    response = Spec(OK, [body(200_000)])
    if ours_client:
        sid = pair.ours.new_stream()
        pair.ours_send(sid, Spec(POST, response.chunks))
    else:
        sid = pair.peer_stream()
        pair.peer_send(sid, Spec(GET, []))
        pair.ours_send(sid, response)
    assert pair.peer_got(sid).body == response.chunks[0]
    sizes = [len(payload) for kind, _, _, payload in pair.sent if kind == f.DATA]
    assert max(sizes) == 40_000


def test_max_frame_size_we_announce_is_accepted_from_the_peer() -> None:
    local = {f.MAX_FRAME_SIZE: 65_536, f.INITIAL_WINDOW_SIZE: 1 << 20}
    pair = Pair(ours_client=False, local=local, connection_window=1 << 20)
    assert pair.peer.max_outbound_frame_size == 65_536
    sid = pair.peer_stream()
    pair.peer_send(sid, Spec(POST, [body(65_536)]))
    assert pair.ours_got(sid).body == body(65_536)
    assert [call[3:] for call in pair.handler.of("data")] == [(65_536, True)]


@both_ways
def test_a_header_table_size_of_zero_from_the_peer_is_honoured(ours_client: bool) -> None:
    pair = Pair(ours_client)
    pair.peer.update_settings({S.HEADER_TABLE_SIZE: 0})
    pair.pump()
    request, response = Spec([*GET, (b"x-a", b"1")], []), Spec([*OK, (b"x-b", b"2")], [b"."])
    for _ in range(3):
        assert exchange(pair, ours_client, request, response) == (request.received(), response.received())
    decoder = pair.peer.decoder
    assert decoder.header_table_size == 0 and not decoder.header_table.dynamic_entries


@both_ways
def test_a_header_table_size_repeated_in_settings_keeps_the_size_update(ours_client: bool) -> None:
    """A peer may send the same setting again; the size update it calls for must still go out first.

    RFC 7541 §4.2: after the table size changes, the next block starts with a dynamic table size
    update. Without it the peer's table stays at 0 while ours grows, and index 62 means nothing to it.
    """
    pair = Pair(ours_client)
    pair.peer.update_settings({S.HEADER_TABLE_SIZE: 0})
    pair.pump()
    request, response = Spec([*GET, (b"x-a", b"1")], []), Spec([*OK, (b"x-b", b"2")], [])
    assert exchange(pair, ours_client, request, response) == (request.received(), response.received())
    pair.peer.update_settings({S.HEADER_TABLE_SIZE: 4096})
    pair.peer.update_settings({S.HEADER_TABLE_SIZE: 4096})  # the same value again
    pair.pump()
    for _ in range(3):
        assert exchange(pair, ours_client, request, response) == (request.received(), response.received())


def big_headers(count: int = 12, size: int = 4000) -> Headers:
    """About 48 KB of printable fields that Huffman coding hardly shrinks: a block of 3-4 frames."""
    printable = bytes(range(0x21, 0x7F))
    return [
        (b"x-big-%d" % i, (printable[i:] + printable[:i]) * (size // len(printable))) for i in range(count)
    ]


@both_ways
def test_we_split_a_large_header_block_into_continuation_frames(ours_client: bool) -> None:
    pair = Pair(ours_client)
    fields = big_headers()
    if ours_client:
        sid = pair.ours.new_stream()
        pair.ours_send(sid, Spec([*GET, *fields], [], [(b"x-t", b"1")]))
        assert pair.peer_got(sid).head == [*GET, *fields]
    else:
        sid = pair.peer_stream()
        pair.peer_send(sid, Spec(GET, []))
        pair.ours_send(sid, Spec([*OK, *fields], [], [(b"x-t", b"1")]))
        assert pair.peer_got(sid).head == [*OK, *fields]
    blocks = [(kind, flags, len(p)) for kind, flags, s, p in pair.sent if s == sid and kind != f.DATA]
    assert blocks[0][0] == f.HEADERS and not blocks[0][1] & f.END_HEADERS
    assert [kind for kind, _, _ in blocks[1:-1]] == [f.CONTINUATION] * (len(blocks) - 2) and len(blocks) >= 4
    assert blocks[-2][1] & f.END_HEADERS  # the last CONTINUATION ends the block
    assert all(size <= f.DEFAULT_FRAME_SIZE for _, _, size in blocks)
    assert pair.peer_got(sid).ended


@both_ways
def test_we_reassemble_continuation_frames(ours_client: bool) -> None:
    pair = Pair(ours_client)
    fields = big_headers()
    if ours_client:
        sid = pair.ours.new_stream()
        pair.ours_send(sid, Spec(GET, []))
        pair.peer.send_headers(sid, [*OK, *fields], end_stream=True)
    else:
        sid = pair.peer_stream()
        pair.peer.send_headers(sid, [*GET, *fields], end_stream=True)
    wire = pair.peer.data_to_send()
    assert [kind for kind, *_ in parse_frames(wire)].count(f.CONTINUATION) >= 2
    for i in range(0, len(wire), 1000):  # in reads that cut frames anywhere
        pair.ours.feed(wire[i : i + 1000])
    assert pair.ours_got(sid) == Message([*(OK if ours_client else GET), *fields], b"", None, ended=True)


# Hypothesis: what one side sends, the other decodes exactly

TOKEN = "abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~"
NOT_RANDOM = {
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
    b"te",
    b"host",  # h2 checks it against :authority
    b"cookie",  # h2 joins cookie crumbs on receipt
    b"content-length",  # added on purpose, matching the body
}
VALUE_BYTES = [b for b in range(1, 256) if b not in (0x0A, 0x0D)]
names = st.text(TOKEN, min_size=1, max_size=16).map(str.encode).filter(lambda name: name not in NOT_RANDOM)
common_names = st.sampled_from(
    [b"x-a", b"accept", b"user-agent", b"content-type", b"authorization", b"grpc-status"]
)
values = st.lists(st.sampled_from(VALUE_BYTES), max_size=24).map(lambda v: bytes(v).strip())
field_lists = st.lists(
    st.tuples(names | common_names, values | st.sampled_from([b"", b"1", b"text/plain"])), max_size=8
)
chunkings = st.lists(st.binary(max_size=600), max_size=5)
repeats = st.sampled_from([1, 1, 1, 120])  # now and then, bodies over the windows


@st.composite
def specs(draw: st.DrawFn, request: bool) -> Spec:
    if request:
        method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS"]))
        path = b"/" + draw(st.text(TOKEN + "/?=", max_size=20)).encode()
        head = [(b":method", method), (b":scheme", b"http"), (b":authority", b"svc:8080"), (b":path", path)]
    else:
        head = [(b":status", draw(st.sampled_from([b"200", b"201", b"204", b"404", b"500", b"503"])))]
    repeat = draw(repeats)
    chunks = [chunk * repeat for chunk in draw(chunkings)]
    if draw(st.booleans()):
        head.append((b"content-length", b"%d" % sum(map(len, chunks))))
    head += draw(field_lists)
    trailers = draw(st.none() | st.lists(st.tuples(names | common_names, values), min_size=1, max_size=4))
    return Spec(head, chunks, trailers)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), st.lists(st.tuples(specs(request=True), specs(request=False)), min_size=1, max_size=3))
def test_what_one_side_sends_the_other_decodes_exactly(
    ours_client: bool, script: list[tuple[Spec, Spec]]
) -> None:
    pair = Pair(ours_client)
    for request, response in script:  # several exchanges on one connection: the HPACK tables fill up
        assert exchange(pair, ours_client, request, response) == (request.received(), response.received())
    assert not pair.ours.streams
    assert not pair.handler.of("reset")


# Protocol errors (RFC 9113)


class Raw:
    """Our codec fed hand-built frames after a valid handshake; the peer's HPACK encoder is kept here."""

    def __init__(
        self,
        client_side: bool = False,
        local: dict[int, int] | None = None,
        streams: int = 0,
        auto_ack: bool = False,
    ) -> None:
        self.handler = Recorder(auto_ack)
        self.codec = H2Codec(self.handler, client_side, dict(local or {}))
        self.handler.codec = self.codec
        self.encoder = hpack.Encoder()
        self.codec.initiate()
        self.codec.feed((b"" if client_side else f.PREFACE) + f.settings_frame({}))
        for _ in range(streams):  # client side: requests that wait for their responses
            self.codec.send_headers(self.codec.new_stream(), GET, end_stream=True)
        self.codec.take()
        self.handler.calls.clear()

    def feed(self, *frames: bytes) -> None:
        self.codec.feed(b"".join(frames))

    def block(self, headers: Headers) -> bytes:
        return bytes(self.encoder.encode(headers))

    def headers(
        self, sid: int, headers: Headers, end_stream: bool = False, flags: int = f.END_HEADERS
    ) -> bytes:
        return f.frame(f.HEADERS, flags | (f.END_STREAM if end_stream else 0), sid, self.block(headers))

    def out(self) -> list[Frame]:
        return parse_frames(self.codec.take())


def data(sid: int, payload: bytes, end_stream: bool = False) -> bytes:
    return f.frame(f.DATA, f.END_STREAM if end_stream else 0, sid, payload)


def settings_payload(key: int, value: int) -> bytes:
    return key.to_bytes(2, "big") + value.to_bytes(4, "big")


def test_a_bad_preface_is_a_protocol_error() -> None:
    codec = H2Codec(Recorder(), False, {})
    with pytest.raises(H2Error) as info:
        codec.feed(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + f.settings_frame({}))
    assert info.value.code == f.PROTOCOL_ERROR


def test_an_http1_request_is_refused_from_its_first_bytes() -> None:
    codec = H2Codec(Recorder(), False, {})
    with pytest.raises(H2Error) as info:
        codec.feed(b"GET ")
    assert info.value.code == f.PROTOCOL_ERROR


def test_the_preface_may_arrive_byte_by_byte() -> None:
    handler = Recorder()
    codec = H2Codec(handler, False, {})
    for byte in f.PREFACE + f.settings_frame({f.ENABLE_PUSH: 0}):
        codec.feed(bytes([byte]))
    assert handler.calls == [("settings",)]
    assert parse_frames(codec.take()) == [(f.SETTINGS, f.ACK, 0, b"")]


@pytest.mark.parametrize("client_side", [False, True], ids=["server", "client"])
@pytest.mark.parametrize(
    "first",
    [f.frame(f.PING, 0, 0, b"12345678"), f.frame(f.SETTINGS, f.ACK, 0), f.window_update_frame(0, 1000)],
    ids=["PING", "SETTINGS ACK", "WINDOW_UPDATE"],
)
def test_the_first_frame_must_be_settings(client_side: bool, first: bytes) -> None:
    codec = H2Codec(Recorder(), client_side, {})
    with pytest.raises(H2Error) as info:
        codec.feed((b"" if client_side else f.PREFACE) + first + f.settings_frame({}))
    assert info.value.code == f.PROTOCOL_ERROR


def open_stream(raw: Raw, sid: int = 1) -> bytes:
    """Open a request stream (fed at once, while the case is built): the frames after it follow."""
    raw.feed(raw.headers(sid, POST))
    return b""


CONNECTION_ERRORS = [
    # frame sizes
    pytest.param(
        lambda r: f.FRAME_HEADER.pack(0, f.DEFAULT_FRAME_SIZE + 1, f.DATA, 0, 1),
        f.FRAME_SIZE_ERROR,
        id="frame over SETTINGS_MAX_FRAME_SIZE (header alone)",
    ),
    pytest.param(
        lambda r: f.frame(f.HEADERS, f.END_HEADERS, 1, b"\x82" * 16_385),
        f.FRAME_SIZE_ERROR,
        id="HEADERS over max",
    ),
    # DATA
    pytest.param(lambda r: data(0, b"x"), f.PROTOCOL_ERROR, id="DATA on stream 0"),
    pytest.param(lambda r: data(1, b"x"), f.PROTOCOL_ERROR, id="DATA on an idle stream"),
    pytest.param(
        lambda r: open_stream(r) + f.frame(f.DATA, f.PADDED, 1, b"\x05abcd"),
        f.PROTOCOL_ERROR,
        id="DATA padding longer than the frame",
    ),
    pytest.param(
        lambda r: open_stream(r) + f.frame(f.DATA, f.PADDED, 1, b""),
        f.PROTOCOL_ERROR,
        id="DATA padded and empty",
    ),
    # HEADERS and CONTINUATION
    pytest.param(
        lambda r: f.frame(f.HEADERS, f.END_HEADERS, 0, b"\x82"), f.PROTOCOL_ERROR, id="HEADERS on stream 0"
    ),
    pytest.param(lambda r: r.headers(2, GET), f.PROTOCOL_ERROR, id="HEADERS on an even stream from a client"),
    pytest.param(
        lambda r: f.frame(f.HEADERS, f.END_HEADERS | f.PADDED, 1, b"\x09" + b"\x82\x86\x84"),
        f.PROTOCOL_ERROR,
        id="HEADERS padding longer than the frame",
    ),
    pytest.param(
        lambda r: f.frame(f.CONTINUATION, f.END_HEADERS, 1, r.block(GET)),
        f.PROTOCOL_ERROR,
        id="CONTINUATION without HEADERS",
    ),
    pytest.param(
        lambda r: open_stream(r) + f.frame(f.CONTINUATION, f.END_HEADERS, 1, r.block([(b"x-t", b"1")])),
        f.PROTOCOL_ERROR,
        id="CONTINUATION after a complete block",
    ),
    pytest.param(
        lambda r: f.frame(f.HEADERS, 0, 1, b"\x82\x86") + f.frame(f.CONTINUATION, f.END_HEADERS, 3, b"\x84"),
        f.PROTOCOL_ERROR,
        id="CONTINUATION on another stream",
    ),
    pytest.param(
        lambda r: f.frame(f.HEADERS, 0, 1, b"\x82\x86") + f.frame(f.PING, 0, 0, b"12345678"),
        f.PROTOCOL_ERROR,
        id="PING inside a header block",
    ),
    pytest.param(
        lambda r: f.frame(f.HEADERS, 0, 1, b"\x82\x86") + data(1, b"x"),
        f.PROTOCOL_ERROR,
        id="DATA inside a header block",
    ),
    pytest.param(
        lambda r: f.frame(f.HEADERS, 0, 1, b"\x82\x86") + f.frame(f.HEADERS, f.END_HEADERS, 3, b"\x82"),
        f.PROTOCOL_ERROR,
        id="HEADERS inside a header block",
    ),
    pytest.param(
        lambda r: f.frame(f.HEADERS, 0, 1, b"\x82\x86") + f.frame(0xFA, 0, 0, b"?"),
        f.PROTOCOL_ERROR,
        id="unknown frame inside a header block",
    ),
    pytest.param(
        lambda r: f.frame(f.HEADERS, f.END_HEADERS, 1, b"\xbe"),
        f.COMPRESSION_ERROR,
        id="HPACK index past the table",
    ),
    pytest.param(
        lambda r: f.frame(f.HEADERS, f.END_HEADERS, 1, b"\x3f\xe1\x3f\x82"),
        f.COMPRESSION_ERROR,
        id="HPACK table size update over SETTINGS_HEADER_TABLE_SIZE",
    ),
    # SETTINGS
    pytest.param(
        lambda r: f.frame(f.SETTINGS, 0, 0, b"\0" * 7), f.FRAME_SIZE_ERROR, id="SETTINGS of 7 bytes"
    ),
    pytest.param(
        lambda r: f.frame(f.SETTINGS, f.ACK, 0, b"\0" * 6), f.FRAME_SIZE_ERROR, id="SETTINGS ACK with payload"
    ),
    pytest.param(lambda r: f.frame(f.SETTINGS, 0, 1, b""), f.PROTOCOL_ERROR, id="SETTINGS on a stream"),
    pytest.param(
        lambda r: f.frame(f.SETTINGS, 0, 0, settings_payload(f.INITIAL_WINDOW_SIZE, 2**31)),
        f.FLOW_CONTROL_ERROR,
        id="INITIAL_WINDOW_SIZE over 2^31-1",
    ),
    pytest.param(
        lambda r: f.frame(f.SETTINGS, 0, 0, settings_payload(f.MAX_FRAME_SIZE, 16_383)),
        f.PROTOCOL_ERROR,
        id="MAX_FRAME_SIZE under 2^14",
    ),
    pytest.param(
        lambda r: f.frame(f.SETTINGS, 0, 0, settings_payload(f.MAX_FRAME_SIZE, 2**24)),
        f.PROTOCOL_ERROR,
        id="MAX_FRAME_SIZE over 2^24-1",
    ),
    pytest.param(
        lambda r: f.frame(f.SETTINGS, 0, 0, settings_payload(f.ENABLE_PUSH, 2)),
        f.PROTOCOL_ERROR,
        id="ENABLE_PUSH of 2",
    ),
    # WINDOW_UPDATE
    pytest.param(
        lambda r: f.window_update_frame(0, 0), f.PROTOCOL_ERROR, id="WINDOW_UPDATE of 0 on stream 0"
    ),
    pytest.param(
        lambda r: f.window_update_frame(0, f.MAX_WINDOW - f.DEFAULT_WINDOW + 1),
        f.FLOW_CONTROL_ERROR,
        id="connection window over 2^31-1",
    ),
    pytest.param(
        lambda r: f.window_update_frame(0, 1 << 30) + f.window_update_frame(0, 1 << 30),
        f.FLOW_CONTROL_ERROR,
        id="connection window over 2^31-1 in two steps",
    ),
    pytest.param(
        lambda r: f.window_update_frame(1, 100), f.PROTOCOL_ERROR, id="WINDOW_UPDATE on an idle stream"
    ),
    pytest.param(
        lambda r: f.frame(f.WINDOW_UPDATE, 0, 0, b"\0\0\1"), f.FRAME_SIZE_ERROR, id="WINDOW_UPDATE of 3 bytes"
    ),
    pytest.param(
        lambda r: (
            open_stream(r)
            + f.window_update_frame(1, f.MAX_WINDOW - f.DEFAULT_WINDOW)
            + f.frame(f.SETTINGS, 0, 0, settings_payload(f.INITIAL_WINDOW_SIZE, f.DEFAULT_WINDOW + 1))
        ),
        f.FLOW_CONTROL_ERROR,
        id="INITIAL_WINDOW_SIZE pushes an open stream's window over 2^31-1",
    ),
    # PING, PUSH_PROMISE, RST_STREAM, PRIORITY, GOAWAY
    pytest.param(lambda r: f.frame(f.PING, 0, 0, b"1234567"), f.FRAME_SIZE_ERROR, id="PING of 7 bytes"),
    pytest.param(
        lambda r: f.frame(f.PING, f.ACK, 0, b"123456789"), f.FRAME_SIZE_ERROR, id="PING ACK of 9 bytes"
    ),
    pytest.param(lambda r: f.frame(f.PING, 0, 1, b"12345678"), f.PROTOCOL_ERROR, id="PING on a stream"),
    pytest.param(
        lambda r: open_stream(r) + f.frame(f.PUSH_PROMISE, f.END_HEADERS, 1, b"\0\0\0\2" + r.block(GET)),
        f.PROTOCOL_ERROR,
        id="PUSH_PROMISE to a server",
    ),
    pytest.param(
        lambda r: f.rst_stream_frame(1, f.CANCEL), f.PROTOCOL_ERROR, id="RST_STREAM on an idle stream"
    ),
    pytest.param(lambda r: f.rst_stream_frame(0, f.CANCEL), f.PROTOCOL_ERROR, id="RST_STREAM on stream 0"),
    pytest.param(
        lambda r: open_stream(r) + f.frame(f.RST_STREAM, 0, 1, b"\0\0\0"),
        f.FRAME_SIZE_ERROR,
        id="RST_STREAM of 3 bytes",
    ),
    pytest.param(
        lambda r: f.frame(f.PRIORITY, 0, 0, b"\0\0\0\1\x10"), f.PROTOCOL_ERROR, id="PRIORITY on stream 0"
    ),
    pytest.param(
        lambda r: f.frame(f.PRIORITY, 0, 1, b"\0\0\0\3"), f.FRAME_SIZE_ERROR, id="PRIORITY of 4 bytes"
    ),
    pytest.param(lambda r: f.frame(f.GOAWAY, 0, 1, b"\0" * 8), f.PROTOCOL_ERROR, id="GOAWAY on a stream"),
    pytest.param(lambda r: f.frame(f.GOAWAY, 0, 0, b"\0" * 7), f.FRAME_SIZE_ERROR, id="GOAWAY of 7 bytes"),
]


@pytest.mark.parametrize(("build", "code"), CONNECTION_ERRORS)
def test_connection_errors(build: Callable[[Raw], bytes], code: int) -> None:
    raw = Raw()
    wire = build(raw)
    with pytest.raises(H2Error) as info:
        raw.feed(wire)
    assert info.value.code == code, info.value.reason


def test_data_beyond_the_connection_window_is_a_flow_control_error() -> None:
    raw = Raw(local={f.INITIAL_WINDOW_SIZE: 1 << 20})  # the stream window is not the limit
    raw.feed(raw.headers(1, POST), *[data(1, b"x" * 16_384)] * 3, data(1, b"x" * 16_383))  # 65,535
    assert raw.codec.in_window == 0
    with pytest.raises(H2Error) as info:
        raw.feed(data(1, b"x"))
    assert info.value.code == f.FLOW_CONTROL_ERROR


def test_padding_counts_against_the_connection_window() -> None:
    raw = Raw(local={f.INITIAL_WINDOW_SIZE: 1 << 20})
    padded = f.frame(f.DATA, f.PADDED, 1, b"\xff" + b"x" * 16_128 + b"\0" * 255)  # 16,384 flow, 16,128 data
    raw.feed(raw.headers(1, POST), padded, padded, padded)
    assert [call[2:4] for call in raw.handler.of("data")] == [(b"x" * 16_128, 16_384)] * 3
    with pytest.raises(H2Error) as info:
        raw.feed(padded)
    assert info.value.code == f.FLOW_CONTROL_ERROR


def test_a_header_list_over_max_header_list_size_is_enhance_your_calm() -> None:
    raw = Raw(local={f.MAX_HEADER_LIST_SIZE: 1000})
    raw.feed(raw.headers(1, [*GET, (b"x-a", b"v" * 600)], end_stream=True))  # 806 bytes as RFC 9113 counts
    with pytest.raises(H2Error) as info:
        raw.feed(raw.headers(3, [*GET, (b"x-a", b"v" * 1000)], end_stream=True))
    assert info.value.code == f.ENHANCE_YOUR_CALM


def test_a_header_block_over_max_block_is_enhance_your_calm() -> None:
    handler = Recorder()
    codec = H2Codec(handler, False, {}, max_block=1000)
    codec.feed(HANDSHAKE)
    continuation = f.frame(f.CONTINUATION, 0, 1, b"\x82" * 400)
    codec.feed(f.frame(f.HEADERS, 0, 1, b"\x82" * 400) + continuation)
    with pytest.raises(H2Error) as info:
        codec.feed(continuation)
    assert info.value.code == f.ENHANCE_YOUR_CALM


@pytest.mark.parametrize(
    "frame_",
    [
        f.frame(f.PUSH_PROMISE, f.END_HEADERS, 1, b"\0\0\0\2\x88"),
        f.frame(f.HEADERS, f.END_HEADERS, 2, b"\x88"),
        f.frame(f.HEADERS, f.END_HEADERS, 5, b"\x88"),
    ],
    ids=["PUSH_PROMISE with push disabled", "HEADERS on an even stream", "HEADERS on an idle odd stream"],
)
def test_client_side_connection_errors(frame_: bytes) -> None:
    raw = Raw(client_side=True, local={f.ENABLE_PUSH: 0}, streams=2)
    with pytest.raises(H2Error) as info:
        raw.feed(frame_)
    assert info.value.code == f.PROTOCOL_ERROR


def test_a_client_refuses_enable_push_from_a_server() -> None:
    """RFC 9113 §6.5.2: a client MUST treat ENABLE_PUSH = 1 from a server as a PROTOCOL_ERROR."""
    raw = Raw(client_side=True)
    with pytest.raises(H2Error) as info:
        raw.feed(f.frame(f.SETTINGS, 0, 0, settings_payload(f.ENABLE_PUSH, 1)))
    assert info.value.code == f.PROTOCOL_ERROR


# Stream errors: RST_STREAM for that stream only, the connection goes on

INVALID_REQUESTS = {
    "upper-case name": [*GET, (b"X-Upper", b"1")],
    "connection header": [*GET, (b"connection", b"keep-alive")],
    "transfer-encoding": [*GET, (b"transfer-encoding", b"chunked")],
    "te: gzip": [*GET, (b"te", b"gzip")],
    "missing :path": GET[:3],
    "missing :method": GET[1:],
    "pseudo after regular": [*GET[:2], (b"accept", b"*/*"), *GET[2:]],
    "duplicate pseudo": [*GET, (b":path", b"/again")],
    "unknown pseudo": [*GET, (b":foo", b"1")],
    ":status in a request": [*GET, (b":status", b"200")],
    "LF in a value": [*GET, (b"x-a", b"a\nb")],
    "NUL in a value": [*GET, (b"x-a", b"a\0b")],
    "bad content-length": [*POST, (b"content-length", b"1x")],
    "two content-lengths": [*POST, (b"content-length", b"1"), (b"content-length", b"2")],
}


@pytest.mark.parametrize("headers", INVALID_REQUESTS.values(), ids=INVALID_REQUESTS.keys())
def test_an_invalid_request_resets_its_stream_only(headers: Headers) -> None:
    raw = Raw()
    raw.feed(raw.headers(1, headers, end_stream=True))
    assert resets(raw.out()) == [(1, f.PROTOCOL_ERROR)]
    assert not raw.handler.of("headers")
    assert 1 not in raw.codec.streams
    # the header block was still decoded: the next one, using the fields it indexed, reads right
    raw.feed(raw.headers(3, [*GET, (b"x-a", b"a")], end_stream=True))
    assert raw.handler.of("headers") == [("headers", 3, [*GET, (b"x-a", b"a")], True)]
    assert resets(raw.out()) == []


def test_exceeding_max_concurrent_streams_is_refused() -> None:
    raw = Raw(local={f.MAX_CONCURRENT_STREAMS: 2})
    raw.feed(raw.headers(1, POST), raw.headers(3, POST), raw.headers(5, POST), data(5, b"in flight"))
    frames = raw.out()
    assert resets(frames) == [(5, f.REFUSED_STREAM)]  # its DATA raced the refusal: ignored (§5.1)
    assert [call[1] for call in raw.handler.of("headers")] == [1, 3]
    assert not raw.handler.of("data")
    # the refused stream's DATA went back to the connection window (its 9 bytes count, nothing is lost)
    assert raw.codec.in_window + raw.codec.in_unacked == f.DEFAULT_WINDOW
    # finish stream 1 both ways: room for one more
    raw.feed(data(1, b"", end_stream=True))
    raw.codec.send_headers(1, OK, end_stream=True)
    raw.feed(raw.headers(7, GET, end_stream=True), raw.headers(9, GET, end_stream=True))
    assert resets(raw.out()) == [(9, f.REFUSED_STREAM)]
    assert [call[1] for call in raw.handler.of("headers")] == [1, 3, 7]
    assert raw.codec.highest_inbound == 9


@pytest.mark.parametrize(
    ("length", "pieces"),
    [(b"5", [b"abc"]), (b"2", [b"abc"]), (b"4", [b"ab", b"cde"]), (b"0", [b"a"]), (b"3", [b"", b"ab"])],
    ids=["short", "long", "long in the second frame", "zero then data", "short after an empty frame"],
)
def test_a_content_length_mismatch_resets_the_stream_and_tells_the_handler(
    length: bytes, pieces: list[bytes]
) -> None:
    raw = Raw()
    frames = [data(1, piece, end_stream=i == len(pieces) - 1) for i, piece in enumerate(pieces)]
    raw.feed(raw.headers(1, [*POST, (b"content-length", length)]), *frames)
    assert resets(raw.out()) == [(1, f.PROTOCOL_ERROR)]
    assert raw.handler.of("reset") == [("reset", 1, f.PROTOCOL_ERROR)]
    assert not [call for call in raw.handler.of("data") if call[4]]  # no body ever ended
    assert 1 not in raw.codec.streams
    with pytest.raises(StreamGone):
        raw.codec.send_headers(1, OK)
    raw.feed(raw.headers(3, GET, end_stream=True))
    assert raw.handler.of("headers")[-1] == ("headers", 3, GET, True)


def test_a_request_ending_on_its_head_with_a_nonzero_content_length_is_reset() -> None:
    raw = Raw()
    raw.feed(raw.headers(1, [*POST, (b"content-length", b"3")], end_stream=True))
    assert resets(raw.out()) == [(1, f.PROTOCOL_ERROR)]
    assert not raw.handler.of("headers")
    raw.feed(raw.headers(3, [*POST, (b"content-length", b"0")], end_stream=True))
    assert raw.handler.of("headers") == [("headers", 3, [*POST, (b"content-length", b"0")], True)]


def test_a_content_length_mismatch_ended_by_trailers_resets_the_stream() -> None:
    """RFC 9113 §8.1.1: the DATA payloads must add up to content-length, however the body ends."""
    raw = Raw()
    raw.feed(raw.headers(1, [*POST, (b"content-length", b"5")]), data(1, b"abc"))
    raw.feed(raw.headers(1, [(b"x-checksum", b"1")], end_stream=True))
    assert resets(raw.out()) == [(1, f.PROTOCOL_ERROR)]
    assert raw.handler.of("reset") == [("reset", 1, f.PROTOCOL_ERROR)]
    assert not raw.handler.of("trailers")


def test_a_content_length_mismatch_from_an_h2_client() -> None:
    pair = Pair(ours_client=False)
    sid = pair.peer_stream()
    pair.peer.send_headers(sid, [*POST, (b"content-length", b"2")])
    pair.peer.send_data(sid, b"abc", end_stream=True)
    pair.pump()
    assert pair.peer_got(sid).reset == f.PROTOCOL_ERROR
    assert pair.handler.of("reset") == [("reset", sid, f.PROTOCOL_ERROR)]
    request, response = Spec(GET, []), Spec(OK, [b"fine"])
    assert exchange(pair, False, request, response) == (request.received(), response.received())


def test_data_discarded_by_stream_errors_does_not_leak_the_connection_window() -> None:
    """An h2 client keeps sending bodies the codec rejects; its connection window must come back."""
    pair = Pair(ours_client=False)
    for i in range(8):  # 8 x 16 KiB: twice the connection window
        sid = pair.peer_stream()
        pair.peer.send_headers(sid, [*POST, (b"content-length", b"0")])
        assert pair.peer.local_flow_control_window(sid) >= 16_384, f"connection window gone after {i} bodies"
        pair.peer.send_data(sid, b"x" * 16_384)
        pair.pump()
        assert pair.peer_got(sid).reset == f.PROTOCOL_ERROR
    request, response = Spec(POST, [body(200_000)]), Spec(OK, [])
    assert exchange(pair, False, request, response) == (request.received(), response.received())


def test_data_beyond_the_stream_window_resets_the_stream_and_keeps_the_connection_window() -> None:
    raw = Raw(local={f.INITIAL_WINDOW_SIZE: 100})
    raw.feed(raw.headers(1, POST), data(1, b"x" * 100), data(1, b"y"))
    assert resets(raw.out()) == [(1, f.FLOW_CONTROL_ERROR)]
    assert raw.handler.of("reset") == [("reset", 1, f.FLOW_CONTROL_ERROR)]
    raw.codec.ack(1, 100)  # the handler consumed the 100 bytes it was given
    # and the discarded byte went back too: nothing is lost from the connection window
    assert raw.codec.in_window + raw.codec.in_unacked == f.DEFAULT_WINDOW


def test_frames_racing_our_reset_are_ignored_not_answered_again() -> None:
    raw = Raw(auto_ack=True)
    raw.feed(raw.headers(1, POST), data(1, b"abc", end_stream=True), data(1, b"more"))
    assert resets(raw.out()) == [(1, f.STREAM_CLOSED)]
    raw.feed(data(1, b"still more"), data(1, b"and more"), raw.headers(1, [(b"x-t", b"1")], end_stream=True))
    assert resets(raw.out()) == []  # no RST_STREAM storm: the peer has not seen ours yet
    assert raw.codec.in_window + raw.codec.in_unacked == f.DEFAULT_WINDOW


def test_data_after_end_stream_is_stream_closed() -> None:
    raw = Raw(auto_ack=True)
    raw.feed(raw.headers(1, POST), data(1, b"abc", end_stream=True), data(1, b"more"))
    assert resets(raw.out()) == [(1, f.STREAM_CLOSED)]
    assert [call[2] for call in raw.handler.of("data")] == [b"abc"]
    raw.feed(raw.headers(3, GET, end_stream=True))
    assert raw.handler.of("headers")[-1] == ("headers", 3, GET, True)


def test_a_stream_we_reset_for_data_after_end_stream_is_closed() -> None:
    """RFC 9113 §5.4.2: RST_STREAM is the last frame an endpoint sends on a stream."""
    raw = Raw(auto_ack=True)
    raw.feed(raw.headers(1, POST), data(1, b"abc", end_stream=True), data(1, b"more"))
    assert resets(raw.out()) == [(1, f.STREAM_CLOSED)]
    assert 1 not in raw.codec.streams
    assert raw.handler.of("reset") == [("reset", 1, f.STREAM_CLOSED)]
    with pytest.raises(StreamGone):
        raw.codec.send_headers(1, OK)


def test_headers_after_end_stream_is_stream_closed() -> None:
    raw = Raw()
    raw.feed(raw.headers(1, GET, end_stream=True), raw.headers(1, [(b"x-late", b"1")], end_stream=True))
    assert resets(raw.out()) == [(1, f.STREAM_CLOSED)]
    assert raw.handler.of("reset") == [("reset", 1, f.STREAM_CLOSED)]
    assert not raw.handler.of("trailers")


@pytest.mark.parametrize(
    ("trailers", "end_stream"),
    [([(b"x-t", b"1")], False), ([(b":status", b"200")], True), ([(b"connection", b"close")], True)],
    ids=["without END_STREAM", "pseudo-header", "connection-specific"],
)
def test_invalid_trailers_reset_the_stream(trailers: Headers, end_stream: bool) -> None:
    raw = Raw()
    raw.feed(raw.headers(1, POST), data(1, b"abc"), raw.headers(1, trailers, end_stream=end_stream))
    assert resets(raw.out()) == [(1, f.PROTOCOL_ERROR)]
    assert raw.handler.of("reset") == [("reset", 1, f.PROTOCOL_ERROR)]
    assert not raw.handler.of("trailers")


def test_window_update_errors_on_a_stream_reset_only_that_stream() -> None:
    raw = Raw()
    raw.feed(raw.headers(1, GET, end_stream=True), raw.headers(3, GET, end_stream=True))
    raw.feed(f.window_update_frame(1, 0), f.window_update_frame(3, f.MAX_WINDOW - f.DEFAULT_WINDOW + 1))
    assert resets(raw.out()) == [(1, f.PROTOCOL_ERROR), (3, f.FLOW_CONTROL_ERROR)]
    assert raw.handler.of("reset") == [("reset", 1, f.PROTOCOL_ERROR), ("reset", 3, f.FLOW_CONTROL_ERROR)]
    raw.feed(f.window_update_frame(0, 1), f.window_update_frame(1, 5))  # a closed stream: not an error
    assert raw.handler.of("window") == [("window", 0), ("window", 1)]


def test_priority_depending_on_itself_resets_the_stream() -> None:
    raw = Raw()
    raw.feed(raw.headers(1, POST), f.frame(f.PRIORITY, 0, 1, b"\0\0\0\1\x10"))
    assert resets(raw.out()) == [(1, f.PROTOCOL_ERROR)]
    assert raw.handler.of("reset") == [("reset", 1, f.PROTOCOL_ERROR)]
    raw.feed(f.frame(f.PRIORITY, 0, 9, b"\0\0\0\1\x10"))  # PRIORITY on an idle stream is fine
    assert raw.handler.of("priority") == [("priority",)]


def test_headers_with_priority_are_read_past_the_priority_fields() -> None:
    raw = Raw()
    flags = f.END_HEADERS | f.END_STREAM | f.PRIORITY_FLAG | f.PADDED
    raw.feed(f.frame(f.HEADERS, flags, 1, b"\x03" + b"\x80\0\0\0\xff" + raw.block(GET) + b"\0\0\0"))
    assert raw.handler.of("headers") == [("headers", 1, GET, True)]
    assert raw.out() == []


def test_headers_depending_on_themselves_reset_the_stream_and_are_not_delivered() -> None:
    """RFC 9113 §5.3.1: a stream cannot depend on itself: a stream error of type PROTOCOL_ERROR."""
    raw = Raw()
    raw.feed(f.frame(f.HEADERS, f.END_HEADERS | f.PRIORITY_FLAG, 1, b"\0\0\0\1\x10" + raw.block(POST)))
    assert resets(raw.out()) == [(1, f.PROTOCOL_ERROR)]
    assert not raw.handler.of("headers")
    assert 1 not in raw.codec.streams
    raw.feed(raw.headers(3, POST, end_stream=True))  # HPACK stayed in step
    assert raw.handler.of("headers") == [("headers", 3, POST, True)]


def test_headers_on_a_closed_lower_stream_are_stream_closed() -> None:
    raw = Raw()
    raw.feed(raw.headers(5, GET, end_stream=True), raw.headers(3, GET, end_stream=True))
    assert resets(raw.out()) == [(3, f.STREAM_CLOSED)]
    assert [call[1] for call in raw.handler.of("headers")] == [5]


def test_a_ping_ack_is_not_answered() -> None:
    raw = Raw()
    raw.feed(f.frame(f.PING, f.ACK, 0, b"abcdefgh"))
    assert raw.out() == []
    assert not raw.handler.calls


def test_rst_stream_from_the_peer_on_a_closed_stream_is_ignored() -> None:
    raw = Raw()
    raw.feed(raw.headers(1, GET, end_stream=True))
    raw.codec.send_headers(1, OK, end_stream=True)
    raw.codec.take()
    raw.feed(f.rst_stream_frame(1, f.CANCEL))
    assert raw.out() == []  # never a RST_STREAM in answer to one
    assert not raw.handler.of("reset")


def test_client_side_response_errors_reset_the_stream() -> None:
    raw = Raw(client_side=True, streams=3)
    raw.feed(
        raw.headers(1, [(b"server", b"x")]),  # no :status
        raw.headers(3, [(b":status", b"100")], end_stream=True),  # an informational response cannot end it
        raw.headers(5, [*OK, (b"content-length", b"1")]),
        data(5, b"ab", end_stream=True),
    )
    assert resets(raw.out()) == [(1, f.PROTOCOL_ERROR), (3, f.PROTOCOL_ERROR), (5, f.PROTOCOL_ERROR)]
    assert raw.handler.of("reset") == [("reset", 1, 1), ("reset", 3, 1), ("reset", 5, 1)]
    assert not raw.codec.streams


def test_client_side_data_before_the_response_head_closes_the_stream() -> None:
    """A response cannot start with DATA (RFC 9113 §8.1).

    h2 makes it a connection error; a stream error will do too, but then the stream is over:
    RST_STREAM is the last frame on it (§5.4.2) and the caller waiting for the response is told.
    """
    raw = Raw(client_side=True, streams=1)
    error: H2Error | None = None
    try:
        raw.feed(data(1, b"early"))
    except H2Error as exc:
        error = exc
    if error is not None:
        assert error.code == f.PROTOCOL_ERROR
        return
    [(sid, code)] = resets(raw.out())
    assert sid == 1 and code in (f.PROTOCOL_ERROR, f.STREAM_CLOSED)
    assert raw.handler.of("reset") == [("reset", 1, code)]
    assert 1 not in raw.codec.streams


# Fuzzing: only H2Error, and the same calls however the bytes are split

HANDSHAKE = f.PREFACE + f.settings_frame({f.MAX_FRAME_SIZE: 20_000})

# Blocks that decode whatever the table holds (static table and literals), and some that change it.
BLOCKS = [
    b"\x82\x86\x84\x01\x03svc",  # GET http / :authority svc
    b"\x83\x86\x84\x01\x03svc\x0f\x0d\x013",  # POST with content-length: 3
    b"\x88",  # :status 200
    b"\x88\x0f\x0d\x012",  # :status 200, content-length: 2
    b"\x08\x03100",  # :status 100
    b"\x00\x03x-t\x011",  # a trailer
    b"\x40\x03x-a\x011",  # inserts x-a: 1
    b"\x82\x86\x84\x41\x03svc",  # GET, inserting :authority svc
    b"\xbe",  # index 62
    b"\x3f\x21",  # table size update to 64
    b"\x00\x03X-T\x011",  # an upper-case name
    b"\x82\x86\x84\x01\x03svc\x00\x02te\x04gzip",  # te: gzip
]
REQUEST_IDS = [1, 3, 5]  # what a client opens (and a client-side codec has open)
SETTING_VALUES = [0, 1, 100, 16_384, 65_535, 2**24 - 1, 2**31 - 1, 2**31]
flags_ = st.sampled_from([0, f.END_STREAM, f.END_HEADERS, f.PADDED, f.PRIORITY_FLAG, 0x25, 0x2D, 0xFF])
any_ids = st.sampled_from([0, 1, 2, 3, 5, 7, 0x80000001, 0x7FFFFFFF])
ids = st.sampled_from(REQUEST_IDS)
ends = st.sampled_from([0, f.END_STREAM])


def split_block(sid: int, block: bytes, end: int, at: int) -> bytes:
    at %= len(block) + 1
    return f.frame(f.HEADERS, end, sid, block[:at]) + f.frame(f.CONTINUATION, f.END_HEADERS, sid, block[at:])


plausible = st.one_of(
    st.builds(
        lambda sid, b, end: f.frame(f.HEADERS, f.END_HEADERS | end, sid, b),
        ids,
        st.sampled_from(BLOCKS),
        ends,
    ),
    st.builds(split_block, ids, st.sampled_from(BLOCKS), ends, st.integers(0, 20)),
    st.builds(lambda sid, d, end: f.frame(f.DATA, end, sid, d), ids, st.binary(max_size=64), ends),
    st.builds(lambda sid, n: f.frame(f.DATA, 0, sid, b"d" * n), ids, st.sampled_from([8_000, 16_384])),
    st.builds(
        lambda sid, d: f.frame(f.DATA, f.PADDED, sid, bytes([len(d) // 2]) + d), ids, st.binary(max_size=40)
    ),
    st.builds(
        f.window_update_frame, st.sampled_from([0, *REQUEST_IDS]), st.sampled_from([1, 1000, 2**31 - 1])
    ),
    st.lists(st.tuples(st.integers(1, 9), st.sampled_from(SETTING_VALUES)), max_size=3).map(
        lambda pairs: f.frame(f.SETTINGS, 0, 0, b"".join(settings_payload(k, v) for k, v in pairs))
    ),
    st.just(f.frame(f.SETTINGS, f.ACK, 0)),
    st.builds(lambda ack: f.frame(f.PING, ack, 0, b"12345678"), st.sampled_from([0, f.ACK])),
    st.builds(lambda sid, dep: f.frame(f.PRIORITY, 0, sid, dep.to_bytes(4, "big") + b"\x10"), ids, ids),
    st.builds(f.rst_stream_frame, ids, st.sampled_from([f.NO_ERROR, f.CANCEL])),
    st.builds(f.goaway_frame, ids, st.sampled_from([f.NO_ERROR, f.PROTOCOL_ERROR])),
    st.builds(lambda sid: f.frame(0xFA, 0, sid, b"unknown"), any_ids),
)
anything = st.builds(
    f.frame,
    st.sampled_from([*range(10), 0xA, 0xFA]),
    flags_,
    any_ids,
    st.binary(max_size=24) | st.sampled_from(BLOCKS) | st.sampled_from([b"d" * 16_385, b"d" * 20_000]),
)
# Mostly frames a peer could send, now and then one that is anything at all.
wires = st.lists(st.one_of(*[plausible] * 6, anything), max_size=16).map(b"".join)
# Streams 1 and 3 are open in both directions before the random frames start.
PROLOGUE = {
    False: HANDSHAKE
    + f.frame(f.HEADERS, f.END_HEADERS, 1, b"\x83\x86\x84\x01\x03svc")
    + f.frame(f.HEADERS, f.END_HEADERS, 3, b"\x82\x86\x84\x01\x03svc"),
    True: f.settings_frame({})
    + f.frame(f.HEADERS, f.END_HEADERS, 1, b"\x88")
    + f.frame(f.HEADERS, f.END_HEADERS, 3, b"\x88"),
}
corruptions = st.none() | st.tuples(st.integers(0, 10**6), st.integers(0, 255))


def corrupt(wire: bytes, corruption: tuple[int, int] | None) -> bytes:
    if corruption is None or not wire:
        return wire
    at = corruption[0] % len(wire)
    return wire[:at] + bytes([corruption[1]]) + wire[at + 1 :]


def run(client_side: bool, pieces: list[bytes]) -> tuple[list[Call], bytes, int | None]:
    """Feed ``pieces`` one by one: the handler calls, the bytes sent, and the error code (if any)."""
    handler = Recorder(auto_ack=True)
    codec = H2Codec(handler, client_side, {f.MAX_CONCURRENT_STREAMS: 3, f.INITIAL_WINDOW_SIZE: 30_000})
    handler.codec = codec
    codec.initiate()
    if client_side:
        for _ in range(3):
            codec.send_headers(codec.new_stream(), GET, end_stream=True)
    out = [codec.take()]
    code = None
    try:
        for piece in pieces:
            codec.feed(piece)
            out.append(codec.take())
    except H2Error as exc:
        code = exc.code
        out.append(codec.take())
    return handler.calls, b"".join(out), code


def cut(wire: bytes, points: list[int]) -> list[bytes]:
    bounds = sorted({0, len(wire), *(p % (len(wire) + 1) for p in points)})
    return [wire[a:b] for a, b in itertools.pairwise(bounds)]


def check_split_independence(client_side: bool, wire: bytes, points: list[int]) -> None:
    whole = run(client_side, [wire])
    assert run(client_side, cut(wire, points)) == whole
    assert run(client_side, [wire[i : i + 1] for i in range(len(wire))]) == whole


@settings(max_examples=400, deadline=None)
@given(st.booleans(), wires, corruptions, st.lists(st.integers(0, 10**6), max_size=8))
def test_fuzz_frames_after_a_valid_handshake(
    client_side: bool, wire: bytes, corruption: tuple[int, int] | None, points: list[int]
) -> None:
    check_split_independence(client_side, PROLOGUE[client_side] + corrupt(wire, corruption), points)


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.binary(max_size=300), st.lists(st.integers(0, 10**6), max_size=8))
def test_fuzz_arbitrary_bytes_after_a_valid_handshake(
    client_side: bool, junk: bytes, points: list[int]
) -> None:
    prefix = f.settings_frame({}) if client_side else HANDSHAKE
    check_split_independence(client_side, prefix + junk, points)


@settings(max_examples=200, deadline=None)
@given(
    st.booleans(),
    st.sampled_from([b"", f.PREFACE[:5], f.PREFACE, HANDSHAKE[:30]]),
    st.binary(max_size=200),
    st.lists(st.integers(0, 10**6), max_size=8),
)
def test_fuzz_arbitrary_bytes_without_a_handshake(
    client_side: bool, prefix: bytes, junk: bytes, points: list[int]
) -> None:
    check_split_independence(client_side, prefix + junk, points)
