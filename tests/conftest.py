"""Shared fixtures: real proxy processes and a threaded upstream application."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.proxy import ProxyProcess
from tests.support.upstream import UpstreamServer


@pytest.fixture
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer() as server:
        yield server


@pytest.fixture
def start_proxy() -> Iterator[Callable[..., ProxyProcess]]:
    """``start_proxy(LIGHTMESH_PROXY_X="...")`` starts a proxy; all are stopped at teardown."""
    started: list[ProxyProcess] = []

    def start(**env: str) -> ProxyProcess:
        proxy = ProxyProcess(env).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def proxy(start_proxy: Callable[..., ProxyProcess], upstream: UpstreamServer) -> ProxyProcess:
    """A proxy whose inbound side forwards to the ``upstream`` application."""
    return start_proxy(LIGHTMESH_PROXY_INBOUND_FORWARD=upstream.addr)
