"""A small HTTP/1.1 application for tests, served from a thread on loopback.

Routes (any method):

* ``/echo``: JSON with the method, path, headers (as received) and body length/sha256.
* ``/status/<code>``: answers with that status and a short body (none for 204/304).
* ``/chunked/<n>``: ``n`` chunks of ``chunk\\n`` with Transfer-Encoding: chunked.
* ``/bytes/<n>``: ``n`` bytes of ``x`` with a Content-Length, written in 64 KiB pieces.
* ``/close``: a close-delimited body (no Content-Length, ``Connection: close``).
* ``/sleep/<ms>``: waits, then answers 200.
* ``/conn``: returns an id of the TCP connection it arrived on (keep-alive checks).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: UpstreamServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        h = hashlib.sha256()
        total = 0
        chunks = []
        while total < length:
            piece = self.rfile.read(min(65536, length - total))
            if not piece:
                break
            total += len(piece)
            h.update(piece)
            if length <= 1 << 20:
                chunks.append(piece)
        self._digest = h.hexdigest()
        self._length = total
        return b"".join(chunks)

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status not in (204, 304) and "Transfer-Encoding" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def handle_one_request(self) -> None:
        self.server.requests += 1
        super().handle_one_request()

    def _dispatch(self) -> None:
        self._length = 0
        self._digest = hashlib.sha256(b"").hexdigest()
        body = self._body()
        parts = self.path.split("?")[0].strip("/").split("/")
        route = parts[0]
        arg = parts[1] if len(parts) > 1 else ""
        if route == "status":
            code = int(arg)
            self._reply(code, b"" if code in (204, 304) else f"status {code}\n".encode())
        elif route == "chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(int(arg or 3)):
                self.wfile.write(b"6\r\nchunk\n\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif route == "bytes":
            n = int(arg)
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            piece = b"x" * 65536
            while n > 0:
                self.wfile.write(piece[: min(n, 65536)])
                n -= 65536
        elif route == "close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until close\n")
            self.close_connection = True
        elif route == "sleep":
            time.sleep(int(arg) / 1000)
            self._reply(200, b"slept\n")
        elif route == "conn":
            self._reply(200, str(id(self.connection)).encode())
        else:
            info = {
                "method": self.command,
                "path": self.path,
                "version": self.request_version,
                "headers": [[k.lower(), v] for k, v in self.headers.items()],
                "body_length": self._length or len(body),
                "body_sha256": self._digest if self._length else hashlib.sha256(body).hexdigest(),
            }
            self._reply(200, json.dumps(info).encode(), {"Content-Type": "application/json"})

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _dispatch


class UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True
    requests = 0

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> UpstreamServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
