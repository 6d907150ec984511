"""Message framing through the proxy: Content-Length and chunked bodies both ways.

Request bodies are checked by the sha256 the ``/echo`` route computes over what
it received, together with the framing headers it saw; response bodies by
reading them off the wire. Bodiless messages (no body, ``Content-Length: 0``,
HEAD, 204, 304) must stay bodiless and must not disturb keep-alive.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.support.h1_peers import TrackingUpstream, curl
from tests.support.h1_wire import RawConnection, chunked, echo_headers, raw_request
from tests.support.proxy import ProxyProcess

SIDES = ["inbound", "outbound"]


def _listener(proxy: ProxyProcess, upstream: TrackingUpstream, side: str) -> tuple[str, str]:
    return (proxy.inbound, "app.example") if side == "inbound" else (proxy.outbound, upstream.addr)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("side", SIDES)
def test_content_length_request_body_arrives_intact_with_its_length(
    mesh: ProxyProcess, app: TrackingUpstream, side: str
) -> None:
    body = os.urandom(1024 * 1024 + 17)
    listener, host = _listener(mesh, app, side)
    with RawConnection(listener) as conn:
        conn.send(raw_request("POST", "/echo", [("Host", host), ("Content-Length", str(len(body)))], body))
        response = conn.read_response()
    assert response.status == 200
    info = response.json()
    seen = echo_headers(info)
    assert (info["body_length"], info["body_sha256"]) == (len(body), _sha(body))
    assert seen["content-length"] == [str(len(body))]
    assert "transfer-encoding" not in seen


@pytest.mark.parametrize("side", SIDES)
def test_chunked_request_body_arrives_intact_and_chunked(
    mesh: ProxyProcess, app: TrackingUpstream, side: str
) -> None:
    pieces = [os.urandom(4097) for _ in range(200)] + [b"tail"]
    body = b"".join(pieces)
    listener, host = _listener(mesh, app, side)
    with RawConnection(listener) as conn:
        conn.send(raw_request("POST", "/echo", [("Host", host), ("Transfer-Encoding", "chunked")]))
        wire = chunked(*pieces)
        for start in range(0, len(wire), 50_000):  # several writes: the body streams
            conn.send(wire[start : start + 50_000])
        response = conn.read_response()
    assert response.status == 200
    info = response.json()
    seen = echo_headers(info)
    assert (info["body_length"], info["body_sha256"]) == (len(body), _sha(body))
    assert seen["transfer-encoding"] == ["chunked"]
    assert "content-length" not in seen


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_curl_uploads_a_large_body_through_the_outbound_proxy(
    mesh: ProxyProcess, app: TrackingUpstream, tmp_path: Path, framing: str
) -> None:
    body = os.urandom(6 * 1024 * 1024 + 3)
    path = tmp_path / "body.bin"
    path.write_bytes(body)
    extra = ["-H", "Transfer-Encoding: chunked"] if framing == "chunked" else []
    result = curl(
        "-x", f"http://{mesh.outbound}", "--data-binary", f"@{path}",
        "-H", "Content-Type: application/octet-stream", *extra, f"http://{app.addr}/echo",
        max_time=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["body_length"], info["body_sha256"]) == (len(body), _sha(body))
    assert ("transfer-encoding" if framing == "chunked" else "content-length") in echo_headers(info)


@pytest.mark.parametrize("side", SIDES)
def test_content_length_response_is_streamed_with_its_length(
    mesh: ProxyProcess, app: TrackingUpstream, side: str
) -> None:
    size = 3 * 1024 * 1024 + 5
    listener, host = _listener(mesh, app, side)
    with RawConnection(listener) as conn:
        conn.send(raw_request("GET", f"/bytes/{size}", [("Host", host)]))
        response = conn.read_response(timeout=20)
    assert response.status == 200
    assert response.header("content-length") == str(size)
    assert not response.has_header("transfer-encoding")
    assert response.body == b"x" * size


@pytest.mark.parametrize("side", SIDES)
def test_chunked_response_is_streamed_chunked(mesh: ProxyProcess, app: TrackingUpstream, side: str) -> None:
    listener, host = _listener(mesh, app, side)
    with RawConnection(listener) as conn:
        conn.send(raw_request("GET", "/chunked/2000", [("Host", host)]))
        response = conn.read_response()
        assert response.status == 200
        assert response.chunked
        assert not response.has_header("content-length")
        assert response.body == b"chunk\n" * 2000
        conn.send(raw_request("GET", "/echo", [("Host", host)]))
        assert conn.read_response().status == 200


def test_content_length_zero_is_kept(mesh: ProxyProcess) -> None:
    with RawConnection(mesh.inbound) as conn:
        conn.send(raw_request("POST", "/echo", [("Host", "app"), ("Content-Length", "0")]))
        info = conn.read_response().json()
    seen = echo_headers(info)
    assert seen["content-length"] == ["0"]
    assert "transfer-encoding" not in seen
    assert info["body_length"] == 0


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST", "OPTIONS"])
def test_request_without_a_body_gets_no_framing_headers(mesh: ProxyProcess, method: str) -> None:
    with RawConnection(mesh.inbound) as conn:
        conn.send(raw_request(method, "/echo", [("Host", "app")]))
        info = conn.read_response().json()
    seen = echo_headers(info)
    assert info["method"] == method
    assert "transfer-encoding" not in seen
    assert "content-length" not in seen


def test_empty_chunked_request_body_stays_empty(mesh: ProxyProcess) -> None:
    with RawConnection(mesh.inbound) as conn:
        conn.send(
            raw_request("POST", "/echo", [("Host", "app"), ("Transfer-Encoding", "chunked")], chunked())
        )
        info = conn.read_response().json()
    assert (info["body_length"], info["body_sha256"]) == (0, _sha(b""))


def test_head_204_and_304_have_no_body_and_keep_alive_continues(
    mesh: ProxyProcess, app: TrackingUpstream
) -> None:
    with RawConnection(mesh.inbound) as conn:
        conn.send(raw_request("HEAD", "/status/200", [("Host", "app")]))
        head = conn.read_response("HEAD")
        assert (head.status, head.body) == (200, b"")
        assert head.header("content-length") == str(len(b"status 200\n")), "HEAD keeps the entity's length"

        conn.send(raw_request("GET", "/status/204", [("Host", "app")]))
        no_content = conn.read_response()
        assert no_content.status == 204
        assert not no_content.has_header("content-length")
        assert not no_content.has_header("transfer-encoding")

        conn.send(raw_request("GET", "/status/304", [("Host", "app")]))
        not_modified = conn.read_response()
        assert not_modified.status == 304
        assert not not_modified.has_header("transfer-encoding")

        conn.send(raw_request("HEAD", "/echo", [("Host", "app")]))
        head_echo = conn.read_response("HEAD")
        assert head_echo.status == 200
        assert int(head_echo.header("content-length") or 0) > 0

        conn.send(raw_request("GET", "/echo", [("Host", "app")]))
        final = conn.read_response()
        assert final.json()["method"] == "GET"
        # No stray body bytes of the bodiless responses are left on the connection.
        assert conn.is_open_after(0.3)
        assert conn.buffer == b""
    assert app.connections == 1, "the upstream connection is reused after bodiless responses"


def test_expect_100_continue_gets_an_interim_response_before_the_body_is_sent(mesh: ProxyProcess) -> None:
    body = b"y" * 5000
    with RawConnection(mesh.inbound) as conn:
        conn.send(
            raw_request(
                "PUT", "/echo", [("Host", "app"), ("Expect", "100-continue"), ("Content-Length", "5000")]
            )
        )
        _, _, status, _, _ = conn.read_head()
        assert status == 100
        conn.send(body)
        response = conn.read_response()
    assert response.status == 200
    info = response.json()
    assert (info["body_length"], info["body_sha256"]) == (len(body), _sha(body))


def test_transfer_codings_before_chunked_are_not_silently_dropped(
    mesh: ProxyProcess, app: TrackingUpstream
) -> None:
    """``Transfer-Encoding: gzip, chunked`` is re-chunked with gzip kept, or refused; never sent as plain."""
    coded = b"\x1f\x8b pretend gzip bytes"
    with RawConnection(mesh.inbound) as conn:
        conn.send(
            raw_request(
                "POST", "/echo", [("Host", "app"), ("Transfer-Encoding", "gzip, chunked")], chunked(coded)
            )
        )
        response = conn.read_response()
    if response.has_header("lightmesh-proxy-error"):
        assert response.status in (400, 501)
        assert ("POST", "/echo") not in app.received()
        return
    seen = echo_headers(response.json())
    assert [t.strip() for t in ",".join(seen["transfer-encoding"]).split(",")] == ["gzip", "chunked"]
