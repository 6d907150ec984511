"""Resource selectors: kubectl spellings, TYPE/NAME parsing, and which proxies a selection holds."""

from __future__ import annotations

import pytest

from lightmesh.core.resources import (
    NAMESPACE,
    POD,
    SERVICE,
    ProxyIdentity,
    Resource,
    canonical_type,
    parse_resource,
    selects,
)

WEB0 = ProxyIdentity("emojivoto", "web", "web-0")
BARE = ProxyIdentity("default", "", "host-1")


@pytest.mark.parametrize(
    ("text", "kind"),
    [("deploy", SERVICE), ("Deployments", SERVICE), ("svc", SERVICE), ("po", POD), ("ns", NAMESPACE)],
)
def test_kubectl_spellings(text: str, kind: str) -> None:
    assert canonical_type(text) == kind


def test_unknown_types_say_what_is_accepted() -> None:
    with pytest.raises(ValueError, match=r"unknown resource type 'rs'.*deploy"):
        canonical_type("rs")


def test_type_and_name_forms() -> None:
    assert parse_resource("deploy/web") == Resource(SERVICE, "web")
    assert parse_resource("deploy", "web") == Resource(SERVICE, "web")
    assert parse_resource("po") == Resource(POD, "")
    with pytest.raises(ValueError, match="once"):
        parse_resource("deploy/web", "vote")
    with pytest.raises(ValueError, match="TYPE/NAME"):
        parse_resource("deploy/web/x")


def test_selection_by_namespace_service_and_pod() -> None:
    assert selects(Resource(SERVICE, "web"), "emojivoto", WEB0)
    assert not selects(Resource(SERVICE, "web"), "default", WEB0)
    assert selects(Resource(SERVICE, ""), "", WEB0)
    assert selects(Resource(POD, "web-0"), "", WEB0)
    assert selects(Resource(NAMESPACE, "emojivoto"), "default", WEB0)  # the namespace is the name
    assert not selects(Resource(SERVICE, ""), "", BARE)  # a proxy without a service is in no service
