"""Kubernetes-style service names: what a proxy asks for, normalised to one canonical key.

A service is ``name.namespace.svc.<cluster domain>:port``. Clients may also use the short
forms that Kubernetes DNS search paths accept: ``name:port`` (in the client's own
namespace), ``name.namespace:port`` and ``name.namespace.svc:port``. :func:`normalize`
turns each into a :class:`ServiceName`, whose ``str()`` is the canonical key
``web.default.svc.cluster.local:80``.

A name that is well formed but is not a cluster service (an IP address, a name in another
domain, an absolute name such as ``web.``) gives ``None``: the caller answers "no such
service" so the client can fall back to DNS. Malformed input raises ``ValueError`` saying
what is wrong.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from lightmesh.core.addr import check_hostname, is_ip, split_host_port

DEFAULT_CLUSTER_DOMAIN = "cluster.local"

_DNS1123_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?\Z")


class ServiceName(NamedTuple):
    name: str
    namespace: str
    port: int
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN

    @property
    def host(self) -> str:
        """The fully qualified host name, without the port."""
        return f"{self.name}.{self.namespace}.svc.{self.cluster_domain}"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def check_label(kind: str, text: str) -> str:
    """Return ``text`` if it is a DNS-1123 label (a Kubernetes name), else raise ``ValueError``."""
    if not _DNS1123_LABEL.match(text):
        raise ValueError(
            f"invalid {kind} {text!r}: use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return text


def check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} out of range 1-65535")
    return port


def check_cluster_domain(domain: str) -> str:
    """Validate a cluster domain (``cluster.local``); returns it lower-cased without a final dot."""
    domain = domain.lower().removesuffix(".")
    try:
        check_hostname(domain)
    except ValueError as exc:
        raise ValueError(f"invalid cluster domain {domain!r}: {exc}") from None
    return domain


def service_name(
    name: str, namespace: str, port: int, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
) -> ServiceName:
    """A validated :class:`ServiceName` from its parts."""
    return ServiceName(
        check_label("service name", name),
        check_label("namespace", namespace),
        check_port(port),
        cluster_domain,
    )


def normalize(
    path: str, namespace: str = "", cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
) -> ServiceName | None:
    """Normalise ``path`` (``host:port``) as asked by a client in ``namespace``.

    Returns ``None`` when ``path`` is not the name of a service in this cluster.
    """
    host, port = split_host_port(path.strip())
    check_port(port)
    if is_ip(host):
        return None
    absolute = host.endswith(".")
    labels = host.removesuffix(".").split(".")
    if "" in labels:
        raise ValueError(f"empty label in {host!r}")
    suffix = ["svc", *cluster_domain.split(".")]
    if absolute and labels[2:] != suffix:
        return None  # an absolute name skips the search path: only the full form is a service
    if len(labels) > 2 and labels[2:] not in (suffix[:1], suffix):
        return None
    if len(labels) == 1:
        if not namespace:
            raise ValueError(f"{path!r} names a service without its namespace, and the client sent none")
        ns = check_label("namespace", namespace.lower())
    else:
        ns = check_label("namespace", labels[1])
    return ServiceName(check_label("service name", labels[0]), ns, port, cluster_domain)
