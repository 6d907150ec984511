"""Kubernetes objects to services and endpoints: parsing, mapping and the source's state diffs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from lightmesh.controller.directory import Directory
from lightmesh.controller.endpoints import Endpoint, Service
from lightmesh.controller.kubemapping import PodInfo, parse_pod, service_entries
from lightmesh.controller.kubeobjects import (
    EndpointGroup,
    KubeService,
    parse_endpoints,
    parse_service,
    parse_slice,
)
from lightmesh.controller.kubestate import KubeState
from lightmesh.core.addr import SocketAddr

WEB80 = "web.default.svc.cluster.local:80"
WEB90 = "web.default.svc.cluster.local:9090"
IDENTITY = "web-sa.default.serviceaccount.identity.lightmesh.cluster.local"


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", **extra}


def service(*ports: dict[str, Any], name: str = "web", **spec: Any) -> KubeService:
    parsed = parse_service({"metadata": meta(name), "spec": {"ports": list(ports), **spec}})
    assert parsed is not None
    return parsed


HTTP = {"name": "http", "port": 80, "targetPort": 8080}
GRPC = {"name": "grpc", "port": 9090, "targetPort": "grpc-port", "appProtocol": "grpc"}


def ep(ip: str, ready: bool | None = True, pod: str | None = None) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"addresses": [ip]}
    if ready is not None:
        endpoint["conditions"] = {"ready": ready}
    if pod is not None:
        endpoint["targetRef"] = {"kind": "Pod", "name": pod, "namespace": "default"}
    return endpoint


def eslice(
    *endpoints: dict[str, Any],
    name: str = "web-1",
    ports: Any = None,
    service: str = "web",
    family: str = "IPv4",
) -> EndpointGroup:
    obj = {
        "metadata": meta(name, labels={"kubernetes.io/service-name": service}),
        "addressType": family,
        "ports": ports if ports is not None else [{"name": "http", "port": 8080}],
        "endpoints": list(endpoints),
    }
    parsed = parse_slice(obj)
    assert parsed is not None
    return parsed


def pod_info(name: str, owner: tuple[str, str] | None = ("ReplicaSet", "web-7f9c"), **spec: Any) -> PodInfo:
    extra: dict[str, Any] = {"labels": {"pod-template-hash": "7f9c", "app": "web"}}
    if owner is not None:
        extra["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    parsed = parse_pod({"metadata": meta(name, **extra), "spec": {"serviceAccountName": "web-sa", **spec}})
    assert parsed is not None
    return parsed


def addrs(entry: Service) -> list[str]:
    return sorted(str(a) for a in entry.endpoints)


def test_ready_endpoints_of_each_port_with_pod_labels_identity_and_protocol() -> None:
    ports = [{"name": "http", "port": 8080}, {"name": "grpc", "port": 9091}]
    group = eslice(ep("10.0.0.1", pod="web-7f9c-a"), ep("10.0.0.2", False), ep("10.0.0.3"), ports=ports)
    pods = {("default", "web-7f9c-a"): pod_info("web-7f9c-a")}
    entries = service_entries(service(HTTP, GRPC), [group], pods)
    assert entries.keys() == {WEB80, WEB90}
    assert addrs(entries[WEB80]) == ["10.0.0.1:8080", "10.0.0.3:8080"]
    assert addrs(entries[WEB90]) == ["10.0.0.1:9091", "10.0.0.3:9091"]
    a = entries[WEB80].endpoints[SocketAddr("10.0.0.1", 8080)]
    labels = {
        "deployment": "web",
        "pod": "web-7f9c-a",
        "pod_template_hash": "7f9c",
        "serviceaccount": "web-sa",
    }
    assert a == Endpoint(
        SocketAddr("10.0.0.1", 8080), labels=tuple(sorted(labels.items())), identity=IDENTITY
    )
    assert entries[WEB80].endpoints[SocketAddr("10.0.0.3", 8080)] == Endpoint(SocketAddr("10.0.0.3", 8080))
    assert {e.protocol for e in entries[WEB90].endpoints.values()} == {"h2"}


@pytest.mark.parametrize("app_protocol", ["kubernetes.io/h2c", "grpc"])
def test_h2_app_protocols_hint_h2_and_others_do_not(app_protocol: str) -> None:
    group = eslice(ep("10.0.0.1"))
    hinted = service_entries(service({**HTTP, "appProtocol": app_protocol}), [group], {})
    assert hinted[WEB80].endpoints[SocketAddr("10.0.0.1", 8080)].protocol == "h2"
    plain = service_entries(service({**HTTP, "appProtocol": "http"}), [group], {})
    assert plain[WEB80].endpoints[SocketAddr("10.0.0.1", 8080)].protocol is None


def test_an_unknown_pod_gives_its_name_only_and_host_network_pods_no_identity() -> None:
    group = eslice(ep("10.0.0.1", pod="a"), ep("10.0.0.2", pod="b"))
    pods = {("default", "b"): pod_info("b", hostNetwork=True)}
    entry = service_entries(service(HTTP), [group], pods)[WEB80]
    a, b = (entry.endpoints[SocketAddr(ip, 8080)] for ip in ("10.0.0.1", "10.0.0.2"))
    assert (a.labels, a.identity) == ((("pod", "a"),), None)
    assert b.identity is None and ("serviceaccount", "web-sa") in b.labels


def test_ports_match_by_name_then_by_numeric_target_port() -> None:
    unnamed = eslice(ep("10.0.0.1"), ports=[{"port": 8080}])
    assert addrs(service_entries(service({"port": 80}), [unnamed], {})[WEB80]) == ["10.0.0.1:8080"]
    other_name = eslice(ep("10.0.0.1"), ports=[{"name": "web", "port": 8080}])
    assert addrs(service_entries(service(HTTP), [other_name], {})[WEB80]) == ["10.0.0.1:8080"]
    no_match = eslice(ep("10.0.0.1"), ports=[{"name": "web", "port": 7070}])
    assert (
        service_entries(service(HTTP), [no_match], {})[WEB80] == service_entries(service(HTTP), [], {})[WEB80]
    )
    udp = eslice(ep("10.0.0.1"), ports=[{"name": "http", "port": 8080, "protocol": "UDP"}])
    assert addrs(service_entries(service(HTTP), [udp], {})[WEB80]) == []


def test_addresses_are_read_carefully() -> None:
    group = eslice(
        ep("10.0.0.1", ready=None),  # no conditions: ready, as the API says
        ep("FD00::0001"),  # canonical form
        ep("not-an-ip"),
        {"addresses": []},
        {"addresses": "10.0.0.9"},
        ep("10.0.0.1"),  # listed twice: kept once
        family="IPv4",
    )
    assert addrs(service_entries(service(HTTP), [group], {})[WEB80]) == ["10.0.0.1:8080", "[fd00::1]:8080"]
    fqdn = eslice(ep("10.0.0.1"), family="FQDN")
    assert addrs(service_entries(service(HTTP), [fqdn], {})[WEB80]) == []


def test_endpoints_across_slices_are_merged() -> None:
    groups = [eslice(ep("10.0.0.2"), name="web-2"), eslice(ep("10.0.0.1"), ep("10.0.0.2"), name="web-1")]
    assert addrs(service_entries(service(HTTP), groups, {})[WEB80]) == ["10.0.0.1:8080", "10.0.0.2:8080"]


def test_services_parse_tcp_ports_and_external_names_are_not_services() -> None:
    svc = service(HTTP, {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "bad", "port": 0})
    assert [p.port for p in svc.ports] == [80]
    external = {"metadata": meta("ext"), "spec": {"type": "ExternalName", "externalName": "example.com"}}
    assert parse_service(external) is None
    assert parse_service({"metadata": {"name": "nameless-namespace"}}) is None
    assert parse_service({"metadata": meta("web"), "spec": "garbage"}) == KubeService("default", "web", ())


def test_a_services_cluster_ips_are_kept_and_a_headless_service_has_none() -> None:
    spec = {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10", "FD00::A"], "ports": [HTTP]}
    svc = parse_service({"metadata": meta("web"), "spec": spec})
    assert svc is not None and svc.cluster_ips == ("10.96.0.10", "fd00::a")
    assert service_entries(svc, [], {})[WEB80].cluster_ips == ("10.96.0.10", "fd00::a")
    headless = parse_service({"metadata": meta("db"), "spec": {"clusterIP": "None", "ports": [HTTP]}})
    assert headless is not None and headless.cluster_ips == ()


def test_core_endpoints_subsets_with_not_ready_addresses() -> None:
    obj = {
        "metadata": meta("web"),
        "subsets": [
            {
                "addresses": [{"ip": "10.0.0.1", "targetRef": {"kind": "Pod", "name": "p1"}}],
                "notReadyAddresses": [{"ip": "10.0.0.2"}],
                "ports": [{"name": "http", "port": 8080}],
            },
            {"addresses": [{"ip": "10.0.0.3"}], "ports": [{"name": "http", "port": 8081}]},
        ],
    }
    group = parse_endpoints(obj)
    assert group is not None and group.service == "web"
    entry = service_entries(service(HTTP), [group], {})[WEB80]
    assert addrs(entry) == ["10.0.0.1:8080", "10.0.0.3:8081"]
    assert entry.endpoints[SocketAddr("10.0.0.1", 8080)].labels == (("pod", "p1"),)


@pytest.mark.parametrize(
    ("owner", "labels"),
    [
        (("ReplicaSet", "web-7f9c"), {"deployment": "web"}),
        (("ReplicaSet", "web-other"), {"replicaset": "web-other"}),
        (("StatefulSet", "db"), {"statefulset": "db"}),
        (("DaemonSet", "agent"), {"daemonset": "agent"}),
        (("Job", "migrate"), {"job": "migrate"}),
        (("SomethingCustom", "x"), {}),
        (None, {}),
    ],
)
def test_pod_labels_name_the_owner(owner: tuple[str, str] | None, labels: Mapping[str, str]) -> None:
    expected = {"pod": "p", "pod_template_hash": "7f9c", "serviceaccount": "web-sa", **labels}
    assert dict(pod_info("p", owner).labels) == expected
    bare = parse_pod({"metadata": meta("q")})
    assert bare is not None and bare.serviceaccount == "default"


class RecordingSink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Service | None]] = []

    def replace_all(self, services: Mapping[str, Service]) -> None:
        raise AssertionError("not used by the Kubernetes source")

    def set_service(self, key: str, service: Service | None) -> None:
        self.calls.append((key, service))

    def mark_synced(self) -> None:
        pass


WEB, DB = ("default", "web"), ("default", "db")


def test_state_changes_report_the_services_they_affect() -> None:
    state = KubeState()
    assert state.set_service(WEB, service(HTTP)) == {WEB}
    assert state.set_service(WEB, service(HTTP)) == set()  # equal: nothing
    assert state.set_group(("default", "web-1"), eslice(ep("10.0.0.1", pod="a"))) == {WEB}
    assert state.set_pod(("default", "a"), pod_info("a")) == {WEB}
    assert state.set_pod(("default", "a"), pod_info("a")) == set()
    assert state.set_pod(("default", "unrelated"), pod_info("unrelated")) == set()
    moved = eslice(ep("10.0.0.1", pod="a"), service="db")  # relabelled: both services change
    assert state.set_group(("default", "web-1"), moved) == {WEB, DB}
    assert state.set_pod(("default", "a"), None) == {DB}
    assert state.set_group(("default", "web-1"), None) == {DB}
    assert state.set_pod(("default", "a"), pod_info("a")) == set()  # no longer referenced


def test_a_relist_applies_only_the_differences() -> None:
    state = KubeState()
    state.replace_services({WEB: service(HTTP), DB: service(name="db")})
    groups = {
        ("default", "web-1"): eslice(ep("10.0.0.1")),
        ("default", "web-2"): eslice(ep("10.0.0.2"), name="web-2"),
    }
    state.replace_groups(groups)
    assert state.replace_services({WEB: service(HTTP), DB: service(name="db")}) == set()
    assert state.replace_groups(dict(groups)) == set()
    assert state.replace_groups({("default", "web-1"): groups["default", "web-1"]}) == {WEB}
    assert state.replace_services({WEB: service(HTTP)}) == {DB}
    assert state.replace_pods({}) == set()


def test_publishing_reports_entries_and_removes_ports_and_services_that_went_away() -> None:
    state, sink = KubeState(), RecordingSink()
    state.set_service(WEB, service(HTTP, GRPC))
    state.set_group(("default", "web-1"), eslice(ep("10.0.0.1")))
    state.publish_all(sink)
    assert [key for key, _ in sink.calls] == [WEB80, WEB90]
    sink.calls.clear()
    state.publish(sink, state.set_service(WEB, service(HTTP)))  # the grpc port was removed
    assert [(key, value is None) for key, value in sink.calls] == [(WEB90, True), (WEB80, False)]
    sink.calls.clear()
    state.publish(sink, state.set_service(WEB, None))
    assert sink.calls == [(WEB80, None)]


def test_republishing_an_unchanged_service_notifies_no_stream() -> None:
    state, directory = KubeState(), Directory()
    state.set_service(WEB, service(HTTP))
    state.set_group(("default", "web-1"), eslice(ep("10.0.0.1")))
    state.publish_all(directory)
    directory.mark_synced()
    calls: list[str] = []
    directory.watch(WEB80, lambda: calls.append("web"))
    state.publish_all(directory)
    assert calls == []
    state.publish(directory, state.set_group(("default", "web-1"), eslice(ep("10.0.0.2"))))
    assert calls == ["web"]
    entry = directory.get(WEB80)
    assert entry is not None and addrs(entry) == ["10.0.0.2:8080"]
