"""``lightmesh up -f mesh.yaml`` and ``lightmesh scale SERVICE N``.

``up`` runs the mesh file's services locally (see :mod:`lightmesh.local.supervisor`), in the
foreground until Ctrl-C. ``scale`` finds the running ``up`` through its state file and asks
it over the control socket; the change lasts until ``up`` stops or the mesh file's
``replicas`` for that service changes. Exit codes: 0 after a clean stop, 1 when ``up``
cannot start (a port in use, another ``up`` running, no root for ``--netns``), 2 for an
invalid mesh file.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightmesh.local import control
from lightmesh.local.network import Network
from lightmesh.local.state import read_state, state_dir, state_path
from lightmesh.local.supervisor import Up, UpOptions


def _report(line: str) -> None:
    print(line, flush=True)


def _error(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def make_network(netns: bool, subnet: str) -> Network:
    if not netns:
        return Network()
    from lightmesh.local.netns import NetnsNetwork

    return NetnsNetwork(subnet)


def run_up(
    mesh_file: Path,
    netns: bool = False,
    subnet: str = "10.213.0.0/16",
    api_addr: str = "",
    proxy_api_addr: str = "",
    controller_admin_addr: str = "",
    ready_timeout: float = 60.0,
    duration: float | None = None,
    banner: Callable[[dict[str, Any]], list[str]] | None = None,
) -> int:
    if netns and os.geteuid() != 0:
        print("lightmesh up: --netns needs root (network namespaces, a bridge and iptables)", file=sys.stderr)
        return 1
    try:
        network = make_network(netns, subnet)
    except ValueError as exc:
        print(f"lightmesh up: {exc}", file=sys.stderr)
        return 1
    options = UpOptions(
        mesh_file=mesh_file,
        state_dir=state_dir(),
        api_addr=api_addr,
        proxy_api_addr=proxy_api_addr,
        controller_admin_addr=controller_admin_addr,
        ready_timeout=ready_timeout,
        duration=duration,
        banner=banner,
    )
    return asyncio.run(Up(options, network, _report, _error).run())


def run_scale(service: str, replicas: int) -> int:
    state = read_state()
    if state is None:
        print(f"lightmesh scale: no lightmesh up is running (no live {state_path()})", file=sys.stderr)
        return 1
    try:
        request = {"op": "scale", "service": service, "replicas": replicas}
        answer = control.request(Path(state["control_socket"]), request)
    except (OSError, ValueError, KeyError) as exc:
        print(f"lightmesh scale: cannot reach lightmesh up (pid {state['pid']}): {exc}", file=sys.stderr)
        return 1
    if not answer.get("ok"):
        print(f"lightmesh scale: {answer.get('error')}", file=sys.stderr)
        return 1
    print(f"{answer['service']} scaled to {answer['replicas']}")
    return 0
