"""gRPC over the proxy's HTTP/2: status metrics and deadlines.

Requests are gRPC-shaped, sent with the raw HTTP/2 client: ``POST``, ``content-type:
application/grpc``, ``te: trailers`` and 5-byte length-prefixed messages. The test
upstream echoes the messages and answers with the ``grpc-status`` asked for in the
``x-grpc-status`` metadata, in trailers or as a trailers-only response.

* ``response_total`` gets a ``grpc_status_code`` label from the ``grpc-status`` trailer
  (or header, for trailers-only responses), and a non-zero status is a ``failure``.
* ``grpc-timeout`` is a deadline: when it passes the client gets ``grpc-status: 4``
  (DEADLINE_EXCEEDED) with ``:status 200`` and the upstream stream is reset; the
  upstream is told the remaining deadline, never more than the client's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.h1_peers import start_isolated
from tests.support.h2_peers import (
    H2Client,
    H2Response,
    H2Upstream,
    grpc_frame,
    grpc_messages,
    grpc_timeout_seconds,
    wait_for,
)
from tests.support.proxy import ProxyProcess
from tests.support.tcp_client import wait_metric

AUTHORITY = "grpc.svc:50051"
PATH = "/lightmesh.test.Echo/Unary"
TIMEOUT = 5.0


@pytest.fixture
def h2_app() -> Iterator[H2Upstream]:
    with H2Upstream("grpc") as server:
        yield server


@pytest.fixture
def mesh(request: pytest.FixtureRequest, h2_app: H2Upstream) -> ProxyProcess:
    """Outbound knows ``grpc.svc:50051`` as ``h2_app``."""
    return start_isolated(request, LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"{AUTHORITY}={h2_app.addr}")


@pytest.fixture
def client(mesh: ProxyProcess) -> Iterator[H2Client]:
    with H2Client(mesh.outbound, timeout=TIMEOUT) as c:
        yield c


def grpc_call(
    client: H2Client,
    messages: list[bytes],
    metadata: list[tuple[str, str]] | None = None,
    timeout: float = TIMEOUT,
) -> H2Response:
    headers = [("content-type", "application/grpc"), ("te", "trailers"), *(metadata or [])]
    body = b"".join(grpc_frame(m) for m in messages)
    return client.get(PATH, AUTHORITY, method="POST", headers=headers, body=body, timeout=timeout)


def grpc_status(response: H2Response) -> str | None:
    """The status from the trailers, or from the headers of a trailers-only response."""
    if response.trailers is not None:
        return response.trailer("grpc-status")
    return response.header("grpc-status") if response.end_in_headers else None


@pytest.mark.parametrize(
    ("status", "trailers_only", "classification"),
    [
        ("0", False, "success"),
        ("14", False, "failure"),
        ("5", True, "failure"),
        ("0", True, "success"),
    ],
    ids=["ok-in-trailers", "unavailable-in-trailers", "not-found-trailers-only", "ok-trailers-only"],
)
def test_grpc_response_is_counted_by_its_grpc_status(
    mesh: ProxyProcess, client: H2Client, status: str, trailers_only: bool, classification: str
) -> None:
    metadata = [("x-grpc-status", status)]
    if trailers_only:
        metadata.append(("x-trailers-only", "1"))
    response = grpc_call(client, [b"ping"], metadata)
    assert response.status == 200, response.describe()
    assert grpc_status(response) == status, response.describe()
    assert response.end_in_headers == trailers_only
    labels = {"direction": "outbound", "grpc_status_code": status, "status_code": "200"}
    wait_metric(mesh, "response_total", 1, classification=classification, **labels)
    other = "success" if classification == "failure" else "failure"
    assert mesh.metric("response_total", classification=other, **labels) == 0


def test_grpc_call_reaches_the_upstream_with_te_trailers_and_its_messages_intact(
    client: H2Client, h2_app: H2Upstream
) -> None:
    messages = [b"first", b"", bytes(range(256)) * 300]  # an empty message and one over 64 KiB
    response = grpc_call(client, messages)
    assert response.status == 200, response.describe()
    assert response.header("content-type") == "application/grpc"
    assert grpc_messages(response.body) == messages
    assert response.trailers == [(b"grpc-status", b"0")]
    upstream = h2_app.streams_for(PATH)[-1]
    assert upstream.header("te") == "trailers", "gRPC needs te: trailers end to end"
    assert upstream.header("content-type") == "application/grpc"
    assert upstream.method == "POST"
    assert upstream.header("grpc-timeout") is None, "no deadline is invented"


def test_grpc_timeout_answers_deadline_exceeded_and_cancels_the_upstream_stream(
    mesh: ProxyProcess, client: H2Client, h2_app: H2Upstream
) -> None:
    started = time.monotonic()
    response = grpc_call(client, [b"wait"], [("grpc-timeout", "200m"), ("x-never", "1")], timeout=5)
    elapsed = time.monotonic() - started
    assert response.status == 200, response.describe()
    assert grpc_status(response) == "4", response.describe()  # DEADLINE_EXCEEDED
    assert 0.15 <= elapsed < 1.5, f"answered after {elapsed:.3f}s for a 200 ms deadline"
    upstream = h2_app.streams_for(PATH)[-1]
    wait_for(lambda: upstream.reset_code is not None, TIMEOUT, "the upstream stream to be reset")
    forwarded = upstream.header("grpc-timeout")
    assert forwarded is not None, "the upstream is told the deadline"
    assert 0 < grpc_timeout_seconds(forwarded) <= 0.2
    wait_metric(
        mesh, "response_total", 1, direction="outbound", grpc_status_code="4", classification="failure"
    )
    # The connection is still usable.
    assert grpc_status(grpc_call(client, [b"next"])) == "0"


def test_grpc_timeout_is_passed_on_as_the_remaining_deadline(client: H2Client, h2_app: H2Upstream) -> None:
    response = grpc_call(client, [b"quick"], [("grpc-timeout", "5S")])
    assert response.status == 200, response.describe()
    assert grpc_status(response) == "0"
    forwarded = h2_app.streams_for(PATH)[-1].header("grpc-timeout")
    assert forwarded is not None
    assert 4.0 < grpc_timeout_seconds(forwarded) <= 5.0, forwarded
