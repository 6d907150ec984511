"""ServiceProfile resources through ``lightmesh controller --source kubernetes`` (fake API server).

The controller lists and watches ``lightmesh.io/v1alpha1`` ServiceProfiles next to the
Services; a **grpcio** client follows ``GetProfile``. A bad spec is refused with a logged
reason and the last good profile stays. Every wait is bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.controller import ControllerProcess, launch
from tests.support.kubernetes import PODS, SERVICES, SLICES, FakeKubernetes
from tests.support.tcp_client import wait_until

PROFILES = "lightmesh.io/v1alpha1/serviceprofiles"
FQDN = "web.default.svc.cluster.local"
BUDGET = {"retryRatio": 0.3, "minRetriesPerSecond": 5, "ttl": "10s"}


def start(cluster: FakeKubernetes, tmp_path: Path) -> ControllerProcess:
    kubeconfig = str(cluster.write_kubeconfig(tmp_path / "kubeconfig"))
    return launch(tmp_path / "unused-registry.yaml", "--source", "kubernetes", "--kubeconfig", kubeconfig)


def service() -> dict[str, Any]:
    port = {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}
    meta = {"name": "web", "namespace": "default"}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {"ports": [port]}}


def profile(name: str = FQDN, timeout: str = "300ms") -> dict[str, Any]:
    route = {"name": "users", "condition": {"method": "GET", "pathPrefix": "/users"}, "timeout": timeout}
    return {
        "apiVersion": "lightmesh.io/v1alpha1",
        "kind": "ServiceProfile",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "routes": [route],
            "retryBudget": {"retryRatio": 0.3, "minRetriesPerSecond": 5, "ttl": "10s"},
        },
    }


@pytest.fixture
def cluster() -> Iterator[FakeKubernetes]:
    with FakeKubernetes((SERVICES, PODS, SLICES, PROFILES)) as fake:
        yield fake


@pytest.fixture
def controller(tmp_path: Path, cluster: FakeKubernetes) -> Iterator[ControllerProcess]:
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
    process = launch(
        tmp_path / "unused-registry.yaml", "--source", "kubernetes", "--kubeconfig", str(kubeconfig)
    )
    yield process
    process.stop()


def test_service_profiles_are_streamed_and_a_bad_one_keeps_the_last_good(
    cluster: FakeKubernetes, tmp_path: Path
) -> None:
    cluster.create(SERVICES, service())
    cluster.create(PROFILES, profile())
    controller = start(cluster, tmp_path)
    try:
        stream = controller.get_profile("web:80", "default")
        first = stream.next()
        while not first.routes:  # the profile list may land just after the first answer
            first = stream.next()
        assert [r.name for r in first.routes] == ["users"]
        assert first.routes[0].timeout.ToMilliseconds() == 300
        assert first.retry_budget.retry_ratio == pytest.approx(0.3)
        cluster.patch(
            PROFILES, "default", "web.default.svc.cluster.local", {"spec": profile(timeout="300")["spec"]}
        )
        wait_until(lambda: "refused, keeping the last good profile" in controller.log(), 10)
        assert "spec.routes.0.timeout" in controller.log()
        stream.assert_quiet(0.5)
        cluster.patch(
            PROFILES, "default", "web.default.svc.cluster.local", {"spec": profile(timeout="2s")["spec"]}
        )
        assert stream.next().routes[0].timeout.ToMilliseconds() == 2000
        cluster.delete(PROFILES, "default", FQDN)
        assert list(stream.next().routes) == []
    finally:
        controller.stop()


def test_a_profile_named_after_the_short_service_name_applies(
    cluster: FakeKubernetes, controller: ControllerProcess
) -> None:
    cluster.create(SERVICES, service())
    stream = controller.get_profile("web.default.svc.cluster.local:80")
    assert list(stream.next().routes) == []
    cluster.create(PROFILES, profile(name="web"))
    assert [r.name for r in stream.next().routes] == ["users"]


def test_without_the_crd_the_controller_serves_default_profiles(tmp_path: Path) -> None:
    with FakeKubernetes((SERVICES, PODS, SLICES)) as fake:
        fake.create(SERVICES, service())
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        controller = launch(
            tmp_path / "unused.yaml", "--source", "kubernetes", "--kubeconfig", str(kubeconfig)
        )
        try:
            assert list(controller.get_profile("web:80", "default").next().routes) == []
            wait_until(lambda: "ServiceProfile CRD not installed" in controller.log(), 10)
        finally:
            controller.stop()
