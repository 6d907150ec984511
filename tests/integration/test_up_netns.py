"""``lightmesh up --netns`` as root: pods on a bridge, service names, Linkerd's iptables rules, cleanup.

Skipped without root or without ``ip``/``iptables`` (``scripts/test.sh`` installs iproute2 and
iptables). The namespaces, the bridge and the rules are this test's own; it checks that
nothing is left afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.up import UpProcess, metric, pid_alive, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="--netns needs root (network namespaces, iptables)"),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("ip", "iptables", "setpriv", "conntrack")),
        reason="--netns needs ip, iptables, setpriv, conntrack (apt-get install iproute2 iptables conntrack)",
    ),
]
PY = sys.executable
MESH = f"""\
services:
  - name: hello
    namespace: shop
    port: 80
    replicas: 2
    command: {PY} -m lightmesh.demo.sample_app --port {{port}}
  - name: caller
    namespace: shop
    port: 8080
    command: {PY} -m lightmesh.demo.sample_app --port {{port}}
  - name: echo
    namespace: shop
    port: 6379
    command: {PY} -m lightmesh.demo.sample_app --tcp-echo --port {{port}}
"""
CALL = (
    "import urllib.request as u; r = u.urlopen('http://hello/hello', timeout=10); "
    "print(r.status, r.read().decode())"
)


ECHO_CALL = (
    "import socket; s = socket.create_connection(('{host}', {port}), timeout=10); "
    "s.sendall(b'ping\\n'); print(s.makefile().readline(), end='')"
)
CALL_STATUS = (
    "import urllib.request as u, urllib.error as e\n"
    "try:\n    u.urlopen('http://hello/hello', timeout=10)\n"
    "except e.HTTPError as x:\n    print(x.code, x.headers.get('lightmesh-proxy-error'))\n"
)


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout


def leftovers() -> list[str]:
    found = [line for line in sh("ip", "netns", "list").splitlines() if line.startswith("lightmesh-")]
    if sh("ip", "link", "show", "lightmesh0"):
        found.append("bridge lightmesh0")
    rules = sh("iptables", "-t", "nat", "-S") + sh("iptables", "-S")
    found += [line for line in rules.splitlines() if "LIGHTMESH" in line]
    found += [str(p) for p in Path("/etc/netns").glob("lightmesh-*")]
    return found


def test_pods_call_services_by_name_through_their_sidecars_and_everything_is_removed(tmp_path: Path) -> None:
    assert leftovers() == [], "a previous run left these behind"
    forward_before = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    (tmp_path / "mesh.yaml").write_text(MESH)
    up = UpProcess(tmp_path, "up", "-f", "mesh.yaml", "--netns").start()
    try:
        state = up.wait_ready(4)
        assert state["netns"] is True and state["service_ips"]["hello.shop"].startswith("10.213.255.")
        caller = up.instances("caller")[0]
        pod = caller["netns"]
        assert caller["address"].startswith("10.213.0.") and pod == "lightmesh-shop-caller-0"

        # the app knows nothing of the mesh: it calls the name, iptables sends it to the sidecar
        call = subprocess.run(
            ["ip", "netns", "exec", pod, PY, "-c", CALL], capture_output=True, text=True, timeout=30
        )
        assert call.stdout == "200 hello from the lightmesh sample app\n\n", call.stderr
        assert metric(caller["admin_addr"], "request_total", direction="outbound") >= 1
        served = sum(
            metric(i["admin_addr"], "request_total", direction="inbound", tls="true")
            for i in up.instances("hello")
        )
        assert served >= 1  # the caller's sidecar routed by name to a pod, over mTLS

        # opaque TCP on an opaque port, to a pod's address and to the service's name (its virtual IP):
        # the sidecars carry both over mTLS
        echo = up.instances("echo")[0]
        host, port = echo["address"].rsplit(":", 1)
        mtls = {"direction": "outbound", "peer": "dst", "tls": "true"}
        before = metric(caller["admin_addr"], "tcp_open_total", **mtls)  # the HTTP pool's, to hello
        for target in (host, "echo"):
            call = subprocess.run(
                ["ip", "netns", "exec", pod, PY, "-c", ECHO_CALL.format(host=target, port=port)],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert call.stdout == "ping\n", call.stderr
        assert metric(caller["admin_addr"], "tcp_open_total", **mtls) == before + 2
        assert metric(echo["admin_addr"], "tcp_open_total", direction="inbound", peer="dst") == 2

        nat = sh("ip", "netns", "exec", pod, "iptables", "-t", "nat", "-S")
        assert "-A PREROUTING -m comment --comment" in nat and "-j PROXY_INIT_REDIRECT" in nat
        assert "-m owner --uid-owner 2102" in nat and "-j REDIRECT --to-ports 4140" in nat
        assert "--dports 4190,4191" in nat and "-j REDIRECT --to-ports 4143" in nat
        proxy_status = Path(f"/proc/{caller['proxy_pid']}/status").read_text()
        assert "Uid:\t2102\t2102" in proxy_status
        assert "hello.shop" in Path(f"/etc/netns/{pod}/hosts").read_text()

        # no ready instance: the sidecar routes by the Host (the service the controller knows), which has
        # no endpoints: it fails fast with 503 (never a hang, never the removed pod's address)
        scale = UpProcess(tmp_path, "scale", "hello", "0", env={"LIGHTMESH_STATE_DIR": str(up.state_dir)})
        assert scale.start().wait() == 0, scale.log()
        up.wait_ready(2)
        wait_for(
            "the caller's sidecar to drop hello's pods",
            lambda: metric(caller["admin_addr"], "outbound_http_balancer_endpoints") == 0,
            30,
            up.log,
        )
        call = subprocess.run(
            ["ip", "netns", "exec", pod, PY, "-c", CALL_STATUS], capture_output=True, text=True, timeout=30
        )
        assert call.stdout.startswith("503 no endpoints for hello:80"), call.stdout + call.stderr
    finally:
        assert up.stop() == 0, up.log()
    assert leftovers() == []
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == forward_before
    assert not [pid for pid in up.seen_pids if pid_alive(pid)]


def test_netns_needs_root(tmp_path: Path) -> None:
    (tmp_path / "mesh.yaml").write_text(MESH)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=+dac_read_search",
              "--ambient-caps=+dac_read_search"]  # fmt: skip
    env = {**os.environ, "LIGHTMESH_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [*nobody, PY, "-m", "lightmesh", "up", "-f", str(tmp_path / "mesh.yaml"), "--netns"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 1
    assert "--netns needs root" in done.stderr


def test_proxyinit_installs_idempotently_and_removes_its_rules(tmp_path: Path) -> None:
    name = f"lmtest-proxyinit-{os.getpid()}"  # not lightmesh-*, which up would take for its own
    sh("ip", "netns", "add", name)
    try:
        inside = ["ip", "netns", "exec", name]
        proxyinit = [*inside, PY, "-m", "lightmesh.local.proxyinit", "--outbound-ports-to-ignore", "443"]
        for _ in range(2):  # the second run replaces the first
            done = subprocess.run(proxyinit, capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, done.stderr
        rules = sh(*inside, "iptables", "-t", "nat", "-S").splitlines()
        assert sum("-j PROXY_INIT_REDIRECT" in r for r in rules) == 1
        assert sum("-j PROXY_INIT_OUTPUT" in r for r in rules) == 1
        assert sum("--dports 443" in r for r in rules) == 1
        done = subprocess.run([*proxyinit, "--remove"], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert "PROXY_INIT" not in sh(*inside, "iptables", "-t", "nat", "-S")
    finally:
        sh("ip", "netns", "del", name)
