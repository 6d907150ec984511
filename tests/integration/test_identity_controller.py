"""``lightmesh controller --identity-dir``: Identity.Certify over gRPC (grpcio client), with the CLI's files.

The identity directory is made with the real ``lightmesh identity init`` and ``token``
commands; the returned leaf is checked against the trust anchors with ``openssl verify``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from tests.support.controller import ControllerProcess, launch
from tests.support.identity import certify, csr, identity_dir, lightmesh, name

WEB = name("web", "default")


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[ControllerProcess, Path, dict[str, str]]]:
    registry = tmp_path / "mesh-registry.yaml"
    registry.write_text("services: []\n")
    tokens = identity_dir(tmp_path / "id", ("web", "default"), ("db", "prod"))
    controller = launch(registry, "--identity-dir", str(tmp_path / "id"))
    yield controller, tmp_path / "id", tokens
    controller.stop()


def test_certify_signs_a_leaf_that_chains_to_the_trust_anchor(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    controller, directory, tokens = setup
    response = certify(controller.api, WEB, tokens["web.default"], csr(WEB))
    leaf = x509.load_der_x509_certificate(response.leaf_certificate)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [WEB]
    assert response.valid_until.ToDatetime(dt.UTC) == leaf.not_valid_after_utc
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime == dt.timedelta(hours=24, seconds=40)
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(encoding=_PEM))
    chain = b"".join(
        x509.load_der_x509_certificate(der).public_bytes(encoding=_PEM)
        for der in response.intermediate_certificates
    )
    (tmp_path / "chain.pem").write_bytes(chain)
    verify = subprocess.run(
        [
            "openssl", "verify", "-purpose", "sslserver",
            "-CAfile", str(directory / "trust-anchors.pem"),
            "-untrusted", str(tmp_path / "chain.pem"),
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _code(call) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def test_certify_refuses_unknown_tokens_other_identities_and_wrong_csrs(setup) -> None:  # type: ignore[no-untyped-def]
    controller, _, tokens = setup
    api = controller.api
    code, why = _code(lambda: certify(api, WEB, "lmt_not-a-token", csr(WEB)))
    assert code == grpc.StatusCode.UNAUTHENTICATED, why
    db = name("db", "prod")
    code, why = _code(lambda: certify(api, WEB, tokens["db.prod"], csr(WEB)))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert db in why
    code, why = _code(lambda: certify(api, WEB, tokens["web.default"], csr(db)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "exactly" in why
    code, why = _code(lambda: certify(api, WEB, tokens["web.default"], b"garbage"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert controller.metric("identity_certify_total", outcome="unauthenticated") == 1
    assert controller.metric("identity_certify_total", outcome="permission_denied") == 1
    assert controller.metric("identity_certify_total", outcome="invalid_argument") == 2
    assert controller.metric("identity_certify_total", outcome="ok") == 0
    assert controller.metric("identity_issuer_expiration_timestamp_seconds") > 0


def test_tokens_added_while_running_are_accepted(setup) -> None:  # type: ignore[no-untyped-def]
    controller, directory, _ = setup
    api_name = name("api", "default")
    done = lightmesh("identity", "token", "api", "--namespace", "default", "--dir", str(directory))
    assert done.returncode == 0, done.stderr
    response = certify(controller.api, api_name, done.stdout.strip(), csr(api_name))
    assert response.leaf_certificate


def test_controller_refuses_an_unusable_identity_dir(tmp_path: Path) -> None:
    registry = tmp_path / "mesh-registry.yaml"
    registry.write_text("services: []\n")
    (tmp_path / "empty").mkdir()
    controller = ControllerProcess(registry, "--identity-dir", str(tmp_path / "empty"))
    with pytest.raises(RuntimeError, match=r"(?s)controller exited \(2\).*identity-dir.*trust-anchors.pem"):
        controller.start()


def test_identity_init_validates_flags(tmp_path: Path) -> None:
    done = lightmesh("identity", "init", "--dir", str(tmp_path), "--root-validity", "10")
    assert done.returncode == 2
    assert "invalid duration" in done.stderr
    done = lightmesh("identity", "token", "Web", "--namespace", "default", "--dir", str(tmp_path))
    assert done.returncode == 2
    assert "invalid service account" in done.stderr


from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402

_PEM = Encoding.PEM
