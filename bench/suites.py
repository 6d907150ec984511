"""The benchmark suites: HTTP/1.1 (wrk), HTTP/2 h2c and unary gRPC (h2load).

A `Suite` is the static description (targets, tools, which peers the ratios
use, titles); `start` brings up its upstream and returns a `Harness` with the
start functions, the load function and the per-visit inspection that run.py
drives the same way for every suite. `plan` installs or locates what the
chosen suites need and drops (with a note) the targets that cannot run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import h2load, h2peers, install, loadgen, peers, report
from bench.loadgen import Record
from bench.peers import Context, Running

Load = Callable[[int, str, float, bool], Record]  # (port, shape, seconds, warm-up?) -> record
Inspect = Callable[[Running], tuple[dict[str, object], str]]
Notes = dict[str, list[str]]  # target (or "_general") -> notes
_H2 = f"h2load -t1 -c{h2load.CONNECTIONS} -m{h2load.STREAMS}"


@dataclass(frozen=True)
class Suite:
    """Static description of one suite."""

    name: str
    label: str
    targets: tuple[str, ...]
    tools: tuple[str, ...]  # apt tools the suite cannot run without
    optional: dict[str, str]  # target -> apt tool it needs (missing: the target is skipped)
    view: report.View = field(default_factory=report.View)


@dataclass
class Harness:
    """A suite brought up for a run: its upstream plus what run.py calls."""

    upstream: Running
    ctx: Context
    starters: dict[str, Callable[[Context, set[int] | None], Running]]
    load: Load
    inspect: Inspect | None = None


def _h2_view(what: str, fixed: str) -> report.View:
    """Ratios against Envoy and nghttpx; titles naming the h2load shape and request."""
    rate = f"{_H2} --rps={h2load.RPS_PER_CONNECTION} per connection"
    return report.View(
        rps_peers=("envoy", "nghttpx"),
        cpu_peers=("envoy", "nghttpx"),
        sat_title=f"Saturation ({_H2}, {what}):",
        fix_title=f"Fixed rate ~1000 req/s ({rate}, {fixed}):",
    )


SUITES = {
    "h1": Suite("h1", "HTTP/1.1", peers.TARGETS, ("wrk", "nginx"), {"haproxy": "haproxy"}),
    "h2": Suite(
        "h2",
        "HTTP/2 h2c GET",
        h2peers.TARGETS,
        ("h2load", "nghttp", "nghttpd"),
        {"nghttpx": "nghttpx"},
        _h2_view("GET /index.html", "GET"),
    ),
    "grpc": Suite(
        "grpc",
        "unary gRPC over h2c",
        h2peers.TARGETS,
        ("h2load", "nghttp", "nghttpd"),
        {"nghttpx": "nghttpx"},
        _h2_view(f"unary gRPC POST {h2peers.GRPC_PATH}", "unary gRPC"),
    ),
}


def start(suite: Suite, tmp: Path, cpus: set[int] | None, envoy_bin: str | None) -> Harness:
    """Start the suite's upstream on `cpus` (the load generator's) and build its harness."""
    if suite.name == "h1":
        scripts = loadgen.write_scripts(tmp)
        shapes = {s.name: s for s in loadgen.SHAPES}
        upstream = peers.start_upstream(tmp, cpus)

        def wrk(port: int, shape: str, seconds: float, warm: bool) -> Record:
            return loadgen.run_wrk(port, shapes[shape], scripts[shape], seconds, cpus)

        return Harness(upstream, Context(tmp, upstream.port, envoy_bin), peers.STARTERS, wrk)
    workload = h2peers.write_docroot(tmp)[suite.name]
    upstream = h2peers.start_upstream(tmp, cpus, workload)
    ctx = Context(tmp, upstream.port, envoy_bin, http2=True, probe=h2peers.readiness(workload))

    def h2(port: int, shape: str, seconds: float, warm: bool) -> Record:
        log = None if warm else tmp / f"h2load-{suite.name}.log"
        return h2load.run_h2load(port, shape, workload, seconds, cpus, log)

    def inspect(target: Running) -> tuple[dict[str, object], str]:
        return h2peers.inspect(target, workload)

    return Harness(upstream, ctx, h2peers.STARTERS, h2, inspect)


def targets_for(suite: Suite, wanted: list[str] | None) -> list[str]:
    """The suite's targets in the order asked for; `direct` always first (the latency baseline)."""
    names = [t for t in (wanted or suite.targets) if t in suite.targets]
    return names if "direct" in names else ["direct", *names]


def _runnable(suite: Suite, targets: list[str], allow_install: bool, notes: Notes) -> list[str] | None:
    """Install/locate the suite's apt tools; return the targets that can run (None: the suite cannot)."""
    optional = [tool for t, tool in suite.optional.items() if t in targets]
    missing = install.ensure_apt_tools([*suite.tools, *optional], allow_install)
    if any(tool in missing for tool in suite.tools):
        why = "; ".join(missing[t] for t in suite.tools if t in missing)
        notes.setdefault("_general", []).append(f"suite {suite.name} skipped: {why}")
        return None
    runnable = list(targets)
    for target, tool in suite.optional.items():
        if target in runnable and tool in missing:
            notes.setdefault(target, []).append(missing[tool])
            runnable.remove(target)
    return runnable


def plan(
    names: list[str], wanted: list[str] | None, allow_install: bool, notes: dict[str, Notes]
) -> tuple[list[tuple[Suite, list[str]]], str | None]:
    """(suite, runnable targets) for every suite that can run, and the Envoy binary (notes per suite)."""
    envoy_bin, envoy_note = None, ""
    if any("envoy" in targets_for(SUITES[n], wanted) for n in names):
        envoy_bin, envoy_note = install.find_envoy(allow_install)
    out = []
    for name in names:
        suite, suite_notes = SUITES[name], notes.setdefault(name, {})
        targets = _runnable(suite, targets_for(suite, wanted), allow_install, suite_notes)
        if targets is None:
            continue
        if "envoy" in targets and envoy_bin is None:
            suite_notes.setdefault("envoy", []).append(envoy_note)
            targets.remove("envoy")
        out.append((suite, targets))
    return out, envoy_bin
