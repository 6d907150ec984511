"""``lightmesh controller``: validate the flags, set up logging, run the controller.

Exit codes: 0 after a clean shutdown, 2 for invalid flags, an invalid or missing
registry (every problem is printed), an unusable Kubernetes configuration or an unusable
identity directory, 1 when a listener cannot be bound.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lightmesh import logs
from lightmesh.controller.main import ControllerConfig, IdentityError, run
from lightmesh.controller.registry import RegistryError
from lightmesh.controller.sources import SourceError
from lightmesh.core.addr import parse_socket_addr
from lightmesh.core.names import check_cluster_domain

LOG_LEVELS = ("debug", "info", "warning", "error")
SOURCES = ("file", "kubernetes")


def setup_logging(level: str) -> None:
    # grpclib logs every cancelled stream at info; lightkube's HTTP client every request
    quiet = ("httpx2", "httpcore2") + (("grpclib",) if level.lower() != "debug" else ())
    logs.setup(level, quiet=quiet)


def _config(
    registry: Path,
    proxy_api_addr: str,
    admin_addr: str,
    poll_interval: float,
    cluster_domain: str,
    source: str = "file",
    kubeconfig: Path | None = None,
    identity_dir: Path | None = None,
    public_api_addr: str = "127.0.0.1:8085",
) -> ControllerConfig:
    problems = []
    if source not in SOURCES:
        problems.append(f"--source: expected one of {', '.join(SOURCES)}, got {source!r}")
    addrs = {}
    flags = (
        ("--proxy-api-addr", proxy_api_addr),
        ("--admin-addr", admin_addr),
        ("--public-api-addr", public_api_addr),
    )
    for flag, text in flags:
        try:
            addrs[flag] = parse_socket_addr(text)
        except ValueError as exc:
            problems.append(f"{flag}: {exc}")
    if not poll_interval > 0:
        problems.append(f"--registry-poll-interval: must be more than 0, got {poll_interval}")
    try:
        cluster_domain = check_cluster_domain(cluster_domain)
    except ValueError as exc:
        problems.append(f"--cluster-domain: {exc}")
    if problems:
        raise ValueError("; ".join(problems))
    return ControllerConfig(
        registry,
        addrs["--proxy-api-addr"],
        addrs["--admin-addr"],
        poll_interval,
        cluster_domain,
        "kubernetes" if source == "kubernetes" else "file",
        kubeconfig,
        identity_dir,
        addrs["--public-api-addr"],
    )


def run_controller(
    registry: Path,
    proxy_api_addr: str,
    admin_addr: str,
    log_level: str,
    poll_interval: float,
    cluster_domain: str,
    source: str = "file",
    kubeconfig: Path | None = None,
    identity_dir: Path | None = None,
    public_api_addr: str = "127.0.0.1:8085",
) -> int:
    if log_level.lower() not in LOG_LEVELS:
        print(f"lightmesh controller: --log-level: expected one of {', '.join(LOG_LEVELS)}", file=sys.stderr)
        return 2
    try:
        config = _config(
            registry,
            proxy_api_addr,
            admin_addr,
            poll_interval,
            cluster_domain,
            source,
            kubeconfig,
            identity_dir,
            public_api_addr,
        )
    except ValueError as exc:
        print(f"lightmesh controller: {exc}", file=sys.stderr)
        return 2
    setup_logging(log_level)
    try:
        run(config)
    except (RegistryError, SourceError, IdentityError) as exc:
        print(f"lightmesh controller: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"lightmesh controller: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
