"""``lightmesh demo``: the emojivoto-like demo app under ``lightmesh up``, and what to try.

Writes the demo's mesh file (:mod:`lightmesh.demo.mesh`) next to the state file, runs it
with :func:`lightmesh.cli.up.run_up` (controller, sidecars, restarts, Ctrl-C) and, once
everything is ready, prints the commands to try against the running mesh.
"""

from __future__ import annotations

import sys
from typing import Any

from lightmesh.cli.up import run_up
from lightmesh.demo.mesh import NAMESPACE, demo_mesh
from lightmesh.local.state import state_dir

# the observability commands, printed when this lightmesh has them
OBSERVE = {
    "stat": f"lightmesh stat deploy -n {NAMESPACE}",
    "top": f"lightmesh top deploy/web -n {NAMESPACE}",
    "tap": f"lightmesh tap deploy/web -n {NAMESPACE}",
    "routes": f"lightmesh routes deploy/web -n {NAMESPACE} --to svc/voting -o wide  # effective vs actual",
    "edges": f"lightmesh edges deploy -n {NAMESPACE}",
    "check": "lightmesh check",
}


def _commands() -> set[str]:
    from lightmesh.cli.app import app

    return {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}


def banner(state: dict[str, Any]) -> list[str]:
    by_pod = {(i["service"], i["pod"]): i for i in state["instances"]}
    try:
        web, bot, voting = (
            by_pod[("web", "web-0")],
            by_pod[("vote-bot", "vote-bot-0")],
            by_pod[("voting", "voting-0")],
        )
    except KeyError:  # an instance could not be created; up said why
        return ["", f"The demo is incomplete: see the messages above and the logs in {state['log_dir']}."]
    if state["netns"]:  # inside a pod, an app calls the name, iptables does the rest
        client = f"ip netns exec {bot['netns']} curl -s http://web"
    else:  # on the host, a client uses a sidecar's outbound listener as its proxy
        client = f"curl -s -x http://{bot['outbound_addr']} http://web.{NAMESPACE}"
    lines = [
        "",
        f"The demo is running in namespace {NAMESPACE}: vote-bot votes through web, which calls emoji and",
        "voting over gRPC, every hop over mTLS; voting's Vote fails on purpose, and its profile marks it",
        "retryable: web's sidecar retries it (within a budget), so web sees fewer failures. Try:",
        f"  curl -s http://{web['address']}/api/leaderboard          # web-0 through its sidecar",
        f"  {client}/api/vote?choice=:rocket:   # as vote-bot does",
        f"  curl -s http://{voting['admin_addr']}/metrics | grep -E '^response_total'",
        "  lightmesh scale emoji 3",
    ]
    available = _commands()
    lines += [f"  {command}" for name, command in OBSERVE.items() if name in available]
    return lines


def run_demo(duration: float | None, netns: bool, failure_rate: float, rate: float) -> int:
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    mesh = directory / "demo-mesh.yaml"
    mesh.write_text(demo_mesh(sys.executable, failure_rate, rate))
    print(f"lightmesh demo: starting the emojivoto demo ({mesh})", flush=True)
    return run_up(mesh, netns=netns, duration=duration, banner=banner)
