"""What `up` and `demo` print, against golden files."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lightmesh.cli.demo import banner
from lightmesh.local.meshfile import parse_mesh
from lightmesh.local.network import Network
from lightmesh.local.sidecar import Instance
from lightmesh.local.supervisor import Up, UpOptions

GOLDEN = Path(__file__).parent / "golden"
SPEC = parse_mesh(
    "services:\n"
    "  - {name: web, namespace: shop, port: 80, replicas: 2, command: python3}\n"
    "  - {name: db, port: 5432, command: python3}\n"
)


def up() -> Up:
    u = Up(UpOptions(Path("mesh.yaml"), Path("/state")), Network(), print)
    u.spec = SPEC
    u.proxy_api_addr, u.admin_addr, u.api_addr = "127.0.0.1:8086", "127.0.0.1:9990", "127.0.0.1:8085"
    ports = iter(range(20000, 20100))
    for svc, index, ready in (
        (SPEC.services[0], 0, True),
        (SPEC.services[0], 1, True),
        (SPEC.services[1], 0, False),
    ):
        inst = Instance(svc, index, "127.0.0.1", *(next(ports) for _ in range(5)), "127.0.0.1:8086")
        u.runners[inst.key] = SimpleNamespace(instance=inst, ready=ready)  # type: ignore[assignment]
    return u


def test_the_table_says_where_everything_is() -> None:
    assert up().table() + "\n" == (GOLDEN / "up_table.txt").read_text()


def state(netns: bool) -> dict[str, Any]:
    def inst(service: str, pod: str, n: int) -> dict[str, Any]:
        host = f"10.213.0.{n}" if netns else "127.0.0.1"
        return {
            "service": service, "pod": pod, "address": f"{host}:{8080 + n}",
            "admin_addr": f"{host}:{4190 + n}", "outbound_addr": f"127.0.0.1:{4140 + n}",
            "netns": f"lightmesh-emojivoto-{pod}" if netns else "",
        }  # fmt: skip

    instances = [inst("web", "web-0", 2), inst("vote-bot", "vote-bot-0", 3), inst("voting", "voting-0", 4)]
    return {"netns": netns, "instances": instances}


def test_the_demo_prints_what_to_try() -> None:
    lines = banner(state(False))
    commands = {line.split()[1] for line in lines if line.startswith("  lightmesh ")} - {"scale"}
    expected = (GOLDEN / "demo_banner.txt").read_text().splitlines()
    assert [line for line in lines if not line.startswith("  lightmesh ") or "scale" in line] == expected
    assert commands <= {"stat", "top", "tap", "routes", "edges", "check"}


def test_the_demo_under_netns_calls_by_name_from_a_pod() -> None:
    lines = banner(state(True))
    assert (
        "  ip netns exec lightmesh-emojivoto-vote-bot-0 curl -s http://web/api/vote?choice=:rocket:"
        in "\n".join(lines)
    )


def test_the_demo_banner_says_when_instances_are_missing() -> None:
    lines = banner({"netns": False, "instances": [], "log_dir": "/state/logs"})
    assert lines[-1] == "The demo is incomplete: see the messages above and the logs in /state/logs."
