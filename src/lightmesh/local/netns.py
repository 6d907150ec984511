"""``lightmesh up --netns``: every instance in a pod of its own, on a bridge, meshed by iptables.

Needs root, ``ip`` (iproute2), ``iptables``, ``setpriv`` and ``conntrack``. With the default
subnet ``10.213.0.0/16``:

* the bridge ``lightmesh0`` holds ``10.213.0.1/24`` (the host side, where the controller's
  proxy API listens); each pod is a network namespace ``lightmesh-NS-POD`` with a veth pair
  (``lmvN`` on the bridge, ``eth0`` in the pod), an address from ``10.213.0.2`` on and a
  default route through the bridge;
* each service gets a virtual IP from ``10.213.255.1`` on; in the pods, ``/etc/hosts``
  (``/etc/netns/POD/hosts``, which ``ip netns exec`` mounts) names it ``NAME`` (same
  namespace), ``NAME.NS``, ``NAME.NS.svc`` and ``NAME.NS.svc.cluster.local``;
* as kube-proxy does, the host's ``nat`` table sends a virtual IP and port to the ready
  pods (chain ``LIGHTMESH_SERVICES``, from ``PREROUTING`` and ``OUTPUT``, spread with
  ``statistic``), and masquerades pod-to-pod connections it rewrote (``LIGHTMESH_POSTROUTING``)
  so replies come back through it; ``LIGHTMESH_FORWARD`` accepts the bridge's traffic and
  refuses service IPs that were not rewritten (no ready pod), which are routed to the bridge;
  the connection-tracking entries of a removed pod are deleted, so no new connection reuses them;
* in each pod, :mod:`lightmesh.local.proxyinit` installs Linkerd's redirection; the
  sidecar runs as uid 2102 (exempt from it) and the app as root, unaware of the mesh.

:meth:`NetnsNetwork.teardown` deletes the namespaces, links, rules and files and restores
``ip_forward``. Leftovers of a ``lightmesh up --netns`` that was killed are removed at the
next start, unless a process still runs in one of its namespaces (another ``up``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import sys
from pathlib import Path

from lightmesh.local import proxyinit
from lightmesh.local.meshfile import MeshSpec, ServiceSpec
from lightmesh.local.network import Network
from lightmesh.local.sidecar import (
    NETNS_ADMIN,
    NETNS_INBOUND,
    NETNS_OUTBOUND,
    NETNS_TAP,
    PROXY_UID,
    Instance,
    app_argv,
    sidecar_argv,
)

BRIDGE = "lightmesh0"
PREFIX = "lightmesh-"
SERVICES, POSTROUTING, FORWARD = "LIGHTMESH_SERVICES", "LIGHTMESH_POSTROUTING", "LIGHTMESH_FORWARD"
HOOKS = (("nat", "PREROUTING", SERVICES), ("nat", "OUTPUT", SERVICES), ("nat", "POSTROUTING", POSTROUTING),
         ("filter", "FORWARD", FORWARD))  # fmt: skip
ETC_NETNS = Path("/etc/netns")
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
# the sidecar's user; it keeps the right to read files such as an interpreter under /root
# (changing user clears the parent-death signal: --pdeathsig sets it again)
AS_PROXY = ["setpriv", f"--reuid={PROXY_UID}", f"--regid={PROXY_UID}", "--clear-groups", "--pdeathsig=KILL",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]  # fmt: skip


class NetnsError(RuntimeError):
    pass


def _sysctl(value: str) -> str:
    """Set ``ip_forward``; returns what it was (a /proc file: no blocking I/O)."""
    was = IP_FORWARD.read_text().strip()
    IP_FORWARD.write_text(value + "\n")
    return was


async def run(*argv: str, stdin: str | None = None, check: bool = True) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} failed: {err.decode(errors='replace').strip()}")
    return out.decode(errors="replace")


class NetnsNetwork(Network):
    netns = True
    reserved_ports = frozenset((NETNS_INBOUND, NETNS_OUTBOUND, NETNS_ADMIN, NETNS_TAP))

    def __init__(self, subnet: str = "10.213.0.0/16") -> None:
        net = ipaddress.ip_network(subnet)
        if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen > 16:
            raise ValueError(f"--subnet: an IPv4 network of /16 or larger is needed, got {subnet}")
        self.pods_net = next(net.subnets(new_prefix=24))
        self.vip_net = list(net.subnets(new_prefix=24))[-1]
        self.gateway = str(self.pods_net.network_address + 1)
        self.controller_host = self.gateway
        self.vips: dict[str, str] = {}
        self.pod_ips: dict[str, str] = {}  # instance key -> IP
        self.veths: dict[str, str] = {}
        self._counter = 0
        self._forward_was: str | None = None  # ip_forward before setup, restored by teardown
        self.instances: dict[str, Instance] = {}
        self._spec = MeshSpec(services=[])
        self._ready: dict[str, list[Instance]] = {}

    # -- the node ----------------------------------------------------------------------------------

    async def setup(self) -> None:
        tools = ("ip", "iptables", "iptables-restore", "setpriv", "conntrack")
        missing = [tool for tool in tools if not shutil.which(tool)]
        if missing:
            raise NetnsError(
                f"--netns needs {', '.join(missing)} (apt-get install iproute2 iptables util-linux conntrack)"
            )
        await self._remove_leftovers()
        await run("ip", "link", "add", BRIDGE, "type", "bridge")
        await run("ip", "addr", "add", f"{self.gateway}/{self.pods_net.prefixlen}", "dev", BRIDGE)
        await run("ip", "link", "set", BRIDGE, "up")
        self._forward_was = _sysctl("1")
        for table, chain in dict.fromkeys((table, chain) for table, _, chain in HOOKS):
            await run("iptables", "-w", "-t", table, "-N", chain)
        for table, hook, chain in HOOKS:
            await run("iptables", "-w", "-t", table, "-I", hook, "-j", chain)
        await run("iptables", "-w", "-t", "nat", "-A", POSTROUTING, "-s", str(self.pods_net), "-d",
                  str(self.pods_net), "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE")  # fmt: skip
        # a service IP without ready pods is refused, never forwarded off the machine
        await run("ip", "route", "add", str(self.vip_net), "dev", BRIDGE)
        await run("iptables", "-w", "-A", FORWARD, "-d", str(self.vip_net), "-p", "tcp", "-j", "REJECT",
                  "--reject-with", "tcp-reset")  # fmt: skip
        await run("iptables", "-w", "-A", FORWARD, "-d", str(self.vip_net), "-j", "REJECT")
        await run("iptables", "-w", "-A", FORWARD, "-i", BRIDGE, "-j", "ACCEPT")
        await run("iptables", "-w", "-A", FORWARD, "-o", BRIDGE, "-j", "ACCEPT")

    async def _remove_leftovers(self) -> None:
        names = await self._our_namespaces()
        for name in names:
            if (await run("ip", "netns", "pids", name, check=False)).strip():
                raise NetnsError(
                    f"network namespace {name} has running processes: another lightmesh up --netns?"
                )
        bridge = await run("ip", "link", "show", BRIDGE, check=False)
        if names or bridge:
            print(
                f"lightmesh up: removing what a previous lightmesh up --netns left ({BRIDGE})",
                file=sys.stderr,
            )
            await self.teardown(names)

    async def _our_namespaces(self) -> list[str]:
        listing = await run("ip", "netns", "list", check=False)
        return [line.split()[0] for line in listing.splitlines() if line.startswith(PREFIX)]

    async def teardown(self, names: list[str] | None = None) -> None:
        problems = []
        for name in names if names is not None else await self._our_namespaces():
            try:
                await self._delete_namespace(name)
            except NetnsError as exc:
                problems.append(str(exc))
        for table, hook, chain in HOOKS:
            await run("iptables", "-w", "-t", table, "-D", hook, "-j", chain, check=False)
            await run("iptables", "-w", "-t", table, "-F", chain, check=False)
            await run("iptables", "-w", "-t", table, "-X", chain, check=False)
        await run("ip", "link", "del", BRIDGE, check=False)
        if self._forward_was is not None and self._forward_was != "1":
            _sysctl(self._forward_was)
        if problems:
            raise NetnsError("; ".join(problems))

    async def _delete_namespace(self, name: str) -> None:
        await run("ip", "netns", "del", name, check=False)
        shutil.rmtree(ETC_NETNS / name, ignore_errors=True)

    # -- pods --------------------------------------------------------------------------------------

    def namespace(self, instance: Instance) -> str:
        return f"{PREFIX}{instance.service.namespace}-{instance.pod}"

    def allocate(self, svc: ServiceSpec, index: int, controller_addr: str) -> Instance:
        key = f"{svc.key}/{svc.name}-{index}"
        used = set(self.pod_ips.values())
        hosts = (str(h) for h in self.pods_net.hosts() if str(h) != self.gateway and str(h) not in used)
        ip = next(hosts, None)
        if ip is None:
            raise NetnsError(f"no address left in {self.pods_net}")
        self.pod_ips[key] = ip
        instance = Instance(svc, index, ip, svc.port, NETNS_INBOUND, NETNS_OUTBOUND, NETNS_ADMIN, NETNS_TAP,
                            controller_addr)  # fmt: skip
        instance.netns = self.namespace(instance)
        return instance

    async def add_pod(self, instance: Instance) -> None:
        name = instance.netns
        assert name is not None
        self._counter += 1
        host_if, pod_if = f"lmv{self._counter}", f"lmp{self._counter}"
        self.veths[instance.key] = host_if
        self.instances[instance.key] = instance
        self._write_etc(instance)
        inside = ("ip", "netns", "exec", name)
        await run("ip", "netns", "add", name)
        await run("ip", "link", "add", host_if, "type", "veth", "peer", "name", pod_if)
        await run("ip", "link", "set", pod_if, "netns", name)
        await run("ip", "link", "set", host_if, "master", BRIDGE)
        await run("ip", "link", "set", host_if, "up")
        await run(*inside, "ip", "link", "set", pod_if, "name", "eth0")
        await run(*inside, "ip", "addr", "add", f"{instance.host}/{self.pods_net.prefixlen}", "dev", "eth0")
        await run(*inside, "ip", "link", "set", "eth0", "up")
        await run(*inside, "ip", "link", "set", "lo", "up")
        await run(*inside, "ip", "route", "add", "default", "via", self.gateway)
        for cmd in proxyinit.rules(proxyinit.FirewallConfig()):
            await run(*inside, cmd[0], "-w", *cmd[1:])

    async def remove_pod(self, instance: Instance) -> None:
        if instance.netns is not None:
            await self._delete_namespace(instance.netns)
            # A reused client port would revive a stale connection entry (TIME_WAIT) and its rewrite
            # to this pod; forget them, as kube-proxy does. (Exit code 1: there were none.)
            await run("conntrack", "-D", "--reply-src", instance.host, check=False)
        self.pod_ips.pop(instance.key, None)
        self.veths.pop(instance.key, None)
        self.instances.pop(instance.key, None)

    def app_argv(self, instance: Instance) -> list[str]:
        assert instance.netns is not None
        return ["ip", "netns", "exec", instance.netns, *app_argv(instance)]

    def sidecar_argv(self, instance: Instance) -> list[str]:
        assert instance.netns is not None
        return ["ip", "netns", "exec", instance.netns, *AS_PROXY, *sidecar_argv()]

    # -- services ----------------------------------------------------------------------------------

    def service_ip(self, key: str) -> str | None:
        return self._vip(key)

    def _vip(self, key: str) -> str:
        if key not in self.vips:
            self.vips[key] = str(self.vip_net.network_address + 1 + len(self.vips))
        return self.vips[key]

    def hosts_file(self, instance: Instance) -> str:
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost", f"{instance.host}\t{instance.pod}"]
        for svc in self._spec.services:
            names = [f"{svc.name}.{svc.namespace}", f"{svc.name}.{svc.namespace}.svc",
                     f"{svc.name}.{svc.namespace}.svc.cluster.local"]  # fmt: skip
            if svc.namespace == instance.service.namespace:
                names.insert(0, svc.name)
            lines.append(f"{self._vip(svc.key)}\t{' '.join(names)}")
        return "\n".join(lines) + "\n"

    def _write_etc(self, instance: Instance) -> None:
        assert instance.netns is not None
        directory = ETC_NETNS / instance.netns
        directory.mkdir(parents=True, exist_ok=True)
        # written in place: `ip netns exec` bind-mounts these files, a rename would not be seen
        with open(directory / "hosts", "w") as f:
            f.write(self.hosts_file(instance))
        with open(directory / "resolv.conf", "w") as f:
            f.write(f"# lightmesh up --netns: services are in /etc/hosts\nnameserver {self.gateway}\n"
                    "options attempts:1 timeout:1\n")  # fmt: skip

    def service_rules(self) -> str:
        """The ``LIGHTMESH_SERVICES`` chain as ``iptables-restore`` input (replaced in one step)."""
        lines = ["*nat", f":{SERVICES} - [0:0]"]
        for svc in self._spec.services:
            ready = sorted(self._ready.get(svc.key, []), key=lambda i: i.pod)
            match = f"-A {SERVICES} -d {self._vip(svc.key)}/32 -p tcp --dport {svc.port}"
            for n, inst in enumerate(ready):
                left = len(ready) - n
                spread = f" -m statistic --mode random --probability {1 / left:.5f}" if left > 1 else ""
                lines.append(f"{match}{spread} -j DNAT --to-destination {inst.host}:{inst.app_port}")
        lines.append("COMMIT")
        return "\n".join(lines) + "\n"

    async def services_changed(self, spec: MeshSpec, ready: dict[str, list[Instance]]) -> None:
        self._spec, self._ready = spec, ready
        for svc in spec.services:
            self._vip(svc.key)
        await run("iptables-restore", "-w", "--noflush", stdin=self.service_rules())
        for instance in self.instances.values():
            self._write_etc(instance)

    def describe(self) -> dict[str, object]:
        return {
            "bridge": BRIDGE,
            "gateway": self.gateway,
            "service_ips": {key: vip for key, vip in sorted(self.vips.items())},
        }
