"""HTTP/1.1 keep-alive on both sides of the mesh.

Client connections stay open between requests until the client idle timeout;
upstream connections are pooled per endpoint (and authority), reused across
requests and client connections, and closed after the pool idle timeout. Upstream
connections are counted three ways: ``/conn`` ids, the upstream's own accept log
(:class:`TrackingUpstream`) and the proxy's ``tcp_*`` metrics.
"""

from __future__ import annotations

import http.client
import subprocess
import time
from dataclasses import dataclass

import pytest

from tests.support.h1_peers import TrackingUpstream, start_isolated
from tests.support.h1_wire import RawConnection, raw_request, split_addr, wait_for
from tests.support.proxy import ProxyProcess


@dataclass(frozen=True)
class Through:
    """A proxy forwarding to ``app``, and how to reach the app through its ``side``."""

    side: str
    mesh: ProxyProcess
    listener: str
    host: str  # the Host header that routes to the app


@pytest.fixture(params=["inbound", "outbound"])
def through(request: pytest.FixtureRequest, app: TrackingUpstream) -> Through:
    mesh = start_isolated(request, LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr)
    if request.param == "inbound":
        return Through("inbound", mesh, mesh.inbound, "app.example")
    return Through("outbound", mesh, mesh.outbound, app.addr)  # an IP literal: routed without DNS


def test_many_requests_on_one_client_connection_reuse_one_upstream_connection(
    through: Through, app: TrackingUpstream
) -> None:
    mesh, side, listener, host = through.mesh, through.side, through.listener, through.host
    client = http.client.HTTPConnection(*split_addr(listener), timeout=5)
    ids = set()
    try:
        for _ in range(25):
            client.request("GET", "/conn", headers={"Host": host})
            response = client.getresponse()
            assert response.status == 200
            ids.add(response.read())
    finally:
        client.close()
    assert len(ids) == 1
    assert app.connections == 1
    assert mesh.metric("tcp_open_total", direction=side, peer="src") == 1
    assert mesh.metric("tcp_open_total", direction=side, peer="dst") == 1
    assert mesh.metric("request_total", direction=side) == 25


def test_concurrent_client_connections_over_the_shared_upstream_pool_all_get_their_answers(
    through: Through, app: TrackingUpstream
) -> None:
    # upstream connections move between client connections as soon as a response is in: the
    # waiter of the last request on one must still get it after the next request took it
    mesh, side = through.mesh, through.side
    authority, url = f":authority: {through.host}", f"http://{through.listener}/"
    load = ["h2load", "--h1", "-n", "600", "-c", "10", "-H", authority, url]
    done = subprocess.run(load, capture_output=True, text=True, timeout=60)
    assert "600 succeeded, 0 failed" in done.stdout, done.stdout + done.stderr
    assert "600 2xx" in done.stdout
    assert mesh.metric("request_total", direction=side) == 600
    assert app.connections <= 10


def test_successive_client_connections_share_the_pooled_upstream_connection(
    request: pytest.FixtureRequest, app: TrackingUpstream
) -> None:
    mesh = start_isolated(request, LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr)
    ids = set()
    for _ in range(5):
        with RawConnection(mesh.inbound) as conn:
            conn.send(raw_request("GET", "/conn", [("Host", "app")]))
            ids.add(conn.read_response().body)
    assert len(ids) == 1
    assert app.connections == 1
    assert mesh.metric("tcp_open_total", direction="inbound", peer="src") == 5
    assert mesh.metric("tcp_open_total", direction="inbound", peer="dst") == 1


def test_pooled_upstream_connection_is_closed_after_the_pool_idle_timeout(
    request: pytest.FixtureRequest, app: TrackingUpstream
) -> None:
    mesh = start_isolated(
        request, LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr, LIGHTMESH_PROXY_POOL_IDLE_TIMEOUT="1s"
    )
    with RawConnection(mesh.inbound) as conn:
        conn.send(raw_request("GET", "/conn", [("Host", "app")]))
        first = conn.read_response()
        assert first.status == 200
        assert mesh.metric("tcp_open_connections", direction="inbound", peer="dst") == 1

        closed = wait_for(
            lambda: mesh.metric("tcp_close_total", direction="inbound", peer="dst") == 1, timeout=8
        )
        assert closed, "the idle pooled upstream connection was not closed"
        assert mesh.metric("tcp_open_connections", direction="inbound", peer="dst") == 0

        # The client connection (60 s idle timeout) is still open and gets a fresh upstream connection.
        conn.send(raw_request("GET", "/conn", [("Host", "app")]))
        second = conn.read_response()
        assert second.status == 200
    assert app.connections == 2
    assert mesh.metric("tcp_open_total", direction="inbound", peer="dst") == 2
    assert mesh.metric("tcp_open_total", direction="inbound", peer="src") == 1


def test_idle_client_connection_is_closed_after_the_idle_timeout(
    request: pytest.FixtureRequest, app: TrackingUpstream
) -> None:
    mesh = start_isolated(
        request, LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr, LIGHTMESH_PROXY_IDLE_TIMEOUT="1s"
    )
    with RawConnection(mesh.inbound) as conn:
        conn.send(raw_request("GET", "/echo", [("Host", "app")]))
        assert conn.read_response().status == 200
        idle_since = time.monotonic()
        leftover = conn.wait_closed(timeout=8)
        waited = time.monotonic() - idle_since
    assert leftover == b"", "nothing is sent when an idle connection is closed"
    assert 0.8 <= waited < 8
    assert wait_for(lambda: mesh.metric("tcp_open_connections", direction="inbound", peer="src") == 0)


def test_client_connection_waiting_for_a_slow_response_is_not_closed_as_idle(
    request: pytest.FixtureRequest, app: TrackingUpstream
) -> None:
    mesh = start_isolated(
        request,
        LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr,
        LIGHTMESH_PROXY_IDLE_TIMEOUT="1s",
        LIGHTMESH_PROXY_HEADER_READ_TIMEOUT="1s",
    )
    with RawConnection(mesh.inbound) as conn:
        conn.send(raw_request("GET", "/sleep/1600", [("Host", "app")]))
        slow = conn.read_response(timeout=10)
        assert (slow.status, slow.body) == (200, b"slept\n")
        conn.send(raw_request("GET", "/echo", [("Host", "app")]))
        assert conn.read_response().status == 200


def test_close_delimited_upstream_response_is_chunked_and_the_client_connection_stays_open(
    request: pytest.FixtureRequest, app: TrackingUpstream
) -> None:
    mesh = start_isolated(request, LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr)
    with RawConnection(mesh.inbound) as conn:
        conn.send(raw_request("GET", "/close", [("Host", "app")]))
        response = conn.read_response()
        assert response.status == 200
        assert response.chunked
        assert response.body == b"until close\n"
        assert "close" not in response.connection_tokens()
        conn.send(raw_request("GET", "/conn", [("Host", "app")]))
        assert conn.read_response().status == 200
    # The upstream ended its body by closing, so its connection could not be reused.
    assert app.connections == 2
    assert mesh.metric("tcp_open_total", direction="inbound", peer="src") == 1


def test_client_connection_close_ends_the_client_connection_but_keeps_the_upstream_one_pooled(
    request: pytest.FixtureRequest, app: TrackingUpstream
) -> None:
    mesh = start_isolated(request, LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr)
    for _ in range(3):
        with RawConnection(mesh.inbound) as conn:
            conn.send(raw_request("GET", "/conn", [("Host", "app"), ("Connection", "close")]))
            response = conn.read_response()
            assert response.status == 200
            assert "close" in response.connection_tokens()
            assert conn.wait_closed(timeout=5) == b""
    assert app.connections == 1
    assert mesh.metric("tcp_open_total", direction="inbound", peer="dst") == 1
