"""From Kubernetes Services, endpoint groups and Pods to the controller's services (sans-I/O).

:func:`service_entries` maps one Service and the EndpointSlices (or the Endpoints object)
labelled with its name into one directory entry per TCP service port, keyed
``name.namespace.svc.<cluster domain>:port``:

* a service port takes, from every subset, the port of the same name (the EndpointSlice
  controller copies the service port's name); failing that, when ``targetPort`` is a
  number, the port with that number (hand-written slices);
* only ready addresses count (``conditions.ready`` false, or ``notReadyAddresses``, are
  left out); an address listed twice is kept once;
* an endpoint backed by a Pod (``targetRef``) gets its metric labels from the Pod
  (:func:`parse_pod`: ``pod``, ``serviceaccount``, ``pod_template_hash`` and the owner:
  ``deployment`` derived from a ReplicaSet owner and the ``pod-template-hash`` label, else
  ``replicaset``, ``statefulset``, ``daemonset``, ``job``, ``replicationcontroller``) and
  the TLS identity (:func:`identity`:
  ``<serviceaccount>.<namespace>.serviceaccount.identity.lightmesh.cluster.local``); a Pod
  not known (yet) gives just the ``pod`` label, no identity, and a host-network Pod no
  identity;
* the protocol hint is ``h2`` when the service port's ``appProtocol`` is
  ``kubernetes.io/h2c`` or ``grpc`` (both HTTP/2 in clear text), else none (clients detect).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lightmesh.controller.endpoints import Endpoint, ProtocolHint, Service
from lightmesh.controller.kubeobjects import (
    Address,
    EndpointGroup,
    Key,
    KubeService,
    PortRef,
    ServicePort,
    get_list,
    get_map,
    get_str,
    object_key,
)
from lightmesh.core.addr import SocketAddr
from lightmesh.core.names import DEFAULT_CLUSTER_DOMAIN, service_name

H2_APP_PROTOCOLS = frozenset({"kubernetes.io/h2c", "grpc"})
TRUST_DOMAIN = "cluster.local"
_OWNER_LABELS = {
    "ReplicaSet": "replicaset",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "Job": "job",
    "ReplicationController": "replicationcontroller",
}


@dataclass(frozen=True, slots=True)
class PodInfo:
    serviceaccount: str
    labels: tuple[tuple[str, str], ...]  # the endpoint's metric labels, sorted by name
    host_network: bool


def identity(serviceaccount: str, namespace: str, trust_domain: str = TRUST_DOMAIN) -> str:
    return f"{serviceaccount}.{namespace}.serviceaccount.identity.lightmesh.{trust_domain}"


def _owner(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    refs = [r for r in get_list(meta, "ownerReferences") if isinstance(r, Mapping)]
    ref = next((r for r in refs if r.get("controller") is True), refs[0] if refs else None)
    kind, name = get_str(ref, "kind"), get_str(ref, "name")
    if not kind or not name:
        return None
    pod_hash = get_str(get_map(meta, "labels"), "pod-template-hash")
    if kind == "ReplicaSet" and pod_hash and name.endswith(f"-{pod_hash}"):
        return ("deployment", name.removesuffix(f"-{pod_hash}"))
    label = _OWNER_LABELS.get(kind)
    return (label, name) if label else None


def parse_pod(obj: Mapping[str, Any]) -> PodInfo | None:
    key = object_key(obj)
    if key is None:
        return None
    meta, spec = get_map(obj, "metadata"), get_map(obj, "spec")
    serviceaccount = get_str(spec, "serviceAccountName") or "default"
    labels = {"pod": key[1], "serviceaccount": serviceaccount}
    pod_hash = get_str(get_map(meta, "labels"), "pod-template-hash")
    if pod_hash:
        labels["pod_template_hash"] = pod_hash
    owner = _owner(meta)
    if owner is not None:
        labels[owner[0]] = owner[1]
    return PodInfo(serviceaccount, tuple(sorted(labels.items())), spec.get("hostNetwork") is True)


def _target(port: ServicePort, refs: tuple[PortRef, ...]) -> int | None:
    for ref in refs:
        if ref.name == port.name:
            return ref.port
    if isinstance(port.target, int):
        for ref in refs:
            if ref.port == port.target:
                return ref.port
    return None


def _endpoint(
    addr: SocketAddr, address: Address, pods: Mapping[Key, PodInfo], protocol: ProtocolHint | None
) -> Endpoint:
    pod = pods.get(address.pod) if address.pod is not None else None
    if address.pod is None or pod is None:
        labels = (("pod", address.pod[1]),) if address.pod is not None else ()
        return Endpoint(addr, labels=labels, protocol=protocol)
    tls = None if pod.host_network else identity(pod.serviceaccount, address.pod[0])
    return Endpoint(addr, labels=pod.labels, identity=tls, protocol=protocol)


def service_entries(
    service: KubeService,
    groups: Iterable[EndpointGroup],
    pods: Mapping[Key, PodInfo],
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
) -> dict[str, Service]:
    """The directory entries of ``service``: one per TCP port, keyed by ``str(ServiceName)``."""
    ordered = sorted(groups, key=lambda g: g.name)
    entries: dict[str, Service] = {}
    for port in service.ports:
        try:
            name = service_name(service.name, service.namespace, port.port, cluster_domain)
        except ValueError:
            continue  # not a name clients could ask for
        protocol: ProtocolHint | None = "h2" if port.app_protocol in H2_APP_PROTOCOLS else None
        endpoints: dict[SocketAddr, Endpoint] = {}
        for group in ordered:
            for subset in group.subsets:
                target = _target(port, subset.ports)
                if target is None:
                    continue
                for address in subset.addresses:
                    addr = SocketAddr(address.ip, target)
                    if address.ready and addr not in endpoints:
                        endpoints[addr] = _endpoint(addr, address, pods, protocol)
        entries[str(name)] = Service(name, endpoints, service.cluster_ips)
    return entries
