"""Normalising Kubernetes-style service names as proxies ask for them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightmesh.core.names import ServiceName, check_cluster_domain, normalize, service_name

WEB = ServiceName("web", "default", 80)


@pytest.mark.parametrize(
    ("path", "namespace"),
    [
        ("web:80", "default"),
        ("web.default:80", "other"),
        ("web.default.svc:80", "other"),
        ("web.default.svc.cluster.local:80", "other"),
        ("web.default.svc.cluster.local.:80", ""),
        ("WEB.Default.SVC.cluster.local:80", ""),
        (" web.default:80 ", ""),
    ],
)
def test_every_form_of_a_service_name_normalises_to_one_key(path: str, namespace: str) -> None:
    name = normalize(path, namespace)
    assert name == WEB
    assert str(name) == "web.default.svc.cluster.local:80"
    assert name is not None and name.host == "web.default.svc.cluster.local"


def test_a_short_name_takes_the_clients_namespace() -> None:
    assert normalize("web:8080", "shop") == ServiceName("web", "shop", 8080)


def test_the_cluster_domain_is_configurable() -> None:
    name = normalize("web.default.svc.example.org:80", "", "example.org")
    assert str(name) == "web.default.svc.example.org:80"
    assert normalize("web.default.svc.cluster.local:80", "", "example.org") is None


@pytest.mark.parametrize(
    "path",
    [
        "10.0.0.1:80",
        "[::1]:80",
        "example.com.:443",  # absolute: no search path
        "web.:80",
        "api.example.com:443",  # three labels, not name.namespace.svc
        "web.default.svc.cluster:80",
        "web.default.svc.other.local:80",
        "a.b.c.d.e.f:80",
    ],
)
def test_names_that_are_not_cluster_services_give_none(path: str) -> None:
    assert normalize(path, "default") is None


@pytest.mark.parametrize(
    ("path", "namespace", "message"),
    [
        ("web", "default", "missing port"),
        ("web:http", "default", "invalid port"),
        ("web:0", "default", "out of range"),
        ("web:80", "", "without its namespace"),
        ("web:80", "Bad_NS", "invalid namespace 'bad_ns'"),
        ("web_1.default:80", "", "invalid service name 'web_1'"),
        ("-web.default:80", "", "invalid service name '-web'"),
        ("web..svc:80", "", "empty label"),
        ("", "default", "empty address"),
    ],
)
def test_malformed_names_raise_with_the_reason(path: str, namespace: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize(path, namespace)


def test_service_name_validates_its_parts() -> None:
    assert service_name("web", "default", 80) == WEB
    with pytest.raises(ValueError, match="invalid namespace"):
        service_name("web", "x" * 64, 80)
    with pytest.raises(ValueError, match="out of range"):
        service_name("web", "default", 70000)


def test_cluster_domain_is_checked_and_canonicalised() -> None:
    assert check_cluster_domain("Cluster.Local.") == "cluster.local"
    with pytest.raises(ValueError, match="invalid cluster domain"):
        check_cluster_domain("bad..domain")


_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)


@given(name=_label, namespace=_label, port=st.integers(1, 65535))
def test_the_canonical_key_normalises_to_itself(name: str, namespace: str, port: int) -> None:
    canonical = ServiceName(name, namespace, port)
    assert normalize(str(canonical), "") == canonical
    assert normalize(f"{name}:{port}", namespace) == canonical
    assert normalize(f"{name}.{namespace}:{port}", "elsewhere") == canonical
