"""Response classification: HTTP 5xx fails; a gRPC status, when present, decides."""

from __future__ import annotations

import pytest

from lightmesh.core.classify import FAILURE, SUCCESS, classify


@pytest.mark.parametrize("status", [200, 204, 301, 404, 499])
def test_non_5xx_statuses_are_success(status: int) -> None:
    assert classify(status) == SUCCESS


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
def test_5xx_statuses_are_failure(status: int) -> None:
    assert classify(status) == FAILURE


def test_grpc_status_zero_is_success_even_on_a_5xx() -> None:
    assert classify(500, grpc_status=0) == SUCCESS


@pytest.mark.parametrize("grpc_status", [1, 2, 13, 14, 16])
def test_non_zero_grpc_status_is_failure_even_on_200(grpc_status: int) -> None:
    assert classify(200, grpc_status=grpc_status) == FAILURE


def test_labels_are_linkerds() -> None:
    assert (SUCCESS, FAILURE) == ("success", "failure")
