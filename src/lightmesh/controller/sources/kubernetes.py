"""The Kubernetes discovery source: Services, their endpoints and Pods, listed then watched.

:meth:`KubernetesSource.load` reads the client configuration (``--kubeconfig``, else the
in-cluster service account, else ``$KUBECONFIG`` or ``~/.kube/config``, as lightkube
loads it); one that cannot be used stops the controller at start-up
(:class:`~lightmesh.controller.sources.SourceError`).

:meth:`~KubernetesSource.run` lists, across all namespaces, Services, the endpoints and
Pods into a :class:`~lightmesh.controller.kubestate.KubeState`, reports every service and
only then marks the sink synced: until then streams wait and ``/ready`` answers 503. A
failed start-up list is retried with backoff. The endpoints are ``discovery.k8s.io/v1``
EndpointSlices; when the API server answers 404 to that list, ``v1beta1`` EndpointSlices;
when it answers 404 to both, core ``v1`` Endpoints. Then each kind is watched
(:class:`~lightmesh.controller.sources.kubewatch.KindWatch`: events update the state,
expired or failed watches relist and report only the differences).

Service profiles come from ``ServiceProfile`` resources, watched alongside
(:mod:`lightmesh.controller.sources.kubeprofiles`); the source works without the CRD.

Metrics: ``registry_reloads_total{source="kubernetes"}`` counts the start-up sync and each
relist, ``registry_reload_errors_total`` failed lists and watches (not 410 expiries).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from lightkube import AsyncClient, ConfigError, KubeConfig

from lightmesh.controller.directory import EndpointSink
from lightmesh.controller.kubemapping import parse_pod
from lightmesh.controller.kubeobjects import parse_endpoints, parse_service, parse_slice
from lightmesh.controller.kubestate import KubeState
from lightmesh.controller.metrics import ControllerStats
from lightmesh.controller.profiles import ProfileBook
from lightmesh.controller.sources import SourceError
from lightmesh.controller.sources.kubeprofiles import ProfileWatcher
from lightmesh.controller.sources.kubewatch import Backoff, Kind, KindWatch, NotServed, resource
from lightmesh.core.names import DEFAULT_CLUSTER_DOMAIN

log = logging.getLogger(__name__)

SERVICES = resource("", "v1", "Service", "services")
PODS = resource("", "v1", "Pod", "pods")
SLICES_V1 = resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices")
SLICES_V1BETA1 = resource("discovery.k8s.io", "v1beta1", "EndpointSlice", "endpointslices")
ENDPOINTS = resource("", "v1", "Endpoints", "endpoints")
ENDPOINT_APIS = (  # in order of preference
    ("discovery.k8s.io/v1 EndpointSlices", SLICES_V1, parse_slice),
    ("discovery.k8s.io/v1beta1 EndpointSlices", SLICES_V1BETA1, parse_slice),
    ("v1 Endpoints", ENDPOINTS, parse_endpoints),
)


class KubernetesSource:
    name = "kubernetes"

    def __init__(
        self,
        stats: ControllerStats,
        kubeconfig: Path | None = None,
        cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
        profiles: ProfileBook | None = None,
    ) -> None:
        self.stats = stats
        self.profiles = profiles if profiles is not None else ProfileBook()
        self.kubeconfig = kubeconfig
        self.cluster_domain = cluster_domain
        self._client: AsyncClient | None = None

    def load(self) -> None:
        """Read the client configuration; raises ``SourceError`` saying why it cannot be used."""
        where = self.kubeconfig or "in-cluster, $KUBECONFIG or ~/.kube/config"
        try:
            config = KubeConfig.from_file(self.kubeconfig) if self.kubeconfig else KubeConfig.from_env()
            self._client = AsyncClient(config=config)
        except (ConfigError, OSError, LookupError, ValueError, TypeError, AssertionError) as exc:
            raise SourceError(f"cannot use the Kubernetes configuration ({where}): {exc}") from None

    async def run(self, sink: EndpointSink) -> None:
        if self._client is None:
            self.load()
        assert self._client is not None
        client = self._client
        try:
            watches = await self._start(client, KubeState(self.cluster_domain), sink)
            async with asyncio.TaskGroup() as tasks:
                for watch in watches:
                    tasks.create_task(watch.run())
                profiles = ProfileWatcher(client, self.profiles, self.stats, self.cluster_domain)
                tasks.create_task(profiles.run())
        finally:
            self._client = None
            await client.close()

    async def _start(self, client: AsyncClient, state: KubeState, sink: EndpointSink) -> list[KindWatch[Any]]:
        """List every kind (retrying until it works), report, mark synced."""
        backoff = Backoff()
        while True:
            try:
                return await self._list_all(client, state, sink)
            except Exception as exc:
                self.stats.reload_errors += 1
                log.warning("kubernetes: listing failed, retrying in %.1fs: %s", backoff.delay, exc)
                await backoff.sleep()

    async def _list_all(
        self, client: AsyncClient, state: KubeState, sink: EndpointSink
    ) -> list[KindWatch[Any]]:
        services = Kind("v1 Services", SERVICES, parse_service, state.set_service, state.replace_services)
        watches: list[KindWatch[Any]] = [KindWatch(client, services, state, sink, self.stats)]
        await watches[0].list()
        for label, res, parse in ENDPOINT_APIS:
            kind = Kind(label, res, parse, state.set_group, state.replace_groups)
            groups = KindWatch(client, kind, state, sink, self.stats)
            try:
                await groups.list()
            except NotServed:
                continue
            watches.append(groups)
            break
        else:
            raise SourceError("the API server serves neither EndpointSlices nor Endpoints (404)")
        pods = Kind("v1 Pods", PODS, parse_pod, state.set_pod, state.replace_pods)
        watches.append(KindWatch(client, pods, state, sink, self.stats))
        await watches[-1].list()
        state.publish_all(sink)
        sink.mark_synced()
        self.stats.reloads += 1
        log.info(
            "kubernetes: synced: %d services, endpoints from %s, %d pods",
            len(state.services), watches[1].kind.label, len(state.pods),
        )  # fmt: skip
        return watches
