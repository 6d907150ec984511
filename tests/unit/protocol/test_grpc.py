"""gRPC deadlines and statuses: ``grpc-timeout`` parsing and encoding, error heads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightmesh.protocol import grpc


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (b"1H", 3600.0),
        (b"2M", 120.0),
        (b"3S", 3.0),
        (b"200m", 0.2),
        (b"1500u", 0.0015),
        (b"1000000n", 0.001),
        (b"99999999S", 99999999.0),
        (b"0m", 0.0),
    ],
)
def test_valid_timeouts_parse_to_seconds(value: bytes, seconds: float) -> None:
    assert grpc.parse_timeout(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", [b"", b"m", b"10", b"123456789m", b"-1S", b"1.5S", b"10s", b"10 S", b" 1S", b"1x", b"\xff"]
)
def test_malformed_timeouts_are_rejected(value: bytes) -> None:
    assert grpc.parse_timeout(value) is None


@given(st.binary(max_size=12))
def test_parsing_never_raises(value: bytes) -> None:
    result = grpc.parse_timeout(value)
    assert result is None or result >= 0


@given(st.floats(min_value=0, max_value=10**9, allow_nan=False))
def test_encoded_timeout_is_valid_and_never_longer(seconds: float) -> None:
    encoded = grpc.encode_timeout(seconds)
    parsed = grpc.parse_timeout(encoded)
    assert parsed is not None
    assert len(encoded) <= 9
    assert parsed <= seconds * (1 + 1e-12)


def test_remaining_time_keeps_microsecond_precision_under_100_seconds() -> None:
    assert grpc.encode_timeout(0.1999) == b"199900u"
    assert grpc.encode_timeout(150.0) == b"150000m"


def test_negative_remaining_time_encodes_as_zero() -> None:
    assert grpc.encode_timeout(-0.5) == b"0u"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"content-type", b"application/grpc")], True),
        ([(b"content-type", b"application/grpc+proto")], True),
        ([(b"content-type", b"application/json")], False),
        ([], False),
    ],
)
def test_grpc_calls_are_recognised_by_content_type(
    headers: list[tuple[bytes, bytes]], expected: bool
) -> None:
    assert grpc.is_grpc(headers) is expected


@pytest.mark.parametrize(
    ("status", "code"), [(502, 14), (503, 14), (504, 14), (429, 14), (400, 13), (404, 12), (500, 2)]
)
def test_http_statuses_map_to_grpc_codes_like_grpc_clients_do(status: int, code: int) -> None:
    assert grpc.status_for_http(status) == code


def test_error_heads_percent_encode_the_message() -> None:
    headers = dict(grpc.error_headers(14, "connect to 10.0.0.1:80 failed: 100% é"))
    assert headers[b"grpc-status"] == b"14"
    assert headers[b"content-type"] == b"application/grpc"
    assert headers[b"grpc-message"] == b"connect to 10.0.0.1:80 failed: 100%25 %C3%A9"


def test_status_of_reads_grpc_status_and_calls_a_non_number_unknown() -> None:
    assert grpc.status_of([(b"grpc-message", b"x"), (b"grpc-status", b"14")]) == 14
    assert grpc.status_of([(b"grpc-status", b"oops")]) == grpc.UNKNOWN
    assert grpc.status_of([(b"grpc-status", b"16")]) == 16


@pytest.mark.parametrize("value", [b"17", b"99", b"1" * 5000, b"-1", b" 1", b"", b"\xd9\xa1"])
def test_a_grpc_status_that_is_not_one_of_grpcs_codes_is_unknown(value: bytes) -> None:
    assert grpc.status_of([(b"grpc-status", value)]) == grpc.UNKNOWN
    assert grpc.status_of([(b"content-type", b"application/grpc")]) is None
    assert grpc.status_of(None) is None
