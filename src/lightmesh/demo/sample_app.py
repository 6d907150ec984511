"""A tiny sample application for the demo: ``python -m lightmesh.demo.sample_app --port 8080``.

Routes: ``/`` and ``/hello`` greet, ``/echo`` returns what it received as JSON,
``/status/<code>`` answers with that status (try 503 and watch the failure
metrics), ``/slow/<ms>`` waits before answering. With ``--tcp-echo`` it is an opaque TCP
service instead: it sends back every line it receives (``nc`` and ``telnet`` can try it).
"""

from __future__ import annotations

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import StreamRequestHandler, TCPServer, ThreadingTCPServer


class SampleHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lightmesh-sample/1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if parts[0] in ("", "hello"):
            self._send(200, b"hello from the lightmesh sample app\n")
        elif parts[0] == "status" and len(parts) > 1 and parts[1].isdigit():
            self._send(int(parts[1]), f"status {parts[1]}\n".encode())
        elif parts[0] == "slow" and len(parts) > 1 and parts[1].isdigit():
            time.sleep(min(int(parts[1]), 30_000) / 1000)
            self._send(200, f"slept {parts[1]} ms\n".encode())
        elif parts[0] == "echo":
            info = {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": body.decode("utf-8", "replace"),
            }
            self._send(200, json.dumps(info, indent=2).encode() + b"\n", "application/json")
        else:
            self._send(404, b"not found: try /hello, /echo, /status/503, /slow/200\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


class EchoHandler(StreamRequestHandler):
    """Opaque TCP: every line back, until the client closes."""

    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(line)


class EchoServer(ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main() -> None:
    parser = argparse.ArgumentParser(description="lightmesh sample app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--tcp-echo", action="store_true", help="an opaque TCP line echo instead of HTTP")
    args = parser.parse_args()
    server: TCPServer
    if args.tcp_echo:
        server = EchoServer((args.host, args.port), EchoHandler)
    else:
        server = ThreadingHTTPServer((args.host, args.port), SampleHandler)
        server.daemon_threads = True
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
