from __future__ import annotations

import pytest

from lightmesh.core.identity import check_identity, identity_name


def test_identity_name_follows_the_linkerd_shape() -> None:
    assert (
        identity_name("web", "emojivoto") == "web.emojivoto.serviceaccount.identity.lightmesh.cluster.local"
    )
    assert identity_name("a", "b", "mesh", "example.org") == "a.b.serviceaccount.identity.mesh.example.org"


@pytest.mark.parametrize(
    ("sa", "ns", "cns", "td"),
    [
        ("Web", "ns", "l", "td"),
        ("web", "n.s", "l", "td"),
        ("web", "ns", "", "td"),
        ("web", "ns", "l", "a..b"),
    ],
)
def test_identity_name_rejects_invalid_parts(sa: str, ns: str, cns: str, td: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        identity_name(sa, ns, cns, td)


def test_check_identity_accepts_full_names_only() -> None:
    name = "web.default.serviceaccount.identity.lightmesh.cluster.local"
    assert check_identity(f" {name} ") == name
    for bad in (
        "web.default",
        "web.default.svc.identity.lightmesh.cluster.local",
        "",
        "WEB.x.serviceaccount.identity.a.b",
    ):
        with pytest.raises(ValueError, match="identity"):
            check_identity(bad)
