"""The public gRPC interop client cases, run directly and through one and two lightmesh proxies.

Every case of :data:`tests.support.grpc_interop.cases.CASES` runs over three paths
between a grpcio client and the grpcio interop server:

* ``direct``: client -> server, the baseline that validates the cases and the server;
* ``one_proxy``: client -> the proxy's outbound listener -> server; the proxy routes by
  ``:authority`` (``interop.test:8080``, a static destination), as for an app calling
  another service;
* ``two_proxies``: client -> proxy A outbound -> proxy B inbound -> server, a whole mesh
  hop: A's static destination is B's inbound listener, which forwards to the server.

The server and the proxies live for the whole module; each test gets its own channel
(so one broken call cannot leave the next test a channel in backoff), and every call
has a deadline (see ``cases.DEFAULT_TIMEOUT``), so a proxy that loses a frame fails a
test quickly instead of hanging it. Retries are off on the channels: a stream the proxy
refuses is reported, not transparently retried.

The last tests check the proxy's metrics for gRPC: the response classification comes
from ``grpc-status`` (labelled ``grpc_status_code``), not from the HTTP status alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from tests.support.grpc_interop import cases
from tests.support.grpc_interop.server import InteropServer
from tests.support.h1_peers import running_proxy, start_isolated
from tests.support.proxy import ProxyProcess
from tests.support.tcp_client import wait_metric

AUTHORITY = "interop.test:8080"
PATHS = ("direct", "one_proxy", "two_proxies")
# Info, not the default debug: the proxies serve the whole module and their stderr is
# only read when they stop, so it must not fill the pipe meanwhile.
QUIET = {"LIGHTMESH_PROXY_LOG_LEVEL": "info"}
METRIC_TIMEOUT = 5.0


def open_channel(target: str, authority: str | None = None) -> grpc.Channel:
    """A plaintext channel to ``target`` (an IP literal), never via an HTTP proxy, without retries."""
    options: list[tuple[str, str | int]] = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]
    if authority is not None:
        options.append(("grpc.default_authority", authority))
    return grpc.insecure_channel(target, options=options)


@pytest.fixture(scope="module")
def interop_server() -> Iterator[InteropServer]:
    with InteropServer() as server:
        yield server


@pytest.fixture(scope="module")
def one_proxy(interop_server: InteropServer) -> Iterator[ProxyProcess]:
    """A proxy whose outbound side routes ``interop.test:8080`` to the server."""
    with running_proxy(
        LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"{AUTHORITY}={interop_server.addr}", **QUIET
    ) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def two_proxies(interop_server: InteropServer) -> Iterator[ProxyProcess]:
    """Proxy A (yielded: the client's side) routing ``interop.test:8080`` to proxy B's inbound side."""
    with (
        running_proxy(LIGHTMESH_PROXY_INBOUND_FORWARD=interop_server.addr, **QUIET) as server_side,
        running_proxy(
            LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"{AUTHORITY}={server_side.inbound}", **QUIET
        ) as proxy,
    ):
        yield proxy


@pytest.fixture
def channel(request: pytest.FixtureRequest) -> Iterator[grpc.Channel]:
    """A fresh channel from the client into the path named by the test's parameter."""
    path: str = request.param
    if path == "direct":
        server: InteropServer = request.getfixturevalue("interop_server")
        target, authority = server.addr, None
    else:
        proxy: ProxyProcess = request.getfixturevalue(path)
        target, authority = proxy.outbound, AUTHORITY
    with open_channel(target, authority) as opened:
        yield opened


@pytest.mark.parametrize("case", list(cases.CASES))
@pytest.mark.parametrize("channel", PATHS, indirect=True)
def test_interop_case_passes(channel: grpc.Channel, case: str) -> None:
    cases.CASES[case](channel)


def test_proxy_counts_a_successful_grpc_call_with_grpc_status_0(
    request: pytest.FixtureRequest, interop_server: InteropServer
) -> None:
    proxy = start_isolated(request, LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"{AUTHORITY}={interop_server.addr}")
    with open_channel(proxy.outbound, AUTHORITY) as channel:
        cases.large_unary(channel)
    success = {"direction": "outbound", "classification": "success"}
    wait_metric(proxy, "response_total", 1, timeout=METRIC_TIMEOUT, grpc_status_code="0", **success)
    assert proxy.metric("response_total", direction="outbound", classification="failure") == 0


def test_proxy_counts_a_grpc_error_status_as_a_failure_despite_http_200(
    request: pytest.FixtureRequest, interop_server: InteropServer
) -> None:
    proxy = start_isolated(request, LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"{AUTHORITY}={interop_server.addr}")
    with open_channel(proxy.outbound, AUTHORITY) as channel:
        cases.status_code_and_message(channel)  # one unary and one bidi call, both ending with UNKNOWN (2)
    failure = {"direction": "outbound", "classification": "failure"}
    wait_metric(proxy, "response_total", 2, timeout=METRIC_TIMEOUT, grpc_status_code="2", **failure)
    assert proxy.metric("response_total", direction="outbound", classification="success") == 0
