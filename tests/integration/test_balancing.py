"""Per-request balancing by peak-EWMA: slow endpoints get few requests, none are starved of all.

Three HTTP/1 endpoints behind one static destination; one answers 50 ms slower.
Peak-EWMA learns that from the first slow answer and P2C then avoids it unless
the fast ones are busy, where round-robin would send it a third of the traffic.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.h1_peers import start_isolated


class _Endpoint(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self.delay = delay
        self.hits = 0
        self.lock = threading.Lock()

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Endpoint

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.hits += 1
        time.sleep(self.server.delay)
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def endpoints() -> Iterator[list[_Endpoint]]:
    servers = [_Endpoint("fast-1", 0.001), _Endpoint("fast-2", 0.001), _Endpoint("slow", 0.051)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def _client_loop(outbound: str, count: int, seen: Counter[str], lock: threading.Lock) -> None:
    host, port = outbound.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for _ in range(count):
            conn.request("GET", "/", headers={"Host": "svc.test:80"})
            response = conn.getresponse()
            name = response.read().decode()
            assert response.status == 200, name
            with lock:
                seen[name] += 1
    finally:
        conn.close()


def test_an_endpoint_50ms_slower_gets_under_a_tenth_of_the_requests(
    request: pytest.FixtureRequest, endpoints: list[_Endpoint]
) -> None:
    addrs = ",".join(server.addr for server in endpoints)
    proxy = start_isolated(request, LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"svc.test:80={addrs}")
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    clients = [
        threading.Thread(target=_client_loop, args=(proxy.outbound, 100, seen, lock)) for _ in range(4)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=60)
    assert sum(seen.values()) == 400
    assert seen["slow"] < 40, seen
    assert seen["fast-1"] > 100 and seen["fast-2"] > 100, seen
