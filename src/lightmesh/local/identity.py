"""The mesh identity of a ``lightmesh up``: its CA directory and one bootstrap token per service account.

``up`` owns ``STATE_DIR/identity``: it is created afresh at every start by ``lightmesh identity
init``, run as a process (``local`` drives the controller's tools the way it runs the
controller and the proxies, never through their internals). Each service account gets one
token from ``lightmesh identity token`` (only its hash lands in the directory's ``tokens``
file, which the controller re-reads), kept in memory and written to one file per instance
(mode 0600, ``STATE_DIR/proxy-tokens/NAMESPACE.POD.token``) for its sidecar's
``LIGHTMESH_PROXY_IDENTITY_TOKEN_FILE``. Everything is removed when ``up`` stops.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

from lightmesh.local.sidecar import Instance, base_env

TRUST_ANCHORS = "trust-anchors.pem"


class LocalIdentity:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "identity"
        self.token_dir = state_dir / "proxy-tokens"
        self._tokens: dict[tuple[str, str], str] = {}  # (service account, namespace) -> token

    @property
    def trust_anchors(self) -> Path:
        return self.dir / TRUST_ANCHORS

    async def init(self) -> None:
        """A new trust anchor and issuer (a previous run's, and its tokens, are discarded)."""
        self.remove()
        self.token_dir.mkdir(mode=0o700, parents=True)
        await _lightmesh("identity", "init", "--dir", str(self.dir))

    async def issue(self, accounts: set[tuple[str, str]]) -> None:
        """A token for each ``(service account, namespace)`` that has none yet, concurrently."""
        missing = sorted(accounts - self._tokens.keys())
        issued = await asyncio.gather(
            *(
                _lightmesh("identity", "token", sa, "--namespace", ns, "--dir", str(self.dir))
                for sa, ns in missing
            )
        )
        for account, out in zip(missing, issued, strict=True):
            self._tokens[account] = out.strip()

    async def provide(self, instance: Instance) -> None:
        """Write the instance's token file and point its sidecar settings at it and the trust bundle."""
        svc = instance.service
        await self.issue({(svc.account, svc.namespace)})
        path = self.token_dir / f"{svc.namespace}.{instance.pod}.token"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self._tokens[(svc.account, svc.namespace)] + "\n")
        instance.token_file = str(path)
        instance.trust_anchors = str(self.trust_anchors)

    def forget(self, instance: Instance) -> None:
        if instance.token_file:
            Path(instance.token_file).unlink(missing_ok=True)

    def remove(self) -> None:
        for path in (self.dir, self.token_dir):
            shutil.rmtree(path, ignore_errors=True)


async def _lightmesh(*args: str) -> str:
    """Run ``lightmesh ARGS`` with this Python; its standard output, or ``RuntimeError`` with its errors."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lightmesh", *args,
        env=base_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"lightmesh {' '.join(args[:2])} failed: {err.decode(errors='replace').strip()}")
    return out.decode()
