"""The identity directory: the files ``lightmesh identity init`` writes and the controller reads.

* ``trust-anchors.pem``: the trust bundle, one or more root certificates (two while an
  anchor is being rotated). Proxies get the same file.
* ``issuer.crt`` and ``issuer.key``: the issuer (intermediate) certificate and its key.
* ``identity.yaml``: ``trust_domain``, ``controller_namespace``, ``issuance_lifetime``
  (leaf lifetime, default ``24h``) and ``clock_skew_allowance`` (default ``20s``).
* ``tokens``: hashes of the bootstrap tokens (see :mod:`.tokens`).

:func:`init` creates a new root and issuer (refusing to overwrite without ``force``).
:class:`IssuerFiles` loads the issuer for the controller and re-loads it when any of
its files' contents change; a changed set that does not validate is logged and the last good
issuer kept, so a half-copied rotation never stops issuance.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from lightmesh.controller.identity import pki
from lightmesh.core.durations import parse_duration
from lightmesh.core.identity import (
    DEFAULT_CONTROLLER_NAMESPACE,
    DEFAULT_TRUST_DOMAIN,
    check_domain,
    check_label,
)

log = logging.getLogger(__name__)
ANCHORS = "trust-anchors.pem"
ISSUER_CRT = "issuer.crt"
ISSUER_KEY = "issuer.key"
CONFIG = "identity.yaml"


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    controller_namespace: str = DEFAULT_CONTROLLER_NAMESPACE
    issuance_lifetime: float = pki.LEAF_LIFETIME.total_seconds()
    clock_skew_allowance: float = pki.CLOCK_SKEW.total_seconds()


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string")
    return value


def read_config(directory: Path) -> IdentityConfig:
    path = directory / CONFIG
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return IdentityConfig()
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping")
    unknown = set(doc) - {f.name for f in IdentityConfig.__dataclass_fields__.values()}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    defaults = IdentityConfig()
    try:
        lifetime = parse_duration(_text(doc.get("issuance_lifetime", "24h"), "issuance_lifetime"))
        skew = parse_duration(_text(doc.get("clock_skew_allowance", "20s"), "clock_skew_allowance"))
        config = IdentityConfig(
            check_domain(
                "trust domain", _text(doc.get("trust_domain", defaults.trust_domain), "trust_domain")
            ),
            check_label(
                "controller namespace",
                _text(doc.get("controller_namespace", defaults.controller_namespace), "controller_namespace"),
            ),
            lifetime,
            skew,
        )
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if lifetime <= 0:
        raise ValueError(f"{path}: issuance_lifetime must be more than 0")
    return config


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    path.chmod(mode)


def init(
    directory: Path,
    trust_domain: str = DEFAULT_TRUST_DOMAIN,
    controller_namespace: str = DEFAULT_CONTROLLER_NAMESPACE,
    root_validity: float = pki.CA_VALIDITY.total_seconds(),
    issuer_validity: float = pki.CA_VALIDITY.total_seconds(),
    force: bool = False,
    now: dt.datetime | None = None,
) -> list[Path]:
    """Create a root and an issuer in ``directory``; ``FileExistsError`` unless ``force``."""
    check_domain("trust domain", trust_domain)
    check_label("controller namespace", controller_namespace)
    for what, seconds in (("root validity", root_validity), ("issuer validity", issuer_validity)):
        if seconds <= 0:
            raise ValueError(f"{what} must be more than 0")
    paths = [directory / name for name in (ANCHORS, ISSUER_CRT, ISSUER_KEY, CONFIG)]
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{', '.join(map(str, existing))} already exist (use --force to replace)")
    now = now or dt.datetime.now(dt.UTC)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = f"{controller_namespace}.{trust_domain}"
    root_key, root = pki.make_root(f"root.{suffix}", now, dt.timedelta(seconds=root_validity))
    key, issuer = pki.make_issuer(
        root_key, root, f"identity.{suffix}", now, dt.timedelta(seconds=issuer_validity)
    )
    config = f"trust_domain: {trust_domain}\ncontroller_namespace: {controller_namespace}\n"
    config += "issuance_lifetime: 24h\nclock_skew_allowance: 20s\n"
    _write(paths[0], pki.pem(root), 0o644)
    _write(paths[1], pki.pem(issuer), 0o644)
    _write(paths[2], pki.key_pem(key), 0o600)
    _write(paths[3], config.encode(), 0o644)
    return paths


class IssuerFiles:
    """The controller's issuer, re-loaded from the directory when its files change."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.config = read_config(directory)
        self._stamp: tuple[bytes, ...] | None = None
        self._issuer: pki.Issuer | None = None

    def load(self, now: dt.datetime) -> pki.Issuer:
        """The current issuer; raises :class:`pki.PkiError` or ``OSError`` only when none ever loaded.

        The files are small and read at each call (a certification, rare): a change is
        seen even when it keeps the size and lands within the file system's timestamp
        granularity."""
        stamp = None
        try:
            anchors, cert, key = (
                (self.directory / n).read_bytes() for n in (ANCHORS, ISSUER_CRT, ISSUER_KEY)
            )
            stamp = (anchors, cert, key)
            if stamp != self._stamp or self._issuer is None:
                issuer = pki.load_issuer(
                    anchors,
                    cert,
                    key,
                    now,
                    dt.timedelta(seconds=self.config.issuance_lifetime),
                    dt.timedelta(seconds=self.config.clock_skew_allowance),
                )
                if self._issuer is not None:
                    log.info("issuer reloaded: %s", issuer.cert.subject.rfc4514_string())
                self._issuer = issuer
        except (OSError, pki.PkiError) as exc:
            if self._issuer is None:
                raise
            if stamp != self._stamp:  # say so once per change, not on every request
                log.error(
                    "identity files in %s changed but cannot be used, keeping the issuer: %s",
                    self.directory,
                    exc,
                )
        self._stamp = stamp
        return self._issuer
