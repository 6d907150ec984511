"""Configuration durations: a number with a unit; a bare number only for zero."""

from __future__ import annotations

import pytest

from lightmesh.core.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("100ms", 0.1),
        ("10s", 10.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1.5s", 1.5),
        ("0ms", 0.0),
        (" 10S ", 10.0),
    ],
)
def test_durations_with_units_are_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_bare_zero_is_allowed() -> None:
    assert parse_duration("0") == 0.0


@pytest.mark.parametrize("text", ["10", "1.5", "0.0", "00"])
def test_bare_numbers_other_than_zero_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="use a number with ms, s, m, h or d"):
        parse_duration(text)


@pytest.mark.parametrize(
    "text", ["", "s", "ms", "10x", "ten s", "10 s", "1e3ms", "1_0s", "+5s", "nans", "infs", "\u0661\u0660s"]
)
def test_malformed_durations_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_negative_durations_are_rejected() -> None:
    with pytest.raises(ValueError, match="negative duration '-5s'"):
        parse_duration("-5s")
