"""Token validation for ``Identity.Certify``: one interface, and the embedded bootstrap tokens.

A :class:`TokenValidator` turns a token into the :class:`Workload` (ServiceAccount and
namespace) it proves, or raises :class:`InvalidToken`. The embedded default is
:class:`BootstrapTokens`: per-workload tokens made by ``lightmesh identity token``,
kept in the identity directory's ``tokens`` file as one ``sha256:<hex> <sa>.<ns>``
line each, so the file never holds a usable token. The file is read on each
validation (rare: a certification) and re-parsed when its text changed, so tokens can be
added or revoked while the controller runs. A Kubernetes validator (TokenReview of ServiceAccount
tokens) plugs in behind the same interface.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)
TOKENS_FILE = "tokens"
PREFIX = "lmt_"


class InvalidToken(Exception):
    """The token proves nothing: unknown, revoked or malformed."""


@dataclass(frozen=True, slots=True)
class Workload:
    service_account: str
    namespace: str


class TokenValidator(Protocol):
    async def validate(self, token: bytes) -> Workload: ...


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: bytes) -> str:
    return "sha256:" + hashlib.sha256(token).hexdigest()


def parse_tokens(text: str, origin: str) -> dict[str, Workload]:
    found: dict[str, Workload] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        workload = parts[1].split(".") if len(parts) == 2 else []
        if len(workload) != 2 or not parts[0].startswith("sha256:") or len(parts[0]) != 71:
            raise ValueError(f"{origin}:{number}: expected 'sha256:<64 hex digits> <sa>.<namespace>'")
        found[parts[0]] = Workload(workload[0], workload[1])
    return found


class BootstrapTokens:
    """Validates tokens against the hashes in ``DIR/tokens``, re-reading the file when it changes."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / TOKENS_FILE
        self._stamp: str | None = None  # the text last parsed
        self._tokens: dict[str, Workload] = {}

    def _reload(self) -> None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            self._stamp, self._tokens = None, {}
            return
        except OSError as exc:
            log.error("cannot read %s, keeping the previous %d tokens: %s", self.path, len(self._tokens), exc)
            return
        if text == self._stamp:
            return
        try:
            self._tokens = parse_tokens(text, str(self.path))
        except ValueError as exc:
            log.error("keeping the previous %d tokens: %s", len(self._tokens), exc)
        else:
            log.info("token store %s loaded: %d tokens", self.path, len(self._tokens))
        self._stamp = text

    async def validate(self, token: bytes) -> Workload:
        return self.lookup(token)

    def lookup(self, token: bytes) -> Workload:
        self._reload()
        workload = self._tokens.get(token_hash(token.strip()))
        if workload is None:
            raise InvalidToken("unknown bootstrap token")
        return workload


def add_token(directory: Path, service_account: str, namespace: str) -> str:
    """Make a token for ``<sa>.<namespace>``, append its hash to the store and return it."""
    token = new_token()
    path = directory / TOKENS_FILE
    line = f"{token_hash(token.encode())} {service_account}.{namespace}\n"
    with open(path, "a", encoding="ascii") as f:
        f.write(line)
    path.chmod(0o600)
    return token
