"""The mesh file model: defaults, placeholders, and line-numbered errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightmesh.local.meshfile import MeshFileError, parse_mesh

GOOD = """\
services:
  - name: web
    namespace: shop
    port: 8080
    replicas: 2
    command: python3 -m app --port {port} --name {pod}
    protocol: grpc
  - name: db
    service_account: data
    port: 5432
    command: [python3, -c, "print('{{x}}')"]
profiles:
  - service: web.shop
    routes: []
"""


def errors(text: str) -> list[str]:
    with pytest.raises(MeshFileError) as info:
        parse_mesh(text, "mesh.yaml")
    return info.value.problems


def test_a_valid_file_has_defaults_and_per_instance_commands() -> None:
    spec = parse_mesh(GOOD)
    web, db = spec.services
    assert (web.key, web.account, web.replicas, web.protocol) == ("web.shop", "web", 2, "grpc")
    assert web.argv(port="1234", service="web", namespace="shop", pod="web-1") == [
        "python3", "-m", "app", "--port", "1234", "--name", "web-1",
    ]  # fmt: skip
    assert (db.namespace, db.account, db.replicas, db.protocol) == ("default", "data", 1, "http")
    assert db.argv(port="1", service="db", namespace="default", pod="db-0")[-1] == "print('{x}')"
    assert spec.profiles == [{"service": "web.shop", "routes": []}]
    assert spec.service("web.shop") is web and spec.service("web.default") is None


def test_every_problem_is_reported_with_its_line() -> None:
    text = """\
services:
  - name: web
    port: 0
    replicas: 65
    command: python3 {prot}
    protcol: h2
  - name: web
    port: 80
    command: ""
  - name: api
    port: 81
    protocol: thrift
"""
    assert errors(text) == [
        "mesh.yaml:3: services[0].port: port 0 out of range 1-65535",
        "mesh.yaml:4: services[0].replicas: Input should be less than or equal to 64",
        "mesh.yaml:5: services[0].command: '{prot}': unknown placeholder 'prot' "
        "(use {port}, {service}, {namespace}, {pod}; write {{ and }} for braces)",
        "mesh.yaml:6: services[0].protcol: unknown key (a typo?)",
        "mesh.yaml:9: services[1].command: the command is empty",
        "mesh.yaml:10: services[2].command: required key missing",
        "mesh.yaml:12: services[2].protocol: Input should be 'http', 'h2', 'grpc' or 'opaque'",
    ]


def test_duplicates_empty_files_and_yaml_errors_are_reported() -> None:
    two = "services:\n  - {name: a, port: 1, command: python3}\n  - {name: a, port: 2, command: python3}\n"
    assert errors(two) == ["mesh.yaml:3: services[1].name: service a.default is listed twice"]
    assert errors("") == ["mesh.yaml:1: the file is empty; it needs a `services:` list"]
    assert errors("services: [\n") == ["mesh.yaml:2:1: invalid YAML: did not find expected node content"]
    assert errors("services: []\nservices: []\n") == ["mesh.yaml:2: key 'services' appears twice"]


def test_a_missing_command_is_named() -> None:
    text = "services:\n  - name: a\n    port: 1\n    command: [lightmesh-no-such-binary]\n"
    assert errors(text) == [
        "mesh.yaml:4: services[0].command: command not found: 'lightmesh-no-such-binary' "
        "(not executable, nor on PATH)"
    ]


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_a_mesh_file_error(text: str) -> None:
    problems: list[str] = []
    try:
        parse_mesh(text, "mesh.yaml")
    except MeshFileError as exc:
        problems = exc.problems or ["(none)"]
    assert all(p.startswith("mesh.yaml") for p in problems)


def test_reserved_ports_are_refused_where_the_sidecar_uses_them() -> None:
    text = "services:\n  - name: a\n    port: 4143\n    command: python3\n"
    assert parse_mesh(text).services[0].port == 4143
    with pytest.raises(MeshFileError) as info:
        parse_mesh(text, "mesh.yaml", frozenset((4140, 4143)))
    assert info.value.problems == [
        "mesh.yaml:3: services[0].port: port 4143 is the sidecar's in a pod (4140, 4143)"
    ]


def test_instances_run_like_the_new_spec_when_only_the_replica_count_changed() -> None:
    web, _ = parse_mesh(GOOD, "mesh.yaml").services
    assert web.runs_like(web.model_copy(update={"replicas": 5}))
    assert not web.runs_like(web.model_copy(update={"port": 8081}))
    assert not web.runs_like(web.model_copy(update={"env": {"A": "1"}}))
    assert not web.runs_like(None)
