"""The controller's public API with real proxies: announcements, ListProxies, Version, tap fan-out.

Proxies started with ``LIGHTMESH_PROXY_CONTROLLER_ADDR`` announce themselves; the
controller lists each one exactly while it runs, with addresses the CLI can dial. A
tap of a service reaches every proxy of that service, and only those.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from lightmesh import __version__
from lightmesh.api.gen import public_pb2 as pb
from lightmesh.api.gen import tap_pb2
from tests.support.controller import ControllerProcess, UpdateStream
from tests.support.proxy import ProxyProcess
from tests.support.public import list_proxies, tap, version, wait_for_pods
from tests.support.tap import kind
from tests.support.tcp_client import http_request, wait_until


def test_proxies_are_listed_while_they_run(
    controller: ControllerProcess, meshed: Callable[[str, str], ProxyProcess]
) -> None:
    web0, web1 = meshed("web", "web-0"), meshed("web", "web-1")
    listed = {p.pod: p for p in wait_for_pods(controller.public_api, {"web-0", "web-1"})}
    assert listed["web-0"].admin_addr == web0.admin
    assert listed["web-0"].tap_addr == web0.tap
    assert listed["web-1"].service == "web"
    assert listed["web-1"].namespace == "default"
    assert listed["web-1"].version == __version__
    web1.stop()
    wait_for_pods(controller.public_api, {"web-0"})
    assert list_proxies(controller.public_api, "other") == []


def test_version_is_the_controllers(controller: ControllerProcess) -> None:
    assert version(controller.public_api) == __version__


def _tap_request(kind_: str, name: str, max_rps: float = 1000.0) -> pb.TapRequest:
    return pb.TapRequest(
        target=pb.Resource(namespace="default", type=kind_, name=name),
        observe=tap_pb2.ObserveRequest(max_rps=max_rps),
    )


def _proxies_seen(stream: UpdateStream, proxies: list[ProxyProcess], want: set[str]) -> set[str]:
    """Send requests through ``proxies`` until the tap showed one of each of ``want`` (or 200 rounds)."""
    seen: set[str] = set()
    for _ in range(200):
        for proxy in proxies:
            http_request(proxy.inbound, "GET", "/status/200", headers={"Host": "web:80"})
        try:
            while True:
                event = stream.next(timeout=0.1)
                if kind(event) == "request_init":
                    seen.add(event.proxy)
        except AssertionError as exc:
            if "ended" in str(exc):
                raise
        if want <= seen:
            break
    return seen


def test_tap_merges_the_streams_of_every_proxy_of_the_service(
    controller: ControllerProcess, meshed: Callable[[str, str], ProxyProcess]
) -> None:
    proxies = [meshed("web", "web-0"), meshed("web", "web-1"), meshed("vote", "vote-0")]
    wait_for_pods(controller.public_api, {"web-0", "web-1", "vote-0"})
    channel, stream = tap(controller.public_api, _tap_request("deploy", "web"))
    try:
        seen = _proxies_seen(stream, proxies, {"default/web-0", "default/web-1"})
    finally:
        stream.cancel()
        channel.close()
    assert seen == {"default/web-0", "default/web-1"}  # never vote-0


def test_a_proxy_that_announces_while_a_tap_runs_joins_it(
    controller: ControllerProcess, meshed: Callable[[str, str], ProxyProcess]
) -> None:
    first = meshed("web", "web-0")
    wait_for_pods(controller.public_api, {"web-0"})
    channel, stream = tap(controller.public_api, _tap_request("deploy", "web"))
    try:
        assert _proxies_seen(stream, [first], {"default/web-0"}) == {"default/web-0"}
        later = meshed("web", "web-1")  # a new replica, after the tap started
        wait_for_pods(controller.public_api, {"web-0", "web-1"})
        seen = _proxies_seen(stream, [first, later], {"default/web-0", "default/web-1"})
    finally:
        stream.cancel()
        channel.close()
    assert seen == {"default/web-0", "default/web-1"}


def test_tap_with_a_limit_ends_after_that_many_requests(
    controller: ControllerProcess, meshed: Callable[[str, str], ProxyProcess]
) -> None:
    proxy = meshed("web", "web-0")
    wait_for_pods(controller.public_api, {"web-0"})
    request = _tap_request("po", "web-0")
    request.observe.limit = 3
    channel, stream = tap(controller.public_api, request)
    events = []
    try:
        for _ in range(200):
            http_request(proxy.inbound, "GET", "/status/200")
            try:
                events.append(stream.next(timeout=0.1))
            except AssertionError as exc:
                if "ended" in str(exc):
                    break
        error = stream.end()
    finally:
        channel.close()
    assert error is None
    assert sum(kind(e) == "request_init" for e in events) == 3
    assert sum(kind(e) == "response_end" for e in events) == 3


def test_tap_of_a_resource_without_proxies_fails(controller: ControllerProcess) -> None:
    channel, stream = tap(controller.public_api, _tap_request("deploy", "nothing"))
    try:
        error = stream.end()
    finally:
        channel.close()
    assert error is not None and error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "no announced proxy with tap for service/nothing in namespace default"


def test_tap_of_an_unknown_resource_type_is_invalid(controller: ControllerProcess) -> None:
    channel, stream = tap(controller.public_api, _tap_request("replicaset", "x"))
    try:
        error = stream.end()
    finally:
        channel.close()
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_proxies_announce_again_after_a_controller_restart(
    controller: ControllerProcess, meshed: Callable[[str, str], ProxyProcess]
) -> None:
    meshed("web", "web-0")
    wait_for_pods(controller.public_api, {"web-0"})
    controller.stop()
    controller.start()  # same ports: the proxy's announce call reconnects with backoff
    wait_for_pods(controller.public_api, {"web-0"})


def test_cancelling_a_tap_ends_it_at_every_proxy(
    controller: ControllerProcess, meshed: Callable[[str, str], ProxyProcess]
) -> None:
    proxies = [meshed("web", "web-0"), meshed("web", "web-1")]
    wait_for_pods(controller.public_api, {"web-0", "web-1"})
    channel, stream = tap(controller.public_api, _tap_request("deploy", "web"))
    try:
        for _ in range(200):  # until both proxies report, so both observe calls are open
            seen = set()
            for proxy in proxies:
                http_request(proxy.inbound, "GET", "/status/200")
            try:
                while True:
                    seen.add(stream.next(timeout=0.1).proxy)
            except AssertionError:
                pass
            if len(seen) == 2:
                break
        assert [p.metric("tap_observers") for p in proxies] == [1, 1]
    finally:
        stream.cancel()
        channel.close()
    for proxy in proxies:
        wait_until(lambda p=proxy: p.metric("tap_observers") == 0, what="the proxy's tap ended")
