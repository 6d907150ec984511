"""Automatic mTLS between two real proxies, with a real controller issuing their certificates.

The mesh (:class:`tests.support.mesh.Mesh`): client -> client proxy (outbound) -> mutual
TLS -> server proxy (inbound) -> application. HTTP/1 (http.client), HTTP/2 (curl with
prior knowledge) and gRPC (grpcio interop cases) cross it; the application sees who called
in ``lightmesh-client-id``; metrics carry ``tls="true"`` and the peer identities.
"""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from lightmesh.api.gen import tap_pb2
from tests.support.grpc_interop import cases
from tests.support.grpc_interop.server import InteropServer
from tests.support.identity import name
from tests.support.mesh import CLIENT, WEB, Mesh
from tests.support.proxy import ProxyProcess
from tests.support.tap import observe, request_events, until_tapping
from tests.support.tcp_client import wait_metric, wait_until
from tests.support.upstream import UpstreamServer

TIMEOUT = 10.0


def get(
    proxy: ProxyProcess, path: str = "/echo", headers: dict[str, str] | None = None
) -> tuple[int, bytes, str]:
    host, port = proxy.outbound.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers={"Host": "web:80", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("lightmesh-proxy-error") or ""
    finally:
        conn.close()


def wait_at_least(proxy: ProxyProcess, metric: str, least: float, **labels: str) -> None:
    wait_until(lambda: proxy.metric(metric, **labels) >= least, TIMEOUT, f"{metric}{labels} >= {least}")


@pytest.fixture(scope="module")
def app() -> Iterator[UpstreamServer]:
    with UpstreamServer() as server:
        yield server


@pytest.fixture(scope="module")
def mesh(
    app: UpstreamServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ProxyProcess, ProxyProcess]]:
    running = Mesh(tmp_path_factory.mktemp("mesh"), app.addr)
    try:
        yield running.start()
    finally:
        running.stop()


def test_http1_crosses_the_mesh_over_mtls_and_the_app_learns_the_client(
    mesh: tuple[ProxyProcess, ProxyProcess],
) -> None:
    client, server = mesh
    status, body, _ = get(client, headers={"lightmesh-client-id": "forged.identity"})
    assert status == 200
    headers = dict(json.loads(body)["headers"])
    assert headers["lightmesh-client-id"] == CLIENT  # the forged one was stripped
    assert [k for k, _ in json.loads(body)["headers"]].count("lightmesh-client-id") == 1
    wait_metric(client, "request_total", 1, timeout=TIMEOUT, direction="outbound", tls="true", server_id=WEB)
    wait_metric(
        server, "request_total", 1, timeout=TIMEOUT, direction="inbound", tls="true", client_id=CLIENT
    )
    assert server.metric("request_total", direction="inbound", tls="") == 0
    # the connection to the peer counts as mesh TLS, and no plaintext one was opened
    assert client.metric("tcp_open_total", direction="outbound", peer="dst", tls="true") >= 1
    assert client.metric("tcp_open_total", direction="outbound", peer="dst", tls="") == 0


def test_tap_of_the_client_proxy_shows_the_request_going_to_the_endpoint_over_mtls(
    mesh: tuple[ProxyProcess, ProxyProcess],
) -> None:
    client, server = mesh
    channel, stream = observe(client.tap, tap_pb2.ObserveRequest(max_rps=1000))
    try:
        until_tapping(stream, lambda: get(client, "/status/201"))
        get(client, "/status/202")
        req, rsp, end = request_events(stream, "/status/202")
    finally:
        stream.cancel()
        channel.close()
    assert req.proxy_direction == tap_pb2.TapEvent.OUTBOUND
    assert req.tls and rsp.tls and end.tls  # the request_init too: it is reported once routed
    assert f"{req.destination.ip}:{req.destination.port}" == server.inbound
    assert req.destination_meta["server_id"] == WEB


def test_http2_crosses_the_mesh_over_mtls(mesh: tuple[ProxyProcess, ProxyProcess]) -> None:
    client, server = mesh
    before = server.metric("request_total", direction="inbound", tls="true", client_id=CLIENT)
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--http2-prior-knowledge", "-H", "Host: web:80",
         "-H", "lightmesh-client-id: forged", f"http://{client.outbound}/echo"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    headers = json.loads(done.stdout)["headers"]
    assert ["lightmesh-client-id", CLIENT] in headers
    assert ["lightmesh-client-id", "forged"] not in headers
    wait_metric(server, "request_total", before + 1, timeout=TIMEOUT, tls="true", client_id=CLIENT)


def test_plaintext_to_the_inbound_listener_has_no_client_id(mesh: tuple[ProxyProcess, ProxyProcess]) -> None:
    """An unmeshed client still reaches the app in plaintext, and can never claim an identity."""
    _, server = mesh
    host, port = server.inbound.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    conn.request("GET", "/echo", headers={"lightmesh-client-id": CLIENT})
    headers = json.loads(conn.getresponse().read())["headers"]
    conn.close()
    assert "lightmesh-client-id" not in [k for k, _ in headers]


def test_identity_cli_prints_the_running_proxys_certificate(mesh: tuple[ProxyProcess, ProxyProcess]) -> None:
    client, _ = mesh
    done = subprocess.run(
        ["python", "-m", "lightmesh", "identity", "--admin-addr", client.admin],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines())
    assert lines["Identity"].strip() == CLIENT
    assert lines["Issuer"].strip() == "CN=identity.lightmesh.cluster.local"
    assert "(expires in 1d0h)" in lines["Not after"] or "(expires in 23h" in lines["Not after"]


def test_grpc_crosses_the_mesh_over_mtls(tmp_path: Path) -> None:
    with InteropServer() as interop:
        running = Mesh(tmp_path, interop.addr)
        try:
            client, server = running.start()
            options = [
                ("grpc.enable_http_proxy", 0),
                ("grpc.enable_retries", 0),
                ("grpc.default_authority", "web:80"),
            ]
            with grpc.insecure_channel(client.outbound, options=options) as channel:
                for case in (
                    "large_unary",
                    "client_streaming",
                    "server_streaming",
                    "ping_pong",
                    "status_code_and_message",
                ):
                    cases.CASES[case](channel)
            wait_at_least(server, "response_total", 4, tls="true", client_id=CLIENT, grpc_status_code="0")
            wait_at_least(client, "response_total", 1, tls="true", server_id=WEB, grpc_status_code="2")
        finally:
            running.stop()


def test_a_server_that_proves_another_identity_is_refused(tmp_path: Path, app: UpstreamServer) -> None:
    running = Mesh(tmp_path, app.addr)
    expected = name("db", "default")
    try:
        client, server = running.start(advertised=expected)
        status, _, error = get(client)
        assert status == 502
        # the server proxy does not terminate TLS for another name: the handshake fails
        assert error.startswith(f"{server.inbound} did not prove identity {expected}: TLS handshake failed")
        assert client.metric("outbound_tls_errors_total", error="handshake_failed") >= 1
        assert server.metric("request_total", direction="inbound") == 0
    finally:
        running.stop()


def test_a_connect_tunnel_to_a_meshed_endpoint_is_carried_over_mtls(
    mesh: tuple[ProxyProcess, ProxyProcess],
) -> None:
    """CONNECT goes over mTLS; the server proxy detects HTTP in the tunnel and treats it as such."""
    client, server = mesh
    before = server.metric("request_total", direction="inbound", tls="true", client_id=CLIENT)
    host, port = client.outbound.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    conn.set_tunnel("web", 80)
    conn.request("GET", "/echo", headers={"lightmesh-client-id": "forged"})
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 200
    assert ["lightmesh-client-id", CLIENT] in body["headers"]
    assert ["lightmesh-client-id", "forged"] not in body["headers"]
    assert client.metric("outbound_tls_errors_total") == 0
    wait_at_least(server, "request_total", before + 1, direction="inbound", tls="true", client_id=CLIENT)
