"""``lightmesh stat``, ``routes`` and ``edges``: ask the controller for the proxies, get their
samples (scraping them, or Prometheus with ``--prometheus-url``), compute, print.

The window (``-t``) defaults to 10 s when scraping (the command waits that long
between its two scrapes) and 1 m with Prometheus. "No traffic found." goes to stderr
(exit 0) when no resource matched.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass

from lightmesh.api.gen import public_pb2 as pb
from lightmesh.cli import statformat
from lightmesh.cli.client import ApiClient
from lightmesh.cli.commands import fail, run_api
from lightmesh.cli.promquery import PrometheusError, prometheus_current, prometheus_window
from lightmesh.cli.scrape import scrape, scrape_window
from lightmesh.cli.statrows import Proxy, StatQuery, Windows, edge_rows, route_rows, stat_rows
from lightmesh.cli.target import Target
from lightmesh.core.durations import parse_duration
from lightmesh.core.resources import NAMESPACE, Resource, parse_resource, selects

NO_TRAFFIC = "No traffic found."
OUTPUTS = ("table", "wide", "json")


@dataclass(frozen=True)
class Source:
    """Where samples come from and over which window."""

    seconds: float
    prometheus_url: str = ""

    def window(self, proxies: list[Proxy]) -> Windows:
        if self.prometheus_url:
            return prometheus_window(self.prometheus_url, proxies, self.seconds)
        return scrape_window(proxies, self.seconds, _warn)

    def current(self, proxies: list[Proxy]) -> Windows:
        if self.prometheus_url:
            return prometheus_current(self.prometheus_url, proxies)
        return scrape(proxies, _warn)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def source(window: str, prometheus_url: str) -> Source:
    """``ValueError`` for a bad ``-t``."""
    text = window or ("1m" if prometheus_url else "10s")
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"-t: {exc}") from None
    if seconds <= 0:
        raise ValueError(f"-t must be more than 0, got {text!r}")
    return Source(seconds, prometheus_url)


def resource_arg(flag: str, text: str, name: str = "") -> Resource:
    try:
        return parse_resource(text, name)
    except ValueError as exc:
        raise ValueError(f"{flag}{exc}") from None


def proxies_of(reply: pb.ListProxiesResponse) -> tuple[list[Proxy], dict[tuple[str, str], int]]:
    proxies = [Proxy(p.namespace, p.service, p.pod, p.identity, p.admin_addr) for p in reply.proxies]
    return proxies, {(s.namespace, s.name): s.endpoints for s in reply.services}


def _run(
    command: str, api_flag: str | None, compute: Callable[[list[Proxy], dict[tuple[str, str], int]], str]
) -> int:
    async def body(target: Target) -> int:
        async with ApiClient(target) as client:
            reply = await client.list_proxies()
        proxies, endpoints = proxies_of(reply)
        try:
            text = await asyncio.to_thread(compute, proxies, endpoints)
        except PrometheusError as exc:
            return fail(command, str(exc), 1)
        if not text:
            print(NO_TRAFFIC, file=sys.stderr)
        else:
            sys.stdout.write(text)
        return 0

    return run_api(command, api_flag, body)


def run_stat(
    resource: str,
    name: str,
    namespace: str,
    all_namespaces: bool,
    to: str,
    to_namespace: str,
    from_: str,
    from_namespace: str,
    window: str,
    output: str,
    prometheus_url: str,
    api_flag: str | None,
) -> int:
    try:
        if output not in OUTPUTS:
            raise ValueError(f"-o must be one of {', '.join(OUTPUTS)}, got {output!r}")
        if to and from_:
            raise ValueError("--to and --from cannot be used together")
        query = StatQuery(
            resource_arg("", resource, name),
            "" if all_namespaces else namespace,
            resource_arg("--to: ", to) if to else None,
            to_namespace,
            resource_arg("--from: ", from_) if from_ else None,
            from_namespace,
        )
        src = source(window, prometheus_url)
    except ValueError as exc:
        return fail("stat", str(exc), 2)

    def compute(proxies: list[Proxy], endpoints: dict[tuple[str, str], int]) -> str:
        needed = [
            p
            for p in proxies
            if selects(query.resource, query.namespace, p.ident)
            or (query.from_ is not None and selects(query.from_, from_namespace or query.namespace, p.ident))
        ]
        if not needed:
            return ""
        rows = stat_rows(query, proxies, src.window(needed), endpoints)
        if not rows:
            return ""
        if output == "json":
            return statformat.stat_json(rows, src.seconds)
        namespaces = all_namespaces and query.resource.type != NAMESPACE
        return statformat.stat_table(rows, src.seconds, output == "wide", namespaces)

    return _run("stat", api_flag, compute)


def run_routes(
    resource: str,
    name: str,
    namespace: str,
    to: str,
    to_namespace: str,
    window: str,
    output: str,
    prometheus_url: str,
    api_flag: str | None,
) -> int:
    try:
        if output not in OUTPUTS:
            raise ValueError(f"-o must be one of {', '.join(OUTPUTS)}, got {output!r}")
        target = resource_arg("", resource, name)
        dest = resource_arg("--to: ", to) if to else None
        if dest is not None and not dest.name:
            raise ValueError(f"--to needs TYPE/NAME, got {to!r}")
        src = source(window, prometheus_url)
    except ValueError as exc:
        return fail("routes", str(exc), 2)

    def compute(proxies: list[Proxy], endpoints: dict[tuple[str, str], int]) -> str:
        targets = [p for p in proxies if selects(target, namespace, p.ident)]
        if not targets:
            return ""
        rows = route_rows(targets, src.window(targets), dest, to_namespace)
        if output == "json":
            return statformat.routes_json(rows, src.seconds)
        return statformat.routes_table(rows, src.seconds, output == "wide")

    return _run("routes", api_flag, compute)


def run_edges(
    resource: str,
    namespace: str,
    all_namespaces: bool,
    output: str,
    prometheus_url: str,
    api_flag: str | None,
) -> int:
    try:
        if output not in OUTPUTS:
            raise ValueError(f"-o must be one of {', '.join(OUTPUTS)}, got {output!r}")
        kind = resource_arg("", resource)
        src = source("", prometheus_url)
    except ValueError as exc:
        return fail("edges", str(exc), 2)
    ns = "" if all_namespaces else namespace

    def compute(proxies: list[Proxy], endpoints: dict[tuple[str, str], int]) -> str:
        rows = edge_rows(kind.type, kind.name, ns, proxies, src.current(proxies))
        if not rows:
            return ""
        if output == "json":
            return statformat.edges_json(rows)
        return statformat.edges_table(rows, output == "wide")

    return _run("edges", api_flag, compute)
