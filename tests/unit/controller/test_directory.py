"""The directory: services by key, watchers told about changes, waiting for the first sync."""

from __future__ import annotations

from lightmesh.controller.directory import Directory
from lightmesh.controller.endpoints import Endpoint, Service
from lightmesh.core.addr import SocketAddr
from lightmesh.core.names import ServiceName

WEB = ServiceName("web", "default", 80)
DB = ServiceName("db", "default", 5432)
A = Endpoint(SocketAddr("10.0.0.1", 80))


def svc(name: ServiceName, *endpoints: Endpoint) -> Service:
    return Service(name, {e.addr: e for e in endpoints})


def test_watchers_are_told_about_their_service_only_when_it_changes() -> None:
    directory = Directory()
    directory.replace_all({str(WEB): svc(WEB), str(DB): svc(DB)})
    calls: list[str] = []
    directory.watch(str(WEB), lambda: calls.append("web"))
    directory.watch(str(DB), lambda: calls.append("db"))
    directory.replace_all({str(WEB): svc(WEB, A), str(DB): svc(DB)})
    assert calls == ["web"]
    directory.replace_all({str(WEB): svc(WEB, A), str(DB): svc(DB)})
    assert calls == ["web"]
    directory.replace_all({str(WEB): svc(WEB, A)})
    assert calls == ["web", "db"]
    assert directory.get(str(DB)) is None
    assert (directory.service_count, directory.endpoint_count) == (1, 1)


def test_the_first_sync_wakes_every_watcher() -> None:
    directory = Directory()
    calls: list[str] = []
    directory.watch("unknown:1", lambda: calls.append("unknown"))
    assert not directory.synced
    directory.replace_all({})
    assert directory.synced
    assert calls == ["unknown"]


def test_a_watch_based_source_sets_services_one_by_one_then_syncs() -> None:
    directory = Directory()
    calls: list[str] = []
    directory.watch(str(WEB), lambda: calls.append("web"))
    directory.set_service(str(WEB), svc(WEB, A))
    directory.set_service(str(DB), svc(DB))
    directory.mark_synced()
    directory.mark_synced()
    assert calls == ["web", "web"]  # the change, then the sync
    directory.set_service(str(WEB), svc(WEB, A))  # no change
    directory.set_service(str(WEB), None)
    assert calls == ["web", "web", "web"]
    assert directory.get(str(WEB)) is None


def test_unwatch_stops_notifications_and_forgets_the_key() -> None:
    directory = Directory()
    calls: list[int] = []
    unwatch_1 = directory.watch(str(WEB), lambda: calls.append(1))
    unwatch_2 = directory.watch(str(WEB), lambda: calls.append(2))
    unwatch_1()
    directory.set_service(str(WEB), svc(WEB))
    assert calls == [2]
    unwatch_2()
    unwatch_2()  # twice is harmless
    directory.set_service(str(WEB), svc(WEB, A))
    assert calls == [2]
    assert directory._feeds == {}


def test_an_address_key_is_the_one_endpoint_of_the_service_listing_it() -> None:
    directory = Directory()
    meshed = Endpoint(SocketAddr("10.0.0.1", 80), identity="web.default.serviceaccount.identity.x.local")
    directory.replace_all({str(WEB): svc(WEB, meshed, Endpoint(SocketAddr("10.0.0.2", 80)))})
    found = directory.get("10.0.0.1:80")
    assert found == Service(WEB, {meshed.addr: meshed})
    assert directory.get("10.0.0.1:81") is None
    assert directory.get("10.0.0.9:80") is None


def test_address_watchers_follow_the_endpoint_as_services_change() -> None:
    directory = Directory()
    calls: list[str] = []
    directory.watch("10.0.0.1:80", lambda: calls.append("addr"))
    directory.replace_all({str(WEB): svc(WEB)})
    assert calls == ["addr"]  # the first sync
    directory.set_service(str(WEB), svc(WEB, A))
    assert calls == ["addr", "addr"] and directory.get("10.0.0.1:80") == svc(WEB, A)
    directory.set_service(str(DB), svc(DB))  # other addresses: not told
    assert calls == ["addr", "addr"]
    relabelled = Endpoint(A.addr, labels=(("pod", "web-1"),))
    directory.replace_all({str(WEB): svc(WEB, relabelled)})
    assert calls == ["addr"] * 3 and directory.get("10.0.0.1:80") == svc(WEB, relabelled)
    directory.set_service(str(WEB), None)
    assert calls == ["addr"] * 4 and directory.get("10.0.0.1:80") is None


def test_an_address_listed_by_two_services_stays_known_until_both_drop_it() -> None:
    directory = Directory()
    directory.replace_all({str(WEB): svc(WEB, A), str(DB): svc(DB, A)})
    assert directory.get("10.0.0.1:80") == svc(DB, A)  # the first service by key
    directory.set_service(str(DB), svc(DB))
    assert directory.get("10.0.0.1:80") == svc(WEB, A)
    directory.set_service(str(WEB), svc(WEB))
    assert directory.get("10.0.0.1:80") is None


def test_a_cluster_ip_at_the_service_port_is_the_whole_service() -> None:
    directory = Directory()
    calls: list[str] = []
    directory.watch("10.96.0.10:80", lambda: calls.append("vip"))
    web = Service(WEB, {A.addr: A}, cluster_ips=("10.96.0.10",))
    directory.replace_all({str(WEB): web})
    assert directory.get("10.96.0.10:80") is web
    assert directory.get("10.96.0.10:81") is None  # another port is not the service
    assert calls == ["vip"]
    moved = Service(WEB, {A.addr: A}, cluster_ips=("10.96.0.11",))
    directory.set_service(str(WEB), moved)
    assert calls == ["vip", "vip"] and directory.get("10.96.0.10:80") is None
    assert directory.get("10.96.0.11:80") is moved
