"""An HTTP/1.1 endpoint that fails on purpose, for resilience tests.

:class:`FlakyServer` runs in a thread on 127.0.0.1 and counts requests by method and
path. ``/flaky`` fails with 503 on a fixed pattern (requests 0, 4 and 7 of every ten it
gets: 30 %, never two in a row), ``/fail`` always answers 500, ``/slow/<ms>`` answers
after a delay (or counts in ``cancelled`` a client that closed the connection first),
``/stall/<ms>`` sends half its body, pauses, then the rest (or counts the same),
and any other path echoes the request headers as JSON.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAILING = (0, 4, 7)


class FlakyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.hits: Counter[tuple[str, str]] = Counter()
        self.flaky_count = 0
        self.cancelled = 0  # /slow requests whose client closed the connection before the answer
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def total(self, path: str) -> int:
        with self.lock:
            return sum(n for (_, p), n in self.hits.items() if p == path)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a proxy closing a connection (a cancelled attempt) is expected here

    def __enter__(self) -> FlakyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: FlakyServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        with self.server.lock:
            self.server.hits[self.command, path] += 1
            n = self.server.flaky_count
            if path == "/flaky":
                self.server.flaky_count += 1
        if path == "/flaky":
            failing = n % 10 in FAILING
            self._reply(503 if failing else 200, b"fail\n" if failing else b"ok " + body)
        elif path == "/fail":
            self._reply(500, b"always\n")
        elif path.startswith("/slow/"):
            if self._closed_within(int(path.rsplit("/", 1)[1]) / 1000):
                with self.server.lock:
                    self.server.cancelled += 1
                self.close_connection = True
                return
            self._reply(200, b"slow\n")
        elif path.startswith("/stall/"):  # half the body, a pause, the rest
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"01234")
            self.wfile.flush()
            if self._closed_within(int(path.rsplit("/", 1)[1]) / 1000):
                with self.server.lock:
                    self.server.cancelled += 1
                self.close_connection = True
                return
            self.wfile.write(b"56789")
        else:
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._reply(200, json.dumps(headers).encode())

    def _closed_within(self, seconds: float) -> bool:
        """Wait ``seconds``; True as soon as the client closes the connection (reads EOF)."""
        readable, _, _ = select.select([self.connection], [], [], seconds)
        return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""

    do_GET = do_POST = do_PUT = _dispatch
