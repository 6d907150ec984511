"""The registry file ``lightmesh up`` writes for the controller, from the running instances.

Every ready instance is an endpoint of its service: the address of its sidecar's inbound
listener, labelled with its pod, service account and deployment (the service), with its identity and a
protocol hint (``h2``: every endpoint is a meshed proxy, which accepts HTTP/2 with prior
knowledge and carries HTTP/1 over it; ``opaque`` for opaque services). The controller
reloads the file when its bytes change; :func:`write_atomically` replaces it in one rename
so it never reads half a file. Route profiles from the mesh file go through
:func:`profiles_section`, the one place that decides how they reach the registry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from lightmesh.local.meshfile import MeshSpec, ServiceSpec

TRUST_DOMAIN = "cluster.local"


@dataclass(frozen=True, slots=True)
class EndpointEntry:
    address: str  # host:port of the instance's inbound listener (or the pod IP and service port)
    pod: str


def identity(svc: ServiceSpec) -> str:
    """The instance's TLS identity, Linkerd's form: ``SA.NS.serviceaccount.identity.lightmesh.DOMAIN``."""
    return f"{svc.account}.{svc.namespace}.serviceaccount.identity.lightmesh.{TRUST_DOMAIN}"


def profiles_section(spec: MeshSpec) -> dict[str, Any]:
    """The registry's ``profiles:`` section: the mesh file's profiles, unchanged (docs/profiles.md)."""
    return {"profiles": list(spec.profiles)} if spec.profiles else {}


def registry_data(
    spec: MeshSpec, endpoints: dict[str, list[EndpointEntry]], cluster_ips: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The registry document: every service of ``spec`` with its ready ``endpoints`` and its
    virtual IP, if it has one (``cluster_ips``; both by service key)."""
    services = []
    for svc in spec.services:
        entries = [
            {
                "address": ep.address,
                "labels": {"pod": ep.pod, "serviceaccount": svc.account, "deployment": svc.name},
                "identity": identity(svc),
                "protocol": "opaque" if svc.protocol == "opaque" else "h2",
            }
            for ep in sorted(endpoints.get(svc.key, []), key=lambda e: e.pod)
        ]
        service: dict[str, Any] = {"name": svc.name, "namespace": svc.namespace, "port": svc.port}
        if cluster_ips and (ip := cluster_ips.get(svc.key)) is not None:
            service["clusterIP"] = ip
        services.append({**service, "endpoints": entries})
    return {"services": services, **profiles_section(spec)}


def registry_text(
    spec: MeshSpec, endpoints: dict[str, list[EndpointEntry]], cluster_ips: Mapping[str, str] | None = None
) -> str:
    data = registry_data(spec, endpoints, cluster_ips)
    text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    return "# written by lightmesh up; edit the mesh file instead\n" + text


def write_atomically(path: Path, text: str) -> bool:
    """Replace ``path`` with ``text`` in one rename; ``False`` (and no write) when it is unchanged."""
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True
