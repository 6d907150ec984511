"""Header handling: hop-by-hop fields stop at the proxy, end-to-end fields pass unchanged.

Checked from the upstream's side via ``/echo``, which reports every header it
received. ``Connection`` and the fields it names, ``Keep-Alive``,
``Proxy-Connection``, ``TE`` and ``Upgrade`` (when not upgrading) are removed; an
``Upgrade: h2c`` offer is never passed on, and the request is answered over
HTTP/1.1 as if the offer had not been made.
"""

from __future__ import annotations

import contextlib
import hashlib
import json

import pytest

from tests.support.h1_peers import TrackingUpstream, curl
from tests.support.h1_wire import ConnectionClosed, RawConnection, echo_headers, raw_request
from tests.support.proxy import ProxyProcess

HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "upgrade", "x-hop", "x-other-hop"]
H2C_OFFER = [
    ("Connection", "Upgrade, HTTP2-Settings"),
    ("Upgrade", "h2c"),
    ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"),
]


@pytest.mark.parametrize("side", ["inbound", "outbound"])
def test_hop_by_hop_request_headers_are_removed(mesh: ProxyProcess, app: TrackingUpstream, side: str) -> None:
    listener, host = (mesh.inbound, "app") if side == "inbound" else (mesh.outbound, app.addr)
    headers = [
        ("Host", host),
        ("Connection", "keep-alive, X-Hop"),
        ("Connection", "x-other-hop"),
        ("X-Hop", "1"),
        ("X-Other-Hop", "2"),
        ("Keep-Alive", "timeout=5, max=100"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("Upgrade", "websocket"),  # no "upgrade" token in Connection: not an upgrade
        ("X-End-To-End", "kept"),
    ]
    with RawConnection(listener) as conn:
        conn.send(raw_request("GET", "/echo", headers))
        response = conn.read_response()
        assert response.status == 200
        seen = echo_headers(response.json())
        # The Connection field was consumed by the proxy: the client connection stays open.
        conn.send(raw_request("GET", "/echo", [("Host", host)]))
        assert conn.read_response().status == 200
    for name in HOP_BY_HOP:
        assert name not in seen, f"hop-by-hop header {name} reached the upstream"
    assert seen["x-end-to-end"] == ["kept"]
    assert seen["host"] == [host]


def test_hop_by_hop_headers_of_the_upstream_response_are_not_passed_to_the_client(mesh: ProxyProcess) -> None:
    with RawConnection(mesh.inbound) as conn:
        conn.send(raw_request("GET", "/close", [("Host", "app")]))  # the app answers "Connection: close"
        response = conn.read_response()
        assert response.status == 200
        assert "close" not in response.connection_tokens()
        assert conn.is_open_after(0.2)


def test_end_to_end_headers_pass_with_their_values_and_order(mesh: ProxyProcess) -> None:
    headers = [
        ("Host", "app.example:8080"),
        ("X-Multi", "1"),
        ("Authorization", "Bearer abc.def"),
        ("X-Multi", "2"),
        ("Cookie", "a=1; b=2"),
        ("X-Spaces", "a  b\tc"),
        ("X-Multi", "3"),
        ("Accept-Encoding", "gzip, br"),
    ]
    with RawConnection(mesh.inbound) as conn:
        conn.send(raw_request("GET", "/echo", headers))
        seen = echo_headers(conn.read_response().json())
    assert seen["host"] == ["app.example:8080"]
    assert seen["x-multi"] == ["1", "2", "3"]
    assert seen["authorization"] == ["Bearer abc.def"]
    assert seen["cookie"] == ["a=1; b=2"]
    assert seen["x-spaces"] == ["a  b\tc"]
    assert seen["accept-encoding"] == ["gzip, br"]


@pytest.mark.parametrize("side", ["inbound", "outbound"])
def test_h2c_upgrade_offer_is_stripped_and_the_request_answered_over_http11(
    mesh: ProxyProcess, app: TrackingUpstream, side: str
) -> None:
    listener, host = (mesh.inbound, "app") if side == "inbound" else (mesh.outbound, app.addr)
    with RawConnection(listener) as conn:
        conn.send(raw_request("GET", "/echo", [("Host", host), *H2C_OFFER]))
        response = conn.read_response()
        assert response.status == 200
        assert not response.has_header("upgrade")
        seen = echo_headers(response.json())
        conn.send(raw_request("GET", "/echo", [("Host", host)]))
        assert conn.read_response().status == 200, "keep-alive continues after the ignored offer"
    assert "upgrade" not in seen
    assert "http2-settings" not in seen
    assert "connection" not in seen


def test_h2c_upgrade_offer_on_a_request_with_a_body_forwards_the_body_and_pipelining_continues(
    mesh: ProxyProcess,
) -> None:
    body = b"upgrade-body" * 100
    first = raw_request(
        "POST", "/echo", [("Host", "app"), *H2C_OFFER, ("Content-Length", str(len(body)))], body
    )
    second = raw_request("GET", "/echo?second", [("Host", "app")])
    with RawConnection(mesh.inbound, timeout=3) as conn:
        conn.send(first + second)
        one = conn.read_response()
        assert one.status == 200, one.head
        two = conn.read_response()
    info = one.json()
    assert (info["body_length"], info["body_sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    assert "upgrade" not in echo_headers(info)
    assert two.status == 200
    assert two.json()["path"] == "/echo?second"


def test_body_of_a_request_with_an_h2c_offer_is_never_taken_for_another_request(
    mesh: ProxyProcess, app: TrackingUpstream
) -> None:
    """Whatever the proxy does with such a request, the body bytes never become a request."""
    smuggled = b"GET /status/207 HTTP/1.1\r\nHost: app\r\n\r\n"
    head = [("Host", "app"), *H2C_OFFER, ("Content-Length", str(len(smuggled)))]
    responses = []
    with RawConnection(mesh.inbound, timeout=3) as conn:
        conn.send(raw_request("POST", "/echo", head, smuggled))
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            for _ in range(2):
                responses.append(conn.read_response())
    assert responses, "the request was not answered"
    assert all(r.status != 207 for r in responses)
    assert len(responses) == 1, "one request, one response"
    assert ("GET", "/status/207") not in app.received()


def test_curl_http2_upgrade_attempt_gets_an_http11_answer(mesh: ProxyProcess) -> None:
    result = curl("--http2", "-w", "\n%{http_version}", "-H", "Host: app", f"http://{mesh.inbound}/echo")
    assert result.returncode == 0, result.stderr
    payload, _, version = result.stdout.rpartition(b"\n")
    assert version == b"1.1"
    seen = echo_headers(json.loads(payload))
    assert "upgrade" not in seen
    assert "http2-settings" not in seen


def test_curl_http2_upgrade_attempt_with_a_post_body_gets_an_http11_answer(mesh: ProxyProcess) -> None:
    """curl --http2 offers h2c on a POST too; the request must still work over HTTP/1.1."""
    result = curl(
        "--http2", "-w", "\n%{http_code} %{http_version}", "-d", "field=value", "-H", "Host: app",
        f"http://{mesh.inbound}/echo",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload, _, status = result.stdout.rpartition(b"\n")
    assert status == b"200 1.1", payload
    info = json.loads(payload)
    assert (info["method"], info["body_length"]) == ("POST", len("field=value"))
    assert "upgrade" not in echo_headers(info)
