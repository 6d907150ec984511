"""HTTP/1.0 clients: with and without Host, keep-alive by request, close-delimited bodies.

An HTTP/1.0 client cannot read chunked bodies, so a chunked (or otherwise
length-less) upstream response must reach it delimited by the connection close.
Without ``Connection: keep-alive`` the proxy closes after each response; with it,
the connection stays open when the response has a length.
"""

from __future__ import annotations

import hashlib
import json

from tests.support.h1_peers import TrackingUpstream, curl
from tests.support.h1_wire import RawConnection, echo_headers, raw_request
from tests.support.proxy import ProxyProcess


def test_http10_request_with_host_is_answered_and_the_connection_closed(mesh: ProxyProcess) -> None:
    with RawConnection(mesh.inbound) as conn:
        conn.send(raw_request("GET", "/echo?q=1", [("Host", "app.example")], version="HTTP/1.0"))
        response = conn.read_response()
        assert response.status == 200
        assert "keep-alive" not in response.connection_tokens()
        info = response.json()
        assert conn.wait_closed(timeout=5) == b""
    assert info["path"] == "/echo?q=1"
    assert echo_headers(info)["host"] == ["app.example"]


def test_http10_request_without_host_is_answered(mesh: ProxyProcess) -> None:
    with RawConnection(mesh.inbound) as conn:
        conn.send(raw_request("GET", "/echo", [("Accept", "*/*")], version="HTTP/1.0"))
        response = conn.read_response()
        assert response.status == 200
        assert response.json()["path"] == "/echo"
        assert conn.wait_closed(timeout=5) == b""


def test_http10_request_without_host_is_forwarded_as_http11_with_a_host_header(mesh: ProxyProcess) -> None:
    """RFC 9112 §3.2: every HTTP/1.1 request carries Host (empty when there is no authority).

    The proxy forwards every request as HTTP/1.1, so a Host-less HTTP/1.0 request
    needs one added; strict servers (h11, many frameworks) reject 1.1 without it.
    """
    with RawConnection(mesh.inbound) as conn:
        conn.send(raw_request("GET", "/echo", [("Accept", "*/*")], version="HTTP/1.0"))
        info = conn.read_response().json()
    assert info["version"] == "HTTP/1.1"
    assert "host" in echo_headers(info), "HTTP/1.1 request forwarded without a Host header"


def test_http10_keep_alive_connection_is_reused(mesh: ProxyProcess, app: TrackingUpstream) -> None:
    with RawConnection(mesh.inbound) as conn:
        ids = set()
        for _ in range(3):
            conn.send(
                raw_request(
                    "GET", "/conn", [("Host", "app"), ("Connection", "keep-alive")], version="HTTP/1.0"
                )
            )
            response = conn.read_response()
            assert response.status == 200
            assert "keep-alive" in response.connection_tokens()
            assert response.header("content-length") == str(len(response.body))
            ids.add(response.body)
        # Without keep-alive the next response ends the connection.
        conn.send(raw_request("GET", "/conn", [("Host", "app")], version="HTTP/1.0"))
        assert conn.read_response().status == 200
        assert conn.wait_closed(timeout=5) == b""
    assert len(ids) == 1
    assert app.connections == 1
    assert mesh.metric("tcp_open_total", direction="inbound", peer="src") == 1


def test_chunked_upstream_response_to_an_http10_client_is_close_delimited(mesh: ProxyProcess) -> None:
    for headers in ([("Host", "app")], [("Host", "app"), ("Connection", "keep-alive")], []):
        with RawConnection(mesh.inbound) as conn:
            conn.send(raw_request("GET", "/chunked/50", headers, version="HTTP/1.0"))
            response = conn.read_response()
            assert response.status == 200
            assert not response.has_header("transfer-encoding"), headers
            assert not response.has_header("content-length")
            assert response.close_delimited
            assert response.body == b"chunk\n" * 50
            assert "keep-alive" not in response.connection_tokens()


def test_http10_post_body_with_content_length_is_forwarded(mesh: ProxyProcess) -> None:
    body = bytes(range(256)) * 300
    with RawConnection(mesh.inbound) as conn:
        conn.send(
            raw_request(
                "POST", "/echo", [("Host", "app"), ("Content-Length", str(len(body)))], body, "HTTP/1.0"
            )
        )
        info = conn.read_response().json()
    assert (info["body_length"], info["body_sha256"]) == (len(body), hashlib.sha256(body).hexdigest())


def test_curl_http10_through_the_outbound_proxy(mesh: ProxyProcess, app: TrackingUpstream) -> None:
    result = curl("--http1.0", "-x", f"http://{mesh.outbound}", "-i", f"http://{app.addr}/chunked/4")
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding" not in head.lower()
    assert body == b"chunk\n" * 4
    result = curl("--http1.0", "-x", f"http://{mesh.outbound}", f"http://{app.addr}/echo")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["path"] == "/echo"
