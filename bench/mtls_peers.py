"""The two-hop mesh paths for bench/mtls.py: lightmesh (mTLS or plaintext) and HAProxy (TLS or plain).

Every path is client -> hop 1 (the client's sidecar) -> hop 2 (the server's sidecar) ->
upstream, with both hops in separate processes on the proxy CPUs:

* ``lightmesh-mtls``: a controller serving Destination and Identity from a fresh
  identity directory (``lightmesh identity init``/``token``); the server proxy's
  inbound listener is the endpoint of ``web`` with its identity, so the client proxy
  reaches it over mutual TLS 1.3 (HTTP/1 carried over one HTTP/2 connection, as
  between meshed proxies); the server proxy forwards to the upstream.
* ``lightmesh-plain``: the same without identities (plaintext HTTP/2 between the proxies).
* ``haproxy-tls``: HAProxy A (plain in, ``ssl verify required`` with a client certificate
  out, ALPN ``http/1.1``) -> HAProxy B (``ssl crt ... verify required`` in, plain out), TLS
  1.3 only, ECDSA P-256 certificates from the same issuer.
* ``haproxy-plain``: the same without TLS.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench import peers, procs
from bench.peers import Context
from bench.procs import LOOPBACK, Managed

SRC = peers.REPO_ROOT / "src"
sys.path.insert(0, str(SRC))

WEB = "web.default.serviceaccount.identity.lightmesh.cluster.local"
CLIENT = "client.default.serviceaccount.identity.lightmesh.cluster.local"
HOST = "web:80"  # the authority the client sends; the controller resolves it

# Prefix for a proxy's argv, given its name (e.g. ``valgrind --tool=callgrind ...``); None = run it bare.
Wrap = Callable[[str], list[str]] | None


def _lightmesh(*args: str) -> str:
    _, env = peers.lightmesh_argv()
    done = subprocess.run(
        [sys.executable, "-m", "lightmesh", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def make_identity(tmp: Path) -> dict[str, Path]:
    """Identity directory, bootstrap tokens and HAProxy's PEM bundles; returns the paths."""
    from lightmesh.controller.identity import pki, store

    directory = tmp / "identity"
    _lightmesh("identity", "init", "--dir", str(directory))
    paths = {"dir": directory, "anchors": directory / "trust-anchors.pem"}
    for sa in ("web", "client"):
        paths[f"{sa}.token"] = tmp / f"{sa}.token"
        paths[f"{sa}.token"].write_text(
            _lightmesh("identity", "token", sa, "--namespace", "default", "--dir", str(directory))
        )
    issuer = store.IssuerFiles(directory).load(dt.datetime.now(dt.UTC))
    for sa, name in (("web", WEB), ("client", CLIENT)):
        key = pki.new_key()
        csr = _csr(key, name)
        leaf_der, chain, _ = issuer.certify(name, csr, dt.datetime.now(dt.UTC))
        from cryptography import x509

        pem = pki.pem(x509.load_der_x509_certificate(leaf_der)) + pki.pem(issuer.cert)
        paths[f"{sa}.pem"] = tmp / f"haproxy-{sa}.pem"
        paths[f"{sa}.pem"].write_bytes(pem + pki.key_pem(key))
        del chain
    return paths


def _csr(key: object, name: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding

    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)  # type: ignore[arg-type]


def start_controller(tmp: Path, ids: dict[str, Path], server_inbound: int, mtls: bool) -> tuple[Managed, int]:
    api, admin = procs.free_port(), procs.free_port()
    registry = tmp / f"registry-{api}.yaml"
    identity = f"\n        identity: {WEB}" if mtls else ""
    registry.write_text(
        "services:\n  - name: web\n    namespace: default\n    port: 80\n    endpoints:\n"
        f"      - address: {LOOPBACK}:{server_inbound}\n        protocol: h2{identity}\n"
    )
    argv, env = peers.lightmesh_argv()
    argv = [*argv[:-1], "controller", "--registry", str(registry), "--proxy-api-addr", f"{LOOPBACK}:{api}",
            "--admin-addr", f"{LOOPBACK}:{admin}", "--public-api-addr", f"{LOOPBACK}:{procs.free_port()}",
            "--log-level", "warning"]  # fmt: skip
    if mtls:
        argv += ["--identity-dir", str(ids["dir"])]
    proc = Managed("controller", argv, tmp / "controller.log").start(None, env=env, cwd=tmp)
    procs.wait_http_ok(proc, admin, "/ready", timeout_s=30.0)
    return proc, api


def _proxy(
    tmp: Path, name: str, inbound: int, env_extra: dict[str, str], cpus: set[int] | None, wrap: Wrap = None
) -> tuple[Managed, int, int]:
    outbound, admin = procs.free_port(), procs.free_port()
    argv, env = peers.lightmesh_argv()
    if wrap is not None:
        argv = [*wrap(name), *argv]
    env.update({
        "LIGHTMESH_PROXY_INBOUND_LISTEN_ADDR": f"{LOOPBACK}:{inbound}",
        "LIGHTMESH_PROXY_OUTBOUND_LISTEN_ADDR": f"{LOOPBACK}:{outbound}",
        "LIGHTMESH_PROXY_ADMIN_LISTEN_ADDR": f"{LOOPBACK}:{admin}",
        "LIGHTMESH_PROXY_TAP_LISTEN_ADDR": f"{LOOPBACK}:{procs.free_port()}",  # own tap port
        "LIGHTMESH_PROXY_LOG_LEVEL": "warning",
        **env_extra,
    })  # fmt: skip
    proc = Managed(name, argv, tmp / f"{name}.log").start(cpus, env=env, cwd=tmp)
    procs.wait_http_ok(proc, admin, "/ready", timeout_s=30.0 if wrap is None else 180.0)
    return proc, outbound, admin


def probe(port: int, timeout_s: float = 20.0) -> None:
    """GET / with Host web:80 through the path until it answers 200."""
    import http.client
    import time

    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
            conn.request("GET", "/", headers={"Host": HOST})
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
            last = status
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"the path on port {port} never answered 200 (last: {last})")


class Pair:
    """Two hops (and a controller for lightmesh); ``port`` is where the load generator sends."""

    def __init__(self) -> None:
        self.procs: list[Managed] = []
        self.port = 0
        self.server: Managed | None = None  # the hop that terminates the mesh connection
        self.server_port = 0  # its listening port (mesh side)

    def stop(self, grace_s: float = 5.0) -> None:
        for proc in reversed(self.procs):
            proc.stop(grace_s)


def lightmesh_pair(
    ctx: Context, ids: dict[str, Path], mtls: bool, cpus: set[int] | None, wrap: Wrap = None
) -> Pair:
    """Controller, server proxy (``lm-server``), client proxy (``lm-client``); ``wrap`` prefixes both."""
    pair = Pair()
    tmp = ctx.tmpdir
    try:
        server_inbound = procs.free_port()
        controller, api = start_controller(tmp, ids, server_inbound, mtls)
        pair.procs.append(controller)

        def identity(sa: str, name: str) -> dict[str, str]:
            if not mtls:
                return {}
            return {
                "LIGHTMESH_PROXY_IDENTITY_LOCAL_NAME": name,
                "LIGHTMESH_PROXY_IDENTITY_TOKEN_FILE": str(ids[f"{sa}.token"]),
                "LIGHTMESH_PROXY_IDENTITY_TRUST_ANCHORS": str(ids["anchors"]),
            }

        common = {"LIGHTMESH_PROXY_CONTROLLER_ADDR": f"{LOOPBACK}:{api}"}
        forward = {"LIGHTMESH_PROXY_INBOUND_FORWARD": f"{LOOPBACK}:{ctx.upstream_port}"}
        server, _, _ = _proxy(
            tmp, "lm-server", server_inbound, {**common, **identity("web", WEB), **forward}, cpus, wrap
        )
        pair.procs.append(server)
        pair.server, pair.server_port = server, server_inbound
        client, pair.port, _ = _proxy(
            tmp, "lm-client", procs.free_port(), {**common, **identity("client", CLIENT)}, cpus, wrap
        )
        pair.procs.append(client)
        probe(pair.port, 20.0 if wrap is None else 180.0)
    except BaseException:
        pair.stop()
        raise
    return pair


_HAPROXY_DEFAULTS = """global
  nbthread 1
  maxconn 4096
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
"""


def haproxy_pair(ctx: Context, ids: dict[str, Path], tls: bool, cpus: set[int] | None) -> Pair:
    pair = Pair()
    tmp = ctx.tmpdir
    front, mesh = procs.free_port(), procs.free_port()
    ca = ids["anchors"]
    server_bind = f" ssl crt {ids['web.pem']} ca-file {ca} verify required alpn http/1.1" if tls else ""
    client_server = ""
    if tls:
        client_server = f" ssl crt {ids['client.pem']} ca-file {ca} verify required"
        client_server += f" verifyhost {WEB} sni str({WEB}) alpn http/1.1"
    b = tmp / f"haproxy-b-{mesh}.cfg"
    b.write_text(
        _HAPROXY_DEFAULTS + f"frontend fe\n  bind {LOOPBACK}:{mesh}{server_bind}\n  default_backend be\n"
        f"backend be\n  server up {LOOPBACK}:{ctx.upstream_port}\n"
    )
    a = tmp / f"haproxy-a-{front}.cfg"
    a.write_text(
        _HAPROXY_DEFAULTS + f"frontend fe\n  bind {LOOPBACK}:{front}\n  default_backend be\n"
        f"backend be\n  server mesh {LOOPBACK}:{mesh}{client_server}\n"
    )
    try:
        for name, conf in (("haproxy-b", b), ("haproxy-a", a)):
            pair.procs.append(
                Managed(name, ["haproxy", "-db", "-f", str(conf)], tmp / f"{name}.log").start(cpus, cwd=tmp)
            )
        pair.server, pair.server_port = pair.procs[0], mesh
        pair.port = front
        probe(front)
    except BaseException:
        pair.stop()
        raise
    return pair
