"""Output of ``stat``, ``routes`` and ``edges``: tables (``-o table``/``wide``) and JSON (pure).

Cells follow Linkerd's formats: ``SUCCESS`` ``%.2f%%``, ``RPS`` ``%.1frps``,
latencies ``%dms`` (rounded), ``TCP_CONN`` an integer, bytes ``%.1fB/s``; a row
without traffic shows ``-`` in every traffic column. JSON numbers are ``null``
where the table shows ``-``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lightmesh.cli.statmath import Golden
from lightmesh.cli.statrows import EdgeRow, RouteRow, StatRow
from lightmesh.cli.table import render

NO_DATA = "-"
SECURED, INSECURE = "\u221a", "\u00d7"  # check and cross marks, as linkerd edges prints them
STAT_HEADERS = ["NAME", "MESHED", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99", "TCP_CONN"]
WIDE_EXTRA = ["READ_BYTES/SEC", "WRITE_BYTES/SEC"]
QUANTILES = (0.5, 0.95, 0.99)


def percent(value: float | None) -> str:
    return NO_DATA if value is None else f"{value * 100:.2f}%"


def rps(value: float | None) -> str:
    return NO_DATA if value is None else f"{value:.1f}rps"


def ms(value: float | None) -> str:
    return NO_DATA if value is None else f"{round(value)}ms"


def _traffic(g: Golden, seconds: float) -> list[str]:
    return [percent(g.success_rate()), rps(g.rps(seconds)), *(ms(g.latency(q)) for q in QUANTILES)]


def stat_table(rows: Sequence[StatRow], seconds: float, wide: bool, namespaces: bool) -> str:
    headers = (["NAMESPACE"] if namespaces else []) + STAT_HEADERS + (WIDE_EXTRA if wide else [])
    body = []
    for r in rows:
        cells = ([r.namespace] if namespaces else []) + [r.name, f"{r.meshed}/{r.known}"]
        cells += _traffic(r.stats, seconds)
        cells.append(str(round(r.stats.tcp_open)) if r.tcp else NO_DATA)
        if wide:
            cells += [
                f"{r.stats.read_bytes / seconds:.1f}B/s" if r.tcp else NO_DATA,
                f"{r.stats.write_bytes / seconds:.1f}B/s" if r.tcp else NO_DATA,
            ]
        body.append(cells)
    return render(headers, body, left=2 if namespaces else 1)


def _numbers(g: Golden, seconds: float) -> dict[str, Any]:
    lat = [g.latency(q) for q in QUANTILES]
    return {
        "success": g.success_rate(),
        "rps": g.rps(seconds),
        "latency_ms_p50": None if lat[0] is None else round(lat[0], 3),
        "latency_ms_p95": None if lat[1] is None else round(lat[1], 3),
        "latency_ms_p99": None if lat[2] is None else round(lat[2], 3),
    }


def stat_json(rows: Sequence[StatRow], seconds: float) -> str:
    out = []
    for r in rows:
        item: dict[str, Any] = {"namespace": r.namespace, "name": r.name, "meshed": f"{r.meshed}/{r.known}"}
        item.update(_numbers(r.stats, seconds))
        item["tcp_open_connections"] = round(r.stats.tcp_open) if r.tcp else None
        item["tcp_read_bytes_rate"] = r.stats.read_bytes / seconds if r.tcp else None
        item["tcp_write_bytes_rate"] = r.stats.write_bytes / seconds if r.tcp else None
        out.append(item)
    return json.dumps(out, indent=2) + "\n"


def routes_table(rows: Sequence[RouteRow], seconds: float, wide: bool) -> str:
    if wide:
        headers = ["ROUTE", "SERVICE", "EFFECTIVE_SUCCESS", "EFFECTIVE_RPS", "ACTUAL_SUCCESS", "ACTUAL_RPS"]
        headers += ["LATENCY_P50", "LATENCY_P95", "LATENCY_P99"]
        body = [
            [
                r.route,
                r.service,
                percent(r.effective.success_rate()),
                rps(r.effective.rps(seconds)),
                percent(r.actual.success_rate()),
                rps(r.actual.rps(seconds)),
                *(ms(r.effective.latency(q)) for q in QUANTILES),
            ]
            for r in rows
        ]
        return render(headers, body, left=2)
    headers = ["ROUTE", "SERVICE", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99"]
    return render(headers, [[r.route, r.service, *_traffic(r.effective, seconds)] for r in rows], left=2)


def routes_json(rows: Sequence[RouteRow], seconds: float) -> str:
    out = []
    for r in rows:
        item: dict[str, Any] = {"route": r.route, "service": r.service}
        item.update(_numbers(r.effective, seconds))
        item["actual_success"] = r.actual.success_rate()
        item["actual_rps"] = r.actual.rps(seconds)
        out.append(item)
    return json.dumps(out, indent=2) + "\n"


def edges_table(rows: Sequence[EdgeRow], wide: bool) -> str:
    headers = ["SRC", "DST", "SRC_NS", "DST_NS", "SECURED"] + (["CLIENT_ID", "SERVER_ID"] if wide else [])
    body = []
    for r in rows:
        cells = [r.src, r.dst, r.src_ns, r.dst_ns, SECURED if r.secured else INSECURE]
        if wide:
            cells += [r.client_id or NO_DATA, r.server_id or NO_DATA]
        body.append(cells)
    return render(headers, body, left=len(headers))


def edges_json(rows: Sequence[EdgeRow]) -> str:
    out = [
        {
            "src": r.src,
            "dst": r.dst,
            "src_namespace": r.src_ns,
            "dst_namespace": r.dst_ns,
            "secured": r.secured,
            "client_id": r.client_id,
            "server_id": r.server_id,
        }
        for r in rows
    ]
    return json.dumps(out, indent=2) + "\n"
