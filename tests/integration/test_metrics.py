"""What the HTTP counters mean: classification by status, and histograms that match the counts.

A response is a ``failure`` when it is a 5xx (whether the application or the proxy
produced it) and a ``success`` otherwise, 4xx included. Every recorded response
adds one observation to ``response_latency_ms``, so the histogram's count always
equals ``response_total`` for the same labels.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.proxy import ProxyProcess, free_port
from tests.support.tcp_client import http_request, wait_metric
from tests.support.upstream import UpstreamServer

StartProxy = Callable[..., ProxyProcess]
HOST = "app.example:8080"


@pytest.mark.parametrize(
    ("path", "status", "classification"),
    [
        ("/status/500", "500", "failure"),
        ("/status/503", "503", "failure"),
        ("/status/404", "404", "success"),
        ("/status/400", "400", "success"),
        ("/status/204", "204", "success"),
        ("/echo", "200", "success"),
    ],
)
def test_response_is_classified_by_its_status(
    proxy: ProxyProcess, upstream: UpstreamServer, path: str, status: str, classification: str
) -> None:
    assert http_request(proxy.inbound, "GET", path, headers={"Host": HOST}).status == int(status)
    labels = {"direction": "inbound", "authority": HOST, "status_code": status}
    wait_metric(proxy, "response_total", 1, classification=classification, **labels)
    other = "success" if classification == "failure" else "failure"
    assert proxy.metric("response_total", classification=other, **labels) == 0
    assert proxy.metric("request_total", direction="inbound", authority=HOST) == 1


def test_proxy_generated_502_counts_as_a_failure(start_proxy: StartProxy) -> None:
    proxy = start_proxy(LIGHTMESH_PROXY_INBOUND_FORWARD=f"127.0.0.1:{free_port()}")  # nothing listens there
    result = http_request(proxy.inbound, "GET", "/", headers={"Host": HOST})
    assert result.status == 502
    assert result.headers["lightmesh-proxy-error"]
    wait_metric(proxy, "response_total", 1, direction="inbound", status_code="502", classification="failure")


def test_latency_histogram_count_equals_response_count(proxy: ProxyProcess, upstream: UpstreamServer) -> None:
    paths = ["/echo"] * 5 + ["/status/404"] * 3 + ["/status/500"] * 2 + ["/chunked/4", "/bytes/100000"]
    for path in paths:
        http_request(proxy.inbound, "GET", path, headers={"Host": HOST})
    wait_metric(proxy, "response_total", len(paths), direction="inbound")
    for status in ("200", "404", "500"):
        labels = {"direction": "inbound", "authority": HOST, "status_code": status}
        responses = proxy.metric("response_total", **labels)
        assert responses > 0
        assert proxy.metric("response_latency_ms_count", **labels) == responses
        assert proxy.metric("response_latency_ms_bucket", le="+Inf", **labels) == responses
    assert proxy.metric("response_latency_ms_count", direction="inbound") == len(paths)
    assert proxy.metric("request_total", direction="inbound") == len(paths)


def test_latency_histogram_records_a_slow_response_above_its_duration(
    proxy: ProxyProcess, upstream: UpstreamServer
) -> None:
    assert http_request(proxy.inbound, "GET", "/sleep/250").status == 200
    wait_metric(proxy, "response_latency_ms_count", 1, direction="inbound")
    assert proxy.metric("response_latency_ms_bucket", direction="inbound", le="200") == 0
    assert proxy.metric("response_latency_ms_bucket", direction="inbound", le="+Inf") == 1
    assert proxy.metric("response_latency_ms_sum", direction="inbound") >= 250


def test_outbound_requests_are_counted_by_authority(proxy: ProxyProcess, upstream: UpstreamServer) -> None:
    for path in ("/echo", "/status/503"):
        http_request(proxy.outbound, "GET", path, headers={"Host": upstream.addr})
    wait_metric(proxy, "response_total", 2, direction="outbound", authority=upstream.addr)
    assert proxy.metric("request_total", direction="outbound", authority=upstream.addr) == 2
    assert (
        proxy.metric("response_total", direction="outbound", classification="failure", status_code="503") == 1
    )
    assert proxy.metric("response_total", direction="inbound") == 0
