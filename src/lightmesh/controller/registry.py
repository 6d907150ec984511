"""The file registry format: YAML text to validated, typed services (sans-I/O).

```yaml
services:
  - name: web                 # a Kubernetes name (DNS-1123 label)
    namespace: default
    port: 80                  # the service port clients ask for
    clusterIP: 10.96.0.10     # optional: its virtual IP (connections to it at the port mean it)
    endpoints:
      - address: 10.0.0.5:8080          # IP literal and port ([fd00::5]:8080 for IPv6)
        labels: {pod: web-1}            # optional: metric labels for this endpoint
        identity: web.default.serviceaccount.identity.lightmesh.cluster.local  # optional
        protocol: h2                    # optional: h2 or opaque; omitted: clients detect
        weight: 10000                   # optional, 1 to 4294967295 (default 10000)
profiles:                     # optional: service profiles (lightmesh.controller.profiles)
  - name: web
    namespace: default
    routes: [{name: users, condition: {pathPrefix: /users}, isRetryable: true}]
```

:func:`parse_profiles` returns the ``profiles:`` section by service host, validated by the
same two paths (the fast one with the pydantic models on plain data).

:func:`parse_registry` returns the services keyed by ``str(ServiceName)``. It tries the
fast path first (:mod:`lightmesh.controller.registryfast`: plain data checked by hand,
exact on valid input); when that has a doubt, :func:`parse_registry_slow` validates the
text with the pydantic models below (unknown keys are errors, so typos do not pass
silently) and raises :class:`RegistryError` listing every problem as
``file:line: where: what``; line numbers come from the YAML node tree.
:class:`~lightmesh.controller.registryblocks.RegistryParser` adds a cache per service for
successive versions of one file.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lightmesh.controller.endpoints import DEFAULT_WEIGHT, Endpoint, Service
from lightmesh.controller.profiles import ProfileBody, ProfileSpec, check_profiles
from lightmesh.controller.registryfast import (
    check_label_name,
    fast_services,
    load,
    normalize_address,
    normalize_ip,
)
from lightmesh.controller.yamldoc import Loc, Problem, YamlDocument
from lightmesh.core.addr import SocketAddr, check_hostname, split_host_port
from lightmesh.core.names import DEFAULT_CLUSTER_DOMAIN, ServiceName, check_label, check_port


class RegistryError(ValueError):
    """A registry that cannot be used; ``problems`` holds one ``file:line: ...`` line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"invalid registry {source}:\n  " + "\n  ".join(problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EndpointSpec(_Model):
    address: str
    labels: dict[str, str] = {}
    identity: str | None = None
    protocol: Literal["h2", "opaque"] | None = None
    weight: int = Field(DEFAULT_WEIGHT, ge=1, le=2**32 - 1)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return normalize_address(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            check_label_name(name)
        return value

    @field_validator("identity")
    @classmethod
    def _identity(cls, value: str | None) -> str | None:
        if value is not None:
            check_hostname(value)
        return value


class ServiceSpec(_Model):
    name: str
    namespace: str
    port: int
    clusterIP: str | None = None  # the registry's (and Kubernetes') spelling
    endpoints: list[EndpointSpec] = []

    @field_validator("clusterIP")
    @classmethod
    def _cluster_ip(cls, value: str | None) -> str | None:
        return None if value is None else normalize_ip(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_label("service name", value)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return check_label("namespace", value)

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        return check_port(value)


_PROFILES = pydantic.TypeAdapter(list[ProfileSpec])


class RegistrySpec(_Model):
    services: list[ServiceSpec]
    profiles: list[ProfileSpec] = []


def _where(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "top level"


def _duplicates(spec: RegistrySpec) -> list[Problem]:
    problems: list[Problem] = []
    seen_services: dict[tuple[str, str, int], int] = {}
    for i, svc in enumerate(spec.services):
        first = seen_services.setdefault((svc.name, svc.namespace, svc.port), i)
        if first != i:
            problems.append(
                (("services", i), f"service {svc.name}.{svc.namespace}:{svc.port} is listed twice")
            )
        seen_addrs: dict[str, int] = {}
        for j, ep in enumerate(svc.endpoints):
            if seen_addrs.setdefault(ep.address, j) != j:
                loc: Loc = ("services", i, "endpoints", j, "address")
                problems.append((loc, f"address {ep.address} is listed twice in the service"))
    return problems + check_profiles(spec.profiles)


def _to_service(svc: ServiceSpec, cluster_domain: str) -> Service:
    endpoints = {}
    for ep in svc.endpoints:
        host, port = split_host_port(ep.address)
        addr = SocketAddr(host, port)
        labels = tuple(sorted(ep.labels.items()))
        endpoints[addr] = Endpoint(addr, ep.weight, labels, ep.identity, ep.protocol)
    cluster_ips = (svc.clusterIP,) if svc.clusterIP is not None else ()
    return Service(ServiceName(svc.name, svc.namespace, svc.port, cluster_domain), endpoints, cluster_ips)


def parse_registry(
    text: str, source: str = "<registry>", cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
) -> dict[str, Service]:
    """Parse and validate a registry; raises :class:`RegistryError` listing every problem."""
    services = fast_services(text, cluster_domain)
    return parse_registry_slow(text, source, cluster_domain) if services is None else services


def parse_profiles(
    text: str, source: str = "<registry>", cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
) -> dict[str, ProfileBody]:
    """The ``profiles:`` section by service host; raises :class:`RegistryError` like the services.

    The fast path (:func:`fast_profiles`) validates the plain data with the same pydantic
    models; at any doubt the whole text goes through :func:`validate_slow`, which reports
    every problem with its line.
    """
    profiles = fast_profiles(text, cluster_domain)
    if profiles is None:
        specs = validate_slow(text, source).profiles
        profiles = {spec.host(cluster_domain): _body(spec) for spec in specs}
    return profiles


def fast_profiles(text: str, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN) -> dict[str, ProfileBody] | None:
    """The profiles of a registry text, or ``None`` at the first doubt (invalid included)."""
    if "profiles" not in text:  # no such key, the common case: no second YAML load
        return {}
    try:
        data = load(text)
        specs = _PROFILES.validate_python(data.get("profiles", []) if type(data) is dict else None)
    except (ValueError, pydantic.ValidationError):  # Doubt or invalid: the slow path says where
        return None
    if check_profiles(specs):
        return None
    return {spec.host(cluster_domain): _body(spec) for spec in specs}


def _body(spec: ProfileSpec) -> ProfileBody:
    """What a profile says without its service names (so file and Kubernetes profiles compare)."""
    dumped = spec.model_dump(by_alias=True, exclude_unset=True, exclude={"name", "namespace"})
    return ProfileBody.model_validate(dumped)


def parse_registry_slow(
    text: str, source: str = "<registry>", cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
) -> dict[str, Service]:
    """:func:`parse_registry` without the fast path: every problem with its line."""
    spec = validate_slow(text, source)
    services = (_to_service(svc, cluster_domain) for svc in spec.services)
    return {str(s.name): s for s in services}


def validate_slow(text: str, source: str = "<registry>") -> RegistrySpec:
    """The whole registry validated; :class:`RegistryError` with every problem and its line."""
    doc = YamlDocument.parse(text, source)
    if doc.errors:
        raise RegistryError(source, doc.errors)
    if doc.data is None:
        raise RegistryError(source, [f"{source}:1: the file is empty; write `services: []` for no services"])
    try:
        spec = RegistrySpec.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        problems: list[Problem] = [(tuple(e["loc"]), _message(e)) for e in exc.errors()]
        raise RegistryError(source, doc.duplicate_keys + doc.describe(problems, _where)) from None
    if duplicates := doc.duplicate_keys + doc.describe(_duplicates(spec), _where):
        raise RegistryError(source, duplicates)
    return spec


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (a typo?)"
    if error["type"] == "model_type":
        return "expected a mapping (key: value lines)"
    return str(error["msg"]).removeprefix("Value error, ")
