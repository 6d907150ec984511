"""The registry's fast paths give exactly what the slow path (node tree + pydantic) gives.

``parse_registry`` tries ``fast_services`` (plain YAML data checked by hand) before the slow
path, and the file source's ``RegistryParser`` reads only the per-service blocks that
changed. Neither may ever accept what the slow path refuses, nor build anything different
from what it builds; when they refuse, the slow path's line-numbered errors are reported.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightmesh.controller.registry import RegistryError, parse_registry, parse_registry_slow
from lightmesh.controller.registryblocks import RegistryParser
from lightmesh.controller.registryfast import fast_services
from tests.unit.controller.registry_strategies import invalid_registries, registries, rendered

SLOW_DATA = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)


def outcome(parse: Any, text: str) -> object:
    """What a parse gives: the services, or the problems it reports."""
    try:
        return parse(text)
    except RegistryError as exc:
        return ("error", exc.problems)


@SLOW_DATA
@given(st.data())
def test_random_valid_registries_give_the_same_services_on_every_path(data: st.DataObject) -> None:
    text = data.draw(rendered(data.draw(registries())))
    expected = parse_registry_slow(text, "r.yaml")
    assert fast_services(text) == expected  # never None on valid input: the fast path is taken
    assert parse_registry(text, "r.yaml") == expected
    assert RegistryParser().parse(text, "r.yaml") == expected


@SLOW_DATA
@given(st.data())
def test_random_invalid_registries_are_refused_by_every_path_with_the_same_errors(
    data: st.DataObject,
) -> None:
    text = data.draw(rendered(data.draw(invalid_registries())))
    slow = outcome(lambda t: parse_registry_slow(t, "r.yaml"), text)
    assert isinstance(slow, tuple), text
    assert fast_services(text) is None
    assert outcome(lambda t: parse_registry(t, "r.yaml"), text) == slow
    assert outcome(lambda t: RegistryParser().parse(t, "r.yaml"), text) == slow


@settings(SLOW_DATA, max_examples=60)
@given(st.data())
def test_successive_versions_through_one_parser_match_fresh_slow_parses(data: st.DataObject) -> None:
    parser = RegistryParser()
    for _ in range(data.draw(st.integers(2, 5))):
        valid = data.draw(st.booleans())
        text = data.draw(rendered(data.draw(registries() if valid else invalid_registries())))
        slow = outcome(lambda t: parse_registry_slow(t, "r.yaml"), text)
        assert outcome(lambda t: parser.parse(t, "r.yaml"), text) == slow, text


@SLOW_DATA
@given(st.data())
def test_edited_text_is_never_accepted_differently(data: st.DataObject) -> None:
    """Characters inserted or deleted anywhere: a fast path may refuse more, never differ."""
    text = data.draw(rendered(data.draw(registries())))
    parser = RegistryParser()
    parser.parse(text)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        if data.draw(st.booleans()) and at < len(text):
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + data.draw(st.sampled_from(list("- :#'\"[]{}&*!|>\n\t,x0"))) + text[at:]
    slow = outcome(lambda t: parse_registry_slow(t, "r.yaml"), text)
    fast = fast_services(text)
    assert fast is None or fast == slow, text
    assert outcome(lambda t: parser.parse(t, "r.yaml"), text) == slow, text


BASE = """\
services:
  - name: web
    namespace: default
    port: 80
    endpoints:
      - address: 10.0.0.1:80
  - name: db
    namespace: data
    port: 5432
"""


@pytest.mark.parametrize(
    "text",
    [
        BASE.replace("    port: 80\n", "    port: 80\n    port: 81\n"),  # a duplicated key
        BASE.replace("  - name: db\n", "  - name: db\n    <<: {x: 1}\n"),  # a merge key
        BASE.replace("  - name: db\n", "other: 1\n  - name: db\n"),  # a stray top-level line
        BASE.replace("name: db", "name: web").replace("5432", "80"),  # the same service twice
        BASE.replace("10.0.0.1:80", "&a 10.0.0.1:80").replace("namespace: data", "namespace: *a"),
        BASE.replace("10.0.0.1:80", '"10.0.0.1:80\n  - name: x"'),  # a quoted scalar over an item line
        BASE.replace("- address: 10.0.0.1:80", "- {address: 10.0.0.1:80,\n  - x}"),  # an open flow mapping
        BASE + "---\nservices: []\n",
        BASE.replace("\n", "\r\n"),
        BASE.replace("port: 80", "port: 80\u2028"),
    ],
)
def test_texts_the_block_parser_must_not_split_give_the_slow_result(text: str) -> None:
    slow = outcome(lambda t: parse_registry_slow(t, "r.yaml"), text)
    assert outcome(lambda t: RegistryParser().parse(t, "r.yaml"), text) == slow
    assert outcome(lambda t: parse_registry(t, "r.yaml"), text) == slow


def test_a_reload_rereads_only_the_changed_services_and_keeps_the_others_as_they_were() -> None:
    parser = RegistryParser()
    first = parser.parse(BASE)
    assert parser.reread == 2
    edited = parser.parse(BASE.replace("10.0.0.1:80", "10.0.0.2:80"))
    assert parser.reread == 1
    web, db = "web.default.svc.cluster.local:80", "db.data.svc.cluster.local:5432"
    assert edited[db] is first[db]
    assert edited[web] != first[web]
    assert parser.parse(BASE.replace("10.0.0.1:80", "10.0.0.2:80")) == edited
    with pytest.raises(RegistryError, match=r"r.yaml:6: services\[0\].endpoints\[0\].address"):
        parser.parse(BASE.replace("10.0.0.1:80", "web:80"), "r.yaml")
    assert parser.parse(BASE)[db] is first[db]  # a refused text leaves the cache as it was


def test_the_fast_loader_refuses_what_plain_yaml_would_resolve_silently() -> None:
    assert yaml.safe_load("services: []\nservices: [1]\n") == {"services": [1]}
    assert fast_services("services: []\nservices: [1]\n") is None
    assert fast_services("services: []\n") == {}
    assert fast_services("") is None
