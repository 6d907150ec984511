"""Pipelined HTTP/1.1 requests: several requests in one write, answered in order.

The proxy serves pipelined requests one after another, so responses come back in
request order even when an earlier one is slower, bodies of pipelined requests
are not confused with the next request, and a request that closes the connection
ends the pipeline.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.support.h1_peers import TrackingUpstream
from tests.support.h1_wire import RawConnection, chunked, raw_request
from tests.support.proxy import ProxyProcess


@pytest.mark.parametrize("side", ["inbound", "outbound"])
def test_pipelined_requests_are_answered_in_order(
    mesh: ProxyProcess, app: TrackingUpstream, side: str
) -> None:
    listener, host = (mesh.inbound, "app") if side == "inbound" else (mesh.outbound, app.addr)
    body = b"pipelined body " * 1000
    h = [("Host", host)]
    batch = [
        raw_request("GET", "/echo?1", h),
        raw_request("POST", "/echo?2", [*h, ("Content-Length", str(len(body)))], body),
        raw_request("GET", "/chunked/3?3", h),
        raw_request("HEAD", "/echo?4", h),
        raw_request("PUT", "/echo?5", [*h, ("Transfer-Encoding", "chunked")], chunked(b"abc", b"defg")),
        raw_request("GET", "/status/204?6", h),
        raw_request("GET", "/echo?7", h),
    ]
    with RawConnection(listener) as conn:
        conn.send(b"".join(batch))
        r1 = conn.read_response()
        r2 = conn.read_response()
        r3 = conn.read_response()
        r4 = conn.read_response("HEAD")
        r5 = conn.read_response()
        r6 = conn.read_response()
        r7 = conn.read_response()
        assert conn.is_open_after(0.2)
        assert conn.buffer == b""
    assert r1.json()["path"] == "/echo?1"
    info2 = r2.json()
    assert (info2["path"], info2["body_length"]) == ("/echo?2", len(body))
    assert info2["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert r3.body == b"chunk\n" * 3
    assert (r4.status, r4.body) == (200, b"")
    info5 = r5.json()
    assert (info5["path"], info5["method"], info5["body_length"]) == ("/echo?5", "PUT", 7)
    assert r6.status == 204
    assert r7.json()["path"] == "/echo?7"
    assert app.connections == 1


def test_slow_first_response_does_not_let_later_pipelined_responses_overtake_it(mesh: ProxyProcess) -> None:
    with RawConnection(mesh.inbound) as conn:
        conn.send(
            raw_request("GET", "/sleep/400", [("Host", "app")])
            + raw_request("GET", "/echo?fast", [("Host", "app")])
            + raw_request("GET", "/sleep/50", [("Host", "app")])
        )
        first = conn.read_response()
        second = conn.read_response()
        third = conn.read_response()
    assert first.body == b"slept\n"
    assert second.json()["path"] == "/echo?fast"
    assert third.body == b"slept\n"


def test_a_long_pipeline_is_answered_completely_and_in_order(mesh: ProxyProcess) -> None:
    count = 60  # well past the proxy's pipeline queue limit, so reading pauses and resumes
    with RawConnection(mesh.inbound) as conn:
        conn.send(b"".join(raw_request("GET", f"/echo?n={i}", [("Host", "app")]) for i in range(count)))
        paths = [conn.read_response().json()["path"] for _ in range(count)]
    assert paths == [f"/echo?n={i}" for i in range(count)]


def test_pipelined_request_after_connection_close_is_not_served(
    mesh: ProxyProcess, app: TrackingUpstream
) -> None:
    with RawConnection(mesh.inbound) as conn:
        conn.send(
            raw_request("GET", "/echo?last", [("Host", "app"), ("Connection", "close")])
            + raw_request("POST", "/echo?after-close", [("Host", "app"), ("Content-Length", "2")], b"no")
        )
        response = conn.read_response()
        assert response.status == 200, response.head
        assert response.json()["path"] == "/echo?last"
        assert "close" in response.connection_tokens()
        assert conn.wait_closed(timeout=5) == b""
    assert mesh.metric("request_total", direction="inbound") == 1


def test_malformed_request_later_in_a_pipeline_does_not_cost_earlier_requests_their_responses(
    mesh: ProxyProcess,
) -> None:
    with RawConnection(mesh.inbound) as conn:
        conn.send(
            raw_request("GET", "/echo?first", [("Host", "app")])
            + raw_request("GET", "/echo?second", [("Host", "app")])
            + b"GET /echo?third HTTP/1.1\r\nHost: app\r\nBad Header: x\r\n\r\n"
        )
        first = conn.read_response()
        assert first.status == 200, first.head
        second = conn.read_response()
        third = conn.read_response()
        assert conn.wait_closed(timeout=5) == b""
    assert (first.status, first.json()["path"]) == (200, "/echo?first")
    assert (second.status, second.json()["path"]) == (200, "/echo?second")
    assert third.status == 400
    assert third.has_header("lightmesh-proxy-error")
