"""``lightmesh top``'s table: tap events aggregated by source, destination, method and path (pure).

:class:`TopTable` follows each tapped request from ``request_init`` to ``response_end``
and then counts it in its row: how many, the best, worst and last latency (request
start to response end) and how many succeeded (gRPC status OK, else an HTTP status
below 500; a reset or proxy error is a failure). :func:`render` prints Linkerd's
columns ``Source Destination Method Path Count Best Worst Last Success Rate``, the
busiest rows first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lightmesh.api.gen import tap_pb2 as pb
from lightmesh.cli.table import render as render_table

MAX_PENDING = 100_000  # requests whose end has not been seen; the oldest are forgotten beyond this
Key = tuple[str, str, str, str]


@dataclass
class Row:
    source: str
    destination: str
    method: str
    path: str
    count: int = 0
    successes: int = 0
    best: int = 0
    worst: int = 0
    last: int = 0

    def add(self, latency_us: int, success: bool) -> None:
        self.best = latency_us if self.count == 0 else min(self.best, latency_us)
        self.worst = max(self.worst, latency_us)
        self.last = latency_us
        self.count += 1
        self.successes += success


def _peer(ip: str, meta: Mapping[str, str]) -> str:
    return meta.get("pod") or ip or meta.get("authority", "")


def _success(end: pb.TapEvent.Http.ResponseEnd) -> bool:
    if end.HasField("eos"):
        kind = end.eos.WhichOneof("end")
        if kind == "grpc_status_code":
            return end.eos.grpc_status_code == 0
        if kind in ("reset_error_code", "error"):
            return False
    return 0 < end.http_status < 500


class TopTable:
    def __init__(self, hide_sources: bool = False) -> None:
        self.hide_sources = hide_sources
        self.pending: dict[tuple[str, int, int], Key] = {}
        self.rows: dict[Key, Row] = {}

    def add(self, event: pb.TapEvent) -> None:
        http = event.http
        which = http.WhichOneof("event")
        if which == "request_init":
            r = http.request_init
            source = "" if self.hide_sources else _peer(event.source.ip, event.source_meta)
            key = (
                source,
                _peer(event.destination.ip, event.destination_meta),
                r.method,
                r.path.split("?")[0],
            )
            if len(self.pending) >= MAX_PENDING:
                self.pending.pop(next(iter(self.pending)))
            self.pending[event.proxy, r.id.base, r.id.stream] = key
        elif which == "response_end":
            e = http.response_end
            found = self.pending.pop((event.proxy, e.id.base, e.id.stream), None)
            if found is not None:
                row = self.rows.get(found)
                if row is None:
                    row = self.rows[found] = Row(*found)
                row.add(e.since_request_init_us, _success(e))

    def sorted_rows(self) -> list[Row]:
        return sorted(self.rows.values(), key=lambda r: (-r.count, r.source, r.destination, r.method, r.path))


def latency(us: int) -> str:
    if us < 1000:
        return f"{us}µs"
    if us < 10_000:
        return f"{us / 1000:.1f}ms"
    if us < 1_000_000:
        return f"{round(us / 1000)}ms"
    return f"{us / 1_000_000:.2f}s"


def render(table: TopTable) -> str:
    headers = ["Source", "Destination", "Method", "Path", "Count", "Best", "Worst", "Last", "Success Rate"]
    if table.hide_sources:
        headers = headers[1:]
    body = []
    for r in table.sorted_rows():
        cells = [r.source, r.destination, r.method, r.path, str(r.count)]
        cells += [latency(r.best), latency(r.worst), latency(r.last), f"{100 * r.successes / r.count:.2f}%"]
        body.append(cells[1:] if table.hide_sources else cells)
    return render_table(headers, body, left=3 if table.hide_sources else 4)
