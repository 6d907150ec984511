"""The admin listener: ``/metrics``, ``/ready``, ``/live``, ``/proxy-log-level`` and ``/shutdown``.

``/metrics`` is parsed with prometheus-client's own parser, so "valid Prometheus
text" means what a real scraper would accept.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support.proxy import ProxyProcess
from tests.support.tcp_client import connect, http_request, recv_exactly, wait_metric
from tests.support.tcp_servers import EchoServer
from tests.support.upstream import UpstreamServer

StartProxy = Callable[..., ProxyProcess]

LINKERD_BUCKETS = [
    "1", "2", "3", "4", "5", "10", "20", "30", "40", "50", "100", "200", "300", "400", "500",
    "1000", "2000", "3000", "4000", "5000", "10000", "20000", "30000", "40000", "50000", "+Inf",
]  # fmt: skip
PROCESS_METRICS = [
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_start_time_seconds",
]
TCP_METRICS = [
    "tcp_open_total",
    "tcp_open_connections",
    "tcp_read_bytes_total",
    "tcp_write_bytes_total",
    "tcp_close_total",
    "tcp_connection_duration_ms_bucket",
    "tcp_connection_duration_ms_sum",
    "tcp_connection_duration_ms_count",
]


def scrape(proxy: ProxyProcess) -> list[Sample]:
    result = http_request(proxy.admin, "GET", "/metrics")
    assert result.status == 200
    assert result.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = list(text_string_to_metric_families(result.body.decode()))  # raises on malformed text
    return [sample for family in families for sample in family.samples]


def generate_traffic(proxy: ProxyProcess, upstream: UpstreamServer) -> None:
    """One inbound 200, one inbound 503 and one outbound 200, all recorded."""
    assert http_request(proxy.inbound, "GET", "/echo").status == 200
    assert http_request(proxy.inbound, "GET", "/status/503").status == 503
    assert http_request(proxy.outbound, "GET", "/echo", headers={"Host": upstream.addr}).status == 200
    for status in ("200", "503"):
        wait_metric(proxy, "response_total", 1, direction="inbound", status_code=status)
    wait_metric(proxy, "response_total", 1, direction="outbound")


def test_metrics_is_valid_prometheus_text_with_http_tcp_and_process_metrics(
    proxy: ProxyProcess, upstream: UpstreamServer
) -> None:
    generate_traffic(proxy, upstream)
    with EchoServer() as echo, connect(proxy.outbound) as sock:  # a CONNECT tunnel adds outbound TCP traffic
        sock.sendall(f"CONNECT {echo.addr} HTTP/1.1\r\nHost: {echo.addr}\r\n\r\n".encode())
        recv_exactly(sock, len(b"HTTP/1.1 200 Connection established\r\n\r\n"))
    names = {sample.name for sample in scrape(proxy)}
    for name in [
        "request_total",
        "response_total",
        "response_latency_ms_bucket",
        "response_latency_ms_sum",
        "response_latency_ms_count",
        *TCP_METRICS,
        *PROCESS_METRICS,
    ]:
        assert name in names, f"{name} missing from /metrics"


def test_http_metrics_carry_direction_authority_tls_status_and_classification(
    proxy: ProxyProcess, upstream: UpstreamServer
) -> None:
    generate_traffic(proxy, upstream)
    samples = scrape(proxy)
    requests = [s for s in samples if s.name == "request_total"]
    responses = [s for s in samples if s.name == "response_total"]
    assert {s.labels["direction"] for s in requests} == {"inbound", "outbound"}
    for sample in requests:
        assert set(sample.labels) == {"direction", "authority", "tls"}
    for sample in responses:
        assert {"direction", "authority", "tls", "status_code", "classification"} <= set(sample.labels)
    outbound = [s for s in responses if s.labels["direction"] == "outbound"]
    assert [s.labels["authority"] for s in outbound] == [upstream.addr]
    assert {(s.labels["status_code"], s.labels["classification"]) for s in responses} == {
        ("200", "success"), ("503", "failure"),
    }  # fmt: skip
    assert {s.labels["tls"] for s in requests + responses} == {""}  # plaintext


def test_latency_histograms_use_the_linkerd_bucket_bounds(
    proxy: ProxyProcess, upstream: UpstreamServer
) -> None:
    generate_traffic(proxy, upstream)
    samples = scrape(proxy)
    for histogram in ("response_latency_ms", "tcp_connection_duration_ms"):
        series: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for sample in samples:
            if sample.name == histogram + "_bucket":
                key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
                series.setdefault(key, []).append(sample.labels["le"])
        assert series, f"no {histogram} series"
        for key, bounds in series.items():
            assert bounds == LINKERD_BUCKETS, key


def test_histogram_buckets_are_cumulative_and_end_at_the_count(
    proxy: ProxyProcess, upstream: UpstreamServer
) -> None:
    generate_traffic(proxy, upstream)
    samples = scrape(proxy)
    for histogram in ("response_latency_ms", "tcp_connection_duration_ms"):
        counts: dict[tuple[tuple[str, str], ...], list[float]] = {}
        totals: dict[tuple[tuple[str, str], ...], float] = {}
        for sample in samples:
            key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            if sample.name == histogram + "_bucket":
                counts.setdefault(key, []).append(sample.value)
            elif sample.name == histogram + "_count":
                totals[key] = sample.value
        assert counts.keys() == totals.keys()
        for key, values in counts.items():
            assert values == sorted(values), key
            assert values[-1] == totals[key], key


def test_process_metrics_describe_the_proxy_process(proxy: ProxyProcess) -> None:
    values = {s.name: s.value for s in scrape(proxy) if s.name.startswith("process_")}
    assert values["process_resident_memory_bytes"] > 1 << 20
    assert values["process_cpu_seconds_total"] >= 0
    assert values["process_open_fds"] >= 3  # at least the three listeners
    assert abs(values["process_start_time_seconds"] - time.time()) < 600  # started moments ago


def test_ready_and_live_answer_200(proxy: ProxyProcess) -> None:
    for path in ("/ready", "/live"):
        result = http_request(proxy.admin, "GET", path)
        assert result.status == 200, path


def test_unknown_admin_path_answers_404(proxy: ProxyProcess) -> None:
    result = http_request(proxy.admin, "GET", "/no-such-thing")
    assert result.status == 404
    assert b"/metrics" in result.body  # says what exists


def test_log_level_can_be_read_and_changed_at_runtime(start_proxy: StartProxy) -> None:
    proxy = start_proxy(LIGHTMESH_PROXY_LOG_LEVEL="info")
    assert http_request(proxy.admin, "GET", "/proxy-log-level").body.strip() == b"info"
    changed = http_request(proxy.admin, "PUT", "/proxy-log-level", body=b"debug")
    assert changed.status == 200
    assert changed.body.strip() == b"debug"
    assert http_request(proxy.admin, "GET", "/proxy-log-level").body.strip() == b"debug"


def test_unknown_log_level_is_rejected_with_400_and_a_clear_message(start_proxy: StartProxy) -> None:
    proxy = start_proxy(LIGHTMESH_PROXY_LOG_LEVEL="info")
    result = http_request(proxy.admin, "PUT", "/proxy-log-level", body=b"verbose")
    assert result.status == 400
    message = result.body.decode()
    assert "verbose" in message
    for level in ("trace", "debug", "info", "warning", "error"):
        assert level in message
    assert http_request(proxy.admin, "GET", "/proxy-log-level").body.strip() == b"info"  # unchanged


def test_shutdown_endpoint_is_disabled_by_default(proxy: ProxyProcess) -> None:
    result = http_request(proxy.admin, "POST", "/shutdown")
    assert result.status == 404
    assert b"LIGHTMESH_PROXY_ADMIN_SHUTDOWN" in result.body
    assert http_request(proxy.admin, "GET", "/live").status == 200  # still running
    assert proxy.proc is not None and proxy.proc.poll() is None


def test_shutdown_endpoint_when_enabled_answers_202_and_the_process_exits_0(start_proxy: StartProxy) -> None:
    proxy = start_proxy(LIGHTMESH_PROXY_ADMIN_SHUTDOWN="true")
    result = http_request(proxy.admin, "POST", "/shutdown")
    assert result.status == 202
    assert proxy.proc is not None
    try:
        code = proxy.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        raise AssertionError("the proxy did not exit within 15 s of POST /shutdown") from None
    assert code == 0
