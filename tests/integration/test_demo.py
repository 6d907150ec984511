"""``lightmesh demo`` end to end: the emojivoto-like app under ``up``, seen through the proxies' /metrics."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.support.up import UpProcess, metric, pid_alive, wait_for

ROOT = Path(__file__).resolve().parents[2]
FAILURE_RATE = 0.25
VOTES = 150  # Vote calls seen by voting's sidecar before the success rate is checked


def traffic(up: UpProcess) -> dict[str, float]:
    """Requests each service's sidecars have seen: inbound for the servers, outbound for vote-bot."""
    state = up.state()
    assert state is not None
    seen: dict[str, float] = {}
    for inst in state["instances"]:
        direction = "outbound" if inst["service"] == "vote-bot" else "inbound"
        count = metric(inst["admin_addr"], "request_total", direction=direction)
        seen[inst["service"]] = seen.get(inst["service"], 0) + count
    return seen


NETNS = pytest.param(
    ["--netns"],
    id="netns",
    marks=pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("conntrack"),
        reason="--netns needs root, iproute2, iptables and conntrack",
    ),
)


@pytest.mark.parametrize("mode", [pytest.param([], id="loopback"), NETNS])
def test_the_demo_shows_traffic_everywhere_and_the_configured_failure_rate(
    tmp_path: Path, mode: list[str]
) -> None:
    args = ["--duration", "120", "--failure-rate", str(FAILURE_RATE), "--rate", "20", *mode]
    up = UpProcess(tmp_path, "demo", *args)
    up.start()
    try:
        state = up.wait_ready(5)
        voting = next(i for i in state["instances"] if i["service"] == "voting")
        wait_for(
            f"{VOTES} votes",
            lambda: metric(voting["admin_addr"], "request_total", direction="inbound") >= VOTES,
            timeout=90,
            log=up.log,
        )
        seen = traffic(up)
        assert set(seen) == {"web", "emoji", "voting", "vote-bot"}
        assert all(count > 0 for count in seen.values()), seen
        ok = metric(voting["admin_addr"], "response_total", direction="inbound", classification="success")
        failed = metric(voting["admin_addr"], "response_total", direction="inbound", grpc_status_code="14")
        assert ok + failed >= VOTES
        assert abs(ok / (ok + failed) - (1 - FAILURE_RATE)) < 0.03, (ok, failed)
        log = up.log()
        assert "5/5 instances ready" in log and "lightmesh scale emoji 3" in log
        assert "/api/leaderboard" in log
    finally:
        assert up.stop() == 0
    assert "stopped" in up.log()
    assert not [pid for pid in up.seen_pids if pid_alive(pid)]


def test_the_demo_stops_by_itself_after_its_duration(tmp_path: Path) -> None:
    up = UpProcess(tmp_path, "demo", "--duration", "3").start()
    assert up.wait(90) == 0, up.log()
    assert "stopped" in up.log()
    assert not (up.state_dir / "up.json").exists()


@pytest.mark.slow
@pytest.mark.timeout(900)  # the build compiles the hot path: about 3 minutes on 2 cores
def test_the_readme_first_command_works_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    assert "pip install '.[compile]' && python -m lightmesh.nativebuild build && lightmesh demo" in readme
    env_dir = tmp_path / "venv"
    # the dependencies come from this interpreter's site-packages: the test needs no network
    venv.EnvBuilder(with_pip=True, system_site_packages=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("LIGHTMESH_")
    }
    env.update(
        PATH=f"{env_dir / 'bin'}:{env['PATH']}",
        LIGHTMESH_STATE_DIR=str(tmp_path / "state"),
        RES_OPTIONS="attempts:0",
    )
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-index", "--no-build-isolation", "--no-deps", "-q", "."],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    where = subprocess.run(
        [str(python), "-c", "import lightmesh; print(lightmesh.__file__)"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert str(env_dir) in where.stdout
    build = subprocess.run(
        [str(python), "-m", "lightmesh.nativebuild", "build"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    assert f"in {env_dir}" in build.stdout  # compiled where it is installed, not in the checkout
    demo = subprocess.run(
        [str(env_dir / "bin" / "lightmesh"), "demo", "--duration", "5"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "5/5 instances ready" in demo.stdout and "Try:" in demo.stdout
    logs = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.log"))
    assert "hot path compiled with mypyc" in logs
    assert sys.executable not in (tmp_path / "state" / "demo-mesh.yaml").read_text()
