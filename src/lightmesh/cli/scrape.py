"""Getting samples for the stats commands: scrape the proxies, or ask Prometheus.

:func:`fetch` is one HTTP GET that ignores ``http_proxy`` settings (the admin
listeners are dialled directly). :func:`scrape` reads ``/metrics`` from many proxies
at once (threads; each with a timeout) and reports the ones that failed instead of
failing the command. :func:`scrape_window` scrapes twice, ``seconds`` apart, and
returns each proxy's window. With a Prometheus URL, :mod:`lightmesh.cli.promquery`
answers the same question from stored series.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from lightmesh.cli.samples import Sample, parse, window
from lightmesh.cli.statrows import Proxy, Windows

TIMEOUT = 5.0
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
Warn = Callable[[str], None]


def fetch(url: str, timeout: float = TIMEOUT) -> str:
    with _opener.open(url, timeout=timeout) as response:
        return bytes(response.read()).decode("utf-8", "replace")


def _admin_url(addr: str, path: str) -> str:
    return f"http://{addr}{path}"


def scrape(proxies: list[Proxy], warn: Warn) -> dict[tuple[str, str], list[Sample]]:
    """Each reachable proxy's current samples; unreachable ones are reported with ``warn``."""
    if not proxies:
        return {}

    def one(p: Proxy) -> tuple[Proxy, list[Sample] | str]:
        try:
            return p, parse(fetch(_admin_url(p.admin_addr, "/metrics")))
        except (OSError, ValueError) as exc:
            return p, str(exc)

    out = {}
    with ThreadPoolExecutor(max_workers=min(32, len(proxies))) as pool:
        for p, result in pool.map(one, proxies):
            if isinstance(result, str):
                warn(f"cannot scrape {p.namespace}/{p.pod} at {p.admin_addr}: {result}")
            else:
                out[p.key] = result
    return out


def scrape_window(proxies: list[Proxy], seconds: float, warn: Warn) -> Windows:
    before = scrape(proxies, warn)
    time.sleep(seconds)
    after = scrape(proxies, warn)
    return {key: window(before.get(key, []), samples) for key, samples in after.items()}


def ready(proxy: Proxy) -> tuple[bool, str]:
    """Whether the proxy's ``/ready`` answers 200 (and what went wrong if not)."""
    try:
        fetch(_admin_url(proxy.admin_addr, "/ready"))
    except OSError as exc:
        return False, str(exc)
    return True, ""
