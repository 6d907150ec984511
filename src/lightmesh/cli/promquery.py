"""Samples from Prometheus (``--prometheus-url``) instead of scraping the proxies.

For a window, each counter the stats use is asked as ``increase(NAME[Ns])``; gauges
and cumulative values (``edges``) as ``NAME``. Each returned series is matched to an
announced proxy by its ``namespace`` and ``pod`` labels when the scrape configuration
adds them, else by ``instance`` (the proxy's admin address, as a static or file-based
scrape configuration records it). The target labels Prometheus adds (``instance``,
``job``, ``namespace``, ``pod``) are dropped so the samples look like a proxy's own.
"""

from __future__ import annotations

import json
import urllib.parse

from lightmesh.cli.samples import Sample
from lightmesh.cli.scrape import fetch
from lightmesh.cli.statrows import Proxy, Windows

WINDOW_COUNTERS = (
    "response_total",
    "response_latency_ms_bucket",
    "tcp_read_bytes_total",
    "tcp_write_bytes_total",
    "route_response_total",
    "route_response_latency_ms_bucket",
    "route_actual_response_total",
    "route_actual_response_latency_ms_bucket",
)
GAUGES = ("tcp_open_connections",)
TARGET_LABELS = frozenset({"instance", "job", "namespace", "pod"})


class PrometheusError(Exception):
    pass


def query(url: str, promql: str) -> list[tuple[dict[str, str], float]]:
    full = f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        answer = json.loads(fetch(full))
    except (OSError, ValueError) as exc:
        raise PrometheusError(f"cannot query Prometheus at {url}: {exc}") from None
    if answer.get("status") != "success":
        raise PrometheusError(f"Prometheus at {url}: {answer.get('error', 'query failed')} ({promql})")
    return [(dict(r["metric"]), float(r["value"][1])) for r in answer["data"]["result"]]


def _owner(
    labels: dict[str, str], by_pod: dict[tuple[str, str], Proxy], by_addr: dict[str, Proxy]
) -> Proxy | None:
    if "pod" in labels and (labels.get("namespace", ""), labels["pod"]) in by_pod:
        return by_pod[labels.get("namespace", ""), labels["pod"]]
    return by_addr.get(labels.get("instance", ""))


def _collect(url: str, proxies: list[Proxy], queries: list[tuple[str, str]]) -> Windows:
    by_pod = {p.key: p for p in proxies}
    by_addr = {p.admin_addr: p for p in proxies}
    out: dict[tuple[str, str], list[Sample]] = {p.key: [] for p in proxies}
    for name, promql in queries:
        for labels, value in query(url, promql):
            owner = _owner(labels, by_pod, by_addr)
            if owner is not None:
                kept = tuple(
                    sorted((k, v) for k, v in labels.items() if k not in TARGET_LABELS and k != "__name__")
                )
                out[owner.key].append(Sample(name, kept, value))
    return out


def prometheus_window(url: str, proxies: list[Proxy], seconds: float) -> Windows:
    span = f"{max(1, round(seconds))}s"
    queries = [(name, f"increase({name}[{span}])") for name in WINDOW_COUNTERS]
    queries += [(name, name) for name in GAUGES]
    return _collect(url, proxies, queries)


def prometheus_current(url: str, proxies: list[Proxy]) -> Windows:
    return _collect(url, proxies, [("request_total", 'request_total{direction="outbound"}')])
