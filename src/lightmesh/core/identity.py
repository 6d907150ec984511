"""Workload identity names: ``<sa>.<namespace>.serviceaccount.identity.<controller-ns>.<trust-domain>``.

An identity is a DNS-like name (it is the DNS SAN of the workload's certificate and
the SNI a client proxy sends), built from the ServiceAccount and namespace a token
proves plus the controller's namespace and the mesh's trust domain.
:func:`identity_name` builds one and checks every part; :func:`check_identity`
validates a full name given by an operator (e.g. ``LIGHTMESH_PROXY_IDENTITY_LOCAL_NAME``).
"""

from __future__ import annotations

import re

DEFAULT_TRUST_DOMAIN = "cluster.local"
DEFAULT_CONTROLLER_NAMESPACE = "lightmesh"
_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?\Z")
MAX_NAME = 253


def check_label(what: str, value: str) -> str:
    if not _LABEL.match(value):
        raise ValueError(f"invalid {what} {value!r}: lower-case letters, digits and '-', at most 63")
    return value


def check_domain(what: str, value: str) -> str:
    labels = value.split(".")
    if not value or len(value) > MAX_NAME or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"invalid {what} {value!r}: dot-separated DNS labels")
    return value


def identity_name(
    service_account: str,
    namespace: str,
    controller_namespace: str = DEFAULT_CONTROLLER_NAMESPACE,
    trust_domain: str = DEFAULT_TRUST_DOMAIN,
) -> str:
    check_label("service account", service_account)
    check_label("namespace", namespace)
    check_label("controller namespace", controller_namespace)
    check_domain("trust domain", trust_domain)
    name = f"{service_account}.{namespace}.serviceaccount.identity.{controller_namespace}.{trust_domain}"
    if len(name) > MAX_NAME:
        raise ValueError(f"identity {name!r} is longer than {MAX_NAME} characters")
    return name


def check_identity(text: str) -> str:
    """A full identity name, or ``ValueError`` saying why it is not one."""
    value = text.strip()
    check_domain("identity", value)
    parts = value.split(".")
    if len(parts) < 6 or parts[2:4] != ["serviceaccount", "identity"]:
        raise ValueError(
            f"invalid identity {text!r}: expected <sa>.<namespace>.serviceaccount.identity."
            "<controller-namespace>.<trust-domain>"
        )
    return value
