"""Parsing the file registry: typed services from valid YAML, every problem with its line otherwise."""

from __future__ import annotations

import textwrap

import pytest

from lightmesh.controller.endpoints import DEFAULT_WEIGHT, Endpoint
from lightmesh.controller.registry import RegistryError, parse_registry
from lightmesh.core.addr import SocketAddr
from lightmesh.core.names import ServiceName

GOOD = """\
services:
  - name: web
    namespace: default
    port: 80
    endpoints:
      - address: 10.0.0.5:8080
        labels: {pod: web-1, pod_template_hash: abc}
        identity: web.default.serviceaccount.identity.lightmesh.cluster.local
        protocol: h2
      - address: "[fd00:0:0::5]:8080"
        weight: 5
        protocol: opaque
  - name: web
    namespace: default
    port: 8443
  - name: db
    namespace: data
    port: 5432
    endpoints: []
"""


def parse(text: str) -> dict[str, object]:
    return dict(parse_registry(textwrap.dedent(text), "mesh-registry.yaml"))


def problems(text: str) -> list[str]:
    with pytest.raises(RegistryError) as info:
        parse_registry(textwrap.dedent(text), "mesh-registry.yaml")
    assert str(info.value).startswith("invalid registry mesh-registry.yaml:\n")
    return info.value.problems


def test_a_valid_registry_becomes_typed_services_keyed_by_canonical_name() -> None:
    services = parse_registry(GOOD, "mesh-registry.yaml")
    assert list(services) == [
        "web.default.svc.cluster.local:80",
        "web.default.svc.cluster.local:8443",
        "db.data.svc.cluster.local:5432",
    ]
    web = services["web.default.svc.cluster.local:80"]
    assert web.name == ServiceName("web", "default", 80)
    v4, v6 = SocketAddr("10.0.0.5", 8080), SocketAddr("fd00::5", 8080)  # IPv6 in canonical form
    assert web.endpoints == {
        v4: Endpoint(
            v4,
            DEFAULT_WEIGHT,
            (("pod", "web-1"), ("pod_template_hash", "abc")),
            "web.default.serviceaccount.identity.lightmesh.cluster.local",
            "h2",
        ),
        v6: Endpoint(v6, 5, (), None, "opaque"),
    }
    assert services["web.default.svc.cluster.local:8443"].endpoints == {}
    assert services["db.data.svc.cluster.local:5432"].endpoints == {}


def test_an_empty_service_list_is_valid() -> None:
    assert parse("services: []\n") == {}


def test_the_cluster_domain_is_part_of_the_key() -> None:
    services = parse_registry("services: [{name: a, namespace: b, port: 1}]", "r", "example.org")
    assert list(services) == ["a.b.svc.example.org:1"]


def test_a_cluster_ip_is_kept_in_canonical_form_and_must_be_an_ip() -> None:
    text = "services: [{name: a, namespace: b, port: 1, clusterIP: 'FD00:0::A'}]"
    assert parse_registry(text)["a.b.svc.cluster.local:1"].cluster_ips == ("fd00::a",)
    assert problems("services: [{name: a, namespace: b, port: 1, clusterIP: a.b}]\n") == [
        "mesh-registry.yaml:1: services[0].clusterIP: 'a.b' is not an IP address"
    ]


def test_every_problem_is_reported_with_file_line_and_place() -> None:
    found = problems(
        """\
        services:
          - name: Web
            namespace: default
            port: 0
            prot: 3
            endpoints:
              - address: web:80
                protocol: h3
                weight: 0
              - identity: not..a..name
              - address: 10.0.0.1:80
                labels: {a-b: x}
          - namespace: default
            port: "80"
        """
    )
    assert found == [
        "mesh-registry.yaml:2: services[0].name: invalid service name 'Web': use lower-case letters, "
        "digits and '-', starting and ending with a letter or digit, at most 63 characters",
        "mesh-registry.yaml:4: services[0].port: port 0 out of range 1-65535",
        "mesh-registry.yaml:5: services[0].prot: unknown key (a typo?)",
        "mesh-registry.yaml:7: services[0].endpoints[0].address: 'web:80' is not an IP address and port "
        "(10.0.0.5:8080, [fd00::5]:8080)",
        "mesh-registry.yaml:8: services[0].endpoints[0].protocol: Input should be 'h2' or 'opaque'",
        "mesh-registry.yaml:9: services[0].endpoints[0].weight: Input should be greater than or equal to 1",
        "mesh-registry.yaml:10: services[0].endpoints[1].address: Field required",
        "mesh-registry.yaml:10: services[0].endpoints[1].identity: invalid label '': use letters, digits "
        "and '-', 1 to 63 characters",
        "mesh-registry.yaml:12: services[0].endpoints[2].labels: invalid label name 'a-b': use letters, "
        "digits and '_', not '__' first",
        "mesh-registry.yaml:13: services[1].name: Field required",
        "mesh-registry.yaml:14: services[1].port: Input should be a valid integer",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("services: [\n", "mesh-registry.yaml:2:1: invalid YAML: did not find expected node content"),
        ("services:\n  - name: a\n b: c\n", "mesh-registry.yaml:3:2: invalid YAML:"),
        ("", "mesh-registry.yaml:1: the file is empty; write `services: []` for no services"),
        ("# only a comment\n", "mesh-registry.yaml:1: the file is empty"),
        ("- web\n", "mesh-registry.yaml:1: top level: expected a mapping (key: value lines)"),
        ("services: {}\n", "mesh-registry.yaml:1: services: Input should be a valid list"),
        ("service: []\n", "mesh-registry.yaml:1: services: Field required"),
        (
            "services: [{name: a, namespace: b, port: 1, endpoints: [{address: 10.0.0.1:99999}]}]",
            "services[0].endpoints[0].address: port 99999 out of range",
        ),
        (
            "services: [{name: a, namespace: b, port: 1,\n"
            "  endpoints: [{address: 10.0.0.1:1, weight: 4294967296}]}]",
            "weight: Input should be less than or equal to 4294967295",
        ),
        (
            "services: [{name: a, namespace: b, port: 1, endpoints: [{address: 10.0.0.1:1, weight: true}]}]",
            "weight: Input should be a valid integer",
        ),
    ],
)
def test_bad_files_give_clear_errors(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) or expected in p for p in found), found


def test_duplicates_are_errors_not_silent_overrides() -> None:
    found = problems(
        """\
        services:
          - name: web
            namespace: default
            port: 80
            endpoints:
              - address: 10.0.0.1:80
              - address: 10.0.0.1:80
          - name: web
            namespace: default
            port: 80
            port: 81
        """
    )
    assert found == [
        "mesh-registry.yaml:11: key 'port' appears twice",
        "mesh-registry.yaml:7: services[0].endpoints[1].address: address 10.0.0.1:80 is listed twice "
        "in the service",
    ]
    found = problems(
        "services:\n"
        "  - {name: web, namespace: default, port: 80}\n"
        "  - {name: web, namespace: default, port: 80}\n"
    )
    assert found == ["mesh-registry.yaml:3: services[1]: service web.default:80 is listed twice"]


def test_the_same_address_written_two_ways_is_a_duplicate() -> None:
    found = problems(
        "services: [{name: a, namespace: b, port: 1,\n"
        "  endpoints: [{address: '[fd00::1]:1'}, {address: '[fd00:0::1]:1'}]}]"
    )
    assert found == [
        "mesh-registry.yaml:2: services[0].endpoints[1].address: "
        "address [fd00::1]:1 is listed twice in the service"
    ]
