"""``lightmesh top`` aggregates tap events per source, destination, method and path (golden table)."""

from __future__ import annotations

from lightmesh.api.gen import tap_pb2 as pb
from lightmesh.cli.topmodel import TopTable, latency, render
from tests.support.golden import assert_golden
from tests.unit.cli.tap_events import sample_events

Http = pb.TapEvent.Http


def _request(
    stream: int, path: str, status: int, us: int, src: str = "vote-bot-0", grpc: int | None = None
) -> list:  # type: ignore[type-arg]
    ident = Http.StreamId(base=1, stream=stream)
    common = {
        "source": pb.TcpAddress(ip="10.0.0.9", port=5000 + stream),
        "source_meta": {"pod": src},
        "destination": pb.TcpAddress(ip="10.0.0.5", port=8080),
        "destination_meta": {"pod": "web-0"},
        "proxy": "default/web-0",
    }
    eos = Http.Eos(grpc_status_code=grpc) if grpc is not None else None
    return [
        pb.TapEvent(**common, http=Http(request_init=Http.RequestInit(id=ident, method="GET", path=path))),
        pb.TapEvent(
            **common,
            http=Http(
                response_end=Http.ResponseEnd(id=ident, since_request_init_us=us, http_status=status, eos=eos)
            ),
        ),
    ]


def test_top_table_matches_the_golden_file() -> None:
    table = TopTable()
    events = (
        _request(1, "/api/list?x=1", 200, 1500)
        + _request(2, "/api/list", 200, 800)
        + _request(3, "/api/list", 500, 25_000)
        + _request(4, "/api/vote", 200, 2_400_000)
        + _request(5, "/grpc.Svc/Call", 200, 950, src="", grpc=14)
        + sample_events()
    )
    for event in events:
        table.add(event)
    assert_golden("top.txt", render(table))
    row = table.sorted_rows()[0]
    assert (row.path, row.count, row.successes, row.best, row.worst, row.last) == (
        "/api/list", 3, 2, 800, 25_000, 25_000,
    )  # fmt: skip


def test_hidden_sources_merge_rows() -> None:
    table = TopTable(hide_sources=True)
    for event in _request(1, "/a", 200, 10, src="x") + _request(2, "/a", 200, 20, src="y"):
        table.add(event)
    assert [r.count for r in table.sorted_rows()] == [2]
    assert render(table).splitlines()[0].split()[0] == "Destination"


def test_latency_formats() -> None:
    assert [latency(us) for us in (532, 1843, 25_400, 2_400_000)] == ["532µs", "1.8ms", "25ms", "2.40s"]
