"""Small threaded TCP peers on loopback for the proxy's integration tests.

Each server listens on ``127.0.0.1:0``, accepts in a thread and serves every
connection in a thread of its own. Use them as context managers: leaving the
``with`` block closes the listening socket, shuts down the open connections (which
wakes any blocked ``recv``) and joins the threads with a bounded wait, so a test
never leaves a thread or a socket behind.

* :class:`EchoServer`: echoes bytes; optionally sends a banner first (a
  server-speaks-first protocol such as SMTP or MySQL) or speaks TLS.
* :class:`CollectServer`: reads until the client half-closes, then answers with a
  reply computed from what it received; records the bytes of every connection.
* :class:`SinkServer`: counts bytes until the client half-closes and answers the count.
* :class:`CountingHttpServer`: a minimal, fast HTTP/1.1 upstream that counts request
  body bytes (``Content-Length`` or chunked) and answers with the total; ``GET
  /bytes/<n>`` answers ``n`` bytes. Built for 1 GiB transfers.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import socket
import ssl
import threading
from collections.abc import Callable

CONNECTION_TIMEOUT = 120.0  # no handler thread can hang longer than this on a silent peer
ACCEPT_POLL = 0.2  # how often the accept loop checks whether it should stop
JOIN_TIMEOUT = 10.0


class TcpServer:
    """Accepts connections in a thread and calls :meth:`handle` for each in its own thread."""

    def __init__(self, tls: ssl.SSLContext | None = None, record_limit: int = 1 << 20) -> None:
        self.tls = tls
        self.record_limit = record_limit
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(ACCEPT_POLL)
        self.port: int = self.sock.getsockname()[1]
        self.accepted = 0
        self.received: list[bytearray] = []  # per connection, up to record_limit bytes each
        self.errors: list[BaseException] = []  # unexpected handler failures, for assertions
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"{type(self).__name__}-accept", daemon=True
        )

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> TcpServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(JOIN_TIMEOUT)
        self.sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(JOIN_TIMEOUT)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(CONNECTION_TIMEOUT)
            with self._lock:
                self.accepted += 1
                record = bytearray()
                self.received.append(record)
                self._conns.add(conn)
            thread = threading.Thread(
                target=self._serve, args=(conn, record), daemon=True, name=f"{type(self).__name__}-conn"
            )
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, record: bytearray) -> None:
        try:
            if self.tls is not None:
                tls_conn = self.tls.wrap_socket(conn, server_side=True)  # detaches ``conn``
                with self._lock:
                    self._conns.discard(conn)
                    self._conns.add(tls_conn)
                conn = tls_conn
            self.handle(conn, record)
        except OSError:
            pass  # the peer went away or the server is closing: nothing to report
        except BaseException as exc:  # pragma: no cover - surfaced through ``errors``
            self.errors.append(exc)
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def _record(self, record: bytearray, data: bytes) -> None:
        room = self.record_limit - len(record)
        if room > 0:
            record += data[:room]

    def handle(self, conn: socket.socket, record: bytearray) -> None:
        raise NotImplementedError


class EchoServer(TcpServer):
    """Echoes every byte back; on the client's EOF half-closes too.

    ``banner`` is sent as soon as a connection is accepted, before reading anything.
    """

    def __init__(self, banner: bytes = b"", tls: ssl.SSLContext | None = None) -> None:
        super().__init__(tls=tls)
        self.banner = banner

    def handle(self, conn: socket.socket, record: bytearray) -> None:
        if self.banner:
            conn.sendall(self.banner)
        while True:
            data = conn.recv(65536)
            if not data:
                break
            self._record(record, data)
            conn.sendall(data)
        if self.tls is None:
            conn.shutdown(socket.SHUT_WR)


def describe(data: bytes) -> bytes:
    """The default :class:`CollectServer` reply: length and SHA-256 of what arrived."""
    return b"received %d bytes sha256=%s\n" % (len(data), hashlib.sha256(data).hexdigest().encode())


class CollectServer(TcpServer):
    """Reads until the client's EOF, then sends ``reply(received)`` and closes."""

    def __init__(self, reply: Callable[[bytes], bytes] = describe) -> None:
        super().__init__()
        self.reply = reply

    def handle(self, conn: socket.socket, record: bytearray) -> None:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            self._record(record, data)
        conn.sendall(self.reply(bytes(record)))
        conn.shutdown(socket.SHUT_WR)


class SinkServer(TcpServer):
    """Counts bytes until the client's EOF, then answers the count in ASCII and closes."""

    def __init__(self) -> None:
        super().__init__(record_limit=0)
        self.totals: list[int] = []

    def handle(self, conn: socket.socket, record: bytearray) -> None:
        scratch = bytearray(1 << 20)
        total = 0
        while got := conn.recv_into(scratch):
            total += got
        with self._lock:
            self.totals.append(total)
        conn.sendall(b"%d" % total)
        conn.shutdown(socket.SHUT_WR)


class HttpProtocolError(Exception):
    pass


MAX_HEAD_LINES = 200


def read_head(reader: io.BufferedIOBase) -> tuple[bytes, dict[bytes, bytes]] | None:
    """Read a request or status line and its header fields; ``None`` at a clean EOF."""
    first = reader.readline(65536)
    if not first:
        return None
    headers: dict[bytes, bytes] = {}
    for _ in range(MAX_HEAD_LINES):
        line = reader.readline(65536)
        if line in (b"\r\n", b"\n"):
            return first.rstrip(b"\r\n"), headers
        if not line:
            raise HttpProtocolError("EOF inside the head")
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    raise HttpProtocolError("too many header lines")


def discard_exactly(reader: io.BufferedIOBase, n: int, scratch: memoryview) -> int:
    """Read and drop ``n`` bytes; returns how many arrived before EOF."""
    left = n
    while left > 0:
        got = reader.readinto(scratch[: min(left, len(scratch))])
        if not got:
            break
        left -= got
    return n - left


def discard_chunked(reader: io.BufferedIOBase, scratch: memoryview) -> int:
    """Read and drop a chunked body (and its trailers); returns the data byte count."""
    total = 0
    while True:
        line = reader.readline(1024)
        if not line:
            raise HttpProtocolError("EOF inside a chunked body")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            for _ in range(MAX_HEAD_LINES):
                if reader.readline(65536) in (b"\r\n", b"\n", b""):
                    return total
            raise HttpProtocolError("too many trailer lines")
        got = discard_exactly(reader, size, scratch)
        total += got
        if got < size or reader.readline(16) not in (b"\r\n", b"\n"):
            raise HttpProtocolError("truncated chunk")


class CountingHttpServer(TcpServer):
    """An HTTP/1.1 upstream that only counts request body bytes and answers the total.

    ``GET /bytes/<n>`` answers ``n`` bytes of ``x`` with a ``Content-Length``. Any other
    request answers ``200`` with the body length as text. ``totals`` lists the body
    length of every request, in arrival order.
    """

    PIECE = 1 << 20

    def __init__(self) -> None:
        super().__init__(record_limit=0)
        self.totals: list[int] = []
        self._piece = memoryview(b"x" * self.PIECE)

    def handle(self, conn: socket.socket, record: bytearray) -> None:
        scratch = memoryview(bytearray(self.PIECE))
        with conn.makefile("rb", buffering=self.PIECE) as reader:
            for _ in range(10_000):  # requests per connection
                head = read_head(reader)
                if head is None:
                    return
                line, headers = head
                method, target = line.split(b" ")[:2]
                if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                    total = discard_chunked(reader, scratch)
                else:
                    length = int(headers.get(b"content-length", b"0"))
                    total = discard_exactly(reader, length, scratch)
                    if total < length:
                        return
                with self._lock:
                    self.totals.append(total)
                if method == b"GET" and target.startswith(b"/bytes/"):
                    self._send_bytes(conn, int(target[len(b"/bytes/") :]))
                else:
                    body = b"%d" % total
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n%s"
                        % (len(body), body)
                    )
                if headers.get(b"connection", b"").lower() == b"close":
                    return

    def _send_bytes(self, conn: socket.socket, n: int) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: %d\r\n\r\n" % n
        )
        while n > 0:
            piece = self._piece[: min(n, self.PIECE)]
            conn.sendall(piece)
            n -= len(piece)
