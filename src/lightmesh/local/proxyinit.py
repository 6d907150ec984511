"""proxy-init: the iptables rules that send a pod's TCP traffic through its sidecar (Linkerd's).

:func:`rules` returns the ``iptables`` commands, in order, that linkerd2-proxy-init runs in a
pod's network namespace, all in the ``nat`` table, each rule with a
``proxy-init/<what>/<timestamp>`` comment:

* inbound, chain ``PROXY_INIT_REDIRECT`` hooked from ``PREROUTING``: RETURN for the inbound
  ports to ignore (the proxy's tap and admin ports 4190 and 4191 always), then REDIRECT of
  every TCP connection (or only ``ports_to_redirect``) to the inbound port 4143;
* outbound, chain ``PROXY_INIT_OUTPUT`` hooked from ``OUTPUT``: RETURN for the proxy's own
  user (``--uid-owner 2102``: its connections must not loop back to it), RETURN for
  loopback, RETURN for the outbound ports to ignore, then REDIRECT to the outbound port 4140.

:func:`cleanup` lists the commands that remove them, from the table's listing (unhooking
first), run first so that applying is idempotent, and by ``--remove``. The
same module serves ``lightmesh up --netns`` and a Kubernetes init container:
``python -m lightmesh.local.proxyinit [--simulate] ...`` prints or runs the commands.
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass

REDIRECT_CHAIN = "PROXY_INIT_REDIRECT"
OUTPUT_CHAIN = "PROXY_INIT_OUTPUT"
PROXY_UID = 2102
ALWAYS_IGNORED_INBOUND = (4190, 4191)  # the proxy's tap and admin ports


@dataclass(frozen=True)
class FirewallConfig:
    inbound_port: int = 4143
    outbound_port: int = 4140
    proxy_uid: int = PROXY_UID
    ports_to_redirect: tuple[int, ...] = ()  # empty: every port
    inbound_ports_to_ignore: tuple[int, ...] = ()
    outbound_ports_to_ignore: tuple[int, ...] = ()
    timestamp: int = 0  # in the comments; 0: now


def _comment(what: str, ts: int) -> list[str]:
    return ["-m", "comment", "--comment", f"proxy-init/{what}/{ts}"]


def _ports(ports: tuple[int, ...]) -> str:
    return ",".join(str(p) for p in ports)


def _ignore_ports(chain: str, ports: tuple[int, ...], ts: int) -> list[list[str]]:
    if not ports:
        return []
    spec = _ports(ports)
    return [
        ["iptables", "-t", "nat", "-A", chain, "-p", "tcp", "--match", "multiport", "--dports", spec,
         "-j", "RETURN", *_comment(f"ignore-port-{spec}", ts)],
    ]  # fmt: skip


def rules(config: FirewallConfig) -> list[list[str]]:
    """The commands that install the redirection, in order."""
    ts = config.timestamp or int(time.time())
    nat = ["iptables", "-t", "nat"]
    inbound_ignored = tuple(sorted(set(ALWAYS_IGNORED_INBOUND) | set(config.inbound_ports_to_ignore)))
    cmds: list[list[str]] = [[*nat, "-N", REDIRECT_CHAIN]]
    cmds += _ignore_ports(REDIRECT_CHAIN, inbound_ignored, ts)
    if config.ports_to_redirect:
        cmds += [
            [*nat, "-A", REDIRECT_CHAIN, "-p", "tcp", "--destination-port", str(port),
             "-j", "REDIRECT", "--to-port", str(config.inbound_port), *_comment(f"redirect-port-{port}", ts)]
            for port in config.ports_to_redirect
        ]  # fmt: skip
    else:
        cmds.append(
            [*nat, "-A", REDIRECT_CHAIN, "-p", "tcp", "-j", "REDIRECT", "--to-port", str(config.inbound_port),
             *_comment("redirect-all-incoming-to-proxy-port", ts)]
        )  # fmt: skip
    cmds.append(
        [*nat, "-A", "PREROUTING", "-j", REDIRECT_CHAIN, *_comment("install-proxy-init-prerouting", ts)]
    )
    cmds.append([*nat, "-N", OUTPUT_CHAIN])
    cmds.append(
        [*nat, "-A", OUTPUT_CHAIN, "-m", "owner", "--uid-owner", str(config.proxy_uid), "-j", "RETURN",
         *_comment("ignore-proxy-user-id", ts)]
    )  # fmt: skip
    cmds.append([*nat, "-A", OUTPUT_CHAIN, "-o", "lo", "-j", "RETURN", *_comment("ignore-loopback", ts)])
    cmds += _ignore_ports(OUTPUT_CHAIN, tuple(sorted(config.outbound_ports_to_ignore)), ts)
    cmds.append(
        [*nat, "-A", OUTPUT_CHAIN, "-p", "tcp", "-j", "REDIRECT", "--to-port", str(config.outbound_port),
         *_comment("redirect-all-outgoing-to-proxy-port", ts)]
    )  # fmt: skip
    cmds.append([*nat, "-A", "OUTPUT", "-j", OUTPUT_CHAIN, *_comment("install-proxy-init-output", ts)])
    return cmds


def cleanup(listing: str) -> list[list[str]]:
    """The commands that remove the rules, from ``iptables -t nat -S`` (the hooks carry comments,
    and ``-D`` needs the whole rule): unhook, then flush and delete the chains that exist."""
    nat = ["iptables", "-t", "nat"]
    ours = (REDIRECT_CHAIN, OUTPUT_CHAIN)
    cmds: list[list[str]] = []
    chains: list[str] = []
    for line in listing.splitlines():
        words = shlex.split(line)
        if words[:1] == ["-N"] and len(words) > 1 and words[1] in ours:
            chains.append(words[1])
        elif words[:1] == ["-A"] and len(words) > 1 and words[1] not in ours and _jumps_to(words, ours):
            cmds.append([*nat, "-D", *words[1:]])
    for chain in chains:
        cmds += [[*nat, "-F", chain], [*nat, "-X", chain]]
    return cmds


def _jumps_to(words: list[str], chains: tuple[str, ...]) -> bool:
    return any(a == "-j" and b in chains for a, b in itertools.pairwise(words))


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _port_list(text: str) -> tuple[int, ...]:
    ports = tuple(int(p) for p in text.split(",") if p.strip())
    if any(not 0 < p < 65536 for p in ports):
        raise argparse.ArgumentTypeError(f"invalid port list {text!r}")
    return ports


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="proxyinit", description="install the sidecar's iptables redirection")
    p.add_argument("-p", "--incoming-proxy-port", type=int, default=4143)
    p.add_argument("-o", "--outgoing-proxy-port", type=int, default=4140)
    p.add_argument("-u", "--proxy-uid", type=int, default=PROXY_UID)
    p.add_argument("-r", "--ports-to-redirect", type=_port_list, default=())
    p.add_argument("--inbound-ports-to-ignore", type=_port_list, default=())
    p.add_argument("--outbound-ports-to-ignore", type=_port_list, default=())
    p.add_argument("--simulate", action="store_true", help="print the commands without running them")
    p.add_argument("--remove", action="store_true", help="remove the rules instead")
    args = p.parse_args(argv)
    config = FirewallConfig(
        args.incoming_proxy_port,
        args.outgoing_proxy_port,
        args.proxy_uid,
        args.ports_to_redirect,
        args.inbound_ports_to_ignore,
        args.outbound_ports_to_ignore,
    )
    if not args.simulate:
        for cmd in cleanup(_run(["iptables", "-t", "nat", "-S"]).stdout):
            _run(cmd)
    if args.remove:
        return 0
    for cmd in rules(config):
        print(shlex.join(cmd))
        if not args.simulate:
            done = _run(cmd)
            if done.returncode != 0:
                print(f"proxyinit: {' '.join(cmd)} failed: {done.stderr.strip()}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
