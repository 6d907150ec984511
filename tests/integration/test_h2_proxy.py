"""HTTP/2 (h2c with prior knowledge) through the proxy, on both listeners.

A connection that starts with the HTTP/2 preface is served as HTTP/2, and its requests
go upstream over HTTP/2 (HTTP/1 clients keep HTTP/1 upstream). Outbound, requests are
routed by ``:authority`` and balanced per request over the endpoints of a name, on one
multiplexed upstream connection per endpoint. Bodies stream both ways; trailers,
response headers and single-HEADERS responses pass unchanged; hop-by-hop headers never
appear on HTTP/2. Resets travel both ways, an upstream GOAWAY moves new requests to a
new connection, SIGTERM drains with GOAWAY, and errors the proxy makes are responses
with ``lightmesh-proxy-error`` on a connection that stays usable.

The upstream is :class:`~tests.support.h2_peers.H2Upstream` (it only speaks HTTP/2, so
any answer from it proves the upstream connection is HTTP/2); clients are
:class:`~tests.support.h2_peers.H2Client`, curl and nghttp. ``request_total`` tells a
proxied request from bytes relayed as TCP (a relay counts no request).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.h1_peers import TrackingUpstream, closed_port, curl, start_isolated
from tests.support.h1_wire import split_addr
from tests.support.h2_peers import (
    CANCEL,
    HOP_BY_HOP,
    HOP_BY_HOP_NAMES,
    INTERNAL_ERROR,
    NO_ERROR,
    RESPONSE_HEADERS,
    RESPONSE_TRAILERS,
    TRAILERS_BODY,
    H2Client,
    H2Upstream,
    pattern,
    wait_for,
)
from tests.support.proxy import ProxyProcess
from tests.support.tcp_client import wait_metric

OUTBOUND_AUTHORITY = "svc:80"  # a static destination of every proxy here
INBOUND_AUTHORITY = "app.example:8080"  # inbound traffic goes to the forward address whatever it names
TIMEOUT = 5.0
BIG = 4 * 1024 * 1024 + 17  # 4 MiB and an odd tail


@dataclass(frozen=True)
class Side:
    direction: str
    addr: str
    authority: str


def side_of(proxy: ProxyProcess, direction: str) -> Side:
    if direction == "inbound":
        return Side("inbound", proxy.inbound, INBOUND_AUTHORITY)
    return Side("outbound", proxy.outbound, OUTBOUND_AUTHORITY)


@pytest.fixture
def h2_app() -> Iterator[H2Upstream]:
    with H2Upstream("app") as server:
        yield server


@pytest.fixture
def mesh(request: pytest.FixtureRequest, h2_app: H2Upstream) -> ProxyProcess:
    """Inbound forwards to ``h2_app``; outbound knows ``svc:80`` as ``h2_app``."""
    return start_isolated(
        request,
        LIGHTMESH_PROXY_INBOUND_FORWARD=h2_app.addr,
        LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"{OUTBOUND_AUTHORITY}={h2_app.addr}",
    )


@pytest.fixture(params=["inbound", "outbound"])
def side(request: pytest.FixtureRequest, mesh: ProxyProcess) -> Side:
    return side_of(mesh, request.param)


@pytest.fixture
def client(side: Side) -> Iterator[H2Client]:
    with H2Client(side.addr, timeout=TIMEOUT) as c:
        yield c


def no_hop_by_hop(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers if k in HOP_BY_HOP_NAMES]


# -- the peers themselves, without a proxy (so a failure below is the proxy's) ---------------


def test_peers_raw_client_and_upstream_speak_h2c_to_each_other(h2_app: H2Upstream) -> None:
    with H2Client(h2_app.addr, timeout=TIMEOUT) as c:
        echo = c.get("/echo?direct=1", "direct.example", method="POST", body=b"hello")
        assert echo.status == 200, echo.describe()
        assert echo.json()["body_length"] == 5
        assert c.get("/trailers", "direct.example").trailers == RESPONSE_TRAILERS
        assert c.get("/reset/8", "direct.example").reset_code == CANCEL
    assert h2_app.errors == []


def test_peers_curl_and_nghttp_reach_the_upstream_directly(h2_app: H2Upstream) -> None:
    result = curl("--http2-prior-knowledge", "-w", "\n%{http_version}", f"http://{h2_app.addr}/echo")
    assert result.returncode == 0, result.stderr
    body, _, version = result.stdout.rpartition(b"\n")
    assert version == b"2"
    assert json.loads(body)["path"] == "/echo"
    nghttp = shutil.which("nghttp")
    if nghttp is not None:
        out = subprocess.run(
            [nghttp, "-t", "5", f"http://{h2_app.addr}/echo"], capture_output=True, timeout=10
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["path"] == "/echo"


# -- 1. detection by preface; HTTP/2 upstream for HTTP/2 clients ------------------------------


def test_h2c_prior_knowledge_request_is_proxied_to_an_http2_upstream(
    side: Side, client: H2Client, mesh: ProxyProcess
) -> None:
    response = client.get("/echo?q=1", side.authority, headers=[("x-test", "yes")])
    assert response.status == 200, response.describe()
    assert response.header("x-endpoint") == "app"
    info = response.json()
    assert (info["method"], info["path"], info["scheme"]) == ("GET", "/echo?q=1", "http")
    assert info["authority"] == side.authority
    assert ["x-test", "yes"] in info["headers"]
    # Proxied as HTTP, not relayed as bytes: the proxy counted the request and its response.
    wait_metric(mesh, "request_total", 1, direction=side.direction)
    wait_metric(mesh, "response_total", 1, direction=side.direction, status_code="200")


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
def test_http1_client_keeps_http1_to_its_upstream(
    request: pytest.FixtureRequest, app: TrackingUpstream, direction: str
) -> None:
    # TrackingUpstream only speaks HTTP/1: an HTTP/2 upstream connection would fail here.
    proxy = start_isolated(
        request,
        LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr,
        LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"web:80={app.addr}",
    )
    conn = http.client.HTTPConnection(*split_addr(side_of(proxy, direction).addr), timeout=TIMEOUT)
    try:
        for _ in range(2):
            conn.request("GET", "/echo", headers={"Host": "web"})
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, body
            assert json.loads(body)["version"] == "HTTP/1.1"
    finally:
        conn.close()
    assert app.received() == [("GET", "/echo"), ("GET", "/echo")]


def test_curl_with_http2_prior_knowledge_through_the_proxy(side: Side, mesh: ProxyProcess) -> None:
    result = curl(
        "--http2-prior-knowledge",
        "-H",
        f"Host: {side.authority}",
        "-H",
        "X-From: curl",
        "--data-binary",
        "hello curl",
        "-w",
        "\n%{http_version} %{response_code}",
        f"http://{side.addr}/echo",
    )
    assert result.returncode == 0, result.stderr
    body, _, tail = result.stdout.rpartition(b"\n")
    assert tail == b"2 200"
    info = json.loads(body)
    assert (info["method"], info["path"], info["authority"]) == ("POST", "/echo", side.authority)
    assert ["x-from", "curl"] in info["headers"]
    assert info["body_length"] == len(b"hello curl")
    wait_metric(mesh, "request_total", 1, direction=side.direction)


def test_nghttp_through_the_proxy(side: Side, mesh: ProxyProcess, tmp_path: Path) -> None:
    nghttp = shutil.which("nghttp")
    if nghttp is None:
        pytest.skip("nghttp (Debian package nghttp2-client) is not installed")
    upload = tmp_path / "upload.bin"
    upload.write_bytes(pattern(100_000))
    out = subprocess.run(
        [
            nghttp,
            "-t",
            "5",
            "-H",
            f":authority: {side.authority}",
            "-H",
            "x-from: nghttp",
            "-d",
            str(upload),
            f"http://{side.addr}/echo",
        ],
        capture_output=True,
        timeout=15,
    )
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert (info["method"], info["authority"]) == ("POST", side.authority)
    assert ["x-from", "nghttp"] in info["headers"]
    assert info["body_sha256"] == hashlib.sha256(pattern(100_000)).hexdigest()
    wait_metric(mesh, "request_total", 1, direction=side.direction)


# -- 2. per-request balancing, multiplexed upstream connections -------------------------------


def test_requests_on_one_connection_are_balanced_per_request_over_the_endpoints(
    request: pytest.FixtureRequest,
) -> None:
    with H2Upstream("e1") as e1, H2Upstream("e2") as e2, H2Upstream("e3") as e3:
        endpoints = [e1, e2, e3]
        proxy = start_isolated(
            request, LIGHTMESH_PROXY_STATIC_DESTINATIONS="svc:80=" + ",".join(e.addr for e in endpoints)
        )
        seen: Counter[str] = Counter()
        with H2Client(proxy.outbound, timeout=TIMEOUT) as c:
            for wave in range(30):  # 300 requests, 10 in flight at a time, all on this one connection
                sids = [c.request("GET", f"/echo?wave={wave}", OUTBOUND_AUTHORITY) for _ in range(10)]
                for sid in sids:
                    response = c.response(sid)
                    assert response.status == 200, response.describe()
                    seen[response.header("x-endpoint") or "?"] += 1
        assert sum(seen.values()) == 300
        # Per-connection balancing would send all 300 to one endpoint. Peak-EWMA favours whichever
        # endpoint answers faster, which on a loaded machine is not even: a tenth each is the bar.
        assert all(seen[e.name] >= 30 for e in endpoints), seen
        assert [e.requests for e in endpoints] == [seen[e.name] for e in endpoints]
    wait_metric(proxy, "response_total", 300, direction="outbound", status_code="200")


def test_concurrent_streams_share_one_upstream_connection_per_endpoint(
    request: pytest.FixtureRequest,
) -> None:
    with H2Upstream("e1") as e1, H2Upstream("e2") as e2, H2Upstream("e3") as e3:
        endpoints = [e1, e2, e3]
        proxy = start_isolated(
            request, LIGHTMESH_PROXY_STATIC_DESTINATIONS="svc:80=" + ",".join(e.addr for e in endpoints)
        )
        with H2Client(proxy.outbound, timeout=TIMEOUT) as c:
            sids = [c.request("GET", "/sleep/1000", OUTBOUND_AUTHORITY) for _ in range(50)]
            # All 50 are in the upstreams at once (each answers a second after it arrived).
            wait_for(lambda: sum(e.requests for e in endpoints) == 50, TIMEOUT, "50 streams upstream")
            for sid in sids:
                assert c.response(sid).status == 200, c.streams[sid].describe()
        assert [e.connections for e in endpoints] == [1, 1, 1], "one multiplexed connection per endpoint"
        assert all(e.requests > 1 for e in endpoints), [e.requests for e in endpoints]
    assert proxy.metric("tcp_open_total", direction="outbound", peer="dst") == 3


def test_concurrent_inbound_streams_share_one_upstream_connection(
    mesh: ProxyProcess, h2_app: H2Upstream
) -> None:
    with H2Client(mesh.inbound, timeout=TIMEOUT) as c:
        sids = [c.request("GET", "/sleep/1000", INBOUND_AUTHORITY) for _ in range(50)]
        wait_for(lambda: h2_app.requests == 50, TIMEOUT, "50 streams upstream")
        for sid in sids:
            assert c.response(sid).status == 200, c.streams[sid].describe()
    assert h2_app.connections == 1


# -- 3. bodies, trailers, headers ------------------------------------------------------------


def test_large_request_body_streams_to_the_upstream_intact(
    side: Side, client: H2Client, h2_app: H2Upstream
) -> None:
    body = pattern(BIG)
    response = client.get("/echo", side.authority, method="POST", body=body, timeout=30)
    assert response.status == 200, response.describe()
    info = response.json()
    assert info["body_length"] == BIG
    assert info["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert h2_app.streams[-1].data_frames > 1


def test_large_response_body_streams_to_the_client_intact(side: Side, client: H2Client) -> None:
    response = client.get(f"/bytes/{BIG}", side.authority, timeout=30)
    assert response.status == 200, response.describe()
    assert len(response.data) == BIG
    assert response.body == pattern(BIG)


def test_request_and_response_bodies_stream_both_ways_at_once(side: Side, client: H2Client) -> None:
    # /duplex echoes each request chunk as it arrives: every echo must come back before the
    # request ends, which only works if neither direction is buffered whole.
    sid = client.request("POST", "/duplex", side.authority, end_stream=False)
    stream = client.streams[sid]
    sent = 0
    for i in range(5):
        chunk = f"chunk {i};".encode() * 100
        client.send_data(sid, chunk)
        sent += len(chunk)
        client.wait(lambda n=sent: len(stream.data) >= n, TIMEOUT, what=f"echo of chunk {i}")
    assert not stream.ended
    client.send_data(sid, b"", end_stream=True)
    response = client.response(sid)
    assert response.status == 200, response.describe()
    assert response.trailers == [(b"x-echoed-bytes", str(sent).encode())]


def test_request_without_body_reaches_the_upstream_without_body(
    side: Side, client: H2Client, h2_app: H2Upstream
) -> None:
    response = client.get("/echo?nobody", side.authority)
    assert response.status == 200, response.describe()
    upstream = h2_app.streams_for("/echo")[-1]
    assert upstream.body_length == 0
    assert upstream.data_frames == 0
    assert upstream.end_in_headers, "a request without body ends on its HEADERS frame"


def test_response_of_only_headers_reaches_the_client_as_one_headers_frame(
    side: Side, client: H2Client
) -> None:
    response = client.get("/headers-only", side.authority)
    assert response.status == 200, response.describe()
    assert response.header("x-only") == "headers"
    assert response.end_in_headers, "HEADERS with END_STREAM (trailers-only) must not become HEADERS + DATA"
    assert response.data_frames == 0
    assert response.trailers is None


def test_response_headers_reach_the_client_before_the_body_starts(side: Side, client: H2Client) -> None:
    # /duplex answers its headers at once and sends DATA only when the client does: a client
    # waiting for the response headers (gRPC metadata, a stream's go-ahead) must get them.
    sid = client.request("POST", "/duplex", side.authority, end_stream=False)
    stream = client.streams[sid]
    client.wait(lambda: stream.status is not None, TIMEOUT, what="the response headers, before any body")
    assert stream.status == 200
    assert stream.data_frames == 0
    client.send_data(sid, b"done", end_stream=True)
    assert client.response(sid).body == b"done"


def test_response_trailers_are_forwarded_exactly(side: Side, client: H2Client) -> None:
    response = client.get("/trailers", side.authority)
    assert response.status == 200, response.describe()
    assert response.body == TRAILERS_BODY
    assert response.trailers == RESPONSE_TRAILERS  # names, values (-bin included), order, repeats


def test_request_trailers_are_forwarded_exactly(side: Side, client: H2Client, h2_app: H2Upstream) -> None:
    trailers = [
        (b"x-request-checksum", b"md5=abc"),
        (b"x-request-bin", base64.b64encode(bytes(range(40, 90)))),
        (b"x-request-bin", base64.b64encode(b"\x00\xff\x10").rstrip(b"=")),
    ]
    response = client.get("/echo?trailers", side.authority, method="POST", body=b"payload", trailers=trailers)
    assert response.status == 200, response.describe()
    upstream = h2_app.streams_for("/echo")[-1]
    assert upstream.body_length == len(b"payload")
    assert upstream.trailers == trailers


def test_response_headers_are_forwarded(side: Side, client: H2Client) -> None:
    response = client.get("/headers", side.authority)
    assert response.status == 200, response.describe()
    names = {k for k, _ in RESPONSE_HEADERS}
    assert [h for h in response.headers if h[0] in names] == RESPONSE_HEADERS
    assert response.body == b"headers\n"


def test_hop_by_hop_response_headers_never_reach_an_http2_client(side: Side, client: H2Client) -> None:
    # The upstream's response is malformed for HTTP/2; the proxy may strip the fields or
    # refuse the response (502 or a reset), but never pass them on.
    response = client.get("/hop-by-hop", side.authority)
    assert response.done
    assert no_hop_by_hop(response.headers) == [], response.describe()
    assert no_hop_by_hop(response.trailers or []) == []
    if response.status == 200:
        assert response.header("x-kept") == "yes"
    # The connection carries on either way.
    assert client.get("/echo", side.authority).status == 200


def test_hop_by_hop_request_headers_never_reach_an_http2_upstream(
    side: Side, client: H2Client, h2_app: H2Upstream
) -> None:
    # A malformed HTTP/2 request: the proxy may strip the fields, refuse the stream, or
    # (as Envoy does by default) close the connection; the upstream never sees the fields.
    sid = client.request("GET", "/echo?hop", side.authority, headers=[*HOP_BY_HOP, (b"x-kept", b"yes")])
    stream = client.streams[sid]
    client.wait(lambda: stream.done or client.closed, TIMEOUT, what="an answer or a close")
    with H2Client(side.addr, timeout=TIMEOUT) as fresh:  # a round trip after it: nothing still on its way
        assert fresh.get("/echo?after", side.authority).status == 200
    for upstream in h2_app.streams:
        assert no_hop_by_hop(upstream.headers) == [], upstream.headers
    if stream.status == 200:
        assert ["x-kept", "yes"] in stream.json()["headers"]


# -- 4. resets and GOAWAY ---------------------------------------------------------------------


def test_client_reset_cancels_the_upstream_stream(side: Side, client: H2Client, h2_app: H2Upstream) -> None:
    sid = client.request("GET", "/never", side.authority)
    wait_for(lambda: len(h2_app.streams_for("/never")) == 1, TIMEOUT, "the request to reach the upstream")
    client.send_reset(sid, CANCEL)
    upstream = h2_app.streams_for("/never")[0]
    wait_for(lambda: upstream.reset_code is not None, TIMEOUT, "the upstream stream to be reset")
    assert h2_app.open_connections == 1, "only the stream is cancelled, not the upstream connection"
    assert client.get("/echo", side.authority).status == 200


@pytest.mark.parametrize(
    ("path", "expected_code", "got_headers"),
    [
        ("/reset/8", CANCEL, False),
        ("/reset-after-headers/8", CANCEL, True),
        ("/reset-after-headers/2", None, True),  # INTERNAL_ERROR: some reset, any code
    ],
    ids=["cancel-before-headers", "cancel-mid-body", "internal-error-mid-body"],
)
def test_upstream_reset_reaches_the_client_stream(
    side: Side, client: H2Client, path: str, expected_code: int | None, got_headers: bool
) -> None:
    response = client.get(path, side.authority)
    assert response.reset_code is not None, f"expected RST_STREAM, got {response.describe()}"
    assert not response.ended
    if expected_code is not None:
        assert response.reset_code == expected_code
    else:
        assert response.reset_code != NO_ERROR
    if got_headers:
        assert response.status == 200
    assert client.get("/echo", side.authority).status == 200, "the connection survives a stream reset"


def test_upstream_goaway_lets_its_stream_finish_and_moves_new_requests_to_a_new_connection(
    side: Side, client: H2Client, h2_app: H2Upstream
) -> None:
    first = client.get("/goaway", side.authority)  # GOAWAY(last stream = this one), then the answer
    assert first.status == 200, first.describe()
    for _ in range(3):
        response = client.get("/echo?after", side.authority)
        assert response.status == 200, response.describe()
        assert response.header("x-connection") != first.header("x-connection")
    assert h2_app.connections == 2
    assert [s.stream_id for s in h2_app.streams if s.after_goaway] == [], "no stream opened past the GOAWAY"


def test_upstream_goaway_between_requests_moves_new_requests_to_a_new_connection(
    side: Side, client: H2Client, h2_app: H2Upstream
) -> None:
    before = client.get("/echo", side.authority)
    assert before.status == 200, before.describe()
    h2_app.send_goaway(NO_ERROR)
    time.sleep(0.2)  # let the GOAWAY reach the proxy (a stream it races with is refused, never answered)
    for _ in range(3):
        response = client.get("/echo?after", side.authority)
        assert response.status == 200, response.describe()
        assert response.header("x-connection") != before.header("x-connection")
    assert h2_app.connections == 2


def test_upstream_goaway_with_an_error_fails_no_later_request(
    side: Side, client: H2Client, h2_app: H2Upstream
) -> None:
    assert client.get("/echo", side.authority).status == 200
    h2_app.send_goaway(INTERNAL_ERROR)
    time.sleep(0.2)
    response = client.get("/echo?after", side.authority)
    assert response.status == 200, response.describe()


# -- 5. graceful drain ------------------------------------------------------------------------


def proxy_exit_code(proxy: ProxyProcess, timeout: float) -> int:
    assert proxy.proc is not None
    try:
        return proxy.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _, stderr = proxy.stop(timeout=1)
        raise AssertionError(
            f"the proxy still ran {timeout}s after SIGTERM; log:\n{stderr[-3000:]}"
        ) from None


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
def test_sigterm_sends_goaway_and_the_open_stream_completes_before_exit(
    request: pytest.FixtureRequest, h2_app: H2Upstream, direction: str
) -> None:
    proxy = start_isolated(
        request,
        LIGHTMESH_PROXY_INBOUND_FORWARD=h2_app.addr,
        LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"{OUTBOUND_AUTHORITY}={h2_app.addr}",
        LIGHTMESH_PROXY_SHUTDOWN_GRACE_PERIOD="30s",
    )
    side = side_of(proxy, direction)
    assert proxy.proc is not None
    with H2Client(side.addr, timeout=TIMEOUT) as c:
        sid = c.request("GET", "/slow/1500", side.authority)  # headers now, body 1.5 s later
        stream = c.streams[sid]
        wait_for(
            lambda: len(h2_app.streams_for("/slow/1500")) == 1, TIMEOUT, "the request to reach the upstream"
        )
        proxy.proc.send_signal(signal.SIGTERM)
        c.wait(lambda: stream.done, 10, "the open stream to finish")
        assert (stream.status, stream.reset_code, stream.body) == (200, None, b"slow body\n")
        end = c.ending(timeout=10)
    assert end.goaway is not None, "the proxy must announce the drain with GOAWAY"
    assert end.goaway.error_code == NO_ERROR
    assert end.goaway.last_stream_id >= sid
    assert stream.finished is not None and end.goaways[0].received_at < stream.finished, "GOAWAY came first"
    assert end.closed, "the connection is closed once its streams are done"
    assert proxy_exit_code(proxy, 10) == 0
    _, stderr = proxy.stop()
    assert "Traceback" not in stderr


def test_sigterm_closes_an_idle_h2_connection_promptly(
    request: pytest.FixtureRequest, h2_app: H2Upstream
) -> None:
    proxy = start_isolated(
        request, LIGHTMESH_PROXY_INBOUND_FORWARD=h2_app.addr, LIGHTMESH_PROXY_SHUTDOWN_GRACE_PERIOD="30s"
    )
    assert proxy.proc is not None
    with H2Client(proxy.inbound, timeout=TIMEOUT) as c:
        assert c.get("/echo", INBOUND_AUTHORITY).status == 200
        proxy.proc.send_signal(signal.SIGTERM)
        end = c.ending(timeout=5)  # far below the 30 s grace period
    assert end.goaway is not None
    assert end.closed
    assert proxy_exit_code(proxy, 10) == 0


# -- 6. errors the proxy makes ----------------------------------------------------------------


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
def test_unreachable_upstream_gets_502_with_a_reason_on_a_connection_that_stays_usable(
    request: pytest.FixtureRequest, h2_app: H2Upstream, direction: str
) -> None:
    down = f"127.0.0.1:{closed_port()}"
    proxy = start_isolated(
        request,
        LIGHTMESH_PROXY_INBOUND_FORWARD=down,
        LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"down:80={down};{OUTBOUND_AUTHORITY}={h2_app.addr}",
    )
    side = side_of(proxy, direction)
    authority = "down:80" if direction == "outbound" else side.authority
    with H2Client(side.addr, timeout=TIMEOUT) as c:
        failed = c.get("/echo", authority)
        assert failed.status == 502, failed.describe()
        assert failed.header("lightmesh-proxy-error"), failed.describe()
        assert b"Traceback" not in failed.body
        again = c.get("/echo", OUTBOUND_AUTHORITY if direction == "outbound" else authority)
        assert again.status == (200 if direction == "outbound" else 502), again.describe()
    failures = 1 if direction == "outbound" else 2  # inbound, both streams go to the unreachable forward
    wait_metric(
        proxy, "response_total", failures, direction=direction, status_code="502", classification="failure"
    )


def test_unknown_authority_gets_an_error_with_a_reason_on_a_connection_that_stays_usable(
    mesh: ProxyProcess, h2_app: H2Upstream
) -> None:
    with H2Client(mesh.outbound, timeout=TIMEOUT) as c:
        failed = c.get("/echo", "nosuch.example")
        assert failed.status is not None and 400 <= failed.status < 600, failed.describe()
        assert failed.header("lightmesh-proxy-error"), failed.describe()
        ok = c.get("/echo", OUTBOUND_AUTHORITY)
        assert ok.status == 200, ok.describe()
    assert [s.authority for s in h2_app.streams] == [OUTBOUND_AUTHORITY]
