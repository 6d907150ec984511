"""TLS over ``ssl.MemoryBIO`` on top of a plain transport, with small per-connection buffers.

uvloop's and asyncio's TLS transports keep a 256 KiB read buffer per connection
(about 210 KB and 1.1 MB per connection measured): too much for a mesh where every
connection is TLS. :class:`TlsConnection` instead sits between a plain transport and
the application protocol: it is the plain transport's protocol and the application's
transport at once. Bytes read are fed to an ``ssl.SSLObject`` through a memory BIO
and the plaintext is handed on as it is decrypted (one transient buffer per read,
none kept); plaintext written is encrypted into the outgoing BIO and written through
at once. An idle connection holds only the SSL object (OpenSSL releases its record
buffers when idle) and two empty BIOs. Records are read and written through the SSL
object's C core: ``ssl.SSLObject``'s ``read``, ``write`` and ``pending`` are Python
wrappers that only forward to it, an interpreted call each per record.

The handshake runs first; when it completes, ``on_secure(conn)`` decides what
protocol reads the plaintext (it may raise :class:`TlsRefused` to close the
connection, e.g. when a server is not the identity the client expected). Handshakes
that do not finish within ``handshake_timeout`` are aborted. ``write_eof`` sends
close_notify (TLS 1.3 keeps the other direction open) and half-closes the socket; a
peer's close_notify is an ``eof_received`` for the application.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any, Final, cast

log: Final = logging.getLogger(__name__)
READ_SIZE: Final = 16 * 1024  # one TLS record's plaintext at most: what one SSL read returns (transient)


class TlsRefused(Exception):
    """``on_secure`` rejects the peer; the reason is logged and the connection aborted."""


SecureCallback = Callable[["TlsConnection"], None]


class TlsConnection(asyncio.Protocol, asyncio.Transport):
    def __init__(
        self,
        context: ssl.SSLContext,
        server_side: bool,
        on_secure: SecureCallback,
        on_failure: Callable[[BaseException], None],
        server_hostname: str | None = None,
        handshake_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.ssl = context.wrap_bio(self._incoming, self._outgoing, server_side, server_hostname)
        self._records: Any = getattr(self.ssl, "_sslobj", self.ssl)  # same read/write/pending, in C
        self.on_secure = on_secure
        self.on_failure = on_failure
        self.handshake_timeout = handshake_timeout
        self.raw: asyncio.Transport | None = None
        self.app: asyncio.Protocol | None = None
        self.secure = False
        self.closed = False
        self._eof_sent = False
        self._timer: asyncio.TimerHandle | None = None

    # the plain transport's protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.raw = transport  # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.handshake_timeout, self._handshake_timed_out)
        if not self.ssl.server_side:
            self._handshake()

    def data_received(self, data: bytes) -> None:
        self._incoming.write(data)
        if not self.secure:
            self._handshake()
            if not self.secure:
                return
        self._read()

    def eof_received(self) -> bool | None:
        self._incoming.write_eof()
        if not self.secure:
            self._fail(ConnectionResetError("the peer closed the connection during the TLS handshake"))
            return False
        self._read()
        return True if self.app is None else self.app.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        if not self.secure:
            self._fail(exc or ConnectionResetError("connection closed during the TLS handshake"))
            return
        if self.app is not None:
            self.app.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.app is not None:
            self.app.pause_writing()

    def resume_writing(self) -> None:
        if self.app is not None:
            self.app.resume_writing()

    # handshake
    def _handshake(self) -> None:
        try:
            self.ssl.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as exc:
            self._flush()  # the alert tells the peer why
            self._fail(exc)
            return
        self._flush()
        self.secure = True
        self._cancel_timer()
        try:
            self.on_secure(self)
        except TlsRefused as refused:
            self.secure = False
            self._fail(refused)

    def _handshake_timed_out(self) -> None:
        self._timer = None
        self._fail(TimeoutError(f"TLS handshake did not finish within {self.handshake_timeout:.0f}s"))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, exc: BaseException) -> None:
        self._cancel_timer()
        callback, self.on_failure = self.on_failure, _ignore
        if self.raw is not None and not self.closed:
            self.closed = True
            self.raw.abort()
        callback(exc)

    # reading
    def _read(self) -> None:
        app = self.app
        while True:
            try:
                data = self._records.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # close_notify: the peer will send nothing more
                self._incoming.write_eof()
                break
            except ssl.SSLError as exc:
                log.debug("TLS error from %s: %s", self.get_extra_info("peername"), exc)
                self._flush()
                self.abort()
                return
            if not data:
                break
            if app is not None:
                app.data_received(data)
                app = self.app  # the application may hand the connection over
            if not self._incoming.pending and not self._records.pending():
                break  # all read: skip the read that would only raise SSLWantReadError
        if self._outgoing.pending:  # post-handshake messages (key updates) to answer
            self._flush()

    # the application's transport
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed or self._eof_sent or not data:
            return
        try:
            self._records.write(data)
        except ssl.SSLError as exc:  # the session is broken (e.g. a fatal alert arrived)
            log.debug("TLS write to %s failed: %s", self.get_extra_info("peername"), exc)
            self.abort()
            return
        if self.raw is not None:  # _flush() inlined: not closed (checked above); writing b"" is a no-op
            self.raw.write(self._outgoing.read())

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def _flush(self) -> None:
        if self._outgoing.pending and self.raw is not None and not self.closed:
            self.raw.write(self._outgoing.read())

    def can_write_eof(self) -> bool:
        return self.raw is not None and self.raw.can_write_eof()

    def write_eof(self) -> None:
        if self._eof_sent or self.raw is None or self.closed:
            return
        self._eof_sent = True
        self._close_notify()
        self.raw.write_eof()

    def _close_notify(self) -> None:
        try:
            self.ssl.unwrap()
        except ssl.SSLError:
            pass  # the close_notify is in the outgoing BIO even when the peer's has not arrived
        self._flush()

    def close(self) -> None:
        if self.closed or self.raw is None:
            return
        self.closed = True
        if self.secure and not self._eof_sent:
            self._eof_sent = True
            self._close_notify()
        self.raw.close()

    def abort(self) -> None:
        self.closed = True
        if self.raw is not None:
            self.raw.abort()

    def is_closing(self) -> bool:
        return self.closed or self.raw is None or self.raw.is_closing()

    def pause_reading(self) -> None:
        if self.raw is not None:
            self.raw.pause_reading()

    def resume_reading(self) -> None:
        if self.raw is not None and not self.closed:
            self.raw.resume_reading()

    def is_reading(self) -> bool:
        return self.raw is not None and self.raw.is_reading()

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size() if self.raw is not None else 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if self.raw is not None:
            self.raw.set_write_buffer_limits(high, low)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.app = protocol  # type: ignore[assignment]

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.app is not None
        return self.app

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self.ssl
        if name == "peercert":
            return self.ssl.getpeercert()
        if self.raw is None:
            return default
        return self.raw.get_extra_info(name, default)


def _ignore(exc: BaseException) -> None:
    pass


def peer_dns_names(conn: TlsConnection) -> list[str]:
    """The DNS SANs of the verified peer certificate."""
    cert = conn.ssl.getpeercert() or {}
    sans = cast(tuple[tuple[str, str], ...], cert.get("subjectAltName", ()))
    return [value for kind, value in sans if kind == "DNS"]
