"""The ServiceProfile CRD manifest matches what the controller watches and validates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lightmesh.controller.profiles import ProfileBody, RouteSpec
from lightmesh.controller.sources.kubeprofiles import SERVICE_PROFILES

CRD = Path(__file__).resolve().parents[3] / "deploy" / "crds" / "serviceprofile.yaml"


def crd() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CRD.read_text())
    return data


def test_the_crd_names_the_resource_the_controller_watches() -> None:
    spec = crd()["spec"]
    info = SERVICE_PROFILES._api_info
    assert spec["group"] == info.resource.group
    assert [v["name"] for v in spec["versions"]] == [info.resource.version]
    assert spec["names"]["plural"] == info.plural and spec["names"]["kind"] == info.resource.kind


def test_the_crd_schema_has_the_keys_the_controller_reads() -> None:
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    aliases = {field.alias for field in ProfileBody.model_fields.values()}
    assert set(schema["properties"]) == aliases
    route = schema["properties"]["routes"]["items"]["properties"]
    assert set(route) == {field.alias for field in RouteSpec.model_fields.values()}
