"""Request and TCP counters, and the Prometheus collector that renders them at scrape time.

The hot path updates plain ints in slotted objects (:class:`RouteStats`,
:class:`~lightmesh.core.stats.TcpStats`); :class:`MeshCollector` walks them when
``/metrics`` is scraped and renders metric families with Linkerd's names, labels and
latency buckets, plus ``process_*`` metrics read from /proc. The number of
distinct authorities per direction is capped so a client sending random ``Host``
headers cannot grow memory without bound; the excess is counted under
``authority="overflow"``.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Final

from lightmesh.core.classify import FAILURE, classify
from lightmesh.core.latency import Histogram
from lightmesh.core.stats import TcpStats
from lightmesh.protocol.messages import Response, ended_grpc_status
from lightmesh.protocol.prometheus import Family, render

MAX_AUTHORITIES: Final = 1000  # (authority, endpoint labels) series per direction and TLS
Labels = tuple[tuple[str, str], ...]
Key = tuple[bytes | None, Labels]


class RouteStats:
    """Counters for one ``(direction, authority, endpoint labels, tls)``: requests, and a latency
    histogram per response outcome ``(status, grpc status, classification)``, whose count is the
    number of those responses."""

    __slots__ = ("authority", "dst_labels", "requests", "responses")

    def __init__(self, authority: str, dst_labels: tuple[tuple[str, str], ...] = ()) -> None:
        self.authority = authority
        self.dst_labels = dst_labels
        self.requests = 0
        self.responses: dict[tuple[int, int | None, str], Histogram] = {}

    def ended(self, latency_ms: float, response: Response, error: BaseException | None) -> None:
        """Count a fully sent (or failed: ``error``) response, classified at its end: a failed
        stream fails; a ``grpc-status`` (trailers, or the head of a trailers-only response)
        decides for gRPC; else a 5xx fails. The end callback of every proxied request."""
        grpc = ended_grpc_status(response)
        cls = FAILURE if error is not None else classify(response.status, grpc)
        self.response(response.status, grpc, cls, latency_ms)

    def response(self, status: int, grpc_status: int | None, classification: str, latency_ms: float) -> None:
        key = (status, grpc_status, classification)
        latency = self.responses.get(key)
        if latency is None:
            latency = self.responses[key] = Histogram()
        latency.observe(latency_ms)


class ResponseEnd:
    """The end callback of one proxied response: counts it in ``stats`` with its latency to the
    response head. A compiled object, cheaper to make and call than a ``functools.partial``."""

    __slots__ = ("latency_ms", "stats")

    def __init__(self, stats: RouteStats, latency_ms: float) -> None:
        self.stats = stats
        self.latency_ms = latency_ms

    def __call__(self, response: Response, error: BaseException | None) -> None:
        self.stats.ended(self.latency_ms, response, error)


class HttpTable:
    """All :class:`RouteStats` of one direction, split by TLS, keyed by raw authority bytes
    and the endpoint's ``dst_*`` labels (empty without a controller). The metrics layer
    looks known series up in ``tables`` directly and calls :meth:`get` only to add one."""

    def __init__(self, direction: str) -> None:
        self.direction = direction
        self.tables: tuple[dict[Key, RouteStats], dict[Key, RouteStats]] = ({}, {})
        self._labels: dict[tuple[bool, str, Labels], RouteStats] = {}

    def get(self, authority: bytes | None, tls: bool, dst: Labels = ()) -> RouteStats:
        table = self.tables[tls]
        stats = table.get((authority, dst))
        if stats is None:
            label = authority.decode("latin-1") if authority else ""
            if len(table) >= MAX_AUTHORITIES:
                label, dst = "overflow", ()
            stats = self._labels.get((tls, label, dst))
            if stats is None:
                stats = self._labels[tls, label, dst] = RouteStats(label, dst)
            if len(table) < MAX_AUTHORITIES:
                table[authority, dst] = stats
        return stats

    def rows(self) -> Iterator[tuple[str, RouteStats]]:
        for (tls, _, _), stats in self._labels.items():
            yield ("true" if tls else ""), stats


def add_stats(
    requests: Family,
    responses: Family,
    latency: Family | None,
    labels: list[tuple[str, str]],
    stats: RouteStats,
) -> None:
    """Add one :class:`RouteStats` to the request, response and (unless ``None``) latency families,
    responses labelled by status code, classification and gRPC status."""
    requests.add(labels, stats.requests)
    for (status, grpc, cls), hist in stats.responses.items():
        rlabels = [*labels, ("status_code", str(status)), ("classification", cls)]
        if grpc is not None:
            rlabels.append(("grpc_status_code", str(grpc)))
        responses.add(rlabels, hist.count)
        if latency is not None:
            latency.add_histogram(rlabels, hist.cumulative(), hist.sum)


class MeshCollector:
    """Renders every table and connection counter as metric families at scrape time."""

    def __init__(
        self,
        http: list[HttpTable],
        tcp: list[TcpStats],
        extra: Callable[[], Iterable[Family]] | None = None,
    ) -> None:
        self.http = http
        self.tcp = tcp
        # more families from other parts of the proxy: tap, routes, balancers, identity
        self.extra: list[Callable[[], Iterable[Family]]] = [extra] if extra is not None else []

    def collect(self) -> Iterator[Family]:
        yield from self._http()
        for more in self.extra:
            yield from more()
        yield from self._tcp()
        yield from process_families()

    def _http(self) -> Iterator[Family]:
        requests = Family("request_total", "counter", "Requests received (stream begun)")
        responses = Family("response_total", "counter", "Responses completed (stream ended)")
        latency = Family("response_latency_ms", "histogram", "Time to the first byte of the response (ms)")
        for table in self.http:
            for tls, stats in table.rows():
                labels = [
                    ("direction", table.direction),
                    ("authority", stats.authority),
                    *stats.dst_labels,
                    ("tls", tls),
                ]
                add_stats(requests, responses, latency, labels, stats)
        yield from (requests, responses, latency)

    def _tcp(self) -> Iterator[Family]:
        opened = Family("tcp_open_total", "counter", "Connections opened")
        current = Family("tcp_open_connections", "gauge", "Connections currently open")
        read = Family("tcp_read_bytes_total", "counter", "Bytes read from closed connections")
        written = Family("tcp_write_bytes_total", "counter", "Bytes written to closed connections")
        closed = Family("tcp_close_total", "counter", "Connections closed")
        duration = Family("tcp_connection_duration_ms", "histogram", "Connection lifetimes (ms)")
        for s in self.tcp:
            labels = [("direction", s.direction), ("peer", s.peer), ("tls", s.tls)]
            opened.add(labels, s.open_total)
            current.add(labels, s.opened)
            read.add(labels, s.read_bytes)
            written.add(labels, s.write_bytes)
            for cls, count in s.closes.items():
                closed.add([*labels, ("classification", cls)], count)
                hist = s.durations[cls]
                duration.add_histogram([*labels, ("classification", cls)], hist.cumulative(), hist.sum)
        yield from (opened, current, read, written, closed, duration)

    def render(self) -> bytes:
        return render(self.collect())


_START: Final = time.time()


def process_families() -> Iterator[Family]:
    """``process_*`` metrics from /proc (Linux); nothing elsewhere."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        return
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    boot = _boot_time()
    metrics = [
        (
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time (s)",
            (int(fields[11]) + int(fields[12])) / ticks,
        ),
        ("process_virtual_memory_bytes", "gauge", "Virtual memory size (bytes)", int(fields[20])),
        ("process_resident_memory_bytes", "gauge", "Resident memory size (bytes)", int(fields[21]) * page),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time since the epoch (s)",
            boot + int(fields[19]) / ticks if boot else _START,
        ),
        ("process_open_fds", "gauge", "Open file descriptors", fds),
        ("process_max_fds", "gauge", "Maximum open file descriptors", soft),
    ]
    for name, kind, help_text, value in metrics:
        family = Family(name, kind, help_text)
        family.add([], value)
        yield family


def _boot_time() -> float:
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime"):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0
