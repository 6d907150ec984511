"""Real HTTP/2 peers for the integration tests, all on loopback, h2c with prior knowledge.

* :class:`H2Upstream`: an HTTP/2 application built on the ``h2`` library, served by an
  asyncio loop in a thread of its own (like the threaded HTTP/1 peers, so tests stay
  synchronous). It records every connection and every stream from its own point of
  view (headers, body size and digest, trailers, resets received, whether END_STREAM
  came on the HEADERS frame) and can send GOAWAY or RST_STREAM on demand. Routes (any
  method; the query string is ignored):

  - ``/echo`` (and any unknown path): JSON with the method, path, authority, scheme,
    headers, trailers and body length/sha256 of the request, once it has ended.
  - ``/status/<code>``: that status and a short body.
  - ``/bytes/<n>``: ``n`` bytes of :func:`pattern`, streamed under flow control.
  - ``/duplex``: response headers at once, then every request DATA chunk echoed as it
    arrives; trailers ``x-echoed-bytes`` when the request ends (bidirectional streaming).
  - ``/headers``: a response carrying :data:`RESPONSE_HEADERS`.
  - ``/trailers``: a body followed by :data:`RESPONSE_TRAILERS`.
  - ``/headers-only``: a single HEADERS frame with END_STREAM (no DATA frame).
  - ``/hop-by-hop``: a response carrying connection-specific headers (:data:`HOP_BY_HOP`).
  - ``/slow/<ms>``: response headers at once, the body ``<ms>`` later.
  - ``/sleep/<ms>``: the whole response ``<ms>`` after the request ended.
  - ``/never``: never answers; the stream stays open until it is reset.
  - ``/reset/<code>``: RST_STREAM with that error code instead of a response.
  - ``/reset-after-headers/<code>``: response headers and some DATA, then RST_STREAM.
  - ``/goaway``: GOAWAY (NO_ERROR, last stream = this one) first, then the echo answer
    on this stream; later streams on that connection are refused (REFUSED_STREAM) and
    recorded with ``after_goaway``.
  - gRPC (``content-type: application/grpc...``, any path): echoes the request messages;
    metadata ``x-grpc-status: <n>`` picks the status (default 0), ``x-trailers-only: 1``
    answers with a single HEADERS frame, ``x-never: 1`` never answers, and
    ``x-grpc-fail-first: <n>`` makes the upstream's first ``n`` such calls fail with
    status 14 (UNAVAILABLE) in the trailers (counted in ``grpc_failed``).

  Every response head carries ``x-endpoint: <name>`` and ``x-connection: <n>`` (the
  upstream's own connection number, starting at 1).

* :class:`H2Client`: a synchronous HTTP/2 client speaking frames directly (``hyperframe``
  and ``hpack``), with just enough state for tests: flow control both ways, header
  blocks split into CONTINUATION frames, per-stream results, GOAWAY and close tracking.
  It can also send what a well-behaved client never would (floods, a 101st stream,
  rapid resets) through the ``frame_*`` builders and :meth:`H2Client.flood`. Every read
  has a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

Headers = list[tuple[bytes, bytes]]
HeaderInput = Iterable[tuple[str | bytes, str | bytes]]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DEFAULT_TIMEOUT = 10.0

# Error codes (RFC 9113 §7).
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
REFUSED_STREAM = 0x7
CANCEL = 0x8
ENHANCE_YOUR_CALM = 0xB

# SETTINGS identifiers (RFC 9113 §6.5.2).
HEADER_TABLE_SIZE = 0x1
ENABLE_PUSH = 0x2
MAX_CONCURRENT_STREAMS = 0x3
INITIAL_WINDOW_SIZE = 0x4
MAX_FRAME_SIZE = 0x5
MAX_HEADER_LIST_SIZE = 0x6

DEFAULT_WINDOW = 65535
TCP_ESTABLISHED = 1  # tcpi_state in Linux's struct tcp_info

# What the test upstream sends on ``/headers`` and ``/trailers``: repeated names, and
# ``-bin`` values (base64 on the wire, padded and unpadded) that must arrive unchanged.
BINARY = bytes(range(0, 256, 3))
RESPONSE_HEADERS: Headers = [
    (b"x-custom", b"custom value"),
    (b"set-cookie", b"a=1; Path=/"),
    (b"set-cookie", b"b=2; Path=/"),
    (b"x-meta-bin", base64.b64encode(BINARY).rstrip(b"=")),
    (b"cache-control", b"no-store"),
]
RESPONSE_TRAILERS: Headers = [
    (b"x-checksum", b"sha256=9f86d081884c7d659a2feaa0c55ad015"),
    (b"x-trace-bin", base64.b64encode(BINARY[:31])),  # padded
    (b"x-raw-bin", base64.b64encode(BINARY[:32]).rstrip(b"=")),  # unpadded
    (b"x-repeated", b"one"),
    (b"x-repeated", b"two"),
]
TRAILERS_BODY = b"body before trailers\n"
HOP_BY_HOP: Headers = [
    (b"connection", b"keep-alive, x-private"),
    (b"keep-alive", b"timeout=5"),
    (b"proxy-connection", b"keep-alive"),
    (b"transfer-encoding", b"chunked"),
    (b"upgrade", b"h2c"),
    (b"x-private", b"named by connection"),
]
HOP_BY_HOP_NAMES = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)


def pattern(n: int) -> bytes:
    """``n`` bytes of a repeating 0..255 pattern (a misplaced chunk shows)."""
    return (bytes(range(256)) * (n // 256 + 1))[:n]


def grpc_frame(message: bytes, compressed: bool = False) -> bytes:
    """A gRPC length-prefixed message: flag byte, 4-byte big-endian length, payload."""
    return bytes([1 if compressed else 0]) + len(message).to_bytes(4, "big") + message


def grpc_messages(data: bytes) -> list[bytes]:
    """Split a gRPC body into its messages; fails on a truncated frame."""
    messages = []
    at = 0
    while at < len(data):
        if len(data) - at < 5:
            raise ValueError(f"truncated gRPC frame header at {at}")
        size = int.from_bytes(data[at + 1 : at + 5], "big")
        if len(data) - at - 5 < size:
            raise ValueError(f"truncated gRPC message at {at}")
        messages.append(data[at + 5 : at + 5 + size])
        at += 5 + size
    return messages


def grpc_timeout_seconds(value: str) -> float:
    """Parse a ``grpc-timeout`` value (``200m``, ``5S``, ...) into seconds."""
    units = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
    if len(value) < 2 or value[-1] not in units or not value[:-1].isdigit() or len(value) > 9:
        raise ValueError(f"invalid grpc-timeout {value!r}")
    return int(value[:-1]) * units[value[-1]]


def _b(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


def _find(headers: Sequence[tuple[bytes, bytes]], name: str) -> list[str]:
    key = name.lower().encode()
    return [v.decode("latin-1") for k, v in headers if k == key]


# --------------------------------------------------------------------------------------
# Upstream server
# --------------------------------------------------------------------------------------


@dataclass
class UpstreamStream:
    """One request stream as the upstream saw it."""

    connection: int
    stream_id: int
    headers: Headers
    end_in_headers: bool = False  # END_STREAM on the request's HEADERS frame: no body at all
    body_length: int = 0
    data_frames: int = 0
    trailers: Headers | None = None
    ended: bool = False
    reset_code: int | None = None  # RST_STREAM received from the client (the proxy)
    after_goaway: bool = False  # opened after this upstream sent GOAWAY: refused
    received_at: float = field(default_factory=time.monotonic)
    _digest: Any = field(default_factory=hashlib.sha256, repr=False)

    def header(self, name: str) -> str | None:
        values = _find(self.headers, name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return _find(self.headers, name)

    @property
    def method(self) -> str:
        return self.header(":method") or ""

    @property
    def path(self) -> str:
        return self.header(":path") or ""

    @property
    def authority(self) -> str | None:
        return self.header(":authority")

    @property
    def body_sha256(self) -> str:
        return str(self._digest.hexdigest())


class _GracefulH2Connection(h2.connection.H2Connection):
    """h2 closes its state machine on any GOAWAY received, so streams already open could no
    longer be answered; a proxy draining its upstream connections relies on exactly that.
    Here a GOAWAY only produces the event, and the connection carries on."""

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Frame], list[h2.events.Event]]:
        event = h2.events.ConnectionTerminated()
        event.error_code = h2.errors._error_code_from_int(frame.error_code)
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]


class _Closed(Exception):
    """The stream or connection went away while a handler was sending."""


class _UpstreamConnection(asyncio.Protocol):
    def __init__(self, server: H2Upstream) -> None:
        self.server = server
        self.id = 0
        self.h2 = _GracefulH2Connection(
            h2.config.H2Configuration(
                client_side=False,
                header_encoding=None,
                validate_inbound_headers=False,  # record whatever arrives, hop-by-hop included
                normalize_inbound_headers=False,
                validate_outbound_headers=False,  # /hop-by-hop sends forbidden headers on purpose
                normalize_outbound_headers=False,
            )
        )
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, UpstreamStream] = {}
        self.bodies: dict[int, asyncio.Queue[bytes | None]] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.window_changed = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()
        self.goaway_last: int | None = None
        self.closed = False

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.id = self.server._register(self)
        s = self.server
        self.h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                MAX_CONCURRENT_STREAMS: s.max_concurrent_streams,
                INITIAL_WINDOW_SIZE: s.initial_window_size,
                MAX_HEADER_LIST_SIZE: s.max_header_list_size,
            },
        )
        self.h2.decoder.max_header_list_size = s.max_header_list_size
        self.h2.initiate_connection()
        if s.connection_window > DEFAULT_WINDOW:
            self.h2.increment_flow_control_window(s.connection_window - DEFAULT_WINDOW)
        self.flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self.server._note_error(f"connection {self.id}: protocol error from the client: {exc!r}")
            self.flush()
            self._abort()
            return
        for event in events:
            self._on_event(event)
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.window_changed.set()
        self.writable.set()
        for queue in self.bodies.values():
            queue.put_nowait(None)
        for task in self.tasks.values():
            task.cancel()
        self.server._unregister(self)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # -- events ----------------------------------------------------------------------

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._on_request(event)
        elif isinstance(event, h2.events.DataReceived):
            sid = event.stream_id
            with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                self.h2.acknowledge_received_data(event.flow_controlled_length, sid)
            record = self.streams.get(sid)
            if record is not None:
                data = event.data or b""
                record.body_length += len(data)
                record.data_frames += 1
                record._digest.update(data)
                self.bodies[sid].put_nowait(data)
        elif isinstance(event, h2.events.TrailersReceived):
            record = self.streams.get(event.stream_id)
            if record is not None:
                record.trailers = [(bytes(k), bytes(v)) for k, v in event.headers]
        elif isinstance(event, h2.events.StreamEnded):
            record = self.streams.get(event.stream_id)
            if record is not None:
                record.ended = True
                self.bodies[event.stream_id].put_nowait(None)
        elif isinstance(event, h2.events.StreamReset):
            record = self.streams.get(event.stream_id)
            if record is not None and event.remote_reset:
                record.reset_code = int(event.error_code)
                self.bodies[event.stream_id].put_nowait(None)
                task = self.tasks.get(event.stream_id)
                if task is not None:
                    task.cancel()
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self.window_changed.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            code = int(event.error_code or 0)
            with self.server._lock:
                self.server.goaways_received.append((self.id, code))
            if code != NO_ERROR:
                self.flush()
                self._abort()
            # NO_ERROR: streams already open still complete; the client closes when done

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        sid = event.stream_id
        headers = [(bytes(k), bytes(v)) for k, v in event.headers or []]
        record = UpstreamStream(self.id, sid, headers, end_in_headers=event.stream_ended is not None)
        self.streams[sid] = record
        self.bodies[sid] = asyncio.Queue()
        with self.server._lock:
            self.server._streams.append(record)
        if self.goaway_last is not None and sid > self.goaway_last:
            record.after_goaway = True
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.h2.reset_stream(sid, REFUSED_STREAM)
            return
        task = asyncio.get_running_loop().create_task(self._handle(record))
        self.tasks[sid] = task
        task.add_done_callback(lambda _: self.tasks.pop(sid, None))

    # -- sending ---------------------------------------------------------------------

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def head(
        self,
        record: UpstreamStream,
        status: int,
        extra: Sequence[tuple[bytes, bytes]] = (),
        end_stream: bool = False,
    ) -> None:
        headers = [
            (b":status", str(status).encode()),
            (b"x-endpoint", self.server.name.encode()),
            (b"x-connection", str(self.id).encode()),
            *extra,
        ]
        self.h2.send_headers(record.stream_id, headers, end_stream=end_stream)
        self.flush()

    async def body(self, record: UpstreamStream, data: bytes, end_stream: bool = True) -> None:
        """Send ``data`` under flow control (and transport back-pressure)."""
        sid = record.stream_id
        view = memoryview(data)
        while True:
            if self.closed or record.reset_code is not None:
                raise _Closed
            window = self.h2.local_flow_control_window(sid)
            size = min(window, self.h2.max_outbound_frame_size, len(view))
            if size <= 0 and len(view) > 0:
                self.window_changed.clear()
                await self.window_changed.wait()
                continue
            chunk, view = view[:size], view[size:]
            self.h2.send_data(sid, bytes(chunk), end_stream=end_stream and not view)
            self.flush()
            if not view:
                return
            await self.writable.wait()

    def trailers(self, record: UpstreamStream, trailers: Headers) -> None:
        self.h2.send_headers(record.stream_id, trailers, end_stream=True)
        self.flush()

    def reset(self, stream_id: int, code: int) -> None:
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.h2.reset_stream(stream_id, code)
        self.flush()

    def goaway(self, error_code: int = NO_ERROR, last_stream_id: int | None = None) -> None:
        """Send GOAWAY without closing h2's state machine, so open streams still complete."""
        self.flush()
        frame = GoAwayFrame(0)
        frame.last_stream_id = self.h2.highest_inbound_stream_id if last_stream_id is None else last_stream_id
        frame.error_code = error_code
        self.goaway_last = frame.last_stream_id
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame.serialize())

    # -- handlers --------------------------------------------------------------------

    async def read_body(self, record: UpstreamStream) -> bytes:
        queue = self.bodies[record.stream_id]
        chunks = []
        while (chunk := await queue.get()) is not None:
            if record.body_length <= self.server.keep_body_limit:
                chunks.append(chunk)
        if record.reset_code is not None or self.closed:
            raise _Closed
        return b"".join(chunks)

    async def _handle(self, record: UpstreamStream) -> None:
        try:
            await self._route(record)
        except (_Closed, h2.exceptions.StreamClosedError):
            pass
        except h2.exceptions.ProtocolError as exc:
            if not self.closed and record.reset_code is None:
                self.server._note_error(f"stream {record.stream_id}: {exc!r}")

    async def _route(self, record: UpstreamStream) -> None:
        content_type = record.header("content-type") or ""
        if content_type.startswith("application/grpc"):
            await self._grpc(record)
            return
        parts = record.path.split("?")[0].strip("/").split("/")
        route, arg = parts[0], (parts[1] if len(parts) > 1 else "")
        if route == "goaway":
            self.goaway(NO_ERROR, last_stream_id=record.stream_id)
            await self._echo(record)
        elif route == "never":
            await asyncio.Future()  # until the stream is reset or the connection closes
        elif route == "reset":
            self.reset(record.stream_id, int(arg, 0))
        elif route == "reset-after-headers":
            self.head(record, 200)
            await self.body(record, b"partial ", end_stream=False)
            await asyncio.sleep(0.05)
            self.reset(record.stream_id, int(arg, 0))
        elif route == "headers-only":
            await self.read_body(record)
            self.head(record, 200, [(b"x-only", b"headers")], end_stream=True)
        elif route == "duplex":
            self.head(record, 200, [(b"content-type", b"application/octet-stream")])
            queue = self.bodies[record.stream_id]
            echoed = 0
            while (chunk := await queue.get()) is not None:
                if chunk:
                    await self.body(record, chunk, end_stream=False)
                    echoed += len(chunk)
            if record.reset_code is not None or self.closed:
                raise _Closed
            self.trailers(record, [(b"x-echoed-bytes", str(echoed).encode())])
        elif route == "slow":
            self.head(record, 200)
            await self.read_body(record)
            await asyncio.sleep(int(arg) / 1000)
            await self.body(record, b"slow body\n")
        elif route == "sleep":
            await self.read_body(record)
            await asyncio.sleep(int(arg) / 1000)
            self.head(record, 200)
            await self.body(record, b"slept\n")
        elif route == "status":
            await self.read_body(record)
            code = int(arg)
            bodiless = code in (204, 304)
            self.head(record, code, end_stream=bodiless)
            if not bodiless:
                await self.body(record, f"status {code}\n".encode())
        elif route == "bytes":
            await self.read_body(record)
            n = int(arg)
            self.head(record, 200, [(b"content-length", str(n).encode())], end_stream=n == 0)
            if n:
                await self.body(record, pattern(n))
        elif route == "headers":
            await self.read_body(record)
            self.head(record, 200, RESPONSE_HEADERS)
            await self.body(record, b"headers\n")
        elif route == "trailers":
            await self.read_body(record)
            self.head(record, 200, [(b"content-type", b"text/plain")])
            await self.body(record, TRAILERS_BODY, end_stream=False)
            self.trailers(record, RESPONSE_TRAILERS)
        elif route == "hop-by-hop":
            await self.read_body(record)
            self.head(record, 200, [*HOP_BY_HOP, (b"x-kept", b"yes")])
            await self.body(record, b"hop-by-hop\n")
        else:
            await self._echo(record)

    async def _echo(self, record: UpstreamStream) -> None:
        await self.read_body(record)
        info = {
            "method": record.method,
            "path": record.path,
            "authority": record.authority,
            "scheme": record.header(":scheme"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in record.headers],
            "trailers": (
                None
                if record.trailers is None
                else [[k.decode("latin-1"), v.decode("latin-1")] for k, v in record.trailers]
            ),
            "body_length": record.body_length,
            "body_sha256": record.body_sha256,
            "end_in_headers": record.end_in_headers,
            "endpoint": self.server.name,
            "connection": self.id,
            "stream_id": record.stream_id,
        }
        self.head(record, 200, [(b"content-type", b"application/json")])
        await self.body(record, json.dumps(info).encode())

    async def _grpc(self, record: UpstreamStream) -> None:
        if record.header("x-never") == "1":
            await asyncio.Future()
        body = await self.read_body(record)
        status = record.header("x-grpc-status") or "0"
        fail_first = record.header("x-grpc-fail-first")
        if fail_first is not None and self.server.grpc_failed < int(fail_first):
            self.server.grpc_failed += 1
            status = "14"
        status_trailers = [(b"grpc-status", status.encode())]
        if status != "0":
            status_trailers.append((b"grpc-message", f"status {status} from {self.server.name}".encode()))
        content_type = [(b"content-type", b"application/grpc")]
        if record.header("x-trailers-only") == "1":
            self.head(record, 200, [*content_type, *status_trailers], end_stream=True)
            return
        self.head(record, 200, content_type)
        if body:
            await self.body(record, body, end_stream=False)
        self.trailers(record, status_trailers)


class H2Upstream:
    """An HTTP/2 (h2c) application on ``127.0.0.1`` run by an asyncio loop in a thread.

    ``name`` is sent back in ``x-endpoint`` on every response. Use as a context manager;
    leaving it closes every connection and joins the thread. Everything it records is
    safe to read from the test's thread (lists are copied under a lock).
    """

    def __init__(
        self,
        name: str = "upstream",
        *,
        max_concurrent_streams: int = 1000,
        initial_window_size: int = 1 << 20,
        connection_window: int = 16 << 20,
        max_header_list_size: int = 1 << 20,
        keep_body_limit: int = 1 << 20,
    ) -> None:
        self.name = name
        self.grpc_failed = 0  # calls failed on purpose (x-grpc-fail-first)
        self.max_concurrent_streams = max_concurrent_streams
        self.initial_window_size = initial_window_size
        self.connection_window = connection_window
        self.max_header_list_size = max_header_list_size
        self.keep_body_limit = keep_body_limit  # bodies larger than this are only counted and hashed
        self._lock = threading.Lock()
        self._streams: list[UpstreamStream] = []
        self._open: dict[int, _UpstreamConnection] = {}
        self._accepted = 0
        self.goaways_received: list[tuple[int, int]] = []  # (connection, error code)
        self.errors: list[str] = []  # unexpected protocol errors, for assertions
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"H2Upstream-{name}", daemon=True)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(256)
        self.port: int = self._sock.getsockname()[1]
        self._server: asyncio.Server | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> H2Upstream:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._sock.close()
        if not self._thread.is_alive():
            self._loop.close()

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _start(self) -> None:
        self._server = await self._loop.create_server(lambda: _UpstreamConnection(self), sock=self._sock)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._open.values()):
            if conn.transport is not None:
                conn.transport.abort()
        await asyncio.sleep(0)
        tasks = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- bookkeeping (loop thread) ---------------------------------------------------

    def _register(self, conn: _UpstreamConnection) -> int:
        with self._lock:
            self._accepted += 1
            self._open[self._accepted] = conn
            return self._accepted

    def _unregister(self, conn: _UpstreamConnection) -> None:
        with self._lock:
            self._open.pop(conn.id, None)

    def _note_error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    # -- what the tests read ---------------------------------------------------------

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return self._accepted

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    @property
    def streams(self) -> list[UpstreamStream]:
        """Every request stream received so far, in arrival order."""
        with self._lock:
            return list(self._streams)

    @property
    def requests(self) -> int:
        with self._lock:
            return len(self._streams)

    def streams_for(self, path: str) -> list[UpstreamStream]:
        return [s for s in self.streams if s.path.split("?")[0] == path]

    @property
    def resets_received(self) -> list[tuple[int, int, int]]:
        """``(connection, stream id, error code)`` of every RST_STREAM the client sent."""
        return [(s.connection, s.stream_id, s.reset_code) for s in self.streams if s.reset_code is not None]

    def wait_for(self, predicate: Callable[[H2Upstream], bool], timeout: float = 5.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: timed out after {timeout}s waiting for {what or predicate}"
                )
            time.sleep(0.02)

    # -- on demand ---------------------------------------------------------------------

    def send_goaway(self, error_code: int = NO_ERROR, connection: int | None = None) -> None:
        """GOAWAY (last stream = the highest seen) on ``connection``, or on every open one.

        With NO_ERROR the connection stays open for the streams it already carries; with
        an error code it is closed right after, as a server in trouble would.
        """

        async def run() -> None:
            for cid, conn in list(self._open.items()):
                if connection is None or cid == connection:
                    conn.goaway(error_code)
                    if error_code != NO_ERROR:
                        conn._abort()

        self._call(run())

    def reset_stream(self, stream: UpstreamStream, error_code: int = CANCEL) -> None:
        """RST_STREAM on one of the streams this upstream received."""

        async def run() -> None:
            conn = self._open.get(stream.connection)
            if conn is not None:
                conn.reset(stream.stream_id, error_code)
                task = conn.tasks.get(stream.stream_id)
                if task is not None:
                    task.cancel()

        self._call(run())


# --------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------


@dataclass
class H2Response:
    """What a client stream received."""

    stream_id: int
    headers: Headers = field(default_factory=list)
    informational: list[Headers] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    trailers: Headers | None = None
    ended: bool = False
    end_in_headers: bool = False  # the response was a single HEADERS frame with END_STREAM
    reset_code: int | None = None  # RST_STREAM received from the server
    data_frames: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.ended or self.reset_code is not None

    @property
    def status(self) -> int | None:
        value = self.header(":status")
        return int(value) if value is not None else None

    @property
    def body(self) -> bytes:
        return bytes(self.data)

    @property
    def elapsed(self) -> float | None:
        return None if self.finished is None else self.finished - self.started

    def header(self, name: str) -> str | None:
        values = _find(self.headers, name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return _find(self.headers, name)

    def trailer(self, name: str) -> str | None:
        values = _find(self.trailers or [], name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.data)

    def describe(self) -> str:
        return (
            f"stream {self.stream_id}: status={self.status} reset={self.reset_code} ended={self.ended} "
            f"headers={self.headers[:12]} body={bytes(self.data[:200])!r} trailers={self.trailers}"
        )


@dataclass
class GoAway:
    error_code: int
    last_stream_id: int
    debug: bytes
    received_at: float = field(default_factory=time.monotonic)


@dataclass
class ConnectionEnd:
    """How a connection ended from the client's side: GOAWAY frames seen, then EOF or reset."""

    goaways: list[GoAway]
    closed: bool
    reset: bool  # the close was a TCP reset (unread data on the peer side, or an abort)

    @property
    def goaway(self) -> GoAway | None:
        return self.goaways[-1] if self.goaways else None

    @property
    def error_codes(self) -> list[int]:
        return [g.error_code for g in self.goaways]


class ConnectionClosed(Exception):
    """The peer closed the connection while a response was expected."""


class H2Client:
    """A synchronous h2c (prior knowledge) client speaking frames, for tests.

    By default it sends the preface and SETTINGS (no push, 1 MiB stream windows), opens
    a 16 MiB connection window and waits for the server's SETTINGS. It answers SETTINGS
    and PING, and returns flow-control credit as it reads, unless told not to.
    """

    def __init__(
        self,
        addr: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        rcvbuf: int | None = None,
        settings: dict[int, int] | None = None,
        connection_window: int = 16 << 20,
        handshake: bool = True,
        auto_window: bool = True,
    ) -> None:
        host, _, port = addr.rpartition(":")
        self.timeout = timeout
        self.auto_window = auto_window
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.settimeout(timeout)
            self.sock.connect((host, int(port)))
        except BaseException:
            self.sock.close()
            raise
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 24
        self.streams: dict[int, H2Response] = {}
        self.goaways: list[GoAway] = []
        self.peer_settings: dict[int, int] = {}
        self.peer_settings_frames = 0
        self.settings_acked = False
        self.pings_acked = 0
        self.window_updates: list[tuple[int, int]] = []  # (stream, increment) received
        self.closed = False
        self.reset = False
        self.send_window = DEFAULT_WINDOW  # ours toward the peer, connection level
        self.stream_windows: dict[int, int] = {}
        self.peer_max_frame_size = 16384
        self._next_stream_id = 1
        self._buf = bytearray()
        self._block: tuple[int, bytearray, bool] | None = None
        self.local_settings = {ENABLE_PUSH: 0, INITIAL_WINDOW_SIZE: 1 << 20, **(settings or {})}
        self.local_initial_window = self.local_settings.get(INITIAL_WINDOW_SIZE, DEFAULT_WINDOW)
        self.local_connection_window = max(connection_window, DEFAULT_WINDOW)
        self._unacked_connection = 0
        self._unacked: dict[int, int] = {}
        try:
            opening = PREFACE + self.frame_settings(self.local_settings)
            if self.local_connection_window > DEFAULT_WINDOW:
                opening += self.frame_window_update(0, self.local_connection_window - DEFAULT_WINDOW)
            self.sock.sendall(opening)
            if handshake:
                self.wait(lambda: self.peer_settings_frames > 0, what="the server's SETTINGS")
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self) -> H2Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    # -- frame builders (bytes; nothing is sent) --------------------------------------

    def frame_settings(self, values: dict[int, int] | None = None, ack: bool = False) -> bytes:
        frame = SettingsFrame(0, settings=values or {})
        if ack:
            frame.flags.add("ACK")
        return bytes(frame.serialize())

    def frame_headers(self, stream_id: int, headers: HeaderInput, end_stream: bool = True) -> bytes:
        """A HEADERS frame (and CONTINUATION frames past the peer's max frame size)."""
        block = self.encoder.encode([(_b(k), _b(v)) for k, v in headers])
        size = self.peer_max_frame_size
        first = HeadersFrame(stream_id, data=block[:size])
        if end_stream:
            first.flags.add("END_STREAM")
        frames = [first]
        for at in range(size, len(block), size):
            frames.append(ContinuationFrame(stream_id, data=block[at : at + size]))
        frames[-1].flags.add("END_HEADERS")
        return b"".join(bytes(f.serialize()) for f in frames)

    def frame_data(self, stream_id: int, data: bytes, end_stream: bool = False) -> bytes:
        frame = DataFrame(stream_id, data=data)
        if end_stream:
            frame.flags.add("END_STREAM")
        return bytes(frame.serialize())

    def frame_rst(self, stream_id: int, error_code: int = CANCEL) -> bytes:
        return bytes(RstStreamFrame(stream_id, error_code=error_code).serialize())

    def frame_ping(self, opaque: bytes = b"\0" * 8, ack: bool = False) -> bytes:
        frame = PingFrame(0, opaque_data=opaque)
        if ack:
            frame.flags.add("ACK")
        return bytes(frame.serialize())

    def frame_priority(self, stream_id: int, depends_on: int = 0, weight: int = 15) -> bytes:
        return bytes(PriorityFrame(stream_id, depends_on=depends_on, stream_weight=weight).serialize())

    def frame_window_update(self, stream_id: int, increment: int) -> bytes:
        return bytes(WindowUpdateFrame(stream_id, window_increment=increment).serialize())

    def request_headers(
        self, method: str, path: str, authority: str | None, headers: HeaderInput = ()
    ) -> list[tuple[bytes, bytes]]:
        pseudo = [(b":method", method.encode()), (b":scheme", b"http")]
        if authority is not None:
            pseudo.append((b":authority", authority.encode()))
        pseudo.append((b":path", path.encode()))
        return [*pseudo, *((_b(k), _b(v)) for k, v in headers)]

    def open_stream(
        self,
        method: str = "GET",
        path: str = "/",
        authority: str | None = None,
        headers: HeaderInput = (),
        end_stream: bool = True,
    ) -> tuple[int, bytes]:
        """Allocate the next stream and return its id and HEADERS bytes, unsent.

        Frames must be sent in the order they were built (HPACK state is shared).
        """
        sid = self._next_stream_id
        self._next_stream_id += 2
        self.streams[sid] = H2Response(sid)
        self.stream_windows[sid] = self.peer_settings.get(INITIAL_WINDOW_SIZE, DEFAULT_WINDOW)
        return sid, self.frame_headers(
            sid, self.request_headers(method, path, authority, headers), end_stream
        )

    # -- sending -----------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def request(
        self,
        method: str = "GET",
        path: str = "/",
        authority: str | None = None,
        headers: HeaderInput = (),
        body: bytes | None = None,
        trailers: HeaderInput | None = None,
        end_stream: bool = True,
    ) -> int:
        """Start a request; returns its stream id. With neither body nor trailers and
        ``end_stream``, END_STREAM goes on the HEADERS frame."""
        bodiless = body is None and trailers is None
        sid, frames = self.open_stream(method, path, authority, headers, end_stream=bodiless and end_stream)
        self.send_raw(frames)
        if body is not None:
            self.send_data(sid, body, end_stream=end_stream and trailers is None)
        if trailers is not None:
            self.send_trailers(sid, trailers)
        return sid

    def send_data(
        self, stream_id: int, data: bytes, end_stream: bool = False, timeout: float | None = None
    ) -> None:
        """Send ``data`` within the flow-control windows, reading while they are closed."""
        deadline = time.monotonic() + (timeout or self.timeout)
        view = memoryview(data)
        while True:
            stream = self.streams[stream_id]
            if stream.reset_code is not None:
                raise ConnectionClosed(f"stream {stream_id} was reset ({stream.reset_code}) while sending")
            size = min(self.send_window, self.stream_windows[stream_id], self.peer_max_frame_size, len(view))
            if size <= 0 and len(view) > 0:
                if not self.pump(deadline - time.monotonic()):
                    if self.closed:
                        raise ConnectionClosed(f"closed while sending on stream {stream_id}")
                    if time.monotonic() >= deadline:
                        raise TimeoutError(f"flow-control window stayed closed on stream {stream_id}")
                continue
            chunk, view = view[:size], view[size:]
            self.send_window -= size
            self.stream_windows[stream_id] -= size
            self.send_raw(self.frame_data(stream_id, bytes(chunk), end_stream=end_stream and not view))
            if not view:
                return
            self.pump(0)  # take in WINDOW_UPDATEs (and answer SETTINGS/PING) as they come

    def send_trailers(self, stream_id: int, trailers: HeaderInput) -> None:
        self.send_raw(self.frame_headers(stream_id, trailers, end_stream=True))

    def send_reset(self, stream_id: int, error_code: int = CANCEL) -> None:
        self.send_raw(self.frame_rst(stream_id, error_code))

    def ping(self, opaque: bytes = b"lmping!!") -> None:
        self.send_raw(self.frame_ping(opaque))

    def flood(self, frames: bytes, count: int, timeout: float, batch: int = 512) -> tuple[int, bool]:
        """Send ``frames`` ``count`` times without reading, until the peer closes or ``timeout``.

        Writes are non-blocking, so a peer that stops reading does not hang the test.
        Returns (copies of ``frames`` fully sent, whether the peer closed the connection).
        """
        deadline = time.monotonic() + timeout
        unit = len(frames)
        total = unit * count
        block = memoryview(frames * batch)
        offset = 0  # bytes sent; ``block`` holds whole copies, so offsets stay frame-aligned
        self.sock.setblocking(False)
        try:
            while offset < total:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                _, writable, _ = select.select([], [self.sock], [], min(left, 0.2))
                if not writable:
                    continue
                start = offset % len(block)
                piece = block[start : start + min(len(block) - start, total - offset)]
                try:
                    offset += self.sock.send(piece)
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    self.closed = self.reset = True
                    return offset // unit, True
            return offset // unit, False
        finally:
            self.sock.setblocking(True)
            self.sock.settimeout(self.timeout)

    # -- receiving ---------------------------------------------------------------------

    def pump(self, timeout: float) -> bool:
        """Read once (waiting up to ``timeout``) and process what arrived.

        Returns whether anything was read; ``closed`` is set on EOF or reset.
        """
        if self.closed:
            return False
        try:
            if timeout <= 0:
                ready, _, _ = select.select([self.sock], [], [], 0)
                if not ready:
                    return False
            self.sock.settimeout(max(timeout, 0.001))
            data = self.sock.recv(1 << 18)
        except TimeoutError:
            return False
        except (ConnectionResetError, BrokenPipeError):
            self.closed = self.reset = True
            return False
        finally:
            with contextlib.suppress(OSError):
                self.sock.settimeout(self.timeout)
        if not data:
            self.closed = True
            return False
        self._receive(data)
        return True

    def wait(
        self, predicate: Callable[[], bool], timeout: float | None = None, what: str = "condition"
    ) -> None:
        """Read until ``predicate()`` holds; fail on timeout, or on close before it holds."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not predicate():
            left = deadline - time.monotonic()
            if self.closed:
                raise ConnectionClosed(f"connection closed while waiting for {what}; goaways={self.goaways}")
            if left <= 0:
                raise TimeoutError(f"timed out waiting for {what}")
            self.pump(left)

    def response(self, stream_id: int, timeout: float | None = None) -> H2Response:
        """Wait until the stream ended or was reset."""
        stream = self.streams[stream_id]
        self.wait(lambda: stream.done, timeout, what=f"stream {stream_id} to end")
        return stream

    def get(
        self,
        path: str,
        authority: str | None,
        method: str = "GET",
        headers: HeaderInput = (),
        body: bytes | None = None,
        trailers: HeaderInput | None = None,
        timeout: float | None = None,
    ) -> H2Response:
        """One request, its whole response."""
        sid = self.request(method, path, authority, headers, body, trailers)
        return self.response(sid, timeout)

    def wait_closed_unread(self, timeout: float = 5.0) -> bool:
        """Wait until the peer has reset or closed the connection, without reading from it.

        For a client that must not drain what the peer queued for it (a flood test): the
        kernel's TCP state shows a reset or FIN while the received bytes stay unread.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.closed:
                return True
            state = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
            if state != TCP_ESTABLISHED:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def wait_goaway(self, timeout: float = 5.0) -> ConnectionEnd:
        """Read until a GOAWAY arrives or the connection closes (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while not self.goaways and not self.closed and time.monotonic() < deadline:
            self.pump(deadline - time.monotonic())
        return ConnectionEnd(list(self.goaways), self.closed, self.reset)

    def ending(self, timeout: float = 5.0) -> ConnectionEnd:
        """Read (and discard into the stream records) until the peer closes, or ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.pump(deadline - time.monotonic())
        return ConnectionEnd(list(self.goaways), self.closed, self.reset)

    # -- frame handling ------------------------------------------------------------------

    def _receive(self, data: bytes) -> None:
        self._buf += data
        buf = self._buf
        at = 0
        replies = bytearray()
        while len(buf) - at >= 9:
            frame, length = Frame.parse_frame_header(memoryview(bytes(buf[at : at + 9])))
            if len(buf) - at - 9 < length:
                break
            frame.parse_body(memoryview(bytes(buf[at + 9 : at + 9 + length])))
            at += 9 + length
            replies += self._on_frame(frame)
        del buf[:at]
        if replies:
            with contextlib.suppress(OSError):
                self.send_raw(bytes(replies))

    def _on_frame(self, frame: Frame) -> bytes:
        reply = b""
        if isinstance(frame, SettingsFrame):
            if "ACK" in frame.flags:
                self.settings_acked = True
            else:
                self._apply_settings(dict(frame.settings))
                reply = self.frame_settings(ack=True)
        elif isinstance(frame, PingFrame):
            if "ACK" in frame.flags:
                self.pings_acked += 1
            else:
                reply = self.frame_ping(frame.opaque_data, ack=True)
        elif isinstance(frame, GoAwayFrame):
            self.goaways.append(GoAway(frame.error_code, frame.last_stream_id, bytes(frame.additional_data)))
        elif isinstance(frame, WindowUpdateFrame):
            self.window_updates.append((frame.stream_id, frame.window_increment))
            if frame.stream_id == 0:
                self.send_window += frame.window_increment
            elif frame.stream_id in self.stream_windows:
                self.stream_windows[frame.stream_id] += frame.window_increment
        elif isinstance(frame, RstStreamFrame):
            stream = self.streams.setdefault(frame.stream_id, H2Response(frame.stream_id))
            stream.reset_code = frame.error_code
            stream.finished = stream.finished or time.monotonic()
        elif isinstance(frame, HeadersFrame):
            self._block = (frame.stream_id, bytearray(frame.data), "END_STREAM" in frame.flags)
            if "END_HEADERS" in frame.flags:
                self._end_block()
        elif isinstance(frame, ContinuationFrame):
            if self._block is not None:
                self._block[1].extend(frame.data)
                if "END_HEADERS" in frame.flags:
                    self._end_block()
        elif isinstance(frame, DataFrame):
            reply = self._on_data(frame)
        return reply

    def _apply_settings(self, values: dict[int, int]) -> None:
        self.peer_settings_frames += 1
        if INITIAL_WINDOW_SIZE in values:
            delta = values[INITIAL_WINDOW_SIZE] - self.peer_settings.get(INITIAL_WINDOW_SIZE, DEFAULT_WINDOW)
            for sid in self.stream_windows:
                self.stream_windows[sid] += delta
        if MAX_FRAME_SIZE in values:
            self.peer_max_frame_size = values[MAX_FRAME_SIZE]
        if HEADER_TABLE_SIZE in values:
            self.encoder.header_table_size = min(values[HEADER_TABLE_SIZE], 4096)
        self.peer_settings.update(values)

    def _end_block(self) -> None:
        assert self._block is not None
        sid, block, end_stream = self._block
        self._block = None
        headers = [(bytes(k), bytes(v)) for k, v in self.decoder.decode(bytes(block), raw=True)]
        stream = self.streams.setdefault(sid, H2Response(sid))
        if not stream.headers:
            status = _find(headers, ":status")
            if status and status[0].startswith("1") and status[0] != "101" and not end_stream:
                stream.informational.append(headers)
            else:
                stream.headers = headers
                stream.end_in_headers = end_stream
        else:
            stream.trailers = headers
        if end_stream:
            stream.ended = True
            stream.finished = time.monotonic()

    def _on_data(self, frame: DataFrame) -> bytes:
        sid = frame.stream_id
        stream = self.streams.setdefault(sid, H2Response(sid))
        stream.data += frame.data
        stream.data_frames += 1
        end = "END_STREAM" in frame.flags
        if end:
            stream.ended = True
            stream.finished = time.monotonic()
        if not self.auto_window:
            return b""
        reply = b""
        size = frame.flow_controlled_length
        self._unacked_connection += size
        if self._unacked_connection >= self.local_connection_window // 2:
            reply += self.frame_window_update(0, self._unacked_connection)
            self._unacked_connection = 0
        if not end and size:
            self._unacked[sid] = self._unacked.get(sid, 0) + size
            if self._unacked[sid] >= self.local_initial_window // 2:
                reply += self.frame_window_update(sid, self._unacked.pop(sid))
        return reply


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` every 20 ms until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
