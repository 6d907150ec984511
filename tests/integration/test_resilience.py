"""Service profiles end to end: retries, timeouts, ejection, deadlines and faults through real processes.

A real controller serves a registry with a ``profiles:`` section; a real proxy follows
it (``LIGHTMESH_PROXY_CONTROLLER_ADDR``) and sends ``web:80`` to :class:`FlakyServer`
endpoints, which fail on a fixed pattern, so the counts are exact, not statistical
(fault injection excepted, checked within five standard deviations). Every wait and
every load loop is bounded.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.controller import launch, write_atomically
from tests.support.flaky import FlakyServer
from tests.support.h1_peers import start_isolated
from tests.support.h2_peers import H2Client, H2Upstream, grpc_frame, grpc_messages
from tests.support.proxy import ProxyProcess, free_port
from tests.support.tcp_client import wait_until

TIMEOUT = 10.0

PROFILE = """
profiles:
  - name: web
    namespace: default
    allowOverrides: true
    routes:
      - name: get-flaky
        condition: {method: GET, path: /flaky}
        isRetryable: true
        retryLimit: 5
      - name: post-flaky
        condition: {method: POST, path: /flaky}
      - name: slow
        condition: {pathPrefix: /slow}
        timeout: 300ms
      - name: stall
        condition: {pathPrefix: /stall}
        idleTimeout: 300ms
      - name: faulty
        condition: {path: /faulty}
        fault:
          abort: {status: 418, percent: 30}
"""


def registry_text(addrs: list[str], profile: str = PROFILE) -> str:
    lines = ["services:", "  - name: web", "    namespace: default", "    port: 80", "    endpoints:"]
    lines += [f"      - address: {addr}" for addr in addrs]
    return "\n".join(lines) + "\n" + profile


def call(
    proxy: ProxyProcess,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, bytes, str]:
    host, port = proxy.outbound.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers={"Host": "web:80", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("lightmesh-proxy-error") or ""
    finally:
        conn.close()


@pytest.fixture
def backend() -> Iterator[FlakyServer]:
    with FlakyServer() as server:
        yield server


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    return tmp_path / "registry.yaml"


def mesh(
    request: pytest.FixtureRequest, registry: Path, addrs: list[str], profile: str = PROFILE
) -> ProxyProcess:
    write_atomically(registry, registry_text(addrs, profile))
    controller = launch(registry)
    request.addfinalizer(controller.stop)
    return start_isolated(request, LIGHTMESH_PROXY_CONTROLLER_ADDR=controller.api)


def test_retryable_route_turns_30_percent_failures_into_success_within_budget(
    request: pytest.FixtureRequest, registry: Path, backend: FlakyServer
) -> None:
    proxy = mesh(request, registry, [backend.addr])
    n = 300
    ok = sum(call(proxy, "GET", "/flaky")[0] == 200 for _ in range(n))
    assert ok >= 0.99 * n
    extra = backend.total("/flaky") - n
    assert 0 < extra <= 0.2 * n + 10 * 10  # the default budget: 20 % plus 10/s over 10 s
    labels = {"dst": "web:80", "rt_route": "get-flaky"}
    assert proxy.metric("route_retry_total", **labels) == extra
    assert proxy.metric("route_request_total", **labels) == n
    assert proxy.metric("route_actual_request_total", **labels) == n + extra
    assert proxy.metric("route_response_total", classification="success", **labels) == ok


def test_non_retryable_post_is_never_retried(
    request: pytest.FixtureRequest, registry: Path, backend: FlakyServer
) -> None:
    proxy = mesh(request, registry, [backend.addr])
    statuses = [call(proxy, "POST", "/flaky", body=b"x" * 100)[0] for _ in range(50)]
    assert backend.hits["POST", "/flaky"] == 50
    assert statuses.count(503) == 15  # exactly the backend's failures, passed through
    labels = {"rt_route": "post-flaky"}
    assert proxy.metric("route_retry_total", **labels) == 0


def test_retry_limit_override_header_is_honoured_and_stripped(
    request: pytest.FixtureRequest, registry: Path, backend: FlakyServer
) -> None:
    proxy = mesh(request, registry, [backend.addr])
    status, body, _ = call(proxy, "GET", "/echo", {"lightmesh-retry-limit": "0", "lightmesh-timeout": "2s"})
    assert status == 200
    seen = json.loads(body)
    assert "lightmesh-retry-limit" not in seen and "lightmesh-timeout" not in seen
    assert call(proxy, "GET", "/flaky")[0] == 200  # backend request 0 fails, its retry (1) succeeds
    assert call(proxy, "GET", "/flaky", {"lightmesh-retry-limit": "0"})[0] == 200  # request 2
    assert call(proxy, "GET", "/flaky")[0] == 200  # request 3
    assert call(proxy, "GET", "/flaky", {"lightmesh-retry-limit": "0"})[0] == 503  # request 4, not retried
    assert backend.total("/flaky") == 5


def test_slow_backend_hits_the_route_timeout(
    request: pytest.FixtureRequest, registry: Path, backend: FlakyServer
) -> None:
    proxy = mesh(request, registry, [backend.addr])
    status, _, error = call(proxy, "GET", "/slow/3000")
    assert status == 504
    assert "route 'slow' timed out after 300ms" in error
    wait_until(lambda: backend.cancelled == 1, TIMEOUT)  # the upstream connection was closed
    assert proxy.metric("route_timeout_total", rt_route="slow", kind="request") == 1
    assert proxy.metric("route_response_total", rt_route="slow", status_code="504") == 1
    # a per-request override may shorten or lengthen it
    assert call(proxy, "GET", "/slow/100", {"lightmesh-timeout": "2s"})[0] == 200


def test_a_response_body_that_stalls_hits_the_idle_timeout(
    request: pytest.FixtureRequest, registry: Path, backend: FlakyServer
) -> None:
    proxy = mesh(request, registry, [backend.addr])
    host, port = proxy.outbound.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        conn.request("GET", "/stall/3000", headers={"Host": "web:80"})
        response = conn.getresponse()
        assert response.status == 200  # the head was already on its way
        with pytest.raises(http.client.IncompleteRead) as info:
            response.read()
        assert info.value.partial == b"01234"
    finally:
        conn.close()
    wait_until(lambda: backend.cancelled == 1, TIMEOUT)  # the upstream connection was closed
    assert proxy.metric("route_timeout_total", rt_route="stall", kind="idle") == 1
    assert call(proxy, "GET", "/stall/50")[:2] == (200, b"0123456789")  # shorter pauses pass


def test_dead_endpoint_is_ejected_and_traffic_moves_to_the_healthy_one(
    request: pytest.FixtureRequest, registry: Path, backend: FlakyServer
) -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens: connections are refused
    proxy = mesh(request, registry, [dead, backend.addr], profile="")
    statuses: list[int] = []
    for _ in range(100):  # batches until the dead endpoint was picked 7 times (P2C may avoid it)
        statuses += [call(proxy, "GET", "/echo")[0] for _ in range(20)]
        if proxy.metric("outbound_endpoint_ejections_total") >= 1:
            break
    after = [call(proxy, "GET", "/echo")[0] for _ in range(20)]
    ejections = proxy.metric("outbound_endpoint_ejections_total")
    assert ejections >= 1
    failures = sum(s != 200 for s in statuses + after)
    assert failures <= 7 + (ejections - 1)  # the threshold, then one failed probe per re-ejection
    assert after == [200] * 20 or ejections > 1  # traffic moved to the healthy endpoint
    ejected = proxy.metric("outbound_endpoint_state", endpoint=dead, state="ejected")
    assert ejected + proxy.metric("outbound_endpoint_state", endpoint=dead, state="probing") == 1


def test_a_retry_goes_to_another_endpoint_so_a_dead_one_costs_no_failure(
    request: pytest.FixtureRequest, registry: Path, backend: FlakyServer
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    everything = "profiles:\n  - {name: web, namespace: default, routes: [{name: all, isRetryable: true}]}\n"
    proxy = mesh(request, registry, [dead, backend.addr], profile=everything)
    statuses: list[int] = []
    for _ in range(50):  # batches until the dead endpoint was tried (P2C may prefer the other)
        statuses += [call(proxy, "GET", "/echo")[0] for _ in range(10)]
        if proxy.metric("route_retry_total", rt_route="all") >= 1:
            break
    assert proxy.metric("route_retry_total", rt_route="all") >= 1
    assert statuses == [200] * len(statuses)  # every failed attempt was retried elsewhere
    assert backend.total("/echo") == len(statuses)


def test_every_endpoint_ejected_answers_503_fast(
    request: pytest.FixtureRequest, registry: Path, backend: FlakyServer
) -> None:
    proxy = mesh(request, registry, [backend.addr], profile="")
    assert [call(proxy, "GET", "/fail")[0] for _ in range(7)] == [500] * 7
    status, _, error = call(proxy, "GET", "/fail")
    assert status == 503
    assert "ejected" in error
    assert backend.total("/fail") == 7
    assert proxy.metric("outbound_http_balancer_endpoints", endpoint_state="pending") == 1


def test_fault_injection_aborts_the_configured_share(
    request: pytest.FixtureRequest, registry: Path, backend: FlakyServer
) -> None:
    proxy = mesh(request, registry, [backend.addr])
    n = 400
    statuses = [call(proxy, "GET", "/faulty")[0] for _ in range(n)]
    aborted = statuses.count(418)
    assert abs(aborted - 0.3 * n) <= 5 * (n * 0.3 * 0.7) ** 0.5
    assert statuses.count(200) == n - aborted
    assert backend.total("/faulty") == n - aborted  # aborted requests never reach the backend


def test_bad_profile_is_rejected_and_the_last_good_one_stays(
    request: pytest.FixtureRequest, registry: Path, backend: FlakyServer
) -> None:
    proxy = mesh(request, registry, [backend.addr])
    controller_log = next(registry.parent.glob("controller-*.log"))
    write_atomically(registry, registry_text([backend.addr], PROFILE.replace("300ms", "300")))
    _wait_for_log(controller_log, "routes[2].timeout")
    assert call(proxy, "GET", "/slow/3000")[0] == 504  # still the last good profile


def test_profile_changes_apply_live_and_removing_it_removes_the_routes(
    request: pytest.FixtureRequest, registry: Path, backend: FlakyServer
) -> None:
    proxy = mesh(request, registry, [backend.addr])
    assert call(proxy, "GET", "/slow/1000")[0] == 504
    write_atomically(
        registry, registry_text([backend.addr], PROFILE.replace("timeout: 300ms", "timeout: 5s"))
    )
    wait_until(lambda: call(proxy, "GET", "/slow/600")[0] == 200, TIMEOUT)
    write_atomically(registry, registry_text([backend.addr], profile=""))

    def no_route_layers() -> bool:
        before = proxy.metric("route_request_total")
        answered = [call(proxy, "GET", "/faulty")[0] for _ in range(20)]
        return answered == [200] * 20 and proxy.metric("route_request_total") == before

    wait_until(no_route_layers, TIMEOUT)  # no more injected faults, nothing counted per route


def _wait_for_log(path: Path, text: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never logged:\n{path.read_text(errors='replace')}")


def test_deadline_is_propagated_across_two_proxies_minus_elapsed(
    request: pytest.FixtureRequest, backend: FlakyServer
) -> None:
    server_side = start_isolated(request, LIGHTMESH_PROXY_INBOUND_FORWARD=backend.addr)
    client_side = start_isolated(request, LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"web:80={server_side.inbound}")
    overrides = {"lightmesh-retry-limit": "2", "lightmesh-timeout": "1s"}
    status, body, _ = call(client_side, "GET", "/echo", {"lightmesh-deadline": "5000", **overrides})
    assert status == 200
    headers = json.loads(body)
    assert 0 < int(headers["lightmesh-deadline"]) <= 5000
    assert not overrides.keys() & headers.keys()  # the inbound proxy strips them, profile or not
    status, _, error = call(client_side, "GET", "/slow/3000", {"lightmesh-deadline": "300"})
    assert status == 504 and "deadline" in error
    status, _, error = call(client_side, "GET", "/echo", {"lightmesh-deadline": "0"})
    assert status == 504
    assert backend.total("/echo") == 1  # the expired deadline was not forwarded at all


GRPC_PROFILE = """
profiles:
  - name: grpc
    namespace: default
    routes:
      - name: echo
        condition: {pathPrefix: /lightmesh.test.Echo}
        isRetryable: true
"""


def test_grpc_failures_in_trailers_are_retried(request: pytest.FixtureRequest, registry: Path) -> None:
    with H2Upstream("grpc") as app:
        services = (
            "services:\n  - {name: grpc, namespace: default, port: 50051, endpoints: [{address: %s}]}\n"
        )
        write_atomically(registry, services % app.addr + GRPC_PROFILE)
        controller = launch(registry)
        request.addfinalizer(controller.stop)
        proxy = start_isolated(request, LIGHTMESH_PROXY_CONTROLLER_ADDR=controller.api)
        headers = [("content-type", "application/grpc"), ("te", "trailers"), ("x-grpc-fail-first", "2")]
        with H2Client(proxy.outbound, timeout=TIMEOUT) as client:
            response = client.get(
                "/lightmesh.test.Echo/Unary",
                "grpc:50051",
                method="POST",
                headers=headers,
                body=grpc_frame(b"hi"),
            )
        assert response.status == 200, response.describe()
        assert response.trailer("grpc-status") == "0", response.describe()
        assert grpc_messages(response.body) == [b"hi"]  # the last attempt only, whole
        assert app.grpc_failed == 2
        assert proxy.metric("route_retry_total", rt_route="echo") == 2
        failed = proxy.metric("route_actual_response_total", rt_route="echo", grpc_status_code="14")
        assert failed == 2
