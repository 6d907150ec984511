"""``--prometheus-url``: stats from Prometheus' HTTP API, matched to proxies by pod or instance.

A small HTTP server on loopback plays Prometheus: it answers ``/api/v1/query`` with
canned vectors and records the queries, so the test sees both what the CLI asks and
what it makes of the answers.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lightmesh.cli.promquery import PrometheusError, prometheus_current, prometheus_window
from lightmesh.cli.statmath import golden
from lightmesh.cli.statrows import Proxy

WEB0 = Proxy("default", "web", "web-0", "", "10.0.0.5:4191")
WEB1 = Proxy("default", "web", "web-1", "", "10.0.0.6:4191")


class FakePrometheus(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.queries: list[str] = []
        self.fail = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakePrometheus

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["query"][0]
        self.server.queries.append(query)
        if self.server.fail:
            body = {"status": "error", "error": "parse error at char 3"}
        else:
            body = {"status": "success", "data": {"resultType": "vector", "result": _result(query)}}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _series(value: float, **labels: str) -> dict[str, object]:
    return {"metric": labels, "value": [1700000000.0, str(value)]}


def _result(query: str) -> list[dict[str, object]]:
    if query == "increase(response_total[60s])":
        return [
            _series(57, namespace="default", pod="web-0", job="lightmesh", direction="inbound",
                    classification="success", status_code="200"),
            _series(3, instance="10.0.0.6:4191", direction="inbound", classification="failure",
                    status_code="500"),
            _series(99, namespace="other", pod="web-0", direction="inbound", classification="success"),
        ]  # fmt: skip
    if query.startswith('request_total{direction="outbound"}'):
        return [_series(5, instance="10.0.0.5:4191", direction="outbound", dst_service="voting")]
    return []


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    server = FakePrometheus()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_window_series_are_matched_to_proxies_by_pod_or_instance(prometheus: FakePrometheus) -> None:
    windows = prometheus_window(prometheus.url, [WEB0, WEB1], 60.0)
    assert "increase(response_latency_ms_bucket[60s])" in prometheus.queries
    assert "tcp_open_connections" in prometheus.queries
    web0 = golden(windows[WEB0.key], lambda s: True, "inbound")
    web1 = golden(windows[WEB1.key], lambda s: True, "inbound")
    assert (web0.success, web0.failure, web1.success, web1.failure) == (57, 0, 0, 3)
    (sample,) = windows[WEB0.key]
    assert sample.label("job") == "" and sample.label("pod") == ""  # Prometheus' target labels dropped


def test_current_values_for_edges(prometheus: FakePrometheus) -> None:
    current = prometheus_current(prometheus.url, [WEB0])
    assert [(s.name, s.label("dst_service"), s.value) for s in current[WEB0.key]] == [
        ("request_total", "voting", 5.0)
    ]


def test_a_prometheus_error_is_reported_with_the_query(prometheus: FakePrometheus) -> None:
    prometheus.fail = True
    with pytest.raises(PrometheusError, match="parse error at char 3"):
        prometheus_window(prometheus.url, [WEB0], 60.0)
