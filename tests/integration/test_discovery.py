"""The proxy following the controller: live endpoint changes, controller outages, fail-fast.

A real ``lightmesh controller`` serves a registry file in ``tmp_path``; a real proxy
with ``LIGHTMESH_PROXY_CONTROLLER_ADDR`` routes ``web:80`` through it to named HTTP
endpoints that answer with their name. Registry edits are atomic renames, as a
ConfigMap update is. Every wait is bounded.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.controller import ControllerProcess, launch, write_atomically
from tests.support.h1_peers import TrackingUpstream, start_isolated
from tests.support.named import NamedServer
from tests.support.proxy import ProxyProcess

TIMEOUT = 10.0


def registry_text(services: dict[str, list[NamedServer]]) -> str:
    lines = ["services:"]
    for name, servers in services.items():
        lines += [f"  - name: {name}", "    namespace: default", "    port: 80"]
        if servers:
            lines.append("    endpoints:")
            lines += [f"      - address: {server.addr}" for server in servers]
    return "\n".join(lines) + "\n"


def get(proxy: ProxyProcess, authority: str) -> tuple[int, str, str]:
    """(status, body, lightmesh-proxy-error) of one GET through the outbound listener."""
    host, port = proxy.outbound.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        conn.request("GET", "/", headers={"Host": authority})
        response = conn.getresponse()
        return response.status, response.read().decode(), response.getheader("lightmesh-proxy-error") or ""
    finally:
        conn.close()


def wait_for_body(proxy: ProxyProcess, authority: str, expected: set[str], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    last: tuple[int, str, str] | None = None
    while time.monotonic() < deadline:
        last = get(proxy, authority)
        if last[0] == 200 and last[1] in expected:
            return
        time.sleep(0.05)
    raise AssertionError(f"{authority} never answered from {expected}; last answer {last}")


@pytest.fixture
def servers() -> Iterator[tuple[NamedServer, NamedServer, NamedServer]]:
    with NamedServer("a") as a, NamedServer("b") as b, NamedServer("c") as c:
        yield a, b, c


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    return tmp_path / "mesh-registry.yaml"


@pytest.fixture
def controller(registry: Path, servers: tuple[NamedServer, ...]) -> Iterator[ControllerProcess]:
    a, _, _ = servers
    write_atomically(registry, registry_text({"web": [a], "empty": []}))
    process = launch(registry)
    yield process
    process.stop()


def mesh(request: pytest.FixtureRequest, controller: ControllerProcess, **env: str) -> ProxyProcess:
    return start_isolated(request, LIGHTMESH_PROXY_CONTROLLER_ADDR=controller.api, **env)


def test_requests_follow_the_endpoints_the_controller_sends(
    request: pytest.FixtureRequest,
    controller: ControllerProcess,
    registry: Path,
    servers: tuple[NamedServer, ...],
) -> None:
    _, b, _ = servers
    proxy = mesh(request, controller)
    assert get(proxy, "web:80")[:2] == (200, "a")
    assert get(proxy, "web.default.svc.cluster.local:80")[:2] == (200, "a")
    write_atomically(registry, registry_text({"web": [b], "empty": []}))
    wait_for_body(proxy, "web:80", {"b"})
    assert all(get(proxy, "web:80")[1] == "b" for _ in range(10))


def test_endpoint_changes_under_load_fail_no_request(
    request: pytest.FixtureRequest,
    controller: ControllerProcess,
    registry: Path,
    servers: tuple[NamedServer, NamedServer, NamedServer],
) -> None:
    a, b, c = servers
    proxy = mesh(request, controller)
    results: Counter[str] = Counter()
    stop = threading.Event()
    workers = [threading.Thread(target=_load, args=(proxy, results, stop)) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        for step in ([a, b], [b], [b, c], [c], [a, b, c]):
            write_atomically(registry, registry_text({"web": step, "empty": []}))
            wait_for_body(proxy, "web:80", {server.name for server in step})
            time.sleep(0.2)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=TIMEOUT)
    errors = {k: v for k, v in results.items() if k.startswith("error")}
    assert not errors, results
    assert results["a"] and results["b"] and results["c"], results


def test_controller_outage_under_load_fails_no_request_and_a_restart_resyncs(
    request: pytest.FixtureRequest,
    controller: ControllerProcess,
    registry: Path,
    servers: tuple[NamedServer, ...],
) -> None:
    _, b, _ = servers
    proxy = mesh(request, controller)
    assert get(proxy, "web:80")[:2] == (200, "a")
    results: Counter[str] = Counter()
    stop = threading.Event()
    workers = [threading.Thread(target=_load, args=(proxy, results, stop)) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        controller.stop()
        time.sleep(1.0)  # traffic continues on what the proxy knew
        write_atomically(registry, registry_text({"web": [b], "empty": []}))
        controller.start()  # same ports: the proxy reconnects and gets the new state
        wait_for_body(proxy, "web:80", {"b"}, timeout=20)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=TIMEOUT)
    assert not {k: v for k, v in results.items() if k.startswith("error")}, results
    assert results["a"] > 30 and results["b"] > 0, results


def _load(proxy: ProxyProcess, results: Counter[str], stop: threading.Event) -> None:
    """Keep-alive GETs of web:80 until ``stop`` (at most 60 s), counting bodies and errors."""
    host, port = proxy.outbound.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        conn.request("GET", "/", headers={"Host": "web:80"})
        response = conn.getresponse()
        body = response.read().decode()
        results[body if response.status == 200 else f"error {response.status}"] += 1
    conn.close()


def test_a_name_the_controller_does_not_know_falls_back_to_dns_or_a_literal(
    request: pytest.FixtureRequest, controller: ControllerProcess, servers: tuple[NamedServer, ...]
) -> None:
    _, _, c = servers
    proxy = mesh(request, controller)
    assert get(proxy, c.addr)[:2] == (200, "c")  # an IP literal is not a cluster service


def test_a_service_without_endpoints_fails_fast_until_endpoints_arrive(
    request: pytest.FixtureRequest,
    controller: ControllerProcess,
    registry: Path,
    servers: tuple[NamedServer, ...],
) -> None:
    a, _, _ = servers
    proxy = mesh(request, controller, LIGHTMESH_PROXY_OUTBOUND_FAILFAST_TIMEOUT="500ms")
    started = time.monotonic()
    status, _, why = get(proxy, "empty:80")
    assert status == 503 and "no endpoints" in why
    assert time.monotonic() - started >= 0.4  # it waited for endpoints first
    started = time.monotonic()
    status, _, why = get(proxy, "empty:80")
    assert status == 503 and "failing fast" in why
    assert time.monotonic() - started < 0.4  # then fails at once
    write_atomically(registry, registry_text({"web": [a], "empty": [a]}))
    wait_for_body(proxy, "empty:80", {"a"})


def test_an_unreachable_controller_answers_503_after_the_failfast_timeout(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    down = ControllerProcess(tmp_path / "never-started.yaml")  # ports reserved, nothing listening
    proxy = start_isolated(
        request,
        LIGHTMESH_PROXY_CONTROLLER_ADDR=down.api,
        LIGHTMESH_PROXY_OUTBOUND_FAILFAST_TIMEOUT="300ms",
    )
    status, _, why = get(proxy, "web:80")
    assert status == 503 and "did not answer" in why


def test_http1_between_meshed_proxies_travels_over_one_http2_connection(
    request: pytest.FixtureRequest, registry: Path, app: TrackingUpstream
) -> None:
    inbound = start_isolated(request, LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr)
    write_atomically(
        registry,
        "services:\n  - name: web\n    namespace: default\n    port: 80\n    endpoints:\n"
        f"      - address: {inbound.inbound}\n        protocol: h2\n",
    )
    controller = launch(registry)
    request.addfinalizer(controller.stop)
    outbound = start_isolated(request, LIGHTMESH_PROXY_CONTROLLER_ADDR=controller.api)
    host, port = outbound.outbound.split(":")
    for i in range(5):  # five client connections, each with one request and a body
        conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
        conn.request("POST", f"/echo?n={i}", body=b"x" * 1000, headers={"Host": "web:80"})
        response = conn.getresponse()
        echoed = json.loads(response.read())
        conn.close()
        assert response.status == 200
        assert response.getheader("content-length") is not None
        assert echoed["version"] == "HTTP/1.1"
        assert echoed["body_length"] == 1000
        names = {name for name, _ in echoed["headers"]}
        assert "lightmesh-orig-proto" not in names and "host" in names
    # all five rode one multiplexed HTTP/2 connection into the far proxy
    assert inbound.metric("tcp_open_total", direction="inbound", peer="src") == 1
    assert inbound.metric("request_total", direction="inbound") == 5


def test_the_orig_proto_header_from_an_application_is_dropped(
    request: pytest.FixtureRequest, app: TrackingUpstream
) -> None:
    proxy = start_isolated(request, LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr)
    host, port = proxy.inbound.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    conn.request("GET", "/echo", headers={"lightmesh-orig-proto": "HTTP/1.1"})
    echoed = json.loads(conn.getresponse().read())
    conn.close()
    assert "lightmesh-orig-proto" not in {name for name, _ in echoed["headers"]}


def test_outbound_metrics_carry_the_endpoints_dst_labels(
    request: pytest.FixtureRequest, registry: Path, servers: tuple[NamedServer, ...]
) -> None:
    a, _, _ = servers
    write_atomically(
        registry,
        "services:\n  - name: web\n    namespace: default\n    port: 80\n    endpoints:\n"
        f"      - address: {a.addr}\n        labels: {{pod: web-1, deployment: web}}\n",
    )
    controller = launch(registry)
    request.addfinalizer(controller.stop)
    proxy = mesh(request, controller)
    assert get(proxy, "web:80")[:2] == (200, "a")
    labels = {
        "direction": "outbound",
        "authority": "web:80",
        "dst_namespace": "default",
        "dst_service": "web",
        "dst_pod": "web-1",
        "dst_deployment": "web",
    }
    assert proxy.metric("request_total", **labels) == 1
    assert proxy.metric("response_total", classification="success", status_code="200", **labels) == 1
