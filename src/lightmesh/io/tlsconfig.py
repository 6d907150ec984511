"""TLS contexts for the mesh: TLS 1.3 only, client certificates required, built from memory.

:func:`mesh_contexts` builds, from a certificate chain, its private key and the trust
bundle (all PEM, in memory), one server context and one client context per ALPN
protocol the proxy speaks to a peer proxy (HTTP/2, HTTP/1.1, opaque TCP, and none:
"detect the protocol from the bytes", for CONNECT tunnels). ``ssl`` can
only load a certificate and key from a path, so they are written to anonymous
memory files (``memfd_create``) and loaded through ``/proc/self/fd``: the key never
touches a file system and the memory files are closed at once. The key is also
encrypted there with a random one-time password.

Servers verify the client's certificate against the trust bundle; clients verify the
server's chain (hostname checking is off: the caller compares the proven identity
with the one it expected, so a mismatch can say both names). Session tickets are
off: the mesh's connections are long-lived and tickets cost memory on both sides.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

ALPN_H2 = "h2"
ALPN_HTTP1 = "http/1.1"
ALPN_OPAQUE = "lightmesh.opaque"
ALPN_DETECT = ""  # no ALPN: the peer proxy detects the protocol from the bytes
ALPNS = (ALPN_H2, ALPN_HTTP1, ALPN_OPAQUE)


@dataclass(frozen=True)
class MeshContexts:
    server: ssl.SSLContext
    clients: dict[str, ssl.SSLContext]  # by ALPN protocol


@contextlib.contextmanager
def _memory_file(data: bytes) -> Iterator[str]:
    fd = os.memfd_create("lightmesh-tls", os.MFD_CLOEXEC)
    try:
        os.write(fd, data)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _context(purpose: int, anchors_pem: str, chain: str, key: str, password: bytes) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=anchors_pem)
    ctx.load_cert_chain(chain, key, password)
    return ctx


def mesh_contexts(chain_pem: bytes, key_pem: bytes, password: bytes, anchors_pem: bytes) -> MeshContexts:
    """Contexts for a certificate; ``ssl.SSLError``/``ValueError`` when the material does not fit."""
    anchors = anchors_pem.decode("ascii")
    with _memory_file(chain_pem) as chain, _memory_file(key_pem) as key:
        server = _context(ssl.PROTOCOL_TLS_SERVER, anchors, chain, key, password)
        server.num_tickets = 0
        server.set_alpn_protocols(list(ALPNS))
        clients = {}
        for alpn in (*ALPNS, ALPN_DETECT):
            client = _context(ssl.PROTOCOL_TLS_CLIENT, anchors, chain, key, password)
            if alpn:
                client.set_alpn_protocols([alpn])
            clients[alpn] = client
    return MeshContexts(server, clients)
