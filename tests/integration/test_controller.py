"""``lightmesh controller`` as a process: the Destination API over a file registry, and its admin port.

Each test starts a controller on free loopback ports over a registry in ``tmp_path``
(reloaded every 50 ms) and talks to it with a **grpcio** client (an independent gRPC
implementation; the controller serves with grpclib). Every wait is bounded.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lightmesh.api.addr import socket_addr
from lightmesh.core.addr import SocketAddr
from tests.support.controller import ControllerProcess, launch, write_atomically
from tests.support.tcp_client import wait_until

REGISTRY = """\
services:
  - name: web
    namespace: default
    port: 80
    endpoints:
      - address: 10.0.0.1:8080
        labels: {pod: web-1}
        identity: web.default.serviceaccount.identity.lightmesh.cluster.local
        protocol: h2
        weight: 7
      - address: "[fd00::2]:8080"
  - name: empty
    namespace: default
    port: 80
"""
WEB_ONLY_B = """\
services:
  - name: web
    namespace: default
    port: 80
    endpoints:
      - address: "[fd00::2]:8080"
      - address: 10.0.0.3:8080
  - name: empty
    namespace: default
    port: 80
"""
A, B, C = SocketAddr("10.0.0.1", 8080), SocketAddr("fd00::2", 8080), SocketAddr("10.0.0.3", 8080)


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "mesh-registry.yaml"
    path.write_text(REGISTRY)
    return path


@pytest.fixture
def start(registry: Path) -> Iterator[Callable[..., ControllerProcess]]:
    started: list[ControllerProcess] = []

    def start_controller(*args: str) -> ControllerProcess:
        started.append(launch(registry, *args))
        return started[-1]

    yield start_controller
    for controller in started:
        controller.stop()


@pytest.fixture
def controller(start: Callable[..., ControllerProcess]) -> ControllerProcess:
    return start()


def addrs(update: Any) -> list[SocketAddr]:
    kind = update.WhichOneof("update")
    assert kind in ("add", "remove"), update
    return [socket_addr(a.addr if kind == "add" else a) for a in getattr(update, kind).addrs]


def test_the_first_update_comes_at_once_with_every_endpoint(controller: ControllerProcess) -> None:
    update = controller.get("web.default.svc.cluster.local:80").next(timeout=5)
    assert update.WhichOneof("update") == "add"
    assert addrs(update) == [A, B]
    assert dict(update.add.metric_labels) == {"namespace": "default", "service": "web"}
    first, second = update.add.addrs
    assert (first.weight, dict(first.metric_labels)) == (7, {"pod": "web-1"})
    assert first.tls_identity.dns_like_identity.name == (
        "web.default.serviceaccount.identity.lightmesh.cluster.local"
    )
    assert first.protocol_hint.WhichOneof("protocol") == "h2"
    assert second.weight == 10_000
    assert not second.HasField("tls_identity")


@pytest.mark.parametrize(
    ("path", "namespace"),
    [("web:80", "default"), ("web.default:80", "other"), ("web.default.svc:80", ""), ("WEB.default:80", "")],
)
def test_short_names_are_normalised(controller: ControllerProcess, path: str, namespace: str) -> None:
    assert addrs(controller.get(path, namespace).next(timeout=5)) == [A, B]


def test_a_short_name_in_another_namespace_is_another_service(controller: ControllerProcess) -> None:
    update = controller.get("web:80", namespace="shop").next(timeout=5)
    assert update.WhichOneof("update") == "no_endpoints"
    assert update.no_endpoints.exists is False


@pytest.mark.parametrize("path", ["unknown.default.svc.cluster.local:80", "web.default:81", "10.1.2.3:80"])
def test_unknown_services_get_no_endpoints_not_exists(controller: ControllerProcess, path: str) -> None:
    stream = controller.get(path, "default")
    update = stream.next(timeout=5)
    assert update.WhichOneof("update") == "no_endpoints"
    assert update.no_endpoints.exists is False
    stream.assert_quiet(0.3)  # the stream stays open, without repeats


def test_a_service_without_endpoints_gets_no_endpoints_exists(controller: ControllerProcess) -> None:
    update = controller.get("empty:80", "default").next(timeout=5)
    assert update.WhichOneof("update") == "no_endpoints"
    assert update.no_endpoints.exists is True


@pytest.mark.parametrize(
    ("path", "namespace", "scheme", "message"),
    [
        ("web", "default", "k8s", "missing port"),
        ("web:80", "", "k8s", "without its namespace"),
        ("we_b.default:80", "", "k8s", "invalid service name"),
        ("web:80", "default", "dns", "unsupported scheme"),
    ],
)
def test_malformed_requests_end_with_invalid_argument(
    controller: ControllerProcess, path: str, namespace: str, scheme: str, message: str
) -> None:
    error = controller.get(path, namespace, scheme).end()
    assert error is not None
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (error.details() or "")


def test_editing_the_registry_sends_add_then_remove(controller: ControllerProcess, registry: Path) -> None:
    stream = controller.get("web:80", "default")
    stream.next(timeout=5)
    write_atomically(registry, WEB_ONLY_B)
    added, removed = stream.next(), stream.next()
    assert (added.WhichOneof("update"), addrs(added)) == ("add", [C])
    assert (removed.WhichOneof("update"), addrs(removed)) == ("remove", [A])
    stream.assert_quiet(0.3)
    assert addrs(controller.get("web:80", "default").next(timeout=5)) == [C, B]  # new streams see it too


def test_emptying_and_deleting_a_service(controller: ControllerProcess, registry: Path) -> None:
    stream = controller.get("web:80", "default")
    stream.next(timeout=5)
    write_atomically(registry, "services: [{name: web, namespace: default, port: 80}]\n")
    assert stream.next().no_endpoints.exists is True
    write_atomically(registry, "services: []\n")
    update = stream.next()
    assert update.WhichOneof("update") == "no_endpoints"
    assert update.no_endpoints.exists is False
    write_atomically(registry, REGISTRY)
    assert addrs(stream.next()) == [A, B]


def test_a_service_added_later_reaches_a_waiting_stream(
    controller: ControllerProcess, registry: Path
) -> None:
    stream = controller.get("api.shop:9000")
    assert stream.next(timeout=5).no_endpoints.exists is False
    write_atomically(
        registry,
        REGISTRY + "  - {name: api, namespace: shop, port: 9000, endpoints: [{address: 10.9.0.1:9000}]}\n",
    )
    assert addrs(stream.next()) == [SocketAddr("10.9.0.1", 9000)]


def test_a_bad_edit_keeps_the_last_good_state(controller: ControllerProcess, registry: Path) -> None:
    stream = controller.get("web:80", "default")
    stream.next(timeout=5)
    write_atomically(registry, REGISTRY.replace("10.0.0.1:8080", "10.0.0.1:http"))
    wait_until(lambda: controller.metric("registry_reload_errors_total") == 1, 10, "the reload error")
    assert "not reloaded, keeping the last good state" in controller.log()
    assert "services[0].endpoints[0].address: invalid port 'http'" in controller.log()
    stream.assert_quiet(0.3)
    assert addrs(controller.get("web:80", "default").next(timeout=5)) == [A, B]
    write_atomically(registry, WEB_ONLY_B)  # fixed: applied
    assert addrs(stream.next()) == [C]


def test_get_profile_answers_at_once(controller: ControllerProcess) -> None:
    profile = controller.get_profile("web:80", "default").next(timeout=5)
    assert profile.fully_qualified_name == "web.default.svc.cluster.local"
    assert list(profile.routes) == []
    assert profile.retry_budget.min_retries_per_second == 10


def test_admin_ready_live_and_metrics(controller: ControllerProcess, registry: Path) -> None:
    assert controller.http("/ready") == (200, "ready\n")
    assert controller.http("/live") == (200, "live\n")
    assert controller.http("/nope")[0] == 404
    streams = [controller.get("web:80", "default"), controller.get("nope:80", "default")]
    for stream in streams:
        stream.next(timeout=5)
    controller.get_profile("web:80", "default").next(timeout=5)
    status, text = controller.http("/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"destination_subscriptions", "destination_updates", "registry_reloads"} <= families.keys()
    assert controller.metric("destination_subscriptions", rpc="get") == 2
    assert controller.metric("destination_subscriptions", rpc="get_profile") == 1
    assert controller.metric("destination_updates_total", rpc="get", type="add") == 1
    assert controller.metric("destination_updates_total", rpc="get", type="no_endpoints") == 1
    assert controller.metric("registry_reloads_total", source="file") == 1
    assert controller.metric("registry_services", source="file") == 2
    assert controller.metric("registry_endpoints", source="file") == 2
    streams[0].cancel()
    wait_until(lambda: controller.metric("destination_subscriptions", rpc="get") == 1, 10, "unsubscribe")
    write_atomically(registry, WEB_ONLY_B)
    wait_until(lambda: controller.metric("registry_reloads_total") == 2, 10, "the reload")


def test_sigterm_ends_open_streams_and_exits_cleanly(controller: ControllerProcess) -> None:
    stream = controller.get("web:80", "default")
    stream.next(timeout=5)
    assert controller.proc is not None
    controller.proc.send_signal(signal.SIGTERM)
    assert controller.proc.wait(timeout=10) == 0
    error = stream.end()
    assert error is not None and error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightmesh", "controller", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_an_invalid_registry_stops_the_start_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            services:
              - name: web
                namespace: default
                port: 80
                endpoints: [{address: web:80}]
                typo: 1
            """
        )
    )
    result = run_cli(
        "--registry", str(path), "--proxy-api-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"
    )
    assert result.returncode == 2
    assert f"{path}:5: services[0].endpoints[0].address: 'web:80' is not an IP address" in result.stderr
    assert f"{path}:6: services[0].typo: unknown key" in result.stderr


def test_a_missing_registry_or_bad_flags_stop_the_start(tmp_path: Path) -> None:
    result = run_cli("--registry", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "missing.yaml: cannot read: No such file or directory" in result.stderr
    result = run_cli("--registry", str(tmp_path / "x"), "--proxy-api-addr", "nowhere", "--log-level", "loud")
    assert result.returncode == 2
    assert "--log-level" in result.stderr
    result = run_cli("--registry", str(tmp_path / "x"), "--proxy-api-addr", "nowhere")
    assert result.returncode == 2
    assert "--proxy-api-addr: missing port in 'nowhere'" in result.stderr
