"""Where instances live: on loopback (the default) or in network namespaces (``--netns``).

:class:`LocalNetwork` gives every instance free ports on 127.0.0.1; the app and its sidecar
are plain processes. :class:`lightmesh.local.netns.NetnsNetwork` gives each one a pod of its
own. The supervisor talks to both through this interface.
"""

from __future__ import annotations

from lightmesh.local.meshfile import MeshSpec, ServiceSpec
from lightmesh.local.probes import free_port
from lightmesh.local.sidecar import Instance, app_argv, sidecar_argv


class Network:
    """The loopback network: every instance on 127.0.0.1 at free ports."""

    netns = False
    controller_host = "127.0.0.1"
    reserved_ports: frozenset[int] = frozenset()  # ports services may not use

    async def setup(self) -> None:
        """Prepare the network before the controller starts."""

    def allocate(self, svc: ServiceSpec, index: int, controller_addr: str) -> Instance:
        app, inbound, outbound, admin, tap = (free_port() for _ in range(5))
        return Instance(svc, index, "127.0.0.1", app, inbound, outbound, admin, tap, controller_addr)

    async def add_pod(self, instance: Instance) -> None:
        """Create what the instance needs before its processes start."""

    async def remove_pod(self, instance: Instance) -> None:
        """Remove what :meth:`add_pod` created, after its processes stopped."""

    def app_argv(self, instance: Instance) -> list[str]:
        return app_argv(instance)

    def sidecar_argv(self, instance: Instance) -> list[str]:
        return sidecar_argv()

    async def services_changed(self, spec: MeshSpec, ready: dict[str, list[Instance]]) -> None:
        """The set of ready instances changed (service addresses follow it with --netns)."""

    def service_ip(self, key: str) -> str | None:
        """The service's virtual IP (``--netns``), which the registry gives as its ``clusterIP``."""
        return None

    async def teardown(self) -> None:
        """Remove everything :meth:`setup` and :meth:`add_pod` created."""

    def describe(self) -> dict[str, object]:
        return {}


LocalNetwork = Network
