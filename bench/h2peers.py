"""Upstream, workloads and targets of the HTTP/2 (h2c) and unary gRPC suites.

* Upstream: nghttpd (nghttp2-server), `--no-tls`, 1 worker, serving static
  files from the run's temp dir. It advertises SETTINGS_MAX_CONCURRENT_STREAMS
  = 1009, a value no proxy picks by itself: a target whose client-side SETTINGS
  equal it is relaying the bytes, not terminating HTTP/2.
* h2 workload: `GET /index.html`, 12-byte body "hello world\\n" (like the
  HTTP/1 suite's nginx `return 200`).
* gRPC workload: `POST /bench.Echo/Unary.grpc` with content-type
  application/grpc and te: trailers; the body is one gRPC message (5-byte
  prefix + a 13-byte protobuf). The gRPC upstream is a second nghttpd started
  with `--trailer 'grpc-status: 0' --no-content-length`; it answers the file
  `bench.Echo/Unary.grpc` (the same message), whose `.grpc` extension maps to
  content-type application/grpc. A grpcio client accepts that exchange as a
  successful unary call; it is a fixed-reply gRPC server (no protobuf decoding,
  no method dispatch), i.e. the wire shape of gRPC at C speed.
* Targets: direct, lightmesh, nghttpx (nghttp2-proxy, 1 worker, backend
  `proto=h2`), Envoy (`--concurrency 1`, codec AUTO downstream, explicit http2
  upstream). lightmesh and Envoy use the HTTP/1 suite's starters with an h2c
  readiness probe.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from bench import h2c, peers, procs
from bench.h2load import Workload
from bench.peers import Context, Running
from bench.procs import LOOPBACK, Managed

TARGETS = ("direct", "lightmesh", "nghttpx", "envoy")
UPSTREAM_MAX_STREAMS = 1009  # fingerprint, see the module docstring
GRPC_PATH = "/bench.Echo/Unary.grpc"
_GRPC_MESSAGE = b"\x0a\x0bhello world"  # protobuf: field 1 (string) = "hello world"
_GRPC_HEADERS = ("-H", "content-type: application/grpc", "-H", "te: trailers")


def _grpc_frame(message: bytes) -> bytes:
    """gRPC length-prefixed message: flag byte 0 (uncompressed), 4-byte big-endian length."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def write_docroot(tmp: Path) -> dict[str, Workload]:
    """Write the upstream's files and the gRPC request body; return the workloads by suite."""
    root = tmp / "h2-docroot"
    (root / "bench.Echo").mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text("hello world\n")
    (root / "bench.Echo" / "Unary.grpc").write_bytes(_grpc_frame(_GRPC_MESSAGE))
    (tmp / "h2-mime.types").write_text("text/plain html\napplication/grpc grpc\n")
    body = tmp / "grpc-request.bin"
    body.write_bytes(_grpc_frame(_GRPC_MESSAGE))
    return {
        "h2": Workload("h2", "/index.html"),
        "grpc": Workload("grpc", GRPC_PATH, ("-d", str(body), *_GRPC_HEADERS)),
    }


def readiness(workload: Workload) -> h2c.Wait:
    """The h2c probe for this workload (gRPC also needs application/grpc + grpc-status 0)."""
    check = h2c.grpc_check if workload.name == "grpc" else None
    return h2c.waiter(workload.path, workload.args, check)


def start_upstream(tmp: Path, cpus: set[int] | None, workload: Workload) -> Running:
    """nghttpd --no-tls, 1 worker; with gRPC trailers for the grpc workload."""
    port = procs.free_port()
    argv = ["nghttpd", "--no-tls", "-n1", f"-m{UPSTREAM_MAX_STREAMS}", "-a", LOOPBACK]
    argv += ["-d", str(tmp / "h2-docroot"), f"--mime-types-file={tmp / 'h2-mime.types'}"]
    if workload.name == "grpc":
        argv += ["--trailer", "grpc-status: 0", "--no-content-length"]
    argv.append(str(port))
    name = f"nghttpd-{workload.name}"
    proc = Managed(name, argv, tmp / f"{name}.log").start(cpus, cwd=tmp)
    return peers.ready(Running("upstream", port, proc), probe=readiness(workload))


def start_nghttpx(ctx: Context, cpus: set[int] | None) -> Running:
    """nghttpx, 1 worker, cleartext frontend, h2 backend (master + worker process)."""
    port = procs.free_port()
    conf = ctx.tmpdir / "nghttpx.conf"
    conf.write_text("")  # never read /etc/nghttpx/nghttpx.conf
    argv = [
        "nghttpx",
        f"--conf={conf}",
        f"--frontend={LOOPBACK},{port};no-tls",
        f"--backend={LOOPBACK},{ctx.upstream_port};;proto=h2",
        "--workers=1",
        "--no-ocsp",
        "--log-level=WARN",
        f"--errorlog-file={ctx.tmpdir / 'nghttpx-error.log'}",
        f"--pid-file={ctx.tmpdir / 'nghttpx.pid'}",
    ]
    proc = Managed("nghttpx", argv, ctx.tmpdir / "nghttpx.log").start(cpus, cwd=ctx.tmpdir)
    return peers.ready(Running("nghttpx", port, proc), probe=ctx.probe)


STARTERS: dict[str, Callable[[Context, set[int] | None], Running]] = {
    "direct": peers.start_direct,
    "lightmesh": peers.start_lightmesh,
    "nghttpx": start_nghttpx,
    "envoy": peers.start_envoy,
}


def inspect(target: Running, workload: Workload) -> tuple[dict[str, object], str]:
    """Fields to store with each run of this visit, and a note ("" if none), from one h2c probe.

    `h2_relayed` is True when the client saw the upstream's SETTINGS fingerprint
    through a proxy: the proxy relayed the connection as opaque bytes.
    """
    result = h2c.probe(target.port, workload.path, workload.args)
    seen = result.settings.get("MAX_CONCURRENT_STREAMS")
    fields: dict[str, object] = {"h2_server_settings": result.settings}
    if target.proc is None:
        return fields, ""
    fields["h2_relayed"] = seen == UPSTREAM_MAX_STREAMS
    if fields["h2_relayed"]:
        return fields, (
            "relayed h2c as opaque TCP (the client saw the upstream's SETTINGS frame, "
            f"MAX_CONCURRENT_STREAMS={seen}): these are TCP-relay figures, not HTTP/2 proxying"
        )
    return fields, ""
