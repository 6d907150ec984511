"""Per-request balancing by peak-EWMA: slow endpoints get few requests, none are starved of all.

Three HTTP/1 endpoints behind one static destination; one answers 50 ms slower.
Peak-EWMA learns that from the first slow answer and P2C then avoids it unless
the fast ones are busy, where round-robin would send it a third of the traffic.
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.support.h1_peers import start_isolated
from tests.support.named import NamedServer


@pytest.fixture
def endpoints() -> Iterator[list[NamedServer]]:
    with (
        NamedServer("fast-1", 0.001) as fast_1,
        NamedServer("fast-2", 0.001) as fast_2,
        NamedServer("slow", 0.051) as slow,
    ):
        yield [fast_1, fast_2, slow]


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
    request: pytest.FixtureRequest, endpoints: list[NamedServer]
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
