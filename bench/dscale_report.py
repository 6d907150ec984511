"""The destination scale bench's analysis: propagation per (stream, change), reloads, profile.

* :func:`propagation`: for every change and every stream subscribed to its service, the
  time from the change (the rename, or the pipe write) to that stream's receipt of the
  address; pairs never received are **missed**, address events that match no change are
  **unexpected** (both should be 0).
* :func:`reload_times`: when the controller applied each reload, from its log lines
  (``registry ... reloaded``, millisecond UTC timestamps), so the reload rate and cycle.
* :func:`profile_shares`: py-spy ``--format raw`` (collapsed stacks) to the share of the
  controller's samples spent in each part of the update path.
"""

from __future__ import annotations

import calendar
import itertools
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.dscale_registry import endpoint_of

KIND_CODES = {"add": 0, "remove": 1}
_RELOADED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z INFO .*registry .* reloaded")

# (label, function, file fragment), parents before children; a sample counts once per label
PROFILE_PARTS = (
    ("file source reload (worker thread): read + sha256 + parse", "_read", "sources/file.py"),
    ("  split into per-service blocks", "split_services", "registryblocks.py"),
    ("  fast path: documented layout read line by line", "read_block", "registrylines.py"),
    ("  fast path: YAML load (libyaml, plain data)", "load", "registryfast.py"),
    ("  fast path: checks + Services (to_service)", "to_service", "registryfast.py"),
    ("  slow path: YAML node tree (yamldoc)", "parse", "yamldoc.py"),
    ("  slow path: pydantic validation", "model_validate", "pydantic"),
    ("file source apply: Directory.replace_all (compare + notify)", "replace_all", "directory.py"),
    ("pipe source: set_service", "apply", "dscale_pipectl.py"),
    ("streams: Destination._follow", "_follow", "destination.py"),
    ("  Directory.catch_up (diff, shared per version)", "catch_up", "directory.py"),
    ("  EncodedUpdate (protobuf, once per delta)", "_messages", "destination.py"),
    ("  grpclib send_message", "send_message", "grpclib"),
    ("/metrics scrape", "render", "metrics.py"),
)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted ``values``; None when empty."""
    if not values:
        return None
    return values[max(0, math.ceil(p / 100 * len(values)) - 1)]


def spread(values: Sequence[float], scale: float = 1000.0) -> dict[str, float | int | None]:
    """count, p50, p90, p99, max (in ms with the default scale) of unsorted ``values``."""
    ordered = sorted(values)
    out: dict[str, float | int | None] = {"count": len(ordered)}
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
        v = percentile(ordered, p)
        out[name] = None if v is None else round(v * scale, 1)
    return out


def propagation(
    changes: Sequence[tuple[int, int, str, int, float]],
    events: Sequence[Sequence[Any]],
    streams: int,
    services: int,
) -> dict[str, Any]:
    """Latencies (s) of every (stream, change) pair; ``changes`` are (seq, service, kind, n, t)."""
    received: dict[tuple[int, int, int], float] = {}
    duplicates = 0
    for stream, kind, ipv4, t in events:
        key = (stream, kind, endpoint_of(ipv4) if kind < 2 else -1)
        if key in received:
            duplicates += 1
        else:
            received[key] = t
    latencies: list[float] = []
    missed = 0
    for _seq, service, kind, n, t in changes:
        for stream in range(service, streams, services):
            got = received.pop((stream, KIND_CODES[kind], n), None)
            if got is None:
                missed += 1
            else:
                latencies.append(got - t)
    return {
        "latencies": latencies,
        "pairs": len(latencies) + missed,
        "missed": missed,
        "unexpected": len(received) + duplicates,
    }


def reload_times(log_path: Path) -> list[float]:
    """Wall-clock times (epoch seconds) of the reloads the controller logged."""
    out = []
    for line in log_path.read_text(errors="replace").splitlines():
        if m := _RELOADED.match(line):
            out.append(calendar.timegm(time.strptime(m[1], "%Y-%m-%dT%H:%M:%S")) + int(m[2]) / 1000)
    return out


def reload_stats(times: Sequence[float], start: float, end: float, poll: float) -> dict[str, Any]:
    """Reloads applied within [start, end] (wall clock) and the gaps between them."""
    inside = [t for t in times if start <= t <= end]
    gaps = [b - a for a, b in itertools.pairwise(inside)]
    stats = spread(gaps)
    return {
        "reloads": len(inside),
        "reloads_per_s": round(len(inside) / (end - start), 2) if end > start else None,
        "cycle_ms": stats,
        "cycle_minus_poll_ms_p50": None if stats["p50"] is None else round(stats["p50"] - poll * 1000, 1),
    }


def profile_shares(raw: Path) -> dict[str, Any]:
    """Share of samples whose stack holds each PROFILE_PARTS frame, and the top leaf frames."""
    shares: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaves[frames[-1]] += count
        for label, func, where in PROFILE_PARTS:
            if any(_is(f, func, where) for f in frames):
                shares[label] += count
    return {
        "samples": total,
        "share": {label: round(shares[label] / total, 3) for label, _, _ in PROFILE_PARTS if total},
        "top_leaves": [(frame, round(n / total, 3)) for frame, n in leaves.most_common(12)] if total else [],
    }


def _is(frame: str, func: str, where: str) -> bool:
    """A py-spy frame ``Class.func (path/file.py:line)`` is ``func`` in a file matching ``where``."""
    name, _, place = frame.partition(" (")
    return (name == func or name.endswith("." + func)) and where in place
