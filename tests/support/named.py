"""HTTP/1.1 endpoints that answer with their own name, for routing and balancing tests.

A :class:`NamedServer` runs in a thread on 127.0.0.1, counts the requests it got and
answers every GET with its name as the body, after an optional delay.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class NamedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str, delay: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self.delay = delay
        self.hits = 0
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> NamedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body are two writes: no 40 ms delayed-ACK stall
    server: NamedServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.hits += 1
        if self.server.delay:
            time.sleep(self.server.delay)
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
