"""Fixtures shared by the integration tests: a tracking app and a proxy in front of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.controller import ControllerProcess, launch
from tests.support.h1_peers import TrackingUpstream, start_isolated
from tests.support.proxy import ProxyProcess
from tests.support.upstream import UpstreamServer


@pytest.fixture
def app() -> Iterator[TrackingUpstream]:
    with TrackingUpstream() as server:
        yield server


@pytest.fixture
def mesh(request: pytest.FixtureRequest, app: TrackingUpstream) -> ProxyProcess:
    """A proxy whose inbound side forwards to ``app``."""
    return start_isolated(request, LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr)


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[ControllerProcess]:
    """A controller over an empty registry (proxies announce themselves to it)."""
    path = tmp_path / "mesh-registry.yaml"
    path.write_text("services: []\n")
    started = launch(path)
    yield started
    started.stop()


@pytest.fixture
def meshed(
    start_proxy: Callable[..., ProxyProcess], controller: ControllerProcess, upstream: UpstreamServer
) -> Callable[[str, str], ProxyProcess]:
    """``meshed(service, pod)``: a proxy announced to ``controller``, forwarding to ``upstream``."""

    def start(service: str, pod: str) -> ProxyProcess:
        return start_proxy(
            LIGHTMESH_PROXY_INBOUND_FORWARD=upstream.addr,
            LIGHTMESH_PROXY_CONTROLLER_ADDR=controller.api,
            LIGHTMESH_PROXY_SERVICE=service,
            LIGHTMESH_PROXY_POD=pod,
        )

    return start
