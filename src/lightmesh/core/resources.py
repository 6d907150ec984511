"""Resource selectors shared by the CLI and the controller: ``ns``, ``deploy``/``svc``, ``po``.

lightmesh groups proxies the way Linkerd groups pods: by namespace, by the service a
proxy fronts (``deploy`` and ``svc`` both name it, so Linkerd habits work), and by
instance (``po``). :func:`canonical_type` accepts the kubectl spellings (``deploy``,
``deployment``, ``deployments``, ``svc``, ``service``, ``po``, ``pods``, ``ns``,
``namespace``...); :func:`parse_resource` reads ``TYPE``, ``TYPE/NAME`` or
``TYPE NAME``; :func:`selects` says whether a proxy belongs to a selection.
"""

from __future__ import annotations

from typing import NamedTuple

NAMESPACE, SERVICE, POD = "namespace", "service", "pod"
_TYPES = {
    NAMESPACE: ("ns", "namespace", "namespaces"),
    SERVICE: ("deploy", "deployment", "deployments", "svc", "service", "services"),
    POD: ("po", "pod", "pods"),
}
_ALIASES = {alias: kind for kind, aliases in _TYPES.items() for alias in aliases}
TYPES_HELP = "ns, deploy (or svc) or po"


class Resource(NamedTuple):
    type: str  # NAMESPACE, SERVICE or POD
    name: str  # empty: every resource of the type


class ProxyIdentity(NamedTuple):
    namespace: str
    service: str
    pod: str


def canonical_type(text: str) -> str:
    kind = _ALIASES.get(text.strip().lower())
    if kind is None:
        raise ValueError(f"unknown resource type {text!r}: use {TYPES_HELP}")
    return kind


def parse_resource(text: str, name: str = "") -> Resource:
    """``deploy``, ``deploy/web``, or ``deploy`` with ``name`` given separately."""
    kind, _, inline = text.partition("/")
    if inline and name:
        raise ValueError(f"give the name once: {text!r} or {name!r}")
    if "/" in inline:
        raise ValueError(f"invalid resource {text!r}: use TYPE or TYPE/NAME")
    return Resource(canonical_type(kind), inline or name)


def name_of(proxy: ProxyIdentity, kind: str) -> str:
    """The name of the ``kind`` resource that ``proxy`` belongs to ("" when it has none)."""
    if kind == NAMESPACE:
        return proxy.namespace
    if kind == SERVICE:
        return proxy.service
    return proxy.pod


def selects(resource: Resource, namespace: str, proxy: ProxyIdentity) -> bool:
    """Whether ``proxy`` is part of ``resource`` in ``namespace`` ("" for every namespace)."""
    if resource.type != NAMESPACE and namespace and proxy.namespace != namespace:
        return False
    name = name_of(proxy, resource.type)
    return bool(name) and (not resource.name or name == resource.name)
