"""The real controller with a bench-only discovery source fed change by change on stdin.

``destination_scale.py --source pipe`` runs this instead of ``lightmesh controller`` to
measure the destination service (directory, per-stream diffs, grpclib sends) without the
file source: the registry is read once at start-up by the file source, as usual, then
the orchestrator writes one line per change on this process's stdin::

    add svc-0007.bench.svc.cluster.local:80 10.1.39.16:8080
    remove svc-0003.bench.svc.cluster.local:80 10.1.0.3:8080

:class:`PipeSource` applies each line with ``Directory.set_service`` (the shape a
Kubernetes watch would have: one service at a time, no re-parse of the whole registry).
Everything else (listeners, ``Destination`` service, metrics, shutdown on SIGTERM) is
``lightmesh.controller.main.Controller`` unchanged. Same flags as ``lightmesh controller``
for the ones the bench uses.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from lightmesh.cli.controller import setup_logging
from lightmesh.controller.directory import Directory, EndpointSink
from lightmesh.controller.endpoints import Endpoint, Service
from lightmesh.controller.main import Controller, ControllerConfig
from lightmesh.core.addr import parse_socket_addr

log = logging.getLogger("bench.pipe")


class PipeSource:
    """Changes from stdin, one ``set_service`` each; never re-reads the registry file."""

    name = "pipe"

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.applied = 0

    async def run(self, sink: EndpointSink) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            self.apply(sink, line.decode())
        log.info("pipe source: stdin closed after %d changes", self.applied)

    def apply(self, sink: EndpointSink, line: str) -> None:
        kind, key, text = line.split()
        service = self.directory.get(key)
        if service is None:
            log.warning("pipe source: unknown service %s", key)
            return
        addr = parse_socket_addr(text)
        endpoints = dict(service.endpoints)
        if kind == "add":
            endpoints[addr] = Endpoint(addr)
        else:
            endpoints.pop(addr, None)
        sink.set_service(key, Service(service.name, endpoints))
        self.applied += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--registry", type=Path, required=True)
    ap.add_argument("--proxy-api-addr", required=True)
    ap.add_argument("--admin-addr", required=True)
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--registry-poll-interval", type=float, default=1.0)  # accepted, unused
    args = ap.parse_args()
    setup_logging(args.log_level)
    config = ControllerConfig(
        registry=args.registry,
        proxy_api_addr=parse_socket_addr(args.proxy_api_addr),
        admin_addr=parse_socket_addr(args.admin_addr),
    )
    controller = Controller(config)
    controller.load()
    controller.source = PipeSource(controller.directory)  # type: ignore[assignment]
    try:
        import uvloop
    except ImportError:
        asyncio.run(controller.serve())
    else:
        uvloop.run(controller.serve())


if __name__ == "__main__":
    main()
