"""``lightmesh controller --source kubernetes`` as a process, against a fake Kubernetes API.

The API server is kmock's emulator (``tests/support/kubernetes.py``) on a loopback port in
a thread; the controller lists and watches it with lightkube, and a **grpcio** client asks
its Destination API (``tests/support/controller.py``). Objects are changed through the
fake's HTTP API, so the controller learns about them from its watches. Every wait is
bounded.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lightmesh.api.addr import socket_addr
from lightmesh.core.addr import SocketAddr
from tests.support.controller import ControllerProcess, UpdateStream, launch
from tests.support.kubernetes import (
    ENDPOINTS,
    PODS,
    SERVICES,
    SLICES,
    SLICES_V1BETA1,
    FakeKubernetes,
)
from tests.support.tcp_client import wait_until

WEB = "web.default.svc.cluster.local:80"
A, B, C = SocketAddr("10.1.0.1", 8080), SocketAddr("10.1.0.2", 8080), SocketAddr("10.1.0.3", 8080)
IDENTITY = "web.default.serviceaccount.identity.lightmesh.cluster.local"


def service(name: str = "web", app_protocol: str | None = None) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}
    if app_protocol:
        port["appProtocol"] = app_protocol
    meta = {"name": name, "namespace": "default"}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {"ports": [port]}}


def endpoint(addr: SocketAddr, ready: bool = True) -> dict[str, Any]:
    pod = {"kind": "Pod", "namespace": "default", "name": f"web-5d9c-{addr.host.rsplit('.', 1)[1]}"}
    return {"addresses": [addr.host], "conditions": {"ready": ready}, "targetRef": pod}


def endpoint_slice(*endpoints: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": f"discovery.k8s.io/{version}",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "web-abc",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": list(endpoints),
    }


def pod(addr: SocketAddr) -> dict[str, Any]:
    name = f"web-5d9c-{addr.host.rsplit('.', 1)[1]}"
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web-5d9c",
        "controller": True,
        "uid": "u",
    }
    meta = {
        "name": name,
        "namespace": "default",
        "labels": {"pod-template-hash": "5d9c"},
        "ownerReferences": [owner],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"serviceAccountName": "web"}}


def pod_labels(addr: SocketAddr) -> dict[str, str]:
    name = f"web-5d9c-{addr.host.rsplit('.', 1)[1]}"
    return {"deployment": "web", "pod": name, "pod_template_hash": "5d9c", "serviceaccount": "web"}


def addrs(update: Any) -> list[SocketAddr]:
    kind = update.WhichOneof("update")
    assert kind in ("add", "remove"), update
    return [socket_addr(a.addr if kind == "add" else a) for a in getattr(update, kind).addrs]


def expect(stream: UpdateStream, kind: str, *expected: SocketAddr) -> Any:
    update = stream.next()
    assert update.WhichOneof("update") == kind, update
    if kind != "no_endpoints":
        assert sorted(addrs(update)) == sorted(expected)
    return update


@pytest.fixture
def clusters() -> Iterator[Callable[..., FakeKubernetes]]:
    started: list[FakeKubernetes] = []

    def start(*served: str) -> FakeKubernetes:
        started.append(FakeKubernetes(served or (SERVICES, PODS, SLICES)).__enter__())
        return started[-1]

    yield start
    for cluster in started:
        cluster.__exit__(None, None, None)


@pytest.fixture
def cluster(clusters: Callable[..., FakeKubernetes]) -> FakeKubernetes:
    return clusters()


@pytest.fixture
def start(
    tmp_path: Path, clusters: Callable[..., FakeKubernetes]
) -> Iterator[Callable[..., ControllerProcess]]:
    """``start(cluster)``: a controller over ``cluster`` (stopped before the cluster is)."""
    started: list[ControllerProcess] = []

    def start_controller(cluster: FakeKubernetes) -> ControllerProcess:
        kubeconfig = cluster.write_kubeconfig(tmp_path / f"kubeconfig-{len(started)}")
        args = ("--source", "kubernetes", "--kubeconfig", str(kubeconfig))
        started.append(launch(tmp_path / "unused-registry.yaml", *args))
        return started[-1]

    yield start_controller
    for controller in started:
        controller.stop()


def populate(cluster: FakeKubernetes, app_protocol: str | None = None) -> None:
    cluster.create(SERVICES, service(app_protocol=app_protocol))
    cluster.create(SERVICES, service("empty"))
    for addr in (A, B, C):
        cluster.create(PODS, pod(addr))
    cluster.create(SLICES, endpoint_slice(endpoint(A), endpoint(B), endpoint(C, ready=False)))


def test_the_initial_state_with_pod_labels_identity_and_protocol(
    cluster: FakeKubernetes, start: Callable[..., ControllerProcess]
) -> None:
    populate(cluster, app_protocol="kubernetes.io/h2c")
    controller = start(cluster)
    update = expect(controller.get(WEB), "add", A, B)  # C is not ready
    assert dict(update.add.metric_labels) == {"namespace": "default", "service": "web"}
    for addr, weighted in zip((A, B), update.add.addrs, strict=True):
        assert dict(weighted.metric_labels) == pod_labels(addr)
        assert weighted.tls_identity.dns_like_identity.name == IDENTITY
        assert weighted.protocol_hint.WhichOneof("protocol") == "h2"
    assert controller.get("empty:80", "default").next().no_endpoints.exists is True
    assert controller.get("nope:80", "default").next().no_endpoints.exists is False
    assert controller.get("web:81", "default").next().no_endpoints.exists is False
    assert controller.metric("registry_reloads_total", source="kubernetes") == 1
    assert controller.metric("registry_services", source="kubernetes") == 2
    assert "endpoints from discovery.k8s.io/v1 EndpointSlices" in controller.log()
    assert controller.stop() == 0  # SIGTERM ends the watches and the process cleanly


def test_watch_events_add_remove_and_delete(
    cluster: FakeKubernetes, start: Callable[..., ControllerProcess]
) -> None:
    populate(cluster)
    controller = start(cluster)
    stream = controller.get(WEB)
    expect(stream, "add", A, B)
    cluster.patch(SLICES, "default", "web-abc", {"endpoints": [endpoint(A), endpoint(B), endpoint(C)]})
    expect(stream, "add", C)
    cluster.patch(
        SLICES, "default", "web-abc", {"endpoints": [endpoint(A, ready=False), endpoint(B), endpoint(C)]}
    )
    expect(stream, "remove", A)
    cluster.patch(SLICES, "default", "web-abc", {"endpoints": [endpoint(B)]})
    expect(stream, "remove", C)
    cluster.delete(SERVICES, "default", "web")
    assert expect(stream, "no_endpoints").no_endpoints.exists is False
    cluster.create(SERVICES, service())
    expect(stream, "add", B)
    stream.assert_quiet(0.3)


def test_an_endpoint_gets_its_pod_labels_once_the_pod_is_known(
    cluster: FakeKubernetes, start: Callable[..., ControllerProcess]
) -> None:
    cluster.create(SERVICES, service())
    cluster.create(SLICES, endpoint_slice(endpoint(A)))
    controller = start(cluster)
    stream = controller.get(WEB)
    first = expect(stream, "add", A).add.addrs[0]
    assert dict(first.metric_labels) == {"pod": "web-5d9c-1"}
    assert not first.HasField("tls_identity")
    cluster.create(PODS, pod(A))
    second = expect(stream, "add", A).add.addrs[0]  # an add for a known address replaces it
    assert dict(second.metric_labels) == pod_labels(A)
    assert second.tls_identity.dns_like_identity.name == IDENTITY


def test_expired_watches_relist_without_spurious_updates(
    cluster: FakeKubernetes, start: Callable[..., ControllerProcess]
) -> None:
    populate(cluster)
    controller = start(cluster)
    stream = controller.get(WEB)
    expect(stream, "add", A, B)
    for resource in (SERVICES, SLICES, PODS):
        lists = cluster.requests("list", resource)
        cluster.expire_watches(resource)
        wait_until(lambda r=resource, n=lists: cluster.requests("list", r) > n, 10, f"a relist of {resource}")
    wait_until(lambda: controller.metric("registry_reloads_total") == 4, 10, "three relists counted")
    stream.assert_quiet(0.5)
    assert "watch expired (410 Gone): relisting" in controller.log()
    assert controller.metric("registry_reload_errors_total") == 0
    # a change the watch never saw is found by the next relist, and only that change is sent
    cluster.patch_unseen(SLICES, "default", "web-abc", {"endpoints": [endpoint(A)]})
    stream.assert_quiet(0.3)
    cluster.expire_watches(SLICES)
    expect(stream, "remove", B)
    cluster.delete_unseen(SERVICES, "default", "web")
    cluster.expire_watches(SERVICES)
    assert expect(stream, "no_endpoints").no_endpoints.exists is False
    stream.assert_quiet(0.3)


def test_v1beta1_endpoint_slices_when_v1_is_not_served(
    clusters: Callable[..., FakeKubernetes], start: Callable[..., ControllerProcess]
) -> None:
    cluster = clusters(SERVICES, PODS, SLICES_V1BETA1)
    cluster.create(SERVICES, service())
    cluster.create(SLICES_V1BETA1, endpoint_slice(endpoint(A), version="v1beta1"))
    controller = start(cluster)
    stream = controller.get(WEB)
    expect(stream, "add", A)
    assert "endpoints from discovery.k8s.io/v1beta1 EndpointSlices" in controller.log()
    cluster.patch(SLICES_V1BETA1, "default", "web-abc", {"endpoints": [endpoint(A), endpoint(B)]})
    expect(stream, "add", B)


def test_core_endpoints_when_no_endpoint_slices_are_served(
    clusters: Callable[..., FakeKubernetes], start: Callable[..., ControllerProcess]
) -> None:
    cluster = clusters(SERVICES, PODS, ENDPOINTS)
    cluster.create(SERVICES, service())
    cluster.create(PODS, pod(A))
    ports = [{"name": "http", "port": 8080, "protocol": "TCP"}]
    ready = [{"ip": a.host, "targetRef": endpoint(a)["targetRef"]} for a in (A, B)]
    subsets = [{"addresses": ready, "notReadyAddresses": [{"ip": C.host}], "ports": ports}]
    meta = {"name": "web", "namespace": "default"}
    cluster.create(ENDPOINTS, {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": subsets})
    controller = start(cluster)
    stream = controller.get(WEB)
    update = expect(stream, "add", A, B)
    assert dict(update.add.addrs[0].metric_labels) == pod_labels(A)
    assert "endpoints from v1 Endpoints" in controller.log()
    subsets[0]["addresses"] = ready[1:]
    subsets[0]["notReadyAddresses"] = [{"ip": A.host}, {"ip": C.host}]
    cluster.patch(ENDPOINTS, "default", "web", {"subsets": subsets})
    expect(stream, "remove", A)


def test_streams_wait_until_every_kind_is_listed(
    tmp_path: Path, clusters: Callable[..., FakeKubernetes]
) -> None:
    cluster = clusters(SERVICES, PODS)  # no endpoints API served yet: the start-up list is retried
    cluster.create(SERVICES, service())
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
    controller = ControllerProcess(
        tmp_path / "unused.yaml", "--source", "kubernetes", "--kubeconfig", str(kubeconfig)
    )
    starting = threading.Thread(target=controller.start, kwargs={"timeout": 20}, daemon=True)
    starting.start()
    try:
        wait_until(
            lambda: "serves neither EndpointSlices nor Endpoints" in controller.log(), 10, "a failed list"
        )
        wait_until(lambda: controller.http_status("/ready") == 503, 10, "the listeners (not ready)")
        stream = controller.get(WEB)
        stream.assert_quiet(0.5)  # no placeholder answer before the sync
        cluster.serve(SLICES)
        cluster.create(SLICES, endpoint_slice(endpoint(A)))
        expect(stream, "add", A)
        starting.join(20)
        assert not starting.is_alive() and controller.http_status("/ready") == 200
        assert controller.metric("registry_reload_errors_total", source="kubernetes") >= 1
    finally:
        starting.join(20)
        assert controller.stop() == 0


def test_an_unusable_kubeconfig_or_source_stops_the_start(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "lightmesh", "controller", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    result = run("--source", "kubernetes", "--kubeconfig", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "cannot use the Kubernetes configuration" in result.stderr
    assert "missing" in result.stderr
    result = run("--source", "etcd")
    assert result.returncode == 2
    assert "--source: expected one of file, kubernetes" in result.stderr
