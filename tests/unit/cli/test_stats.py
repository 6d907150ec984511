"""Stats from two scrapes: success, RPS, percentiles and MESHED per resource, as golden tables."""

from __future__ import annotations

import math

import pytest

from lightmesh.cli.samples import Sample, parse, sample, window
from lightmesh.cli.statformat import edges_json, edges_table, routes_json, routes_table, stat_json, stat_table
from lightmesh.cli.statmath import quantile
from lightmesh.cli.statrows import Proxy, StatQuery, Windows, edge_rows, route_rows, stat_rows
from lightmesh.core.resources import NAMESPACE, POD, SERVICE, Resource
from tests.support.golden import assert_golden
from tests.unit.cli.stat_inputs import ENDPOINTS, NS, PROXIES, scrape

SECONDS = 10.0


@pytest.fixture(scope="module")
def windows() -> Windows:
    return {p.key: window(parse(scrape(p.pod, 1)), parse(scrape(p.pod, 2))) for p in PROXIES}


@pytest.fixture(scope="module")
def cumulative() -> Windows:
    return {p.key: parse(scrape(p.pod, 2)) for p in PROXIES}


def _stat(windows: Windows, query: StatQuery) -> list:  # type: ignore[type-arg]
    return stat_rows(query, PROXIES, windows, ENDPOINTS)


def test_stat_deploy_table(windows: Windows) -> None:
    rows = _stat(windows, StatQuery(Resource(SERVICE, ""), NS))
    assert_golden("stat_deploy.txt", stat_table(rows, SECONDS, wide=False, namespaces=False))
    assert_golden("stat_deploy_wide.txt", stat_table(rows, SECONDS, wide=True, namespaces=False))
    assert_golden("stat_deploy.json", stat_json(rows, SECONDS))


def test_stat_pods_in_every_namespace(windows: Windows) -> None:
    rows = _stat(windows, StatQuery(Resource(POD, ""), ""))
    assert_golden("stat_po_all_namespaces.txt", stat_table(rows, SECONDS, wide=False, namespaces=True))


def test_stat_namespace(windows: Windows) -> None:
    rows = _stat(windows, StatQuery(Resource(NAMESPACE, ""), ""))
    assert_golden("stat_ns.txt", stat_table(rows, SECONDS, wide=False, namespaces=False))


def test_stat_to_and_from(windows: Windows) -> None:
    to = _stat(windows, StatQuery(Resource(SERVICE, "web"), NS, to=Resource(SERVICE, "voting")))
    assert_golden("stat_deploy_web_to_voting.txt", stat_table(to, SECONDS, wide=False, namespaces=False))
    frm = _stat(windows, StatQuery(Resource(SERVICE, ""), NS, from_=Resource(SERVICE, "vote-bot")))
    assert_golden("stat_deploy_from_vote_bot.txt", stat_table(frm, SECONDS, wide=False, namespaces=False))
    assert [r.name for r in frm] == ["web"]


def test_the_numbers_behind_a_row(windows: Windows) -> None:
    (web,) = _stat(windows, StatQuery(Resource(SERVICE, "web"), NS))
    assert web.stats.success_rate() == pytest.approx(145 / 150)
    assert web.stats.rps(SECONDS) == pytest.approx(15.0)
    assert (web.meshed, web.known) == (2, 3)
    assert web.stats.tcp_open == 5


def test_routes(windows: Windows) -> None:
    voting = [p for p in PROXIES if p.service == "voting"]
    rows = route_rows(voting, windows, None, "")
    assert [r.route for r in rows] == ["POST /vote", "[DEFAULT]"]
    assert_golden("routes_voting.txt", routes_table(rows, SECONDS, wide=False))
    assert_golden("routes_voting_wide.txt", routes_table(rows, SECONDS, wide=True))
    assert_golden("routes_voting.json", routes_json(rows, SECONDS))
    web = [p for p in PROXIES if p.service == "web"]
    to = route_rows(web, windows, Resource(SERVICE, "voting"), NS)
    assert_golden("routes_web_to_voting.txt", routes_table(to, SECONDS, wide=False))


def test_edges(cumulative: Windows) -> None:
    rows = edge_rows(SERVICE, "", NS, PROXIES, cumulative)
    assert_golden("edges_deploy.txt", edges_table(rows, wide=False))
    assert_golden("edges_deploy_wide.txt", edges_table(rows, wide=True))
    assert_golden("edges_deploy.json", edges_json(rows))
    assert [(r.src, r.dst, r.secured) for r in rows] == [("vote-bot", "web", False), ("web", "voting", True)]


def test_counter_resets_count_from_zero() -> None:
    before = [sample("request_total", 100, direction="inbound")]
    after = [sample("request_total", 7, direction="inbound"), sample("tcp_open_connections", 3)]
    assert [s.value for s in window(before, after)] == [7, 3]


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0.5, 1.5), (0.95, 4.4), (0.99, 4.88), (0.0, 0.0)],
)
def test_quantile_interpolates_like_prometheus(q: float, expected: float) -> None:
    buckets = {1.0: 10.0, 2.0: 30.0, 5.0: 40.0, math.inf: 40.0}
    assert quantile(q, buckets) == pytest.approx(expected)


def test_quantile_in_the_inf_bucket_is_the_highest_bound() -> None:
    assert quantile(0.99, {1.0: 1.0, 10.0: 2.0, math.inf: 100.0}) == 10.0
    assert quantile(0.5, {}) is None


def test_samples_read_labels() -> None:
    s: Sample = parse('request_total{direction="inbound",authority="web:80"} 3\n')[0]
    assert (s.label("authority"), s.label("missing"), s.value) == ("web:80", "", 3.0)


def test_routes_to_a_service_include_the_route_metrics_named_by_their_authority() -> None:
    # the proxy's route_* series name the destination by its authority only (no dst_service label)
    def route(prefix: str, dst: str, ok: float, failed: float) -> list[Sample]:
        labels = {"direction": "outbound", "dst": dst, "rt_route": "Vote"}
        return [
            sample(f"{prefix}response_total", ok, classification="success", **labels),
            sample(f"{prefix}response_total", failed, classification="failure", **labels),
        ]

    web = Proxy(NS, "web", "web-0")
    samples = [
        *route("route_", "voting:8080", 100, 0),
        *route("route_actual_", "voting:8080", 100, 33),
        *route("route_", f"voting.{NS}.svc.cluster.local:8080", 10, 0),
        *route("route_", "voting.other:8080", 7, 7),  # another namespace's voting
        *route("route_", "emoji:8080", 5, 5),
    ]
    (vote,) = route_rows([web], {web.key: samples}, Resource(SERVICE, "voting"), "")
    assert vote.route == "Vote"
    assert (vote.effective.success, vote.effective.failure) == (110, 0)
    assert (vote.actual.success, vote.actual.failure) == (100, 33)
