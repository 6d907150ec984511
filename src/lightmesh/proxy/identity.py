"""The proxy's own identity: an in-memory key, a certificate from the controller, kept fresh.

At start-up :class:`LocalIdentity` generates an ECDSA P-256 key (it never leaves the
process: see :mod:`lightmesh.io.tlsconfig`) and a CSR for exactly the configured
identity. :meth:`LocalIdentity.run` then calls ``Identity.Certify`` with the token
from the token file (re-read each time, so a rotated token is used) and installs the
certificate: the returned chain must be for our key and identity and must verify
against the trust bundle (also re-read each time, which is how a new trust anchor
reaches the proxy). Installing swaps in new TLS contexts: new connections use them,
open ones keep theirs, so nothing is dropped.

It refreshes at 70% of the remaining lifetime. A failed attempt is logged at error
level with the time left before the current certificate expires and retried with
jittered exponential backoff (1 s doubling to 60 s, never sleeping past the expiry
by more than the backoff); an expired certificate makes the proxy not ready. The
proxy is not ready, and serves no mesh TLS, until it holds its first certificate.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lightmesh.api.gen import identity_pb2 as pb
from lightmesh.core.addr import SocketAddr
from lightmesh.core.backoff import Backoff
from lightmesh.core.errors import UpstreamError
from lightmesh.io.connect import ClientTls
from lightmesh.io.tlsconfig import MeshContexts, mesh_contexts
from lightmesh.protocol.prometheus import Family

log = logging.getLogger(__name__)
REFRESH_FRACTION = 0.7
MIN_REFRESH = 1.0
BACKOFF_MIN = 1.0
BACKOFF_MAX = 60.0
CERTIFY_TIMEOUT = 10.0
Certifier = Callable[[pb.CertifyRequest], Awaitable[pb.CertifyResponse]]


class CertifyError(Exception):
    """One certification attempt failed; the message says why."""


class GrpcCertifier:
    """``Identity.Certify`` on the controller, over grpclib (imported only when identity is on)."""

    def __init__(self, addr: SocketAddr) -> None:
        from grpclib.client import Channel

        from lightmesh.api.gen.identity_grpc import IdentityStub

        self.addr = addr
        self.channel = Channel(addr.host, addr.port)
        self.stub = IdentityStub(self.channel)

    async def __call__(self, request: pb.CertifyRequest) -> pb.CertifyResponse:
        from grpclib.exceptions import GRPCError, StreamTerminatedError

        try:
            return await self.stub.Certify(request, timeout=CERTIFY_TIMEOUT)
        except GRPCError as exc:
            raise CertifyError(f"controller {self.addr}: {exc.status.name}: {exc.message}") from None
        except (StreamTerminatedError, OSError, TimeoutError) as exc:
            raise CertifyError(f"controller {self.addr}: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self.channel.close()


def _iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


class LocalIdentity:
    def __init__(
        self,
        name: str,
        token_file: Path,
        trust_anchors: Path,
        certifier: Certifier,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.token_file = token_file
        self.trust_anchors = trust_anchors
        self.certifier = certifier
        self.wall = wall
        key = ec.generate_private_key(ec.SECP256R1())
        self._public = key.public_key()
        self._password = os.urandom(32)
        self._key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._password),
        )
        self.csr = (
            x509.CertificateSigningRequestBuilder()
            # X.509 caps a CN at 64 characters: a longer identity is in the (then critical) DNS SAN only
            .subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)] if len(name) <= 64 else [])
            )
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=len(name) > 64)
            .sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER)
        )
        del key
        self.contexts: MeshContexts | None = None
        self.cert: x509.Certificate | None = None
        self.refreshes = 0  # identity_cert_refresh_count
        self.failures = 0
        self.outbound_errors: dict[str, int] = {}
        self.inbound_errors: dict[str, int] = {}
        self.certified = asyncio.Event()
        self.next_refresh: float | None = None  # wall time

    # state
    @property
    def expires(self) -> float:
        return self.cert.not_valid_after_utc.timestamp() if self.cert is not None else 0.0

    @property
    def valid(self) -> bool:
        return self.cert is not None and self.wall() < self.expires

    def server_context(self) -> ssl.SSLContext | None:
        return self.contexts.server if self.contexts is not None and self.valid else None

    def client_tls(self, server_name: str, alpn: str) -> ClientTls:
        if self.contexts is None:
            raise UpstreamError(f"cannot reach {server_name} with mTLS: this proxy has no certificate yet")
        return ClientTls(self.contexts.clients[alpn], server_name, self.outbound_errors)

    def info(self) -> dict[str, Any] | None:
        cert = self.cert
        if cert is None:
            return None
        return {
            "identity": self.name,
            "issuer": cert.issuer.rfc4514_string(),
            "not_before": _iso(cert.not_valid_before_utc),
            "not_after": _iso(cert.not_valid_after_utc),
            "serial": format(cert.serial_number, "x"),
        }

    # lifecycle
    async def run(self) -> None:
        backoff = Backoff(BACKOFF_MIN, BACKOFF_MAX)
        while True:
            try:
                self.install(await self.certify_once())
            except Exception as exc:  # a bug must not end the refreshes either: log it and retry
                if not isinstance(exc, CertifyError):
                    log.exception("identity %s: unexpected error while certifying", self.name)
                self.failures += 1
                wait = backoff.next()
                log.error("identity %s: certification failed: %s; %s; retrying in %.1fs",
                          self.name, exc, self._remaining(), wait)  # fmt: skip
                await asyncio.sleep(wait)
                continue
            backoff.reset()
            wait = max(REFRESH_FRACTION * (self.expires - self.wall()), MIN_REFRESH)
            self.next_refresh = self.wall() + wait
            log.info("identity %s: certified until %s; refreshing in %.0fs",
                     self.name, _iso(self.cert.not_valid_after_utc) if self.cert else "?", wait)  # fmt: skip
            await asyncio.sleep(wait)

    def _remaining(self) -> str:
        if self.cert is None:
            return "no certificate yet: not ready, no mesh TLS"
        left = self.expires - self.wall()
        if left <= 0:
            return f"the certificate EXPIRED {-left:.0f}s ago: not ready, peers refuse it"
        return f"the current certificate expires in {left:.0f}s"

    async def certify_once(self) -> tuple[x509.Certificate, bytes, bytes]:
        """Ask for a certificate; returns the leaf, the chain PEM and the trust bundle PEM."""
        try:
            token = self.token_file.read_bytes().strip()
            anchors = self.trust_anchors.read_bytes()
        except OSError as exc:
            raise CertifyError(f"cannot read {exc.filename}: {exc.strerror}") from None
        request = pb.CertifyRequest(identity=self.name, token=token, certificate_signing_request=self.csr)
        response = await self.certifier(request)
        try:
            leaf = x509.load_der_x509_certificate(response.leaf_certificate)
            chain = [x509.load_der_x509_certificate(der) for der in response.intermediate_certificates]
            roots = x509.load_pem_x509_certificates(anchors)
        except ValueError as exc:
            raise CertifyError(f"unusable certificate or trust bundle: {exc}") from None
        self._check(leaf, chain, roots)
        pem = serialization.Encoding.PEM
        return leaf, b"".join(c.public_bytes(pem) for c in [leaf, *chain]), anchors

    def _check(
        self, leaf: x509.Certificate, chain: list[x509.Certificate], roots: list[x509.Certificate]
    ) -> None:
        if leaf.public_key() != self._public:
            raise CertifyError("the certificate is not for this proxy's key")
        try:
            san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            raise CertifyError("the certificate has no SAN") from None
        if san.get_values_for_type(x509.DNSName) != [self.name]:
            raise CertifyError(f"the certificate is not for {self.name}")
        now = dt.datetime.fromtimestamp(self.wall(), dt.UTC)
        verifier = (
            x509.verification.PolicyBuilder()
            .store(x509.verification.Store(roots))
            .time(now)
            .build_client_verifier()
        )
        try:
            verifier.verify(leaf, chain)
        except x509.verification.VerificationError as exc:
            why = f"the certificate does not verify against {self.trust_anchors}: {exc}"
            raise CertifyError(why) from None

    def install(self, material: tuple[x509.Certificate, bytes, bytes]) -> None:
        leaf, chain_pem, anchors = material
        try:
            self.contexts = mesh_contexts(chain_pem, self._key_pem, self._password, anchors)
        except (ssl.SSLError, ValueError) as exc:
            raise CertifyError(f"cannot build TLS contexts: {exc}") from None
        self.cert = leaf
        self.refreshes += 1
        self.certified.set()

    # metrics
    def families(self) -> Iterator[Family]:
        expiry = Family(
            "identity_cert_expiration_timestamp_seconds", "gauge", "When the proxy's certificate expires"
        )
        expiry.add([], self.expires)
        refresh = Family("identity_cert_refresh_count", "counter", "Certificates obtained")
        refresh.add([], self.refreshes)
        failed = Family("identity_cert_refresh_failures_total", "counter", "Failed certification attempts")
        failed.add([], self.failures)
        yield from (expiry, refresh, failed)
        for direction, errors in (("inbound", self.inbound_errors), ("outbound", self.outbound_errors)):
            family = Family(f"{direction}_tls_errors_total", "counter", f"{direction} mesh TLS failures")
            for kind, count in sorted(errors.items()):
                family.add([("error", kind)], count)
            yield family
