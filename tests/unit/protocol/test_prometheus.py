"""The Prometheus text format we write parses back with prometheus-client's parser."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from lightmesh.core.latency import Histogram
from lightmesh.protocol.prometheus import CONTENT_TYPE, Family, render

NASTY = 'quote " backslash \\ newline \n and \\n literally, unicode \u00e9\u2603'

label_values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
label_names = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True).filter(lambda n: not n.startswith("__"))


def parse(data: bytes) -> dict[str, tuple[str, str, list[tuple[str, dict[str, str], float]]]]:
    return {
        family.name: (
            family.type,
            family.documentation,
            [(s.name, s.labels, s.value) for s in family.samples],
        )
        for family in text_string_to_metric_families(data.decode())
    }


def test_counter_with_escaped_labels_round_trips() -> None:
    family = Family("request_total", "counter", "Requests received")
    family.add([("authority", NASTY), ("direction", "inbound")], 3)
    assert parse(render([family])) == {
        "request": (
            "counter",
            "Requests received",
            [("request_total", {"authority": NASTY, "direction": "inbound"}, 3.0)],
        )
    }


def test_gauge_without_labels_and_with_fractions() -> None:
    family = Family("tcp_open_connections", "gauge", "Connections currently open")
    family.add([], 2)
    family.add([("peer", "dst")], 0.25)
    assert parse(render([family]))["tcp_open_connections"] == (
        "gauge",
        "Connections currently open",
        [("tcp_open_connections", {}, 2.0), ("tcp_open_connections", {"peer": "dst"}, 0.25)],
    )


def test_integral_values_are_written_as_integers() -> None:
    family = Family("g", "gauge", "g")
    family.add([], 3.0)
    family.add([], 10**15)
    family.add([], 0.5)
    assert render([family]).decode().splitlines()[2:] == ["g 3", "g 1000000000000000", "g 0.5"]


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_infinite_gauges_round_trip(value: float) -> None:
    family = Family("g", "gauge", "g")
    family.add([], value)
    assert parse(render([family]))["g"][2] == [("g", {}, value)]


def test_nan_gauge_round_trips() -> None:
    family = Family("g", "gauge", "g")
    family.add([], math.nan)
    assert math.isnan(parse(render([family]))["g"][2][0][2])


def test_histogram_round_trips_with_cumulative_buckets() -> None:
    histogram = Histogram()
    for value in (0.5, 5, 7, 60_000):
        histogram.observe(value)
    family = Family("response_latency_ms", "histogram", "Time to the first byte (ms)")
    family.add_histogram([("dst", 'a"b')], histogram.cumulative(), histogram.sum)
    kind, _, samples = parse(render([family]))["response_latency_ms"]
    assert kind == "histogram"
    buckets = {s[1]["le"]: s[2] for s in samples if s[0] == "response_latency_ms_bucket"}
    assert (buckets["1"], buckets["5"], buckets["10"], buckets["50000"], buckets["+Inf"]) == (1, 2, 3, 3, 4)
    assert all(s[1]["dst"] == 'a"b' for s in samples)
    assert ("response_latency_ms_sum", {"dst": 'a"b'}, 60012.5) in samples
    assert ("response_latency_ms_count", {"dst": 'a"b'}, 4.0) in samples


def test_empty_histogram_has_zero_sum_and_count() -> None:
    histogram = Histogram()
    family = Family("h", "histogram", "h")
    family.add_histogram([], histogram.cumulative(), histogram.sum)
    samples = parse(render([family]))["h"][2]
    assert ("h_count", {}, 0.0) in samples
    assert ("h_sum", {}, 0.0) in samples


def test_help_text_with_backslash_and_newline_is_escaped() -> None:
    family = Family("g", "gauge", "line one\nline two \\ done")
    family.add([], 1)
    assert parse(render([family]))["g"][1] == "line one\nline two \\ done"


def test_several_families_render_in_order() -> None:
    first, second = Family("a_total", "counter", "A"), Family("b", "gauge", "B")
    first.add([], 1)
    second.add([], 2)
    assert list(parse(render([first, second]))) == ["a", "b"]


def test_a_family_without_samples_is_just_its_header() -> None:
    assert render([Family("g", "gauge", "G")]) == b"# HELP g G\n# TYPE g gauge\n"


def test_content_type_is_the_0_0_4_text_format() -> None:
    assert CONTENT_TYPE == b"text/plain; version=0.0.4; charset=utf-8"


@given(
    st.lists(st.tuples(label_names, label_values), max_size=4, unique_by=lambda t: t[0]),
    st.integers(0, 2**53),
)
def test_any_label_values_round_trip(labels: list[tuple[str, str]], value: int) -> None:
    family = Family("x_total", "counter", "X")
    family.add(labels, value)
    assert parse(render([family]))["x"][2] == [("x_total", dict(labels), float(value))]
