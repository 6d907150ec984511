"""Two meshed workloads with mutual TLS: a controller with an identity directory and two proxies.

:class:`Mesh` builds, under a test's ``tmp_path``: an identity directory made with the
real ``lightmesh identity init``/``token`` commands, a registry whose service ``web``
is the server proxy's inbound listener (``identity:`` the server's identity,
``protocol: h2``), a controller serving both Destination and Identity, a **server**
proxy (identity ``web.default``) forwarding to the application, and a **client** proxy
(identity ``client.default``) whose outbound listener the test talks to. Every
process is stopped by PID at teardown.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.controller import ControllerProcess, write_atomically
from tests.support.h1_peers import ISOLATED
from tests.support.identity import identity_dir, name
from tests.support.proxy import ProxyProcess

WEB = name("web", "default")
CLIENT = name("client", "default")


def registry_text(inbound: str, identity: str | None = WEB, extra: str = "") -> str:
    text = "services:\n  - name: web\n    namespace: default\n    port: 80\n    endpoints:\n"
    text += f"      - address: {inbound}\n        protocol: h2\n"
    if identity:
        text += f"        identity: {identity}\n"
    return text + extra


class Mesh:
    def __init__(self, tmp: Path, app: str, lifetime: str = "24h", skew: str = "20s") -> None:
        self.tmp = tmp
        self.app = app
        self.dir = tmp / "identity"
        self.tokens = identity_dir(self.dir, ("web", "default"), ("client", "default"))
        config = (self.dir / "identity.yaml").read_text()
        config = config.replace("issuance_lifetime: 24h", f"issuance_lifetime: {lifetime}")
        (self.dir / "identity.yaml").write_text(
            config.replace("clock_skew_allowance: 20s", f"clock_skew_allowance: {skew}")
        )
        for workload, token in self.tokens.items():
            (tmp / f"{workload}.token").write_text(token + "\n")
        self.anchors = tmp / "proxy-trust-anchors.pem"
        self.anchors.write_bytes((self.dir / "trust-anchors.pem").read_bytes())
        self.registry = tmp / "mesh-registry.yaml"
        self.controller: ControllerProcess | None = None
        self.proxies: list[ProxyProcess] = []

    def proxy_env(self, workload: str, identity: str | None) -> dict[str, str]:
        assert self.controller is not None
        env = {**ISOLATED, "LIGHTMESH_PROXY_CONTROLLER_ADDR": self.controller.api}
        if identity is not None:
            env |= {
                "LIGHTMESH_PROXY_IDENTITY_LOCAL_NAME": identity,
                "LIGHTMESH_PROXY_IDENTITY_TOKEN_FILE": str(self.tmp / f"{workload}.token"),
                "LIGHTMESH_PROXY_IDENTITY_TRUST_ANCHORS": str(self.anchors),
            }
        return env

    def start(
        self,
        server_identity: str | None = WEB,
        advertised: str | None = WEB,
        client_identity: str | None = CLIENT,
        client_env: dict[str, str] | None = None,
    ) -> tuple[ProxyProcess, ProxyProcess]:
        """Start controller, server proxy and client proxy; returns ``(client, server)``."""
        server = ProxyProcess({})
        write_atomically(self.registry, registry_text(server.inbound, advertised))
        self.controller = ControllerProcess(self.registry, "--identity-dir", str(self.dir)).start()
        server.env |= {
            **self.proxy_env("web.default", server_identity),
            "LIGHTMESH_PROXY_INBOUND_FORWARD": self.app,
        }
        self.proxies.append(server)
        server.start()
        client = ProxyProcess({**self.proxy_env("client.default", client_identity), **(client_env or {})})
        self.proxies.append(client)
        client.start()
        return client, server

    def stop(self) -> None:
        for proxy in self.proxies:
            if proxy.proc is not None:
                proxy.stop()
        if self.controller is not None and self.controller.proc is not None:
            self.controller.stop()
