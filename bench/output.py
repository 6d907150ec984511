"""The JSON results file and the tool versions recorded in it.

`{"meta": {...}, "suites": {"h1": {"summary", "notes", "runs"}, "h2": ..., "grpc": ...}}`,
one key per suite that ran; see bench/README.md for the fields.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import h2load, install, loadgen, peers, suites

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _first_line(argv: list[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "?"


def versions(envoy_bin: str | None, names: list[str]) -> dict[str, str]:
    """Versions of the tools the chosen suites use, and the exact lightmesh command."""
    argv, env = peers.lightmesh_argv()
    out = {
        "python": sys.version.split()[0],
        "lightmesh_cmd": f"PYTHONPATH={env['PYTHONPATH']} " + " ".join(argv),
        "lightmesh_build": _first_line([sys.executable, "-m", "lightmesh.nativebuild", "status"], env),
    }
    if "h1" in names:
        out |= {t: _first_line([t, "-v"]) for t in ("wrk", "haproxy", "nginx")}
    if set(names) - {"h1"}:
        out |= {t: _first_line([t, "--version"]) for t in ("h2load", "nghttpd", "nghttpx")}
    if envoy_bin:
        out["envoy"] = install.envoy_version(envoy_bin)
    return out


def write_json(
    args: argparse.Namespace,
    results: dict[str, dict[str, Any]],
    envoy_bin: str | None,
    started: str,
    layout_desc: str,
    warmup_s: float,
) -> Path:
    """Write the results; the default path is bench/results/bench-<time>-<layout>[-<suites>].json."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tail = "" if args.suites == ["h1"] else "-" + "+".join(args.suites)
    path = args.json or RESULTS_DIR / f"bench-{stamp}-{args.layout}{tail}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "started": started,
        "layout": args.layout,
        "layout_desc": layout_desc,
        "reps": args.reps,
        "duration_s": args.duration,
        "suites": args.suites,
        "targets": {n: suites.targets_for(suites.SUITES[n], args.targets) for n in args.suites},
        "warmup_s": warmup_s,
        "think_time_ms": [0, loadgen.THINK_MAX_MS],
        "h2load": {
            "connections": h2load.CONNECTIONS,
            "streams_per_connection": h2load.STREAMS,
            "fixed_rate_rps_per_connection": h2load.RPS_PER_CONNECTION,
        },
        "cpus": os.cpu_count(),
        "versions": versions(envoy_bin, args.suites),
    }
    doc = {"meta": meta, "suites": results}
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return path
