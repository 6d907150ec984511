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
        for attempt in range(3):  # a free port can be taken by another process before the proxy binds it
            proxy = ProxyProcess(env)
            try:
                proxy.start()
            except RuntimeError as exc:
                if "in use" not in str(exc) or attempt == 2:
                    raise
                continue
            started.append(proxy)
            return proxy
        raise AssertionError("unreachable")

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def proxy(start_proxy: Callable[..., ProxyProcess], upstream: UpstreamServer) -> ProxyProcess:
    """A proxy whose inbound side forwards to the ``upstream`` application."""
    return start_proxy(LIGHTMESH_PROXY_INBOUND_FORWARD=upstream.addr)
