"""The registry's fast path: plain YAML data checked by hand, exact on valid input (sans-I/O).

The slow path (:mod:`lightmesh.controller.registry`: the YAML node tree kept for line
numbers, then pydantic) costs about 50 µs per endpoint, half a second for 10,000. Most
reloads are valid, so :func:`fast_services` first loads the text with libyaml into plain
data (:class:`FastLoader` refuses duplicated keys and merge keys rather than resolve them)
and checks it with plain code that accepts exactly what the pydantic models accept and
builds the same :class:`Service` values. At the first doubt it raises :class:`Doubt`
(:func:`fast_services` answers ``None``), never an error message: the caller then runs the
slow path, which decides and reports every problem with its line. So this module must
never accept what the slow path refuses; refusing what it accepts only costs time. The
unit tests check both with random registries (``test_registry_fast.py``).

:func:`normalize_address`, :func:`normalize_ip` and :func:`check_label_name` are shared
with the pydantic validators, so both paths apply the same rules.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import yaml  # type: ignore[import-untyped]

from lightmesh.controller.endpoints import DEFAULT_WEIGHT, Endpoint, ProtocolHint, Service
from lightmesh.controller.yamldoc import SafeLoader
from lightmesh.core.addr import SocketAddr, check_hostname, is_ip, split_host_port
from lightmesh.core.names import DEFAULT_CLUSTER_DOMAIN, ServiceName, check_label, check_port

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"((?:{_OCTET}\.){{3}}{_OCTET}):([1-9][0-9]{{0,4}})")  # as normalized
_TOP_KEYS = frozenset({"services", "profiles"})  # profiles: see registry.parse_profiles
_SERVICE_KEYS = frozenset({"name", "namespace", "port", "clusterIP", "endpoints"})
_ENDPOINT_KEYS = frozenset({"address", "labels", "identity", "protocol", "weight"})
_PROTOCOLS: dict[str, ProtocolHint] = {"h2": "h2", "opaque": "opaque"}
_MAX_WEIGHT = 2**32 - 1
_ODD_KEY_TAGS = ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value")


class Doubt(ValueError):
    """The fast path cannot vouch for this input: let the slow path decide."""


def normalize_address(value: str) -> str:
    """``ip:port`` (IPv6 in brackets) in canonical form; raises ``ValueError`` saying why not."""
    host, port = split_host_port(value.strip())
    if not is_ip(host):
        raise ValueError(f"{value!r} is not an IP address and port (10.0.0.5:8080, [fd00::5]:8080)")
    check_port(port)
    return str(SocketAddr(str(ipaddress.ip_address(host)), port))


def normalize_ip(value: str) -> str:
    """An IP address in canonical form; raises ``ValueError`` saying why not."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


def check_label_name(name: str) -> None:
    if not _LABEL_NAME.match(name) or name.startswith("__"):
        raise ValueError(f"invalid label name {name!r}: use letters, digits and '_', not '__' first")


class FastLoader(SafeLoader):
    """The slow path's loader, refusing what the slow path reports or resolves differently."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[str] = set()
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag in _ODD_KEY_TAGS or key.value in seen:
                raise Doubt("duplicated, merge or non-scalar key")
            seen.add(key.value)
        return super().construct_mapping(node, deep)


def load(text: str) -> Any:
    """The plain data of a YAML document; ``Doubt`` for anything the slow path must see."""
    try:
        return yaml.load(text, Loader=FastLoader)
    except (yaml.YAMLError, RecursionError):
        raise Doubt("not valid YAML") from None


def service_list(data: Any) -> list[Any]:
    """The ``services`` list of a registry document."""
    if type(data) is not dict or "services" not in data or not data.keys() <= _TOP_KEYS:
        raise Doubt("not a registry")
    if type(data["services"]) is not list:
        raise Doubt("not a registry")
    return data["services"]


def fast_services(text: str, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN) -> dict[str, Service] | None:
    """The registry's services as ``parse_registry`` gives them, or ``None`` at the first doubt."""
    try:
        services: dict[str, Service] = {}
        for raw in service_list(load(text)):
            service = to_service(raw, cluster_domain)
            key = str(service.name)
            if key in services:
                raise Doubt("a service listed twice")
            services[key] = service
        return services
    except ValueError:  # Doubt, or a check_* function refusing a value
        return None


def to_service(raw: Any, cluster_domain: str) -> Service:
    """One item of ``services`` as a :class:`Service`; ``ValueError`` at the first doubt."""
    if type(raw) is not dict or not raw.keys() <= _SERVICE_KEYS:
        raise Doubt("not a service")
    name, namespace, port = raw.get("name"), raw.get("namespace"), raw.get("port")
    if type(name) is not str or type(namespace) is not str or type(port) is not int:
        raise Doubt("service name, namespace or port")
    check_label("service name", name)
    check_label("namespace", namespace)
    check_port(port)
    cluster_ip = raw.get("clusterIP")
    if cluster_ip is not None and type(cluster_ip) is not str:
        raise Doubt("clusterIP")
    items = raw.get("endpoints", [])
    if type(items) is not list:
        raise Doubt("endpoints")
    endpoints: dict[SocketAddr, Endpoint] = {}
    for item in items:
        endpoint = _endpoint(item)
        if endpoint.addr in endpoints:
            raise Doubt("an address listed twice")
        endpoints[endpoint.addr] = endpoint
    cluster_ips = (normalize_ip(cluster_ip),) if cluster_ip is not None else ()
    return Service(ServiceName(name, namespace, port, cluster_domain), endpoints, cluster_ips)


def _endpoint(raw: Any) -> Endpoint:
    if type(raw) is not dict or not raw.keys() <= _ENDPOINT_KEYS:
        raise Doubt("not an endpoint")
    address, labels = raw.get("address"), raw.get("labels", {})
    identity, protocol = raw.get("identity"), raw.get("protocol")
    weight = raw.get("weight", DEFAULT_WEIGHT)
    if type(address) is not str or type(labels) is not dict or type(weight) is not int:
        raise Doubt("address, labels or weight")
    if not 1 <= weight <= _MAX_WEIGHT:
        raise Doubt("weight")
    for label, value in labels.items():
        if type(label) is not str or type(value) is not str:
            raise Doubt("labels")
        check_label_name(label)
    if identity is not None:
        if type(identity) is not str:
            raise Doubt("identity")
        check_hostname(identity)
    hint = _PROTOCOLS.get(protocol) if type(protocol) is str else None
    if hint is None and protocol is not None:
        raise Doubt("protocol")
    return Endpoint(_socket_addr(address), weight, tuple(sorted(labels.items())), identity, hint)


def _socket_addr(address: str) -> SocketAddr:
    """The endpoint's address as the slow path builds it (normalized, then split again)."""
    if (m := _CANONICAL_IPV4.fullmatch(address)) is not None and int(m[2]) <= 65535:
        return SocketAddr(m[1], int(m[2]))  # already canonical: what normalize_address returns
    host, port = split_host_port(normalize_address(address))
    return SocketAddr(host, port)
