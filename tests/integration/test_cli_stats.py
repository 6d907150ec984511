"""``lightmesh stat``, ``routes`` and ``edges`` against a real controller and proxies.

``vote-bot-0`` calls ``web`` through its outbound side (the controller resolves
``web:80`` to ``web-0``'s inbound listener), so ``web-0`` sees inbound traffic and
``vote-bot-0`` outbound traffic labelled with the destination service. A thread keeps
requests flowing (bounded) while each command scrapes twice, one second apart.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.support.cli import run_cli
from tests.support.controller import ControllerProcess, write_atomically
from tests.support.proxy import ProxyProcess
from tests.support.public import wait_for_pods
from tests.support.tcp_client import http_request, wait_until

Meshed = Callable[[str, str], ProxyProcess]


@pytest.fixture
def mesh(controller: ControllerProcess, meshed: Meshed) -> tuple[ProxyProcess, ProxyProcess]:
    web, bot = meshed("web", "web-0"), meshed("vote-bot", "vote-bot-0")
    write_atomically(
        controller.registry,
        "services:\n"
        "  - name: web\n    namespace: default\n    port: 80\n    endpoints:\n"
        f"      - address: {web.inbound}\n        labels: {{pod: web-0}}\n",
    )
    wait_for_pods(controller.public_api, {"web-0", "vote-bot-0"})
    wait_until(lambda: _call(bot) == 200, what="vote-bot reaches web through the mesh")
    return web, bot


def _call(bot: ProxyProcess) -> int:
    return http_request(bot.outbound, "GET", "/status/200", headers={"Host": "web:80"}).status


@contextmanager
def traffic(bot: ProxyProcess) -> Iterator[None]:
    stop = threading.Event()

    def run() -> None:
        for _ in range(2000):
            if stop.wait(0.01):
                return
            _call(bot)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def _stat(controller: ControllerProcess, *args: str) -> str:
    result = run_cli("stat", *args, "-t", "1s", "--api-addr", controller.public_api)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_stat_shows_golden_metrics_per_service(
    controller: ControllerProcess, mesh: tuple[ProxyProcess, ProxyProcess]
) -> None:
    _, bot = mesh
    with traffic(bot):
        table = _stat(controller, "deploy")
        as_json = json.loads(_stat(controller, "deploy/web", "-o", "json"))
    lines = table.splitlines()
    assert lines[0].split() == [
        "NAME", "MESHED", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99", "TCP_CONN",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["vote-bot"][1:7] == ["1/1", "-", "-", "-", "-", "-"]  # no inbound traffic
    web = rows["web"]
    assert web[1:3] == ["1/1", "100.00%"]
    assert re.fullmatch(r"\d+\.\drps", web[3]) and float(web[3][:-3]) > 0
    assert all(re.fullmatch(r"\d+ms", cell) for cell in web[4:7])
    assert [row["name"] for row in as_json] == ["web"]
    assert as_json[0]["success"] == 1.0 and as_json[0]["rps"] > 0


def test_stat_from_a_caller_measures_its_outbound_side(
    controller: ControllerProcess, mesh: tuple[ProxyProcess, ProxyProcess]
) -> None:
    _, bot = mesh
    with traffic(bot):
        table = _stat(controller, "deploy", "--from", "deploy/vote-bot")
    (row,) = table.splitlines()[1:]
    assert row.split()[:3] == ["web", "1/1", "100.00%"]
    assert row.split()[-1] == "-"  # TCP_CONN is per resource, not per edge


def test_stat_of_nothing_says_no_traffic(controller: ControllerProcess) -> None:
    result = run_cli("stat", "deploy/ghost", "-t", "1s", "--api-addr", controller.public_api)
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == "No traffic found.\n"


def test_routes_show_the_default_route(
    controller: ControllerProcess, mesh: tuple[ProxyProcess, ProxyProcess]
) -> None:
    _, bot = mesh
    with traffic(bot):
        result = run_cli("routes", "deploy/web", "-t", "1s", "--api-addr", controller.public_api)
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == [
        "ROUTE",
        "SERVICE",
        "SUCCESS",
        "RPS",
        "LATENCY_P50",
        "LATENCY_P95",
        "LATENCY_P99",
    ]
    assert row.split()[:3] == ["[DEFAULT]", "web", "100.00%"]


def test_edges_show_who_calls_whom(
    controller: ControllerProcess, mesh: tuple[ProxyProcess, ProxyProcess]
) -> None:
    result = run_cli("edges", "deploy", "-o", "wide", "--api-addr", controller.public_api)
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["SRC", "DST", "SRC_NS", "DST_NS", "SECURED", "CLIENT_ID", "SERVER_ID"]
    assert row.split() == [
        "vote-bot",
        "web",
        "default",
        "default",
        "\u00d7",
        "-",
        "-",
    ]  # plaintext, no identity


def test_bad_flags_exit_2_with_the_reason(controller: ControllerProcess) -> None:
    result = run_cli(
        "stat", "deploy", "--to", "svc/a", "--from", "svc/b", "--api-addr", controller.public_api
    )
    assert result.returncode == 2
    assert "--to and --from cannot be used together" in result.stderr
    result = run_cli("stat", "rs", "--api-addr", controller.public_api)
    assert result.returncode == 2
    assert "unknown resource type 'rs'" in result.stderr
