"""Identity helpers for tests: an identity directory with tokens, CSRs, and a grpcio Certify call.

:func:`identity_dir` runs the real ``lightmesh identity init`` and ``token`` commands (as
an operator would) and returns the directory and tokens. :func:`certify` calls
``Identity.Certify`` with **grpcio**, an independent gRPC implementation from the
controller's grpclib.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

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
