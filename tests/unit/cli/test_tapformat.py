"""Tap output: Linkerd's req/rsp/end lines and JSON with headers, checked against golden files."""

from __future__ import annotations

import json

from lightmesh.cli.tapformat import event_json_line, event_line
from tests.support.golden import assert_golden
from tests.unit.cli.tap_events import sample_events


def test_lines_match_the_golden_file() -> None:
    assert_golden("tap.txt", "".join(event_line(e) + "\n" for e in sample_events()))


def test_wide_lines_match_the_golden_file() -> None:
    assert_golden("tap_wide.txt", "".join(event_line(e, wide=True) + "\n" for e in sample_events()))


def test_json_matches_the_golden_file() -> None:
    assert_golden("tap.jsonl", "".join(event_json_line(e) + "\n" for e in sample_events()))


def test_every_json_line_is_an_object_with_headers_for_requests() -> None:
    first = json.loads(event_json_line(sample_events()[0]))
    assert first["requestInitEvent"]["headers"][1] == {"name": "authorization", "value": "[redacted]"}
    assert first["proxyDirection"] == "INBOUND"


def test_req_line_has_linkerds_shape() -> None:
    line = event_line(sample_events()[0])
    assert line == (
        "req id=3141592:7 proxy=in  src=10.0.0.5:41236 dst=10.0.1.7:8080 tls=true "
        ":method=POST :authority=web.emojivoto:8080 :path=/emojivoto.v1.EmojiService/ListAll"
    )
