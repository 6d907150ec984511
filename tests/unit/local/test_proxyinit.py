"""proxy-init: Linkerd's iptables rules, checked against golden files, and their removal."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from lightmesh.local.proxyinit import FirewallConfig, cleanup, main, rules

GOLDEN = Path(__file__).parent / "golden"
TS = 1700000000


def text(cmds: list[list[str]]) -> str:
    return "".join(shlex.join(cmd) + "\n" for cmd in cmds)


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("proxyinit_default.txt", FirewallConfig(timestamp=TS)),
        (
            "proxyinit_ports.txt",
            FirewallConfig(
                inbound_port=4243,
                outbound_port=4240,
                proxy_uid=1234,
                ports_to_redirect=(80, 8080),
                inbound_ports_to_ignore=(22,),
                outbound_ports_to_ignore=(443, 3306),
                timestamp=TS,
            ),
        ),
    ],
)
def test_the_rules_are_linkerds(name: str, config: FirewallConfig) -> None:
    assert text(rules(config)) == (GOLDEN / name).read_text()


def test_simulate_prints_the_commands_and_runs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--simulate", "--outbound-ports-to-ignore", "443"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "iptables -t nat -N PROXY_INIT_REDIRECT"
    assert any("--dports 443 -j RETURN" in line for line in lines)


def test_cleanup_unhooks_then_removes_the_chains_from_a_listing() -> None:
    listing = """\
-P PREROUTING ACCEPT
-N PROXY_INIT_OUTPUT
-N PROXY_INIT_REDIRECT
-N OTHER
-A PREROUTING -m comment --comment "proxy-init/install-proxy-init-prerouting/1" -j PROXY_INIT_REDIRECT
-A PREROUTING -j OTHER
-A OUTPUT -m comment --comment "proxy-init/install-proxy-init-output/1" -j PROXY_INIT_OUTPUT
-A PROXY_INIT_OUTPUT -o lo -j RETURN
"""
    assert text(cleanup(listing)) == (
        "iptables -t nat -D PREROUTING -m comment --comment proxy-init/install-proxy-init-prerouting/1 "
        "-j PROXY_INIT_REDIRECT\n"
        "iptables -t nat -D OUTPUT -m comment --comment proxy-init/install-proxy-init-output/1 "
        "-j PROXY_INIT_OUTPUT\n"
        "iptables -t nat -F PROXY_INIT_OUTPUT\n"
        "iptables -t nat -X PROXY_INIT_OUTPUT\n"
        "iptables -t nat -F PROXY_INIT_REDIRECT\n"
        "iptables -t nat -X PROXY_INIT_REDIRECT\n"
    )
    assert cleanup("-P OUTPUT ACCEPT\n") == []
