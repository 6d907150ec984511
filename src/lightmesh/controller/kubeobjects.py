"""Kubernetes objects as the Kubernetes discovery source needs them (sans-I/O).

The source receives Services, EndpointSlices (``discovery.k8s.io/v1`` or ``v1beta1``),
core ``Endpoints`` and Pods as decoded JSON. Each ``parse_*`` function keeps only what
discovery uses, in small frozen values that compare by content (so an update that changes
nothing discovery sees is recognised as such), and returns ``None`` for an object it
cannot use. Nothing here trusts the input's shape: a missing or mistyped field is read as
absent, an address that is not an IP literal is skipped.

EndpointSlices and core Endpoints both become an :class:`EndpointGroup`: a slice is one
:class:`Subset` (its ports and endpoints), an Endpoints object has one per ``subsets``
entry, its ``notReadyAddresses`` marked not ready.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Key = tuple[str, str]  # (namespace, name)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True, slots=True)
class ServicePort:
    name: str  # "" when the port is unnamed
    port: int
    target: int | str | None  # targetPort: a number, a container port's name, or None (= port)
    app_protocol: str | None


@dataclass(frozen=True, slots=True)
class KubeService:
    namespace: str
    name: str
    ports: tuple[ServicePort, ...]  # TCP ports only
    cluster_ips: tuple[str, ...] = ()  # none for a headless service


@dataclass(frozen=True, slots=True)
class PortRef:
    name: str
    port: int


@dataclass(frozen=True, slots=True)
class Address:
    ip: str  # canonical form
    ready: bool
    pod: Key | None  # the Pod behind it (targetRef), when there is one


@dataclass(frozen=True, slots=True)
class Subset:
    ports: tuple[PortRef, ...]
    addresses: tuple[Address, ...]


@dataclass(frozen=True, slots=True)
class EndpointGroup:
    """One EndpointSlice or one core Endpoints object."""

    namespace: str
    name: str
    service: str | None  # the Service it belongs to
    subsets: tuple[Subset, ...]


def get_map(obj: Any, key: str) -> Mapping[str, Any]:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def get_list(obj: Any, key: str) -> list[Any]:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, list) else []


def get_str(obj: Any, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, str) else None


def _port(obj: Any, key: str) -> int | None:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
    return value if ok else None


def _tcp(obj: Any) -> bool:
    return get_str(obj, "protocol") in (None, "TCP")


def object_key(obj: Mapping[str, Any]) -> Key | None:
    """``(namespace, name)`` of a namespaced object, or None when either is missing."""
    meta = get_map(obj, "metadata")
    namespace, name = get_str(meta, "namespace"), get_str(meta, "name")
    return (namespace, name) if namespace and name else None


def parse_service(obj: Mapping[str, Any]) -> KubeService | None:
    """A Service; None for an ExternalName service (a DNS alias, not discovered here)."""
    key, spec = object_key(obj), get_map(obj, "spec")
    if key is None or get_str(spec, "type") == "ExternalName":
        return None
    ports = []
    for p in get_list(spec, "ports"):
        port = _port(p, "port")
        if port is None or not _tcp(p):
            continue
        target = p.get("targetPort") if isinstance(p, Mapping) else None
        if not isinstance(target, int | str) or isinstance(target, bool):
            target = None
        ports.append(ServicePort(get_str(p, "name") or "", port, target, get_str(p, "appProtocol")))
    ips = [get_str(spec, "clusterIP"), *(ip for ip in get_list(spec, "clusterIPs") if isinstance(ip, str))]
    cluster_ips = tuple(dict.fromkeys(ip for ip in map(_ip, ips) if ip is not None))  # "None": headless
    return KubeService(key[0], key[1], tuple(ports), cluster_ips)


def _ip(text: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(text)) if text else None
    except ValueError:
        return None


def _pod_ref(obj: Any, namespace: str) -> Key | None:
    ref = get_map(obj, "targetRef")
    name = get_str(ref, "name")
    if get_str(ref, "kind") != "Pod" or not name:
        return None
    return (get_str(ref, "namespace") or namespace, name)


def _ports(obj: Any) -> tuple[PortRef, ...]:
    refs = []
    for p in get_list(obj, "ports"):
        port = _port(p, "port")
        if port is not None and _tcp(p):
            refs.append(PortRef(get_str(p, "name") or "", port))
    return tuple(refs)


def parse_slice(obj: Mapping[str, Any]) -> EndpointGroup | None:
    """An EndpointSlice (v1 or v1beta1); only the first address of an endpoint is used.

    ``conditions.ready`` absent means ready, as the API defines it.
    """
    key = object_key(obj)
    if key is None:
        return None
    service = get_str(get_map(get_map(obj, "metadata"), "labels"), SERVICE_NAME_LABEL)
    addresses = []
    if get_str(obj, "addressType") in ("IPv4", "IPv6"):
        for e in get_list(obj, "endpoints"):
            ip = _ip(next(iter(a for a in get_list(e, "addresses") if isinstance(a, str)), None))
            if ip is not None:
                ready = get_map(e, "conditions").get("ready") is not False
                addresses.append(Address(ip, ready, _pod_ref(e, key[0])))
    return EndpointGroup(key[0], key[1], service, (Subset(_ports(obj), tuple(addresses)),))


def parse_endpoints(obj: Mapping[str, Any]) -> EndpointGroup | None:
    """A core/v1 Endpoints object (named after its Service)."""
    key = object_key(obj)
    if key is None:
        return None
    subsets = []
    for s in get_list(obj, "subsets"):
        addresses = []
        for field, ready in (("addresses", True), ("notReadyAddresses", False)):
            for a in get_list(s, field):
                ip = _ip(get_str(a, "ip"))
                if ip is not None:
                    addresses.append(Address(ip, ready, _pod_ref(a, key[0])))
        subsets.append(Subset(_ports(s), tuple(addresses)))
    return EndpointGroup(key[0], key[1], key[1], tuple(subsets))
