"""Fixtures shared by the integration tests: a tracking app and a proxy in front of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.h1_peers import TrackingUpstream, start_isolated
from tests.support.proxy import ProxyProcess


@pytest.fixture
def app() -> Iterator[TrackingUpstream]:
    with TrackingUpstream() as server:
        yield server


@pytest.fixture
def mesh(request: pytest.FixtureRequest, app: TrackingUpstream) -> ProxyProcess:
    """A proxy whose inbound side forwards to ``app``."""
    return start_isolated(request, LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr)
