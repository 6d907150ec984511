"""Tap on a real proxy, observed with grpcio: live events, match tree, limits and redaction.

Each tapped request yields three events with one id: ``request_init`` (method,
authority, path, headers), ``response_init`` (status, latency) and ``response_end``
(bytes sent, duration). Sensitive headers never leave the proxy.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import pytest

from lightmesh.api.gen import tap_pb2 as pb
from tests.support.h1_peers import start_isolated
from tests.support.h2_peers import H2Client, H2Upstream, grpc_frame
from tests.support.proxy import ProxyProcess
from tests.support.tap import kind, observe, request_events, until_tapping
from tests.support.tcp_client import http_request
from tests.support.upstream import UpstreamServer

StartProxy = Callable[..., ProxyProcess]
HOST = "web.example:8080"
GRPC_AUTHORITY = "grpc.svc:50051"
GRPC_PATH = "/lightmesh.test.Echo/Unary"


def _path(prefix: str) -> pb.Match:
    return pb.Match(http=pb.Match.Http(path=pb.Match.Http.StringMatch(prefix=prefix)))


def _get(proxy: ProxyProcess, path: str, headers: dict[str, str] | None = None) -> int:
    return http_request(proxy.inbound, "GET", path, headers={"Host": HOST, **(headers or {})}).status


def test_tap_shows_live_requests_with_their_response(proxy: ProxyProcess, upstream: UpstreamServer) -> None:
    channel, stream = observe(proxy.tap, pb.ObserveRequest())
    try:
        until_tapping(stream, lambda: _get(proxy, "/status/204"))
        assert _get(proxy, "/bytes/1234") == 200
        req, rsp, end = request_events(stream, "/bytes/1234")
    finally:
        stream.cancel()
        channel.close()
    assert [kind(e) for e in (req, rsp, end)] == ["request_init", "response_init", "response_end"]
    assert req.proxy_direction == pb.TapEvent.INBOUND
    assert req.http.request_init.method == "GET"
    assert req.http.request_init.authority == HOST
    assert req.source.ip == "127.0.0.1" and req.source.port > 0
    assert req.destination.port == upstream.server_address[1]
    assert req.destination_meta["namespace"] == "default"
    assert rsp.http.response_init.http_status == 200
    assert rsp.http.response_init.since_request_init_us > 0
    assert end.http.response_end.response_bytes == 1234
    assert end.http.response_end.http_status == 200
    assert end.http.response_end.since_request_init_us >= rsp.http.response_init.since_request_init_us
    assert not end.http.response_end.HasField("eos")


def test_an_untapped_proxy_has_not_loaded_the_tap_server_and_the_first_tap_loads_it(
    proxy: ProxyProcess, upstream: UpstreamServer
) -> None:
    assert _get(proxy, "/status/204") == 204
    assert not proxy.has_loaded("google/_upb")  # protobuf's runtime: only once someone taps
    channel, stream = observe(proxy.tap, pb.ObserveRequest())  # the connection that starts it
    try:
        until_tapping(stream, lambda: _get(proxy, "/status/201"))
    finally:
        stream.cancel()
        channel.close()
    assert proxy.has_loaded("google/_upb")
    channel, stream = observe(proxy.tap, pb.ObserveRequest())  # later taps: the running server
    try:
        until_tapping(stream, lambda: _get(proxy, "/status/202"))
    finally:
        stream.cancel()
        channel.close()


def test_only_requests_matching_the_tree_are_reported(proxy: ProxyProcess, upstream: UpstreamServer) -> None:
    match = pb.Match(
        all=pb.Match.Seq(
            matches=[
                _path("/status/"),
                pb.Match(**{"not": pb.Match(http=pb.Match.Http(method="POST"))}),
            ]
        )
    )
    channel, stream = observe(proxy.tap, pb.ObserveRequest(match=match))
    try:
        until_tapping(stream, lambda: _get(proxy, "/status/201"))
        _get(proxy, "/echo")
        http_request(proxy.inbound, "POST", "/status/202", body=b"x", headers={"Host": HOST})
        _get(proxy, "/status/503")
        events = request_events(stream, "/status/503")
    finally:
        stream.cancel()
        channel.close()
    assert events[1].http.response_init.http_status == 503
    # nothing from /echo or the POST came before it: request_events skipped only warm-up events
    assert events[0].http.request_init.method == "GET"


def test_the_request_limit_ends_the_stream(proxy: ProxyProcess, upstream: UpstreamServer) -> None:
    channel, stream = observe(proxy.tap, pb.ObserveRequest(limit=2, match=_path("/status/")))
    try:
        until_tapping(stream, lambda: _get(proxy, "/status/200"))
        _get(proxy, "/status/200")  # the second and last request of this tap
        error = stream.end()
    finally:
        channel.close()
    assert error is None  # ended with OK after the second request finished


def test_sensitive_headers_are_redacted(start_proxy: StartProxy, upstream: UpstreamServer) -> None:
    proxy = start_proxy(
        LIGHTMESH_PROXY_INBOUND_FORWARD=upstream.addr, LIGHTMESH_PROXY_TAP_REDACT_HEADERS="X-Api-Key"
    )
    secrets = {"Authorization": "Bearer s3cret", "Cookie": "session=s3cret", "X-Api-Key": "s3cret"}
    channel, stream = observe(proxy.tap, pb.ObserveRequest())
    try:
        until_tapping(stream, lambda: _get(proxy, "/status/204"))
        _get(proxy, "/echo", {**secrets, "X-Trace": "visible"})
        req, _, _ = request_events(stream, "/echo")
    finally:
        stream.cancel()
        channel.close()
    headers = {h.name: h.value for h in req.http.request_init.headers}
    assert headers["authorization"] == headers["cookie"] == headers["x-api-key"] == b"[redacted]"
    assert headers["x-trace"] == b"visible"
    assert b"s3cret" not in req.SerializeToString()


def test_max_rps_samples_requests(proxy: ProxyProcess, upstream: UpstreamServer) -> None:
    channel, stream = observe(proxy.tap, pb.ObserveRequest(max_rps=1.0, match=_path("/status/")))
    try:
        until_tapping(stream, lambda: _get(proxy, "/status/200"))
        start = time.monotonic()
        for _ in range(30):
            _get(proxy, "/status/200")
        elapsed = time.monotonic() - start
        _get(proxy, "/echo")  # not matched: a marker that the burst is over
        seen = 0
        try:
            while True:
                event = stream.next(timeout=0.5)
                seen += kind(event) == "request_init"
        except AssertionError:
            pass
    finally:
        stream.cancel()
        channel.close()
    assert seen < 30
    assert seen <= 2 + elapsed * 1.0  # the bucket holds one token, refilled at 1/s


def test_an_invalid_match_is_rejected(proxy: ProxyProcess) -> None:
    bad = pb.Match(source=pb.Match.Tcp(netmask=pb.Match.Tcp.Netmask(ip="not-an-ip", mask=8)))
    channel, stream = observe(proxy.tap, pb.ObserveRequest(match=bad))
    try:
        error = stream.end()
    finally:
        channel.close()
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "netmask" in (error.details() or "")


def test_outbound_requests_carry_their_destination(proxy: ProxyProcess, upstream: UpstreamServer) -> None:
    def send(path: str) -> None:
        http_request(proxy.outbound, "GET", path, headers={"Host": upstream.addr})

    channel, stream = observe(proxy.tap, pb.ObserveRequest())
    try:
        until_tapping(stream, lambda: send("/status/204"))
        send("/chunked/3")
        req, _, end = request_events(stream, "/chunked/3")
    finally:
        stream.cancel()
        channel.close()
    assert req.proxy_direction == pb.TapEvent.OUTBOUND
    assert f"{req.destination.ip}:{req.destination.port}" == upstream.addr
    assert req.source_meta["namespace"] == "default"
    assert end.http.response_end.response_bytes == len(b"chunk\n") * 3


@pytest.mark.parametrize(("status", "trailers_only"), [("0", False), ("14", False), ("5", True)])
def test_grpc_calls_end_with_their_grpc_status(
    request: pytest.FixtureRequest, status: str, trailers_only: bool
) -> None:
    with H2Upstream("grpc") as app:
        proxy = start_isolated(request, LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"{GRPC_AUTHORITY}={app.addr}")
        metadata = [("content-type", "application/grpc"), ("te", "trailers"), ("x-grpc-status", status)]
        if trailers_only:
            metadata.append(("x-trailers-only", "1"))
        channel, stream = observe(proxy.tap, pb.ObserveRequest(match=_path("/lightmesh.test")))
        try:
            with H2Client(proxy.outbound, timeout=5.0) as client:

                def call() -> None:
                    client.get(GRPC_PATH, GRPC_AUTHORITY, "POST", metadata, grpc_frame(b"ping"), timeout=5.0)

                until_tapping(stream, call)
                call()
                req, rsp, end = request_events(stream, GRPC_PATH)
        finally:
            stream.cancel()
            channel.close()
    assert req.http.request_init.method == "POST"
    assert rsp.http.response_init.http_status == 200
    assert end.http.response_end.eos.grpc_status_code == int(status)
    trailers = {h.name: h.value for h in end.http.response_end.trailers}
    assert trailers.get("grpc-status", status.encode()) == status.encode()
