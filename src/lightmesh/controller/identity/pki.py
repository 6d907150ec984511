"""The certificate authority's pure logic: trust anchors, issuers, CSR checks and leaf signing.

Every key is ECDSA P-256 and every signature ECDSA-SHA256. A trust anchor (root) is
self-signed with ``CA:TRUE, pathlen:1``; an issuer (intermediate) is signed by a
root with ``CA:TRUE, pathlen:0``; a leaf has ``CA:FALSE``, ``digitalSignature``,
extended key usages serverAuth and clientAuth, subject CN and exactly one DNS SAN:
the workload's identity. A leaf is valid from ``now - skew`` to
``now + lifetime + skew`` (never past its issuer's own expiry), so peers whose
clocks differ by up to ``skew`` agree it is valid.

:class:`Issuer` is what the controller signs with; :func:`load_issuer` checks that an
issuer certificate and key belong together, chain to one of the trust anchors and
are currently valid. Nothing here does I/O: ``now`` is always passed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LEAF_LIFETIME = dt.timedelta(hours=24)
CLOCK_SKEW = dt.timedelta(seconds=20)
CA_VALIDITY = dt.timedelta(days=365)


class PkiError(ValueError):
    """A certificate, key or CSR that cannot be used; the message says why."""


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


MAX_CN = 64  # X.509's upper bound for a common name; longer identities live in the DNS SAN only


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _serial() -> int:
    return x509.random_serial_number()


def _ca_builder(
    subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, now: dt.datetime, validity: dt.timedelta
) -> x509.CertificateBuilder:
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )


def make_root(
    common_name: str, now: dt.datetime, validity: dt.timedelta = CA_VALIDITY
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = new_key()
    builder = _ca_builder(common_name, _name(common_name), key, now, validity).add_extension(
        x509.BasicConstraints(ca=True, path_length=1), critical=True
    )
    return key, builder.sign(key, hashes.SHA256())


def make_issuer(
    root_key: ec.EllipticCurvePrivateKey,
    root: x509.Certificate,
    common_name: str,
    now: dt.datetime,
    validity: dt.timedelta = CA_VALIDITY,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = new_key()
    builder = (
        _ca_builder(common_name, root.subject, key, now, validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
    )
    return key, builder.sign(root_key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_anchors(data: bytes) -> list[x509.Certificate]:
    try:
        anchors = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise PkiError(f"trust anchors: not PEM certificates ({exc})") from None
    for cert in anchors:
        if not _is_ca(cert):
            raise PkiError(f"trust anchor {_cn(cert)!r} is not a CA certificate")
    return anchors


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _cn(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


@dataclass(frozen=True)
class Issuer:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    anchors: tuple[x509.Certificate, ...]
    lifetime: dt.timedelta = LEAF_LIFETIME
    skew: dt.timedelta = CLOCK_SKEW

    @property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc

    def certify(
        self, identity: str, csr_der: bytes, now: dt.datetime
    ) -> tuple[bytes, list[bytes], dt.datetime]:
        """Sign a leaf for ``identity``; :class:`PkiError` when the CSR asks for anything else."""
        csr = parse_csr(csr_der, identity)
        now = now.replace(microsecond=0)  # certificates count whole seconds
        if now >= self.not_after:
            raise PkiError(f"the issuer certificate expired at {self.not_after.isoformat()}")
        not_after = min(now + self.lifetime + self.skew, self.not_after)
        public = csr.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name(identity) if len(identity) <= MAX_CN else x509.Name([]))
            .issuer_name(self.cert.subject)
            .public_key(public)
            .serial_number(_serial())
            .not_valid_before(now - self.skew)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            # RFC 5280 4.2.1.6: with an empty subject the SAN is critical
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(identity)]), critical=len(identity) > MAX_CN
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        der = serialization.Encoding.DER
        return leaf.public_bytes(der), [self.cert.public_bytes(der)], not_after


def parse_csr(der: bytes, identity: str) -> x509.CertificateSigningRequest:
    """A well-formed, self-signed P-256 CSR asking for exactly ``identity``, else :class:`PkiError`."""
    try:
        csr = x509.load_der_x509_csr(der)
    except ValueError:
        raise PkiError("the CSR is not a DER-encoded PKCS#10 request") from None
    if not csr.is_signature_valid:
        raise PkiError("the CSR's signature is invalid")
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise PkiError("the CSR's key must be ECDSA P-256")
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise PkiError(f"the CSR must ask for exactly {identity!r} as its DNS SAN; it has no SAN") from None
    except ValueError as exc:
        raise PkiError(f"the CSR's extensions are malformed: {exc}") from None
    names = [str(name.value) for name in san]
    if names != [identity] or san.get_values_for_type(x509.DNSName) != [identity]:
        raise PkiError(f"the CSR must ask for exactly {identity!r} as its DNS SAN, not {names}")
    cns = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if cns not in ([], [identity]):
        raise PkiError(f"the CSR's subject CN {cns} is not {identity!r}")
    return csr


def load_issuer(
    anchors_pem: bytes,
    cert_pem: bytes,
    key_pem_data: bytes,
    now: dt.datetime,
    lifetime: dt.timedelta = LEAF_LIFETIME,
    skew: dt.timedelta = CLOCK_SKEW,
) -> Issuer:
    anchors = load_anchors(anchors_pem)
    if not anchors:
        raise PkiError("trust anchors: no certificate found")
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise PkiError(f"issuer certificate: not a PEM certificate ({exc})") from None
    try:
        key = serialization.load_pem_private_key(key_pem_data, password=None)
    except (ValueError, TypeError) as exc:
        raise PkiError(f"issuer key: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise PkiError("issuer key: must be ECDSA P-256")
    if key.public_key() != cert.public_key():
        raise PkiError("issuer key does not belong to the issuer certificate")
    if not _is_ca(cert):
        raise PkiError(f"issuer certificate {_cn(cert)!r} is not a CA certificate")
    if not any(_signed_by(cert, anchor) for anchor in anchors):
        raise PkiError(f"issuer certificate {_cn(cert)!r} is not signed by any trust anchor")
    if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
        raise PkiError(
            f"issuer certificate {_cn(cert)!r} is not valid now (valid "
            f"{cert.not_valid_before_utc.isoformat()} to {cert.not_valid_after_utc.isoformat()})"
        )
    return Issuer(key, cert, tuple(anchors), lifetime, skew)


def _signed_by(cert: x509.Certificate, anchor: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(anchor)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
