"""Dialing upstreams: one place that maps connect failures to proxy errors, and mesh TLS.

A refused or unreachable endpoint becomes :class:`UpstreamError` (502) and a
connect that does not finish within the timeout becomes :class:`ConnectTimeout`
(504); both say which address failed and why, which is what the client sees in
``lightmesh-proxy-error``.

With a :class:`ClientTls`, the connection is mutual TLS to a peer proxy: the
handshake (within the same timeout) must succeed and the server's verified
certificate must name exactly the identity discovery promised, else the request
fails with a 502 saying what the server proved instead (or why the handshake failed:
a peer proxy with another identity does not terminate TLS for our SNI but relays it
to its application). Both failures are counted in ``ClientTls.errors``. The protocol
gets the TLS connection as its transport.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import ConnectTimeout, UpstreamError
from lightmesh.io.tls import TlsConnection, TlsRefused, peer_dns_names

P = TypeVar("P", bound=asyncio.BaseProtocol)


@dataclass(slots=True)
class ClientTls:
    context: ssl.SSLContext
    server_name: str  # the identity the server must prove; also sent as SNI
    errors: dict[str, int] = field(default_factory=dict)  # outbound TLS failures by kind


async def open_connection(
    addr: SocketAddr, factory: Callable[[], P], timeout: float, tls: ClientTls | None = None
) -> tuple[asyncio.Transport, P]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            if tls is not None:
                return await _open_tls(loop, addr, factory, timeout, tls)
            transport, protocol = await loop.create_connection(factory, addr.host, addr.port)
    except TimeoutError:
        raise ConnectTimeout(f"connect to {addr} timed out after {timeout * 1000:.0f}ms") from None
    except OSError as exc:
        raise UpstreamError(f"connect to {addr} failed: {_describe(exc)}") from None
    _nodelay(transport)
    return transport, protocol  # uvloop transports are not asyncio.Transport subclasses


def _describe(exc: OSError) -> str:
    why = errno.errorcode.get(exc.errno or 0, "") if exc.errno else ""
    text = exc.strerror or str(exc) or type(exc).__name__
    return f"{text}{f' ({why})' if why else ''}"


def _nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _open_tls(
    loop: asyncio.AbstractEventLoop,
    addr: SocketAddr,
    factory: Callable[[], P],
    timeout: float,
    tls: ClientTls,
) -> tuple[asyncio.Transport, P]:
    done: asyncio.Future[P] = loop.create_future()

    def secure(conn: TlsConnection) -> None:
        names = peer_dns_names(conn)
        if tls.server_name not in names:
            _count(tls, "identity_mismatch")
            proved = ", ".join(names) or "no identity"
            raise TlsRefused(f"server identity mismatch: {addr} proved {proved}, expected {tls.server_name}")
        app = factory()
        conn.set_protocol(app)
        app.connection_made(conn)
        if not done.done():
            done.set_result(app)

    def failed(exc: BaseException) -> None:
        if not done.done():
            done.set_exception(exc)

    raw, conn = await loop.create_connection(
        lambda: TlsConnection(tls.context, False, secure, failed, tls.server_name, timeout),
        addr.host,
        addr.port,
    )
    _nodelay(raw)
    try:
        app = await done
    except TlsRefused as refused:
        raise UpstreamError(str(refused)) from None
    except ssl.SSLError as broken:  # a name of its own: mypyc types each ``as`` name once
        _count(tls, "handshake_failed")
        why = broken.reason or broken
        raise UpstreamError(
            f"{addr} did not prove identity {tls.server_name}: TLS handshake failed ({why})"
        ) from None
    except BaseException:
        raw.abort()
        raise
    return conn, app


def _count(tls: ClientTls, kind: str) -> None:
    tls.errors[kind] = tls.errors.get(kind, 0) + 1
