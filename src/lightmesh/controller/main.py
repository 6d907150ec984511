"""The controller process: load the discovery source, serve the proxy API and the admin port.

:func:`run` loads the discovery source first: the file registry (``source="file"``, the
default; a missing or invalid file raises ``RegistryError`` before anything listens) or
the Kubernetes client configuration (``source="kubernetes"``; an unusable one raises
``SourceError``). It then serves on one event loop (uvloop when installed): the
Destination and Registry services (grpclib) on ``proxy_api_addr`` (proxies announce
themselves there; ``Identity.Certify`` is served there too when ``identity_dir`` is set),
the public API for the CLI on ``public_api_addr``, the admin listener on ``admin_addr``
and the source's loop (file reloads, or Kubernetes list-and-watch). ``/ready`` turns 200
once the listeners are bound and the source has synced. SIGTERM or SIGINT stops it:
readiness drops, listeners close, open streams are cancelled (grpclib ends them with a
status) and the process exits within :data:`SHUTDOWN_GRACE` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from grpclib.server import Server

from lightmesh.controller.admin import AdminRoutes, start_admin
from lightmesh.controller.announce import RegistryService
from lightmesh.controller.destination import DestinationService
from lightmesh.controller.directory import Directory
from lightmesh.controller.metrics import ControllerStats, make_registry, render
from lightmesh.controller.profiles import ProfileBook
from lightmesh.controller.proxies import ProxyList
from lightmesh.controller.public import PublicApi
from lightmesh.controller.registry import RegistryError
from lightmesh.controller.sources.file import FileRegistrySource
from lightmesh.core.addr import SocketAddr
from lightmesh.core.names import DEFAULT_CLUSTER_DOMAIN

if TYPE_CHECKING:
    from lightmesh.controller.identity.pki import Issuer
    from lightmesh.controller.identity.service import IdentityService
    from lightmesh.controller.sources.kubernetes import KubernetesSource

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0
DEFAULT_PROXY_API_ADDR = SocketAddr("127.0.0.1", 8086)
DEFAULT_ADMIN_ADDR = SocketAddr("127.0.0.1", 9990)
DEFAULT_PUBLIC_API_ADDR = SocketAddr("127.0.0.1", 8085)


class IdentityError(ValueError):
    """The identity directory cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    registry: Path
    proxy_api_addr: SocketAddr = DEFAULT_PROXY_API_ADDR
    admin_addr: SocketAddr = DEFAULT_ADMIN_ADDR
    registry_poll_interval: float = 1.0
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    source: Literal["file", "kubernetes"] = "file"
    kubeconfig: Path | None = None  # None: in-cluster, else $KUBECONFIG or ~/.kube/config
    identity_dir: Path | None = None  # None: no identity service
    public_api_addr: SocketAddr = DEFAULT_PUBLIC_API_ADDR


class Controller:
    def __init__(self, config: ControllerConfig) -> None:
        self.config = config
        self.stats = ControllerStats()
        self.directory = Directory()
        self.profiles = ProfileBook()  # service profiles, fed by the source
        self.proxies = ProxyList()
        self.source: FileRegistrySource | KubernetesSource
        if config.source == "kubernetes":  # imported only when used: lightkube is not small
            from lightmesh.controller.sources.kubernetes import KubernetesSource

            self.source = KubernetesSource(
                self.stats, config.kubeconfig, config.cluster_domain, profiles=self.profiles
            )
        else:
            self.source = FileRegistrySource(
                config.registry,
                self.stats,
                config.registry_poll_interval,
                config.cluster_domain,
                profiles=self.profiles,
            )
        self.metrics = make_registry(self.stats, self.directory, self.source.name)
        self.listening = False
        self.identity: IdentityService | None = None

    def load_identity(self) -> None:
        """Load the identity directory: ``IdentityError`` when it cannot be used."""
        directory = self.config.identity_dir
        if directory is None:
            return
        from lightmesh.controller.identity.pki import PkiError
        from lightmesh.controller.identity.service import IdentityService, utc_now
        from lightmesh.controller.identity.store import IssuerFiles
        from lightmesh.controller.identity.tokens import BootstrapTokens

        try:
            issuer = IssuerFiles(directory)
            loaded = issuer.load(utc_now())
        except FileNotFoundError as exc:
            raise IdentityError(
                f"--identity-dir {directory}: missing {exc.filename} (create the files with "
                f"`lightmesh identity init --dir {directory}`)"
            ) from None
        except (OSError, ValueError, PkiError) as exc:
            raise IdentityError(f"--identity-dir {directory}: {exc}") from None
        self.identity = IdentityService(issuer, BootstrapTokens(directory))
        self.stats.certify = self.identity.outcomes
        self.identity.on_issuer = self._issuer_used
        self._issuer_used(loaded)
        log.info(
            "identity service: issuer %s (until %s), trust domain %s",
            loaded.cert.subject.rfc4514_string(),
            loaded.not_after.isoformat(),
            issuer.config.trust_domain,
        )

    def load(self) -> None:
        """Load the source: ``RegistryError`` for a registry that cannot be used (also when
        the file cannot be read), ``SourceError`` for an unusable Kubernetes configuration."""
        if not isinstance(self.source, FileRegistrySource):
            self.source.load()
            return
        try:
            services = self.source.load()
        except OSError as exc:
            path = self.config.registry
            raise RegistryError(str(path), [f"{path}: cannot read: {exc.strerror or exc}"]) from None
        self.directory.replace_all(services)
        log.info(
            "registry %s loaded: %d services, %d endpoints",
            self.config.registry,
            self.directory.service_count,
            self.directory.endpoint_count,
        )

    def _issuer_used(self, issuer: Issuer) -> None:
        self.stats.issuer_expiry = issuer.not_after.timestamp()

    def is_ready(self) -> bool:
        return self.listening and self.directory.synced

    async def serve(self) -> None:
        cfg = self.config
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        services: list[Any] = [
            DestinationService(self.directory, self.stats, cfg.cluster_domain, self.profiles),
            RegistryService(self.proxies),
        ]
        if self.identity is not None:
            services.append(self.identity)
        grpc = Server(services)
        public = Server([PublicApi(self.proxies, self.directory)])
        admin: asyncio.Server | None = None
        started: list[Server] = []
        source_task = asyncio.create_task(self.source.run(self.directory))
        try:
            await grpc.start(cfg.proxy_api_addr.host, cfg.proxy_api_addr.port)
            started.append(grpc)
            await public.start(cfg.public_api_addr.host, cfg.public_api_addr.port)
            started.append(public)
            routes = AdminRoutes(lambda: render(self.metrics), self.is_ready)
            admin = await start_admin(cfg.admin_addr, routes)
            self.listening = True
            log.info(
                "proxy API on %s, public API on %s, admin on %s",
                cfg.proxy_api_addr,
                cfg.public_api_addr,
                cfg.admin_addr,
            )
            await stop.wait()
            log.info("shutting down")
        finally:
            self.listening = False
            source_task.cancel()
            for server in started:
                server.close()
            if admin is not None:
                admin.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHUTDOWN_GRACE):
                    for server in started:
                        await server.wait_closed()
                    if admin is not None:
                        await admin.wait_closed()
            with contextlib.suppress(asyncio.CancelledError):
                await source_task


def run(config: ControllerConfig) -> None:
    """Load the discovery source, then serve until SIGTERM/SIGINT.

    Raises ``RegistryError`` when the registry cannot be used, ``SourceError`` when the
    Kubernetes configuration cannot, ``IdentityError`` when the identity directory cannot,
    ``OSError`` when a listener cannot be bound.
    """
    controller = Controller(config)
    controller.load()
    controller.load_identity()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(controller.serve())
    else:
        uvloop.run(controller.serve())
