"""The destination scale bench's churn loop, drain wait and CPU samples.

:func:`churn` makes ``rate x duration`` changes on schedule, ``batch`` per write: the
registry file rewritten atomically (file source) or one line per change on the
controller's stdin (pipe source). Each change's time is taken right after the rename (or
the pipe write) returns. It is bounded in count (the writes) and in time (twice the
duration plus 10 s). :func:`drain` then waits, bounded, until the load generator holds
every expected address event.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from bench import measure
from bench.dscale_procs import Child
from bench.dscale_registry import Registry

DRAIN_MAX_S = 60.0
DRAIN_STALL_S = 5.0


def churn(args: argparse.Namespace, registry: Registry, path: Path, ctl: Child) -> dict[str, Any]:
    """Make rate x duration changes, ``batch`` per write, on schedule; bounded in count and time."""
    writes = max(1, round(args.rate * args.duration / args.batch))
    interval = args.batch / args.rate
    changes: list[tuple[int, int, str, int, float]] = []
    write_s: list[float] = []
    start = time.monotonic()
    hard_stop, lag, seq = start + 2 * args.duration + 10, 0.0, 0
    for w in range(writes):
        now = time.monotonic()
        if now > hard_stop:
            break
        due = start + w * interval
        if due > now:
            time.sleep(due - now)
        else:
            lag = max(lag, now - due)
        batch = [registry.churn(seq + k) for k in range(args.batch)]
        seq += args.batch
        before = time.monotonic()
        if args.source == "file":
            registry.write(path)
        else:
            ctl.send("".join(c.line() for c in batch))
        t = time.monotonic()
        write_s.append(t - before)
        changes += [(c.seq, c.service, c.kind, c.endpoint, t) for c in batch]
    took = time.monotonic() - start
    return {"changes": changes, "writes": len(write_s), "seconds": took, "lag_max_s": lag, "write_s": write_s}


def drain(client: Child, expected: int) -> tuple[int, float]:
    """Wait until the client holds ``expected`` events (or stalls); returns (events, seconds)."""
    start, last, best = time.monotonic(), time.monotonic(), -1
    while time.monotonic() - start < DRAIN_MAX_S:
        client.send("count\n")
        got = int(client.expect("count", 10).split()[0])
        if got >= expected:
            return got, time.monotonic() - start
        if got > best:
            best, last = got, time.monotonic()
        elif time.monotonic() - last > DRAIN_STALL_S:
            break
        time.sleep(0.1)
    return best, time.monotonic() - start


def cpu(pids: dict[str, int]) -> dict[str, float]:
    out = {name: measure.cpu_seconds(pid) for name, pid in pids.items()}
    t = os.times()
    return out | {"harness": t.user + t.system, "wall": time.monotonic()}
