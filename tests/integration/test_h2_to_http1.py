"""HTTP/2 clients in front of an application that speaks HTTP/1 only.

The proxy sends HTTP/2 upstream when its client spoke HTTP/2. An endpoint that
answers the HTTP/2 preface in HTTP/1 is remembered as HTTP/1-only: a request
without a body is retried as HTTP/1 at once, and every later request goes as
HTTP/1, its response returned to the client over HTTP/2.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess

import h2.connection
import h2.events
import pytest

from tests.support.h1_peers import TrackingUpstream
from tests.support.proxy import ProxyProcess

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def curl_h2(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "curl",
            "-s",
            "--http2-prior-knowledge",
            "--max-time",
            "10",
            "-w",
            "\\n%{http_code} %{http_version}",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )


def test_an_http2_client_reaches_an_http1_only_application(mesh: ProxyProcess, app: TrackingUpstream) -> None:
    first = curl_h2(f"http://{mesh.inbound}/echo")
    body, status = first.stdout.rsplit("\n", 1)
    assert status == "200 2"
    assert json.loads(body)["version"] == "HTTP/1.1"
    for _ in range(3):  # later requests, with bodies too, go straight to HTTP/1
        later = curl_h2(f"http://{mesh.inbound}/echo", "-d", "x" * 5000)
        body, status = later.stdout.rsplit("\n", 1)
        assert status == "200 2"
        assert json.loads(body)["body_length"] == 5000


def test_the_first_request_with_a_body_is_refused_clearly_then_later_ones_work(
    mesh: ProxyProcess, app: TrackingUpstream
) -> None:
    first = curl_h2(f"http://{mesh.inbound}/echo", "-d", "payload", "-i")
    assert first.stdout.rsplit("\n", 1)[1] == "502 2"
    assert "speaks HTTP/1 only" in first.stdout
    second = curl_h2(f"http://{mesh.inbound}/echo", "-d", "payload")
    body, status = second.stdout.rsplit("\n", 1)
    assert status == "200 2"
    assert json.loads(body)["body_length"] == 7


def test_an_upload_the_upstream_cannot_take_hears_the_502_before_the_stream_is_stopped(
    mesh: ProxyProcess, app: TrackingUpstream
) -> None:
    """The body is still arriving when the endpoint turns out to speak HTTP/1 only: the client gets
    the error response first, then RST_STREAM(NO_ERROR) to stop its upload (RFC 9113 section 8.1)."""
    client = h2.connection.H2Connection()
    client.initiate_connection()
    host, port = mesh.inbound.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        client.send_headers(
            1, [(":method", "POST"), (":path", "/echo"), (":scheme", "http"), (":authority", "app")]
        )
        client.send_data(1, b"the first part of a longer body")  # no END_STREAM: still uploading
        sock.sendall(client.data_to_send())
        events: list[h2.events.Event] = []
        while not any(isinstance(e, h2.events.StreamReset | h2.events.StreamEnded) for e in events):
            data = sock.recv(65536)
            assert data, f"the proxy closed the connection after {events}"
            events += client.receive_data(data)
    response = next(e for e in events if isinstance(e, h2.events.ResponseReceived | h2.events.StreamReset))
    assert isinstance(response, h2.events.ResponseReceived), events
    headers = dict(response.headers)
    assert headers[b":status"] == b"502"
    assert b"speaks HTTP/1 only" in headers[b"lightmesh-proxy-error"]
