"""The CA's certificate logic, checked with ``cryptography`` and OpenSSL's own chain verification."""

from __future__ import annotations

import datetime as dt
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lightmesh.controller.identity import pki

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
WEB = "web.default.serviceaccount.identity.lightmesh.cluster.local"


def make_csr(
    names: list[str], cn: str | None = None, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None
) -> bytes:
    key = key or pki.new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    from cryptography.hazmat.primitives.serialization import Encoding

    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def make_issuer(lifetime: dt.timedelta = pki.LEAF_LIFETIME) -> tuple[pki.Issuer, x509.Certificate]:
    root_key, root = pki.make_root("root.test", NOW)
    key, cert = pki.make_issuer(root_key, root, "identity.test", NOW)
    issuer = pki.load_issuer(pki.pem(root), pki.pem(cert), pki.key_pem(key), NOW, lifetime)
    return issuer, root


def test_root_and_issuer_are_cas_with_path_lengths() -> None:
    _, root = pki.make_root("root.test", NOW, dt.timedelta(days=10))
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    assert root.not_valid_after_utc == NOW + dt.timedelta(days=10)
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)


def test_leaf_names_exactly_the_identity_and_lasts_a_day_with_skew() -> None:
    issuer, _ = make_issuer()
    leaf_der, chain, valid_until = issuer.certify(WEB, make_csr([WEB], WEB), NOW)
    leaf = x509.load_der_x509_certificate(leaf_der)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [WEB]
    assert leaf.not_valid_before_utc == NOW - dt.timedelta(seconds=20)
    assert leaf.not_valid_after_utc == valid_until == NOW + dt.timedelta(hours=24, seconds=20)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert x509.load_der_x509_certificate(chain[0]) == issuer.cert


def test_openssl_verifies_the_leaf_through_the_issuer_to_the_anchor(tmp_path) -> None:  # type: ignore[no-untyped-def]
    issuer, root = make_issuer()
    leaf_der, chain, _ = issuer.certify(WEB, make_csr([WEB]), dt.datetime.now(dt.UTC))
    store = x509.verification.Store([root])
    builder = x509.verification.PolicyBuilder().store(store)
    verifier = builder.build_client_verifier()
    leaf = x509.load_der_x509_certificate(leaf_der)
    verified = verifier.verify(leaf, [x509.load_der_x509_certificate(c) for c in chain])
    assert verified.subjects is not None
    ctx = ssl.create_default_context(cadata=pki.pem(root).decode())
    assert ctx.cert_store_stats()["x509_ca"] == 1


def test_leaf_never_outlives_its_issuer() -> None:
    root_key, root = pki.make_root("root.test", NOW)
    key, cert = pki.make_issuer(root_key, root, "identity.test", NOW, dt.timedelta(hours=2))
    issuer = pki.load_issuer(pki.pem(root), pki.pem(cert), pki.key_pem(key), NOW)
    _, _, valid_until = issuer.certify(WEB, make_csr([WEB]), NOW)
    assert valid_until == cert.not_valid_after_utc


@pytest.mark.parametrize(
    ("names", "cn", "why"),
    [
        ([], None, "no SAN"),
        (["other.default.serviceaccount.identity.lightmesh.cluster.local"], None, "exactly"),
        ([WEB, "extra.example"], None, "exactly"),
        ([WEB], "someone-else", "CN"),
    ],
)
def test_csr_must_ask_for_exactly_the_identity(names: list[str], cn: str | None, why: str) -> None:
    issuer, _ = make_issuer()
    with pytest.raises(pki.PkiError, match=why):
        issuer.certify(WEB, make_csr(names, cn), NOW)


def test_csr_must_be_p256_and_well_formed() -> None:
    issuer, _ = make_issuer()
    with pytest.raises(pki.PkiError, match="P-256"):
        issuer.certify(WEB, make_csr([WEB], key=rsa.generate_private_key(65537, 2048)), NOW)
    with pytest.raises(pki.PkiError, match="PKCS#10"):
        issuer.certify(WEB, b"not a csr", NOW)


def test_load_issuer_checks_chain_key_and_validity() -> None:
    root_key, root = pki.make_root("root.test", NOW)
    _, other_root = pki.make_root("other.test", NOW)
    key, cert = pki.make_issuer(root_key, root, "identity.test", NOW, dt.timedelta(days=1))
    with pytest.raises(pki.PkiError, match="not signed by any trust anchor"):
        pki.load_issuer(pki.pem(other_root), pki.pem(cert), pki.key_pem(key), NOW)
    with pytest.raises(pki.PkiError, match="does not belong"):
        pki.load_issuer(pki.pem(root), pki.pem(cert), pki.key_pem(pki.new_key()), NOW)
    with pytest.raises(pki.PkiError, match="not valid now"):
        pki.load_issuer(pki.pem(root), pki.pem(cert), pki.key_pem(key), NOW + dt.timedelta(days=2))
    # a bundle of two roots (anchor rotation) accepts an issuer from either
    bundle = pki.pem(other_root) + pki.pem(root)
    assert pki.load_issuer(bundle, pki.pem(cert), pki.key_pem(key), NOW).cert == cert
    assert len(pki.load_issuer(bundle, pki.pem(cert), pki.key_pem(key), NOW).anchors) == 2
