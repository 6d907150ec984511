"""Plain counters owned by the event-loop thread, read at scrape time.

Updating an attribute of a slotted object costs tens of nanoseconds, against
hundreds for a locked prometheus-client child, so the hot path only touches these
and :mod:`lightmesh.proxy.telemetry` renders them when ``/metrics`` is scraped.
"""

from __future__ import annotations

from lightmesh.core.latency import Histogram


class TcpStats:
    """Connection counters for one ``(direction, peer, tls)``; closes by classification.

    ``tls`` is the metric label: ``"true"`` for mesh TLS connections, else empty."""

    __slots__ = (
        "closes",
        "direction",
        "durations",
        "open_total",
        "opened",
        "peer",
        "read_bytes",
        "tls",
        "write_bytes",
    )

    def __init__(self, direction: str, peer: str, tls: str = "") -> None:
        self.direction = direction
        self.peer = peer
        self.tls = tls
        self.open_total = 0
        self.opened = 0  # currently open
        self.read_bytes = 0
        self.write_bytes = 0
        self.closes: dict[str, int] = {}
        self.durations: dict[str, Histogram] = {}

    def open(self) -> None:
        self.open_total += 1
        self.opened += 1

    def close(self, duration_ms: float, read: int, written: int, classification: str) -> None:
        self.opened -= 1
        self.read_bytes += read
        self.write_bytes += written
        self.closes[classification] = self.closes.get(classification, 0) + 1
        hist = self.durations.get(classification)
        if hist is None:
            hist = self.durations[classification] = Histogram()
        hist.observe(duration_ms)
