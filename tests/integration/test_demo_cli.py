"""``lightmesh demo`` seen through the real CLI, as a user would: no ``--api-addr``, the CLI finds the
running ``up`` through its state file (``LIGHTMESH_STATE_DIR``).

One demo run (``--duration`` bounds it even if the test dies) serves every assertion: each service
shows traffic in ``stat``, Vote's server-side (actual) success rate is its configured rate while
retries lift what ``web`` gets (effective), every edge is secured by mTLS, tap shows live requests,
``check`` passes with the identity checks, ``version`` reaches the server.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.up import UpProcess, metric, wait_for

FAILURE_RATE = 0.25
VOTES = 200  # Vote attempts seen by voting's sidecar before the rates are read
CLI_TIMEOUT = 60.0


def lightmesh(up: UpProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a CLI command as a user would, against whatever ``up`` the state directory names."""
    return subprocess.run(
        [sys.executable, "-m", "lightmesh", *args],
        env=up.env, cwd=up.dir, capture_output=True, text=True, timeout=CLI_TIMEOUT,
    )  # fmt: skip


def rows(output: str) -> dict[str, list[str]]:
    """A table's rows by their first column."""
    return {line.split()[0]: line.split() for line in output.splitlines()[1:] if line.strip()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    args = ["--duration", "150", "--failure-rate", str(FAILURE_RATE), "--rate", "20"]
    up = UpProcess(tmp_path_factory.mktemp("demo"), "demo", *args).start()
    try:
        state = up.wait_ready(5, timeout=90)
        voting = next(i for i in state["instances"] if i["service"] == "voting")
        wait_for(
            f"{VOTES} votes",
            lambda: metric(voting["admin_addr"], "request_total", direction="inbound") >= VOTES,
            timeout=90,
            log=up.log,
        )
        yield up
    finally:
        assert up.stop() == 0, up.log()


def test_stat_shows_traffic_for_every_service(demo: UpProcess) -> None:
    stat = lightmesh(demo, "stat", "deploy", "-n", "emojivoto", "-o", "json")
    assert stat.returncode == 0, stat.stderr
    by_name = {row["name"]: row for row in json.loads(stat.stdout)}
    # vote-bot only calls: its traffic is its outbound side (stat --from)
    for name in ("web", "emoji", "voting"):
        assert by_name[name]["rps"] > 0, stat.stdout
    table = lightmesh(demo, "stat", "deploy", "-n", "emojivoto")
    assert {"web", "emoji", "voting", "vote-bot"} <= set(rows(table.stdout)), table.stdout
    sent = lightmesh(demo, "stat", "deploy", "-n", "emojivoto", "--from", "deploy/vote-bot", "-o", "json")
    assert sent.returncode == 0, sent.stderr
    (called,) = json.loads(sent.stdout)
    assert called["name"] == "web" and called["rps"] > 0, sent.stdout


def _route(up: UpProcess) -> dict[str, Any]:
    out = lightmesh(up, "routes", "deploy/web", "-n", "emojivoto", "--to", "svc/voting", "-o", "json")
    assert out.returncode == 0, out.stderr
    return next(r for r in json.loads(out.stdout) if r["route"] == "Vote")


def test_vote_fails_at_its_configured_rate_server_side_and_retries_lift_what_web_gets(
    demo: UpProcess,
) -> None:
    state = demo.state()
    assert state is not None
    voting = next(i for i in state["instances"] if i["service"] == "voting")
    ok = metric(voting["admin_addr"], "response_total", direction="inbound", classification="success")
    failed = metric(voting["admin_addr"], "response_total", direction="inbound", grpc_status_code="14")
    assert ok + failed >= VOTES
    assert abs(ok / (ok + failed) - (1 - FAILURE_RATE)) < 0.05, (ok, failed)
    vote = _route(demo)
    print("Vote route (web -> voting):", vote)  # the effective success, for the record
    assert abs(vote["actual_success"] - (1 - FAILURE_RATE)) < 0.1, vote  # every attempt: voting's rate
    # what web got (effective) is better: the failed attempts were retried, within the budget
    assert vote["success"] > vote["actual_success"] and vote["actual_rps"] > vote["rps"], vote
    web = next(i for i in state["instances"] if i["service"] == "web")
    assert metric(web["admin_addr"], "route_retry_total", rt_route="Vote") > 0


def test_every_meshed_edge_is_secured(demo: UpProcess) -> None:
    edges = lightmesh(demo, "edges", "deploy", "-n", "emojivoto")
    assert edges.returncode == 0, edges.stderr
    lines = [line.split() for line in edges.stdout.splitlines()[1:] if line.strip()]
    found = {(r[0], r[1]): r[4] for r in lines}
    assert {("vote-bot", "web"), ("web", "emoji"), ("web", "voting")} <= set(found), edges.stdout
    assert set(found.values()) == {"√"}, edges.stdout


def test_tap_shows_live_requests_over_mtls(demo: UpProcess) -> None:
    tap = lightmesh(demo, "tap", "deploy/web", "-n", "emojivoto", "--limit", "6")
    assert tap.returncode == 0, tap.stderr
    lines = tap.stdout.splitlines()
    kinds = {line.split()[0] for line in lines}
    assert {"req", "rsp", "end"} <= kinds, tap.stdout
    inbound = [line for line in lines if "proxy=in" in line]
    assert inbound and all("tls=true" in line for line in inbound), tap.stdout
    # web's calls to emoji and voting: mTLS once the endpoint is chosen (the response and the end)
    outbound = [line for line in lines if "proxy=out" in line and line.startswith(("rsp", "end"))]
    assert all("tls=true" in line for line in outbound), tap.stdout


def test_check_passes_with_the_identity_checks_and_version_reaches_the_server(demo: UpProcess) -> None:
    check = lightmesh(demo, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "lightmesh-identity" in check.stdout and "[FAIL]" not in check.stdout, check.stdout
    version = lightmesh(demo, "version")
    assert version.returncode == 0, version.stderr
    assert re.search(r"Client version: \S+\nServer version: \S+", version.stdout), version.stdout
    assert "unavailable" not in version.stdout
