"""wrk load shapes and result parsing.

Two shapes, both `wrk -t1`, both bounded by `-d`:

* saturation: `-c100`, closed loop, as fast as the target answers;
* fixed rate: `-c10` with a Lua `delay()` returning a random 0-20 ms think time
  per request, i.e. about 10 ms per connection and ~1000 req/s in total.

A Lua `done()` prints one `BENCH_JSON {...}` line with the request count,
errors and latency percentiles in microseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import procs

SATURATION = "saturation"
FIXED_RATE = "fixed_rate"
Record = dict[str, Any]  # one wrk run: done() fields plus what the harness adds
THINK_MAX_MS = 20  # uniform 0..20 ms, mean 10 ms per connection

_DONE_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
"""

_DELAY_LUA = rf"""
init = function(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end
delay = function()
  return math.random(0, {THINK_MAX_MS})
end
"""


@dataclass(frozen=True)
class Shape:
    """One wrk load shape."""

    name: str
    connections: int
    script: str


SHAPES = (Shape(SATURATION, 100, _DONE_LUA), Shape(FIXED_RATE, 10, _DELAY_LUA + _DONE_LUA))


def write_scripts(tmpdir: Path) -> dict[str, Path]:
    """Write one Lua script per shape into tmpdir; return name -> path."""
    paths = {}
    for shape in SHAPES:
        path = tmpdir / f"wrk-{shape.name}.lua"
        path.write_text(shape.script)
        paths[shape.name] = path
    return paths


def run_wrk(port: int, shape: Shape, script: Path, duration_s: float, cpus: set[int] | None) -> Record:
    """Run wrk against 127.0.0.1:port; return the parsed done() record + rps."""
    argv = [
        "wrk",
        "-t1",
        f"-c{shape.connections}",
        f"-d{duration_s:g}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://{procs.LOOPBACK}:{port}/",
    ]
    done = procs.run_bounded(argv, cpus, timeout_s=duration_s + 30)
    record = _parse(done.stdout)
    if record is None:
        raise RuntimeError(
            f"wrk exited {done.returncode} without results: "
            f"{' '.join((done.stderr or done.stdout).split())[-300:]}"
        )
    record["rps"] = record["requests"] / max(record["duration_us"] / 1e6, 1e-9)
    record["error_count"] = sum(record["errors"].values())
    return record


def _parse(stdout: str) -> Record | None:
    for line in stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            record: Record = json.loads(line[len("BENCH_JSON ") :])
            return record
    return None
