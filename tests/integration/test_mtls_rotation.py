"""Certificate refresh and trust-anchor rotation under load, with zero failed requests.

Leaves live 3 s (plus 1 s skew), so each proxy refreshes about every 2.8 s.

* Refresh: a continuous load over one keep-alive path crosses several refreshes on both
  proxies; the mTLS connection between them is never dropped (one upstream connection).
* Rotation, with bursts of load separated by pauses long enough for the client proxy's
  pooled connection to close, so every burst makes a new mTLS handshake with the
  contexts of the moment: (1) both proxies trust the old and the new root, (2) the
  controller switches to an issuer under the new root, (3) the old root is dropped.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lightmesh.controller.identity import pki
from tests.support.mesh import Mesh
from tests.support.proxy import ProxyProcess
from tests.support.tcp_client import wait_until
from tests.support.upstream import UpstreamServer

LOAD_LIMIT = 60.0  # seconds: every load loop ends by then


class Load:
    """HTTP/1 GETs through the client proxy from one thread; ``pause`` > 0 makes bursts."""

    def __init__(self, proxy: ProxyProcess, burst: int = 0, pause: float = 0.0) -> None:
        self.proxy = proxy
        self.burst = burst
        self.pause = pause
        self.results: Counter[str] = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(LOAD_LIMIT)

    def _run(self) -> None:
        host, port = self.proxy.outbound.split(":")
        deadline = time.monotonic() + LOAD_LIMIT
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        sent = 0
        while not self.stop.is_set() and time.monotonic() < deadline and sent < 100_000:
            try:
                conn.request("GET", "/echo", headers={"Host": "web:80"})
                response = conn.getresponse()
                body = response.read()
                ok = response.status == 200 and b"lightmesh-client-id" in body
                self.results[
                    "ok" if ok else f"{response.status} {response.getheader('lightmesh-proxy-error')}"
                ] += 1
            except (OSError, http.client.HTTPException) as exc:
                self.results[f"error {exc!r}"] += 1
                conn.close()
            sent += 1
            if self.burst and sent % self.burst == 0:
                self.stop.wait(self.pause)
        conn.close()

    @property
    def failures(self) -> dict[str, int]:
        return {k: v for k, v in self.results.items() if k != "ok"}


def refreshes(proxy: ProxyProcess) -> float:
    return proxy.metric("identity_cert_refresh_count_total")  # the parser's name for the counter


def wait_refreshes(proxies: tuple[ProxyProcess, ...], more: int) -> None:
    targets = [refreshes(p) + more for p in proxies]
    for proxy, target in zip(proxies, targets, strict=True):
        wait_until(lambda p=proxy, t=target: refreshes(p) >= t, 30, f"{more} more refreshes")  # type: ignore[misc]


def issuer_of(proxy: ProxyProcess) -> str:
    with urllib.request.urlopen(f"http://{proxy.admin}/identity", timeout=5) as r:
        return str(json.loads(r.read())["issuer"])


def replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[tuple[Mesh, ProxyProcess, ProxyProcess]]:
    with UpstreamServer() as app:
        running = Mesh(tmp_path, app.addr, lifetime="3s", skew="1s")
        try:
            client, server = running.start(client_env={"LIGHTMESH_PROXY_POOL_IDLE_TIMEOUT": "100ms"})
            yield running, client, server
        finally:
            running.stop()


def test_refresh_under_load_swaps_certificates_without_dropping_the_connection(
    mesh: tuple[Mesh, ProxyProcess, ProxyProcess],
) -> None:
    _, client, server = mesh
    with Load(client) as load:
        wait_until(lambda: load.results["ok"] > 0, 10, "the first answer")
        opened = client.metric("tcp_open_total", direction="outbound", peer="dst")
        wait_refreshes((client, server), 3)
    assert load.failures == {}
    assert load.results["ok"] > 100
    assert client.metric("tcp_open_total", direction="outbound", peer="dst") == opened == 1
    assert client.metric("identity_cert_refresh_failures_total") == 0


def test_trust_anchor_rotation_under_load_fails_no_request(
    mesh: tuple[Mesh, ProxyProcess, ProxyProcess],
) -> None:
    running, client, server = mesh
    proxies = (client, server)
    old_root = running.anchors.read_bytes()
    now = dt.datetime.now(dt.UTC)
    new_root_key, new_root = pki.make_root("root-2.lightmesh.cluster.local", now)
    new_key, new_issuer = pki.make_issuer(new_root_key, new_root, "identity-2.lightmesh.cluster.local", now)
    both = old_root + pki.pem(new_root)
    with Load(client, burst=20, pause=0.7) as load:
        wait_until(lambda: load.results["ok"] > 0, 10, "the first answer")
        # 1. every proxy trusts both roots (they re-read the bundle at each refresh)
        replace(running.anchors, both)
        wait_refreshes(proxies, 2)
        # 2. the controller issues under the new root
        replace(running.dir / "trust-anchors.pem", both)
        replace(running.dir / "issuer.key", pki.key_pem(new_key))
        replace(running.dir / "issuer.crt", pki.pem(new_issuer))
        for proxy in proxies:
            wait_until(
                lambda p=proxy: issuer_of(p) == "CN=identity-2.lightmesh.cluster.local", 30, "new issuer"
            )  # type: ignore[misc]
        wait_refreshes(proxies, 1)
        # 3. the old root is retired everywhere
        replace(running.anchors, pki.pem(new_root))
        replace(running.dir / "trust-anchors.pem", pki.pem(new_root))
        wait_refreshes(proxies, 2)
        handshakes = client.metric("tcp_open_total", direction="outbound", peer="dst")
        wait_until(
            lambda: client.metric("tcp_open_total", direction="outbound", peer="dst") > handshakes,
            10,
            "a new mTLS connection under the new root only",
        )
        wait_until(lambda: load.results["ok"] > 200, 20, "more answers")
    assert load.failures == {}
    assert (
        client.metric("tcp_open_total", direction="outbound", peer="dst") >= 5
    )  # bursts made new handshakes
    assert client.metric("outbound_tls_errors_total") == 0
    assert server.metric("inbound_tls_errors_total") == 0
