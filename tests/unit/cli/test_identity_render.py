"""``lightmesh identity`` output, against a golden file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lightmesh.cli.identity import render

GOLDEN = Path(__file__).parent / "golden" / "identity.txt"
INFO = {
    "identity": "web.shop.serviceaccount.identity.lightmesh.cluster.local",
    "issuer": "CN=identity.lightmesh.cluster.local",
    "not_before": "2026-11-26T05:03:34Z",
    "not_after": "2026-11-27T05:03:54Z",
    "serial": "5a1f00c0ffee",
}


def test_the_certificate_is_printed_as_in_the_golden_file() -> None:
    now = dt.datetime(2026, 11, 26, 5, 4, 30, tzinfo=dt.UTC)
    assert render(INFO, now) + "\n" == GOLDEN.read_text()


def test_an_expired_certificate_says_so() -> None:
    now = dt.datetime(2026, 11, 29, 5, 3, 54, tzinfo=dt.UTC)
    assert render(INFO, now).endswith("(EXPIRED 2d0h ago)")
