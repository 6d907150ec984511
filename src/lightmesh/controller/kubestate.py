"""What the Kubernetes source knows of the cluster, and what it reported (sans-I/O).

:class:`KubeState` holds the parsed Services, endpoint groups (EndpointSlices or core
Endpoints) and Pods by ``(namespace, name)``, with two indexes: the groups of each
Service (by the ``kubernetes.io/service-name`` label) and the Services whose endpoints
refer to each Pod. Every change (``set_service``, ``set_group``, ``set_pod``: a watch
event, ``None`` for a deletion) returns the Services it affects, nothing when the new
object is equal to the known one. ``replace_*`` takes a whole fresh list of one kind (a
relist after a watch expired) and applies only the differences, so a relist that finds
what the watch already said affects nothing.

:meth:`KubeState.publish` recomputes the affected Services' directory entries
(:func:`~lightmesh.controller.kubemapping.service_entries`) and reports them to the sink,
removing entries for ports a Service no longer has; the directory then notifies only the
streams whose service really changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from lightmesh.controller.directory import EndpointSink
from lightmesh.controller.kubemapping import PodInfo, service_entries
from lightmesh.controller.kubeobjects import EndpointGroup, Key, KubeService
from lightmesh.core.names import DEFAULT_CLUSTER_DOMAIN

T = TypeVar("T")


class KubeState:
    def __init__(self, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN) -> None:
        self.cluster_domain = cluster_domain
        self.services: dict[Key, KubeService] = {}
        self.groups: dict[Key, EndpointGroup] = {}
        self.pods: dict[Key, PodInfo] = {}
        self._groups_of: dict[Key, set[Key]] = {}  # service -> its groups
        self._pod_users: dict[Key, Counter[Key]] = {}  # pod -> services (counted per group address)
        self._published: dict[Key, frozenset[str]] = {}  # service -> directory keys reported

    def set_service(self, key: Key, service: KubeService | None) -> set[Key]:
        if self.services.get(key) == service:
            return set()
        if service is None:
            del self.services[key]
        else:
            self.services[key] = service
        return {key}

    def set_group(self, key: Key, group: EndpointGroup | None) -> set[Key]:
        old = self.groups.get(key)
        if old == group:
            return set()
        affected = set()
        for g, sign in ((old, -1), (group, 1)):
            if g is None or g.service is None:
                continue
            service = (g.namespace, g.service)
            affected.add(service)
            members = self._groups_of.setdefault(service, set())
            if sign > 0:
                members.add(key)
            else:
                members.discard(key)
            if not members:
                del self._groups_of[service]
            for subset in g.subsets:
                for address in subset.addresses:
                    if address.pod is not None:
                        users = self._pod_users.setdefault(address.pod, Counter())
                        users[service] += sign
                        if users[service] <= 0:
                            del users[service]
                        if not users:
                            del self._pod_users[address.pod]
        if group is None:
            del self.groups[key]
        else:
            self.groups[key] = group
        return affected

    def set_pod(self, key: Key, pod: PodInfo | None) -> set[Key]:
        if self.pods.get(key) == pod:
            return set()
        if pod is None:
            del self.pods[key]
        else:
            self.pods[key] = pod
        return set(self._pod_users.get(key, ()))

    def replace_services(self, services: Mapping[Key, KubeService]) -> set[Key]:
        return _replace(self.services, services, self.set_service)

    def replace_groups(self, groups: Mapping[Key, EndpointGroup]) -> set[Key]:
        return _replace(self.groups, groups, self.set_group)

    def replace_pods(self, pods: Mapping[Key, PodInfo]) -> set[Key]:
        return _replace(self.pods, pods, self.set_pod)

    def publish(self, sink: EndpointSink, services: Iterable[Key]) -> None:
        """Report the current entries of ``services`` to ``sink``."""
        for key in sorted(services):
            service = self.services.get(key)
            entries = {}
            if service is not None:
                groups = [self.groups[g] for g in self._groups_of.get(key, ())]
                entries = service_entries(service, groups, self.pods, self.cluster_domain)
            for gone in sorted(self._published.pop(key, frozenset()) - entries.keys()):
                sink.set_service(gone, None)
            for name, entry in entries.items():
                sink.set_service(name, entry)
            if entries:
                self._published[key] = frozenset(entries)

    def publish_all(self, sink: EndpointSink) -> None:
        self.publish(sink, self.services.keys() | self._published.keys())


def _replace(
    current: Mapping[Key, T], fresh: Mapping[Key, T], apply: Callable[[Key, T | None], set[Key]]
) -> set[Key]:
    affected: set[Key] = set()
    for key in [k for k in current if k not in fresh]:
        affected |= apply(key, None)
    for key, value in fresh.items():
        affected |= apply(key, value)
    return affected
