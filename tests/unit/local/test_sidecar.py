"""Each instance's settings: the sidecar's are all settings the proxy accepts; the app's wiring."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightmesh.local.meshfile import parse_mesh
from lightmesh.local.registry import EndpointEntry, registry_data, registry_text
from lightmesh.local.sidecar import Instance, app_env, controller_argv, sidecar_env
from lightmesh.proxy.config import load

SPEC = parse_mesh(
    "services:\n  - {name: web, namespace: shop, port: 80, replicas: 2,\n"
    "     command: 'python3 -m web --port {port}'}\n"
    "  - {name: db, port: 5432, protocol: opaque, command: python3, service_account: data}\n"
)
WEB = SPEC.services[0]


def local() -> Instance:
    return Instance(WEB, 1, "127.0.0.1", 9001, 9002, 9003, 9004, 9005, "127.0.0.1:8086")


def pod() -> Instance:
    return Instance(
        WEB, 0, "10.213.0.2", 80, 4143, 4140, 4191, 4190, "10.213.0.1:8086", netns="lm-shop-web-0"
    )


@pytest.mark.parametrize("instance", [local(), pod()], ids=["local", "netns"])
def test_the_proxy_accepts_every_sidecar_setting(instance: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIGHTMESH_PROXY_TYPO", "x")  # the user's own settings never leak in
    config = load(sidecar_env(instance))
    assert config.namespace == "shop"
    assert str(config.controller_addr) == instance.controller_addr
    assert str(config.outbound_listen_addr) == instance.outbound_addr


def test_a_local_instance_is_reached_through_its_sidecar_and_calls_through_it() -> None:
    instance = local()
    config = load(sidecar_env(instance))
    assert str(config.inbound_forward) == "127.0.0.1:9001"
    assert str(config.inbound_listen_addr) == instance.address == "127.0.0.1:9002"
    env = app_env(instance)
    assert (env["PORT"], env["LIGHTMESH_POD"], env["LIGHTMESH_NAMESPACE"]) == ("9001", "web-1", "shop")
    assert env["http_proxy"] == env["HTTP_PROXY"] == "http://127.0.0.1:9003"
    assert env["LIGHTMESH_OUTBOUND"] == "127.0.0.1:9003"


def test_a_pod_is_reached_at_its_ip_and_its_app_needs_no_proxy_settings() -> None:
    instance = pod()
    config = load(sidecar_env(instance))
    assert config.inbound_forward is None
    assert str(config.inbound_listen_addr) == "0.0.0.0:4143"
    assert instance.address == "10.213.0.2:80"
    env = app_env(instance)
    assert "http_proxy" not in env and "LIGHTMESH_OUTBOUND" not in env and env["PORT"] == "80"


def test_the_registry_lists_ready_instances_with_their_identity_and_labels() -> None:
    data = registry_data(
        SPEC, {"web.shop": [EndpointEntry("127.0.0.1:2", "web-1"), EndpointEntry("127.0.0.1:1", "web-0")]}
    )
    web, db = data["services"]
    assert (web["name"], web["namespace"], web["port"]) == ("web", "shop", 80)
    assert [e["address"] for e in web["endpoints"]] == ["127.0.0.1:1", "127.0.0.1:2"]
    assert web["endpoints"][0] == {
        "address": "127.0.0.1:1",
        "labels": {"pod": "web-0", "serviceaccount": "web", "deployment": "web"},
        "identity": "web.shop.serviceaccount.identity.lightmesh.cluster.local",
        "protocol": "h2",
    }
    assert db["endpoints"] == [] and "profiles" not in data  # no profiles in the mesh file


def test_the_mesh_files_profiles_reach_the_registry_and_are_valid_there() -> None:
    from lightmesh.controller.registry import parse_profiles
    from lightmesh.demo.mesh import demo_mesh

    spec = parse_mesh(demo_mesh("python3"))
    profiles = parse_profiles(registry_text(spec, {}), "registry.yaml")
    assert sorted(profiles) == ["voting.emojivoto.svc.cluster.local", "web.emojivoto.svc.cluster.local"]
    assert registry_data(spec, {})["profiles"] == spec.profiles


def test_a_sidecar_with_a_token_file_runs_with_the_instances_identity(tmp_path: Path) -> None:
    instance = pod()
    instance.token_file, instance.trust_anchors = str(tmp_path / "t"), str(tmp_path / "anchors.pem")
    config = load(sidecar_env(instance))
    assert config.identity_local_name == "web.shop.serviceaccount.identity.lightmesh.cluster.local"
    assert str(config.identity_service_addr) == instance.controller_addr == "10.213.0.1:8086"
    assert str(config.tap_listen_addr) == "0.0.0.0:4190"
    assert local().token_file == "" and "LIGHTMESH_PROXY_IDENTITY_LOCAL_NAME" not in sidecar_env(local())


def test_the_registry_text_is_a_valid_controller_registry() -> None:
    from lightmesh.controller.registry import parse_registry_slow

    text = registry_text(SPEC, {"db.default": [EndpointEntry("127.0.0.1:7", "db-0")]})
    services = parse_registry_slow(text, "registry.yaml")
    assert sorted(services) == ["db.default.svc.cluster.local:5432", "web.shop.svc.cluster.local:80"]
    (endpoint,) = services["db.default.svc.cluster.local:5432"].endpoints.values()
    assert endpoint.identity == "data.default.serviceaccount.identity.lightmesh.cluster.local"


def test_the_controller_command_line_is_valid() -> None:
    from typer.testing import CliRunner

    from lightmesh.cli.app import app

    argv = controller_argv(Path("/tmp/r.yaml"), "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", Path("/tmp/id"))
    assert argv[1:4] == ["-m", "lightmesh", "controller"]
    assert argv[argv.index("--identity-dir") + 1] == "/tmp/id"
    assert argv[argv.index("--public-api-addr") + 1] == "127.0.0.1:3"
    result = CliRunner().invoke(app, [*argv[3:], "--log-level", "nonsense"])
    assert "--log-level: expected one of" in result.output  # every other flag was accepted
