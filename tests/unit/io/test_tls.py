"""The MemoryBIO TLS layer over real loopback sockets: both ends are lightmesh's own
:class:`TlsConnection` (server) and :func:`open_connection` (client), or Python's ``ssl``
as the independent peer."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from lightmesh.controller.identity import pki
from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import ConnectTimeout, UpstreamError
from lightmesh.io.connect import ClientTls, open_connection
from lightmesh.io.tls import TlsConnection, peer_dns_names
from lightmesh.io.tlsconfig import ALPN_H2, MeshContexts, mesh_contexts
from tests.support.identity import csr

WEB = "web.default.serviceaccount.identity.lightmesh.cluster.local"
CLIENT = "client.default.serviceaccount.identity.lightmesh.cluster.local"
NOW = dt.datetime.now(dt.UTC)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(test())


@pytest.fixture(scope="module")
def issuer() -> pki.Issuer:
    root_key, root = pki.make_root("root.test", NOW)
    key, cert = pki.make_issuer(root_key, root, "identity.test", NOW)
    return pki.Issuer(key, cert, (root,))


def contexts(issuer: pki.Issuer, name: str) -> MeshContexts:
    key = pki.new_key()
    leaf, chain, _ = issuer.certify(name, csr(name, key), NOW)
    from cryptography import x509

    pem = b"".join(pki.pem(x509.load_der_x509_certificate(d)) for d in [leaf, *chain])
    return mesh_contexts(pem, pki.key_pem(key), b"", pki.pem(issuer.anchors[0]))


class Echo(asyncio.Protocol):
    """Echoes everything; answers EOF with its own EOF (half-close), then closes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool:
        self.transport.write_eof()
        return False  # then close: both directions are done


class Collect(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.eof = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        self.eof.set_result(None)
        return True


async def tls_server(ctx: ssl.SSLContext, peers: list[str]) -> asyncio.Server:
    def secured(conn: TlsConnection) -> None:
        peers.extend(peer_dns_names(conn))
        app = Echo()
        conn.set_protocol(app)
        app.connection_made(conn)

    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: TlsConnection(ctx, True, secured, lambda exc: None), "127.0.0.1", 0
    )


def test_a_mebibyte_round_trips_and_half_close_passes_through(issuer: pki.Issuer) -> None:
    async def body() -> None:
        server_side, client_side = contexts(issuer, WEB), contexts(issuer, CLIENT)
        peers: list[str] = []
        server = await tls_server(server_side.server, peers)
        port = server.sockets[0].getsockname()[1]
        try:
            tls = ClientTls(client_side.clients[ALPN_H2], WEB)
            transport, app = await open_connection(SocketAddr("127.0.0.1", port), Collect, 5.0, tls)
            payload = bytes(range(256)) * 4096
            transport.write(payload)
            transport.write_eof()
            async with asyncio.timeout(10):
                await app.eof
            assert bytes(app.data) == payload
            assert peers == [CLIENT]
            assert transport.get_extra_info("ssl_object").selected_alpn_protocol() == ALPN_H2
            assert transport.get_extra_info("ssl_object").version() == "TLSv1.3"
            transport.close()
        finally:
            server.close()

    run(body)


def test_a_server_proving_another_identity_is_refused_with_both_names(issuer: pki.Issuer) -> None:
    async def body() -> None:
        other, client_side = (
            contexts(issuer, "db.default.serviceaccount.identity.lightmesh.cluster.local"),
            contexts(issuer, CLIENT),
        )
        server = await tls_server(other.server, [])
        port = server.sockets[0].getsockname()[1]
        tls = ClientTls(client_side.clients[ALPN_H2], WEB)
        try:
            with pytest.raises(UpstreamError) as info:
                await open_connection(SocketAddr("127.0.0.1", port), Collect, 5.0, tls)
        finally:
            server.close()
        assert info.value.reason == (
            f"server identity mismatch: 127.0.0.1:{port} proved "
            f"db.default.serviceaccount.identity.lightmesh.cluster.local, expected {WEB}"
        )
        assert tls.errors == {"identity_mismatch": 1}

    run(body)


def test_a_server_outside_the_trust_bundle_fails_the_handshake(issuer: pki.Issuer, tmp_path: Path) -> None:
    async def body() -> None:
        root_key, root = pki.make_root("stranger", NOW)
        key, cert = pki.make_issuer(root_key, root, "stranger-issuer", NOW)
        stranger = contexts(pki.Issuer(key, cert, (root,)), WEB)
        server = await tls_server(stranger.server, [])
        port = server.sockets[0].getsockname()[1]
        tls = ClientTls(contexts(issuer, CLIENT).clients[ALPN_H2], WEB)
        try:
            with pytest.raises(UpstreamError, match=f"did not prove identity {WEB}: TLS handshake failed"):
                await open_connection(SocketAddr("127.0.0.1", port), Collect, 5.0, tls)
        finally:
            server.close()
        assert tls.errors == {"handshake_failed": 1}

    run(body)


def test_a_silent_server_times_out_the_handshake(issuer: pki.Issuer) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        silent = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        tls = ClientTls(contexts(issuer, CLIENT).clients[ALPN_H2], WEB)
        try:
            with pytest.raises(ConnectTimeout, match="timed out"):
                await open_connection(SocketAddr("127.0.0.1", port), Collect, 0.3, tls)
        finally:
            silent.close()

    run(body)


def test_records_go_through_the_ssl_objects_c_core_with_the_python_object_kept(issuer: pki.Issuer) -> None:
    conn = TlsConnection(contexts(issuer, WEB).server, True, lambda conn: None, lambda exc: None)
    assert isinstance(conn.ssl, ssl.SSLObject)  # getpeercert, ALPN, unwrap: the documented object
    assert not isinstance(conn._records, ssl.SSLObject)
    for method in ("read", "write", "pending"):
        assert callable(getattr(conn._records, method))
