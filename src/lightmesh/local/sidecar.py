"""One instance of a service (a "pod"): its addresses, and the settings of its app and sidecar.

Without ``--netns`` every listener is on 127.0.0.1 at a free port: the app listens on
``$PORT``, the sidecar's inbound listener fronts it (``INBOUND_FORWARD``), its outbound
listener is the app's ``http_proxy``. With ``--netns`` the instance has its own network
namespace and IP: the app listens on the service port, the sidecar on Linkerd's ports
(4143 inbound, 4140 outbound, 4191 admin) and iptables sends traffic through it.

:func:`sidecar_env` is the one place that builds a sidecar's ``LIGHTMESH_PROXY_*``
settings (tap, and identity once the instance has a token file), :func:`app_env` the app's
variables, :func:`controller_argv` the controller's command line.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lightmesh.local.meshfile import ServiceSpec
from lightmesh.local.registry import identity

PROXY_PREFIX = "LIGHTMESH_PROXY_"
PROXY_UID = 2102  # Linkerd's proxy user: its traffic is exempt from the redirect rules
NETNS_INBOUND, NETNS_OUTBOUND, NETNS_ADMIN, NETNS_TAP = 4143, 4140, 4191, 4190
SHUTDOWN_GRACE = "5s"  # `up` stops everything on Ctrl-C; in-flight requests get this long


@dataclass
class Instance:
    service: ServiceSpec
    index: int
    host: str  # 127.0.0.1, or the pod's IP with --netns
    app_port: int
    inbound_port: int
    outbound_port: int
    admin_port: int
    tap_port: int
    controller_addr: str
    netns: str | None = None  # the network namespace's name with --netns
    token_file: str = ""  # its bootstrap token (empty: the sidecar runs without identity)
    trust_anchors: str = ""  # the mesh's trust bundle
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pod(self) -> str:
        return f"{self.service.name}-{self.index}"

    @property
    def key(self) -> str:
        return f"{self.service.key}/{self.pod}"

    @property
    def address(self) -> str:
        """Where the mesh reaches this instance (its registry endpoint)."""
        return f"{self.host}:{self.app_port if self.netns else self.inbound_port}"

    @property
    def admin_addr(self) -> str:
        return f"{self.host}:{self.admin_port}"

    @property
    def tap_addr(self) -> str:
        return f"{self.host}:{self.tap_port}"

    @property
    def outbound_addr(self) -> str:
        return f"127.0.0.1:{self.outbound_port}"

    @property
    def identity(self) -> str:
        return identity(self.service)

    def describe(self) -> dict[str, str]:
        """This instance's entry in the state file (``up.json``)."""
        return {
            "service": self.service.name,
            "namespace": self.service.namespace,
            "pod": self.pod,
            "address": self.address,
            "app_addr": f"{'127.0.0.1' if self.netns is None else self.host}:{self.app_port}",
            "admin_addr": self.admin_addr,
            "tap_addr": self.tap_addr,
            "outbound_addr": self.outbound_addr,
            "identity": self.identity,
            "netns": self.netns or "",
        }


def base_env() -> dict[str, str]:
    """This process's environment without proxy settings (a sidecar refuses unknown ones)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(PROXY_PREFIX)}


def sidecar_env(instance: Instance) -> dict[str, str]:
    """The sidecar's environment: every ``LIGHTMESH_PROXY_*`` setting it runs with."""
    local = instance.netns is None
    settings = {
        "OUTBOUND_LISTEN_ADDR": instance.outbound_addr,
        "INBOUND_LISTEN_ADDR": f"{'127.0.0.1' if local else '0.0.0.0'}:{instance.inbound_port}",
        "ADMIN_LISTEN_ADDR": f"{'127.0.0.1' if local else '0.0.0.0'}:{instance.admin_port}",
        # with --netns: empty, the app at 127.0.0.1 and the original destination port
        "INBOUND_FORWARD": f"127.0.0.1:{instance.app_port}" if local else "",
        "CONTROLLER_ADDR": instance.controller_addr,
        "NAMESPACE": instance.service.namespace,
        "SHUTDOWN_GRACE_PERIOD": SHUTDOWN_GRACE,
        "TAP_LISTEN_ADDR": f"{'127.0.0.1' if local else '0.0.0.0'}:{instance.tap_port}",
        "SERVICE": instance.service.name,
        "POD": instance.pod,
    }
    if instance.token_file:  # mTLS: certified by the controller's identity service
        settings.update(
            IDENTITY_LOCAL_NAME=instance.identity,
            IDENTITY_TOKEN_FILE=instance.token_file,
            IDENTITY_TRUST_ANCHORS=instance.trust_anchors,
            IDENTITY_ADDR=instance.controller_addr,
        )
    return {**base_env(), **{PROXY_PREFIX + k: v for k, v in settings.items()}}


def app_env(instance: Instance) -> dict[str, str]:
    """The app's environment: ``PORT``, who it is, and (without --netns) how to reach the mesh."""
    svc = instance.service
    env = {
        **base_env(),
        **svc.env,
        "PORT": str(instance.app_port),
        "LIGHTMESH_SERVICE": svc.name,
        "LIGHTMESH_NAMESPACE": svc.namespace,
        "LIGHTMESH_POD": instance.pod,
    }
    if instance.netns is None:
        proxy = f"http://{instance.outbound_addr}"
        env.update(
            LIGHTMESH_OUTBOUND=instance.outbound_addr,
            http_proxy=proxy,
            HTTP_PROXY=proxy,
            no_proxy="localhost,127.0.0.1,::1",
            NO_PROXY="localhost,127.0.0.1,::1",
        )
    else:
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "LIGHTMESH_OUTBOUND"):
            env.pop(name, None)
    return env


def app_argv(instance: Instance) -> list[str]:
    svc = instance.service
    return svc.argv(port=str(instance.app_port), service=svc.name, namespace=svc.namespace, pod=instance.pod)


def sidecar_argv() -> list[str]:
    return [sys.executable, "-m", "lightmesh", "proxy"]


def controller_argv(
    registry: Path, proxy_api_addr: str, admin_addr: str, public_api_addr: str, identity_dir: Path | None
) -> list[str]:
    """The controller's command line: the file registry, its three listeners, the identity service."""
    return [
        sys.executable, "-m", "lightmesh", "controller",
        "--registry", str(registry),
        "--proxy-api-addr", proxy_api_addr,
        "--admin-addr", admin_addr,
        "--public-api-addr", public_api_addr,
        "--registry-poll-interval", "0.2",
        *(["--identity-dir", str(identity_dir)] if identity_dir is not None else []),
    ]  # fmt: skip
