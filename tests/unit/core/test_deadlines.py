"""The lightmesh-deadline header: remaining milliseconds, never growing hop by hop."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lightmesh.core.deadlines import encode_deadline, parse_deadline


@given(st.binary(max_size=16))
def test_parse_never_raises_and_is_non_negative(value: bytes) -> None:
    seconds = parse_deadline(value)
    assert seconds is None or seconds >= 0


@given(st.floats(0, 1e6))
def test_round_trip_rounds_down(seconds: float) -> None:
    back = parse_deadline(encode_deadline(seconds))
    assert back is not None and back <= seconds and seconds - back < 0.001 + 1e-9


def test_values() -> None:
    assert parse_deadline(b"1500") == 1.5
    assert parse_deadline(b"-1") is None
    assert encode_deadline(-3) == b"0"
