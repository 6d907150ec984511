"""The demo's load generator: ``python -m lightmesh.demo.votebot --web web:80 --rate 10``.

Like emojivoto's vote-bot, each round lists the emoji and votes for one at random, on the
web front end, ``--rate`` rounds a second, over one keep-alive connection (through the
sidecar named by ``$http_proxy``, else to the name itself). It answers ``GET /`` on
``$PORT`` with its counts as JSON, so ``lightmesh up`` sees it ready and a person can look.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit

COUNTS: Counter[str] = Counter()


class Client:
    def __init__(self, web: str) -> None:
        self.web = web
        proxy = os.environ.get("http_proxy") or os.environ.get("HTTP_PROXY")
        self.via = urlsplit(proxy).netloc if proxy else web
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> int:
        url = f"http://{self.web}{path}" if self.via != self.web else path
        for attempt in (1, 2):  # once more on a fresh connection if a kept-alive one was closed
            if self.conn is None:
                host, _, port = self.via.rpartition(":")
                self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                self.conn.request("GET", url, headers={"Host": self.web})
                response = self.conn.getresponse()
                response.read()
                return response.status
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class StatusHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps(dict(COUNTS)).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def run(web: str, rate: float, stop: threading.Event) -> None:
    from lightmesh.demo.emojis import EMOJI

    client = Client(web)
    shortcodes = list(EMOJI)
    interval = 1.0 / rate
    next_round = time.monotonic()
    while not stop.is_set():
        for path in ("/api/list", f"/api/vote?choice={quote(random.choice(shortcodes))}"):
            try:
                status = client.get(path)
            except (OSError, http.client.HTTPException):
                COUNTS["errors"] += 1
                stop.wait(0.5)
                continue
            COUNTS[f"{path.split('?')[0]} {status}"] += 1
        next_round += interval
        stop.wait(max(0.0, next_round - time.monotonic()))


def main() -> None:
    parser = argparse.ArgumentParser(description="the demo's load generator")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8081")))
    parser.add_argument("--web", default="web:80", help="the web front end (name:port)")
    parser.add_argument("--rate", type=float, default=10.0, help="rounds (a list and a vote) per second")
    args = parser.parse_args()
    stop = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), StatusHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run(args.web, args.rate, stop)
    except KeyboardInterrupt:
        pass
    server.shutdown()


if __name__ == "__main__":
    main()
