"""h2load load shapes, workloads and result parsing for the HTTP/2 and gRPC suites.

Two shapes, both `h2load -t1 -c10 -m10` (10 h2c prior-knowledge connections,
up to 10 concurrent streams each), both bounded by `-D`:

* saturation: closed loop, as fast as the target answers;
* fixed rate: `--rps 100` per connection, i.e. ~1000 req/s in total (h2load
  starts a request every 10 ms on each connection, whatever the responses do,
  up to the 10-stream cap: open loop while latency stays under ~100 ms).

h2load prints only min/mean/max/sd latency, so every measured run also writes
`--log-file` (one line per request: start µs, status, duration µs) and the
percentiles are computed here from the 2xx lines (nearest rank). The log costs
h2load ~5% of its saturation rate, the same for every target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.loadgen import FIXED_RATE, SATURATION, Record

CONNECTIONS = 10
STREAMS = 10
RPS_PER_CONNECTION = 100  # x 10 connections = ~1000 req/s
SHAPES = (SATURATION, FIXED_RATE)

_FINISHED = re.compile(r"finished in ([\d.]+)(us|ms|s),")
_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
    r"(\d+) failed, (\d+) errored, (\d+) timeout"
)
_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
_UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


@dataclass(frozen=True)
class Workload:
    """What each request is: a path plus extra h2load arguments (body, headers)."""

    name: str
    path: str
    args: tuple[str, ...] = ()

    def describe(self) -> str:
        return " ".join([*self.args, self.path])


def shape_args(shape: str) -> list[str]:
    """h2load arguments for a shape (without duration, workload and URL)."""
    args = ["-t1", f"-c{CONNECTIONS}", f"-m{STREAMS}"]
    if shape == FIXED_RATE:
        args.append(f"--rps={RPS_PER_CONNECTION}")
    return args


def run_h2load(
    port: int,
    shape: str,
    workload: Workload,
    duration_s: float,
    cpus: set[int] | None,
    log_path: Path | None = None,
) -> Record:
    """Run h2load against 127.0.0.1:port; return counts, rps, errors and latency percentiles."""
    argv = ["h2load", *shape_args(shape), f"-D{max(round(duration_s * 1000), 1)}ms", *workload.args]
    if log_path is not None:
        argv.append(f"--log-file={log_path}")
    argv.append(f"http://{procs.LOOPBACK}:{port}{workload.path}")
    done = procs.run_bounded(argv, cpus, timeout_s=duration_s + 30)
    record = parse_output(done.stdout)
    if record is None or record["requests"] == 0:
        counts = _REQUESTS.search(done.stdout)
        why = counts.group(0) if counts else " ".join((done.stdout + " " + done.stderr).split())[-300:]
        err = " ".join(done.stderr.split())[-200:]
        raise RuntimeError(f"h2load (exit {done.returncode}) got no successful response: {why} {err}".strip())
    if log_path is not None:
        record.update(percentiles(log_path))
        log_path.unlink(missing_ok=True)
    return record


def parse_output(stdout: str) -> Record | None:
    """The summary h2load prints: duration, request counts, status classes, req/s."""
    fin, req, st = _FINISHED.search(stdout), _REQUESTS.search(stdout), _STATUS.search(stdout)
    if not (fin and req and st):
        return None
    seconds = float(fin.group(1)) * _UNIT_S[fin.group(2)]
    _total, started, done, ok, failed, errored, timeout = (int(v) for v in req.groups())
    s2, s3, s4, s5 = (int(v) for v in st.groups())
    errors = {"failed": failed, "errored": errored, "timeout": timeout, "status_4xx": s4, "status_5xx": s5}
    return {
        "requests": ok,
        "started": started,
        "done": done,
        "duration_us": round(seconds * 1e6),
        "rps": ok / max(seconds, 1e-9),
        "errors": errors,
        "error_count": failed + s4 + s5,
        "status_2xx": s2,
        "status_3xx": s3,
    }


def _rank(sorted_us: list[int], pct: float) -> int:
    """Nearest-rank percentile of an ascending list."""
    idx = max(0, min(len(sorted_us) - 1, int(-(-pct * len(sorted_us) // 100)) - 1))
    return sorted_us[idx]


def percentiles(log_path: Path) -> Record:
    """p50/p90/p99/p99.9/max/mean (µs) over the 2xx requests of an h2load --log-file."""
    durations = []
    with open(log_path) as log:
        for line in log:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1].startswith("2"):
                durations.append(int(parts[2]))
    if not durations:
        return {}
    durations.sort()
    return {
        "p50_us": _rank(durations, 50),
        "p90_us": _rank(durations, 90),
        "p99_us": _rank(durations, 99),
        "p999_us": _rank(durations, 99.9),
        "max_us": durations[-1],
        "mean_us": round(sum(durations) / len(durations), 1),
        "latency_samples": len(durations),
    }
