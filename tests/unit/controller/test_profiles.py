"""Service profiles in the registry: parsing (fast, slow, by blocks), errors, the book, the message."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightmesh.api.profile import profile_from_message
from lightmesh.controller.directory import Directory
from lightmesh.controller.metrics import ControllerStats
from lightmesh.controller.profiles import ProfileBook
from lightmesh.controller.registry import RegistryError, parse_profiles, parse_registry, validate_slow
from lightmesh.controller.registryblocks import RegistryParser, split_profiles
from lightmesh.controller.sources.file import FileRegistrySource
from lightmesh.controller.translate import profile_message
from lightmesh.core.names import ServiceName
from lightmesh.core.routes import Method, PathPrefix

SERVICES = """services:
  - name: web
    namespace: default
    port: 80
    endpoints:
      - address: 10.0.0.1:80
"""
PROFILES = """profiles:
  - name: web
    namespace: default
    retryBudget: {retryRatio: 0.5, minRetriesPerSecond: 5, ttl: 20s}
    routes:
      - name: api
        condition: {pathPrefix: /api, method: GET}
        isRetryable: true
        timeout: 250ms
        responseClasses:
          - condition: {status: {min: 500, max: 503}}
            isFailure: true
"""
HOST = "web.default.svc.cluster.local"


def test_a_registry_with_profiles_parses_both_sections() -> None:
    text = SERVICES + PROFILES
    assert list(parse_registry(text)) == [f"{HOST}:80"]
    profiles = parse_profiles(text)
    assert list(profiles) == [HOST]
    route = profiles[HOST].routes[0]
    assert route.is_retryable and route.timeout == "250ms"


def test_the_block_parser_cuts_the_profiles_section_and_agrees() -> None:
    text = SERVICES + PROFILES
    assert split_profiles(text) == (SERVICES, PROFILES)
    parser = RegistryParser()
    assert parser.parse(text) == parse_registry(text)
    assert parser.profiles == parse_profiles(text)
    assert parser.reread == 1
    parser.parse(text)
    assert parser.reread == 0  # unchanged services are reused
    assert split_profiles(PROFILES + SERVICES)[1] is None  # another key after: no cut


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "timeout: 250ms",
            "timeout: 250",
        ),
        ("pathPrefix: /api", "pathPrefix: api"),
        ("isRetryable: true", "isRetriable: true"),
        ("min: 500", "min: 50"),
        ("method: GET", "method: get"),
    ],
)
def test_bad_profiles_are_refused_with_the_line(change: str, message: str) -> None:
    text = SERVICES + PROFILES.replace(change, message)
    with pytest.raises(RegistryError) as info:
        parse_profiles(text, "reg.yaml")
    problems = "\n".join(info.value.problems)
    assert problems.startswith("reg.yaml:1") and "profiles[0]" in problems
    with pytest.raises(RegistryError):
        RegistryParser().parse(text, "reg.yaml")


def test_two_profiles_for_one_service_are_refused() -> None:
    body = PROFILES.split("\n", 1)[1]
    with pytest.raises(RegistryError, match="has two profiles"):
        parse_profiles(SERVICES + PROFILES + body)


def test_a_bad_regex_is_refused() -> None:
    text = SERVICES + PROFILES.replace("pathPrefix: /api", "pathRegex: '/api/(['")
    with pytest.raises(RegistryError, match="invalid regex"):
        parse_profiles(text)


@settings(max_examples=30)
@given(st.sampled_from(["GET", "POST"]), st.integers(100, 599), st.booleans(), st.integers(1, 100))
def test_fast_and_slow_paths_agree(method: str, status: int, retryable: bool, limit: int) -> None:
    text = (
        SERVICES
        + "profiles:\n  - name: web\n    namespace: default\n    routes:\n      - name: r\n"
        + f"        condition: {{method: {method}}}\n        isRetryable: {str(retryable).lower()}\n"
        + f"        retryLimit: {limit}\n        responseClasses:\n"
        + f"          - condition: {{status: {{min: {status}, max: {status}}}}}\n"
        + "            isFailure: true\n"
    )
    fast = parse_profiles(text)
    slow = {p.host(): p for p in validate_slow(text).profiles}
    assert [r.model_dump() for r in fast[HOST].routes] == [r.model_dump() for r in slow[HOST].routes]


def test_the_message_carries_routes_budget_and_overrides_to_the_proxy() -> None:
    spec = parse_profiles(SERVICES + PROFILES)[HOST]
    msg = profile_message(ServiceName("web", "default", 80), spec)
    assert msg.fully_qualified_name == HOST
    profile = profile_from_message(msg)
    assert (profile.budget.ratio, profile.budget.min_per_second, profile.budget.ttl) == (0.5, 5.0, 20.0)
    route = profile.routes[0]
    assert route.retryable and route.timeout == 0.25
    assert route.match is not None and set(route.match.items) == {PathPrefix(b"/api"), Method(b"GET")}
    assert route.failed(503) and not route.failed(504 - 100)
    default = profile_from_message(profile_message(None))
    assert default.routes == () and default.budget.ratio == pytest.approx(0.2)


def test_the_book_notifies_watchers_of_changed_profiles_only() -> None:
    book = ProfileBook()
    seen: list[str] = []
    unwatch = book.watch(HOST, lambda: seen.append("web"))
    spec = parse_profiles(SERVICES + PROFILES)[HOST]
    book.replace_all({HOST: spec})
    book.replace_all({HOST: spec})
    book.replace_all({})
    assert seen == ["web", "web"]
    unwatch()
    book.set_profile(HOST, spec)
    assert seen == ["web", "web"]


def test_the_file_source_keeps_the_last_good_profiles(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(SERVICES + PROFILES)
    book = ProfileBook()
    source = FileRegistrySource(path, ControllerStats(), profiles=book)
    source.load()
    good = book.get(HOST)
    assert good is not None
    path.write_text(SERVICES + PROFILES.replace("250ms", "250"))
    assert not source.poll(Directory())
    assert book.get(HOST) is good
    path.write_text(SERVICES)
    assert source.poll(Directory())
    assert book.get(HOST) is None
