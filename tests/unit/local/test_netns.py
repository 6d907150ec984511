"""--netns without root: addresses, the pods' hosts files and the service rules (kube-proxy's part)."""

from __future__ import annotations

import pytest

from lightmesh.local.meshfile import parse_mesh
from lightmesh.local.netns import AS_PROXY, NetnsNetwork

SPEC = parse_mesh(
    "services:\n"
    "  - {name: web, namespace: shop, port: 80, replicas: 2, command: python3}\n"
    "  - {name: db, namespace: data, port: 5432, command: python3}\n"
)
WEB, DB = SPEC.services


def network() -> NetnsNetwork:
    net = NetnsNetwork("10.213.0.0/16")
    net._spec = SPEC
    return net


def test_pods_get_addresses_after_the_gateway_and_linkerds_ports() -> None:
    net = network()
    web0 = net.allocate(WEB, 0, "10.213.0.1:8086")
    web1 = net.allocate(WEB, 1, "10.213.0.1:8086")
    assert (web0.host, web1.host) == ("10.213.0.2", "10.213.0.3")
    assert (web0.address, web0.admin_addr, web0.outbound_addr) == (
        "10.213.0.2:80",
        "10.213.0.2:4191",
        "127.0.0.1:4140",
    )
    assert web0.netns == "lightmesh-shop-web-0"
    assert net.app_argv(web0)[:4] == ["ip", "netns", "exec", "lightmesh-shop-web-0"]
    sidecar = net.sidecar_argv(web0)
    assert sidecar[4 : 4 + len(AS_PROXY)] == AS_PROXY and "--reuid=2102" in sidecar


def test_a_pod_resolves_services_by_name_short_names_in_its_own_namespace_only() -> None:
    net = network()
    hosts = net.hosts_file(net.allocate(WEB, 0, "10.213.0.1:8086")).splitlines()
    assert "10.213.0.2\tweb-0" in hosts
    assert "10.213.255.1\tweb web.shop web.shop.svc web.shop.svc.cluster.local" in hosts
    assert "10.213.255.2\tdb.data db.data.svc db.data.svc.cluster.local" in hosts


def test_service_addresses_spread_over_the_ready_pods() -> None:
    net = network()
    pods = [net.allocate(WEB, i, "x") for i in range(3)]
    net._ready = {"web.shop": pods}
    assert net.service_rules().splitlines() == [
        "*nat",
        ":LIGHTMESH_SERVICES - [0:0]",
        "-A LIGHTMESH_SERVICES -d 10.213.255.1/32 -p tcp --dport 80 -m statistic --mode random "
        "--probability 0.33333 -j DNAT --to-destination 10.213.0.2:80",
        "-A LIGHTMESH_SERVICES -d 10.213.255.1/32 -p tcp --dport 80 -m statistic --mode random "
        "--probability 0.50000 -j DNAT --to-destination 10.213.0.3:80",
        "-A LIGHTMESH_SERVICES -d 10.213.255.1/32 -p tcp --dport 80 -j DNAT --to-destination 10.213.0.4:80",
        "COMMIT",
    ]


def test_a_subnet_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="/16 or larger"):
        NetnsNetwork("10.0.0.0/24")
