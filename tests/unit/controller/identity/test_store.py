"""The identity directory: init, config, token store and issuer reloads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from lightmesh.controller.identity import pki, store, tokens


def _now() -> dt.datetime:
    """The real time: ``store.init`` stamps certificates with it, so a time taken at import
    could fall before them in a long test run."""
    return dt.datetime.now(dt.UTC)


def test_init_writes_the_files_and_refuses_to_overwrite(tmp_path: Path) -> None:
    paths = store.init(tmp_path / "id", "example.org", "mesh", root_validity=86400 * 2, issuer_validity=3600)
    assert [p.name for p in paths] == ["trust-anchors.pem", "issuer.crt", "issuer.key", "identity.yaml"]
    assert (tmp_path / "id" / "issuer.key").stat().st_mode & 0o777 == 0o600
    root = x509.load_pem_x509_certificate(paths[0].read_bytes())
    issuer = x509.load_pem_x509_certificate(paths[1].read_bytes())
    assert root.subject.rfc4514_string() == "CN=root.mesh.example.org"
    assert issuer.not_valid_after_utc - issuer.not_valid_before_utc == dt.timedelta(hours=1, seconds=20)
    config = store.read_config(tmp_path / "id")
    assert (config.trust_domain, config.controller_namespace, config.issuance_lifetime) == (
        "example.org",
        "mesh",
        86400.0,
    )
    with pytest.raises(FileExistsError, match="--force"):
        store.init(tmp_path / "id")
    store.init(tmp_path / "id", force=True)
    assert store.read_config(tmp_path / "id").trust_domain == "cluster.local"


def test_init_rejects_bad_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trust domain"):
        store.init(tmp_path, "Not A Domain")
    with pytest.raises(ValueError, match="root validity"):
        store.init(tmp_path, root_validity=0)


def test_config_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "identity.yaml").write_text("trust_domain: x\nbogus: 1\n")
    with pytest.raises(ValueError, match=r"identity\.yaml: unknown keys \['bogus'\]"):
        store.read_config(tmp_path)
    (tmp_path / "identity.yaml").write_text("issuance_lifetime: '10'\n")
    with pytest.raises(ValueError, match="invalid duration"):
        store.read_config(tmp_path)


def test_tokens_are_stored_hashed_and_reloaded_when_added(tmp_path: Path) -> None:
    store.init(tmp_path)
    validator = tokens.BootstrapTokens(tmp_path)
    first = tokens.add_token(tmp_path, "web", "default")
    assert first not in (tmp_path / "tokens").read_text()
    assert (validator.lookup(first.encode())) == tokens.Workload("web", "default")
    second = tokens.add_token(tmp_path, "db", "prod")
    assert (validator.lookup(second.encode() + b"\n")) == tokens.Workload("db", "prod")
    with pytest.raises(tokens.InvalidToken):
        (validator.lookup(b"lmt_guess"))


def test_a_broken_token_file_keeps_the_previous_tokens(tmp_path: Path) -> None:
    validator = tokens.BootstrapTokens(tmp_path)
    token = tokens.add_token(tmp_path, "web", "default")
    (validator.lookup(token.encode()))
    with open(tmp_path / "tokens", "a") as f:
        f.write("garbage line here\n")
    assert (validator.lookup(token.encode())).service_account == "web"


def test_issuer_files_reload_on_change_and_keep_the_last_good_issuer(tmp_path: Path) -> None:
    store.init(tmp_path)
    files = store.IssuerFiles(tmp_path)
    first = files.load(_now())
    assert files.load(_now()) is first
    (tmp_path / "issuer.key").write_bytes(pki.key_pem(pki.new_key()))  # does not match the cert
    assert files.load(_now()) is first
    store.init(tmp_path, force=True)
    assert files.load(_now()).cert != first.cert


def test_issuer_files_raise_when_nothing_ever_loaded(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="trust-anchors"):
        store.IssuerFiles(tmp_path).load(_now())
