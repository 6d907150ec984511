"""Identity helpers for tests: an identity directory with tokens, CSRs, and a grpcio Certify call.

:func:`identity_dir` runs the real ``lightmesh identity init`` and ``token`` commands (as
an operator would) and returns the directory and tokens. :func:`certify` calls
``Identity.Certify`` with **grpcio**, an independent gRPC implementation from the
controller's grpclib.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lightmesh.api.gen import identity_pb2 as pb

CERTIFY = "/lightmesh.identity.Identity/Certify"


def lightmesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightmesh", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "RES_OPTIONS": "attempts:0"},
        check=False,
    )


def identity_dir(path: Path, *workloads: tuple[str, str], **init: str) -> dict[str, str]:
    """``lightmesh identity init`` into ``path``, a token per ``(sa, ns)``: ``{"sa.ns": token}``."""
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in init.items()]
    done = lightmesh("identity", "init", "--dir", str(path), *flags)
    assert done.returncode == 0, done.stderr
    tokens = {}
    for sa, ns in workloads:
        done = lightmesh("identity", "token", sa, "--namespace", ns, "--dir", str(path))
        assert done.returncode == 0, done.stderr
        tokens[f"{sa}.{ns}"] = done.stdout.strip()
    return tokens


def name(sa: str, ns: str, cns: str = "lightmesh", td: str = "cluster.local") -> str:
    return f"{sa}.{ns}.serviceaccount.identity.{cns}.{td}"


def csr(identity: str, key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(identity)]), critical=False)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def certify(api: str, identity: str, token: str, request_csr: bytes) -> pb.CertifyResponse:
    options = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]
    with grpc.insecure_channel(api, options=options) as channel:
        call = channel.unary_unary(
            CERTIFY,
            request_serializer=pb.CertifyRequest.SerializeToString,
            response_deserializer=pb.CertifyResponse.FromString,
        )
        request = pb.CertifyRequest(
            identity=identity, token=token.encode(), certificate_signing_request=request_csr
        )
        response: pb.CertifyResponse = call(request, timeout=10)
        return response


def leaf(
    directory: Path, identity: str, not_before: dt.datetime, not_after: dt.datetime
) -> tuple[bytes, bytes]:
    """A leaf for ``identity`` signed by the directory's issuer with any validity: (chain PEM, key PEM)."""
    issuer_cert = x509.load_pem_x509_certificate((directory / "issuer.crt").read_bytes())
    issuer_key = serialization.load_pem_private_key((directory / "issuer.key").read_bytes(), None)
    assert isinstance(issuer_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(identity)]), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    chain = cert.public_bytes(Encoding.PEM) + issuer_cert.public_bytes(Encoding.PEM)
    key_pem = key.private_bytes(Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return chain, key_pem


def tls_request(
    addr: str,
    server_name: str,
    anchors: Path,
    chain: Path | None = None,
    key: Path | None = None,
    alpn: str | None = None,
    preamble: bytes = b"",
) -> bytes:
    """One HTTP/1.1 GET over TLS 1.3 to ``addr`` with SNI ``server_name``, as a meshed peer would
    send it (optionally with a client certificate, an ALPN protocol and bytes sent before the
    request); the raw response bytes, or ``ssl.SSLError``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.load_verify_locations(cafile=str(anchors))
    if chain is not None:
        ctx.load_cert_chain(str(chain), str(key))
    if alpn is not None:
        ctx.set_alpn_protocols([alpn])
    host, port = addr.rsplit(":", 1)
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        tls.sendall(preamble + b"GET /echo HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        return data
