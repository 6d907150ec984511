"""RouteStats: responses classified at their end, latencies in Linkerd's buckets."""

from __future__ import annotations

from lightmesh.core.latency import BOUNDS_MS
from lightmesh.protocol.messages import NO_BODY, BytesBody, Response
from lightmesh.proxy.telemetry import ResponseEnd, RouteStats


def _counts(stats: RouteStats) -> dict[tuple[int, int | None, str], int]:
    return {key: hist.count for key, hist in stats.responses.items()}


def test_responses_are_classified_by_status_grpc_status_and_stream_errors() -> None:
    stats = RouteStats("web:80")
    stats.ended(0.5, Response(200, [], BytesBody(b"ok")), None)
    stats.ended(0.5, Response(503, [], BytesBody(b"down")), None)
    stats.ended(0.5, Response(200, [], BytesBody(b"cut")), ConnectionError("client went away"))
    stats.ended(0.5, Response(200, [], BytesBody(b"x", [(b"grpc-status", b"0")])), None)
    stats.ended(0.5, Response(200, [], BytesBody(b"x", [(b"grpc-status", b"14")])), None)
    stats.ended(0.5, Response(200, [(b"grpc-status", b"5")], NO_BODY), None)  # trailers-only
    assert _counts(stats) == {
        (200, None, "success"): 1,
        (503, None, "failure"): 1,
        (200, None, "failure"): 1,
        (200, 0, "success"): 1,
        (200, 14, "failure"): 1,
        (200, 5, "failure"): 1,
    }


def test_a_response_end_callback_counts_its_response_once_it_is_sent() -> None:
    stats = RouteStats("web:80")
    response = Response(503, [], BytesBody(b"down"))
    response.add_end_callback(ResponseEnd(stats, 12.5))
    assert stats.responses == {}  # nothing until the response has been sent
    response.finish(None)
    response.finish(None)  # callbacks run once
    assert _counts(stats) == {(503, None, "failure"): 1}
    assert stats.responses[503, None, "failure"].sum == 12.5


def test_latencies_fall_in_the_first_bucket_whose_bound_they_do_not_exceed() -> None:
    stats = RouteStats("web:80")
    for latency in (0.2, 1.0, 1.5, 10.0, 49999.0, 60000.0):
        stats.ended(latency, Response(200, [], NO_BODY), None)
    hist = stats.responses[200, None, "success"]
    assert hist.counts[0] == 2  # le=1
    assert hist.counts[BOUNDS_MS.index(2.0)] == 1
    assert hist.counts[BOUNDS_MS.index(10.0)] == 1
    assert hist.counts[BOUNDS_MS.index(50000.0)] == 1
    assert hist.counts[-1] == 1  # +Inf
    assert hist.sum == 0.2 + 1.0 + 1.5 + 10.0 + 49999.0 + 60000.0


def test_route_layers_count_classified_responses_directly() -> None:
    stats = RouteStats("", (("dst", "web"), ("rt_route", "GET /")))
    stats.response(504, None, "failure", 3.0)
    assert _counts(stats) == {(504, None, "failure"): 1}
    assert stats.responses[504, None, "failure"].counts[BOUNDS_MS.index(3.0)] == 1
