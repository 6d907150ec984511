"""Proxy errors: the class decides the HTTP status, the reason says why."""

from __future__ import annotations

import pytest

from lightmesh.core.errors import (
    BadRequest,
    ConnectTimeout,
    HeadersTooLarge,
    NoDestination,
    ProxyError,
    ResponseTimeout,
    Unavailable,
    UpstreamError,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ProxyError, 502),
        (BadRequest, 400),
        (HeadersTooLarge, 431),
        (UpstreamError, 502),
        (ConnectTimeout, 504),
        (ResponseTimeout, 504),
        (Unavailable, 503),
        (NoDestination, 400),
    ],
)
def test_each_error_maps_to_its_status(error: type[ProxyError], status: int) -> None:
    exc = error("why")
    assert exc.status == status
    assert exc.reason == str(exc) == "why"
    assert isinstance(exc, ProxyError)
