"""``lightmesh check`` against a real control plane: [ok] lines when healthy, [FAIL] with a hint
and exit code 2 when not."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.cli import run_cli
from tests.support.controller import ControllerProcess
from tests.support.proxy import ProxyProcess, free_port
from tests.support.public import wait_for_pods


def test_a_healthy_mesh_passes(
    controller: ControllerProcess, meshed: Callable[[str, str], ProxyProcess]
) -> None:
    meshed("web", "web-0")
    wait_for_pods(controller.public_api, {"web-0"})
    result = run_cli("check", "--api-addr", controller.public_api)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert [line.rsplit(".", 1)[-1] for line in lines[:5]] == ["[ok]"] * 5
    assert lines[0].startswith("lightmesh-api: can reach the control plane's public API...")
    assert lines[-1] == "Status check results are [ok]"
    assert "lightmesh-identity" not in result.stdout  # no proxy announced an identity


def test_no_proxies_fails_with_a_hint(controller: ControllerProcess) -> None:
    result = run_cli("check", "--api-addr", controller.public_api)
    assert result.returncode == 2
    assert "lightmesh-data-plane: proxies have announced themselves" in result.stdout
    assert "[FAIL] -- no proxy has announced itself" in result.stdout
    assert "    hint: set LIGHTMESH_PROXY_CONTROLLER_ADDR" in result.stdout
    assert result.stdout.endswith("Status check results are [FAIL]\n")


def test_an_unreachable_control_plane_skips_the_rest() -> None:
    result = run_cli("check", "--api-addr", f"127.0.0.1:{free_port()}")
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert "[FAIL] -- cannot reach the lightmesh control plane" in lines[0]
    assert lines[1].startswith("    hint: start the control plane with `lightmesh up`")
    assert all(line.endswith("[SKIP]") for line in lines[2:-2])


def test_a_version_mismatch_fails(controller: ControllerProcess) -> None:
    result = run_cli("check", "--expected-version", "9.9.9", "--api-addr", controller.public_api)
    assert result.returncode == 2
    assert "lightmesh-version: control plane runs the expected version" in result.stdout
    assert "expected 9.9.9" in result.stdout
