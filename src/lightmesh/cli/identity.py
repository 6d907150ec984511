"""``lightmesh identity``: the CA files, bootstrap tokens, and a running proxy's certificate.

* ``lightmesh identity init --dir DIR``: a new trust anchor (root) and issuer for the
  controller's ``--identity-dir`` (refuses to overwrite without ``--force``).
* ``lightmesh identity token SA --namespace NS --dir DIR``: prints a new bootstrap token
  for workload ``SA.NS`` and stores only its hash in DIR.
* ``lightmesh identity [--admin-addr HOST:PORT]``: prints the certificate a running proxy
  holds (from its admin ``/identity``): identity, issuer, validity, serial.

Exit codes: 0 on success, 1 when the proxy cannot be reached or has no certificate,
2 for invalid arguments or files that would be overwritten.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import typer

from lightmesh.core.durations import parse_duration
from lightmesh.core.identity import DEFAULT_CONTROLLER_NAMESPACE, DEFAULT_TRUST_DOMAIN, identity_name

identity_app = typer.Typer(
    help="Mesh identity: create the CA files, issue bootstrap tokens, show a proxy's certificate.",
    invoke_without_command=True,
    add_completion=False,
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    print(f"lightmesh identity: {message}", file=sys.stderr)
    return typer.Exit(code)


@identity_app.callback()
def show(
    ctx: typer.Context,
    admin_addr: str = typer.Option("127.0.0.1:4191", help="the proxy's admin address"),
    output: str = typer.Option("text", "--output", "-o", help="text or json"),
) -> None:
    """Print the certificate of the proxy whose admin listener is at --admin-addr."""
    if ctx.invoked_subcommand is not None:
        return
    if output not in ("text", "json"):
        raise _fail(f"--output: expected text or json, got {output!r}")
    url = f"http://{admin_addr}/identity"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            info = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise _fail(f"{url}: {exc.code} {exc.read().decode(errors='replace').strip()}", 1) from None
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read {url}: {exc}", 1) from None
    if output == "json":
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(render(info, dt.datetime.now(dt.UTC)))


def render(info: dict[str, Any], now: dt.datetime) -> str:
    not_after = dt.datetime.fromisoformat(info["not_after"])
    left = int((not_after - now).total_seconds())
    expiry = f"expires in {_span(left)}" if left > 0 else f"EXPIRED {_span(-left)} ago"
    rows = [
        ("Identity", info["identity"]),
        ("Issuer", info["issuer"]),
        ("Serial", info["serial"]),
        ("Not before", info["not_before"]),
        ("Not after", f"{info['not_after']} ({expiry})"),
    ]
    return "\n".join(f"{name + ':':<12}{value}" for name, value in rows)


def _span(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s"


@identity_app.command()
def init(
    dir: str = typer.Option(..., "--dir", help="where to write the files (created if missing)"),
    trust_domain: str = typer.Option(DEFAULT_TRUST_DOMAIN, help="the mesh's trust domain"),
    controller_namespace: str = typer.Option(DEFAULT_CONTROLLER_NAMESPACE, help="the controller's namespace"),
    root_validity: str = typer.Option("365d", help="how long the trust anchor is valid"),
    issuer_validity: str = typer.Option("365d", help="how long the issuer is valid"),
    force: bool = typer.Option(False, "--force", help="replace existing files"),
) -> None:
    """Create a trust anchor (root) and an issuer, ECDSA P-256, for `lightmesh controller --identity-dir`."""
    from lightmesh.controller.identity import store

    try:
        paths = store.init(
            Path(dir),
            trust_domain,
            controller_namespace,
            parse_duration(root_validity),
            parse_duration(issuer_validity),
            force,
        )
    except FileExistsError as exc:
        raise _fail(str(exc)) from None
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    for path in paths:
        typer.echo(f"wrote {path}")
    typer.echo(f"proxies trust {paths[0]} (LIGHTMESH_PROXY_IDENTITY_TRUST_ANCHORS); keep {paths[2]} secret")


@identity_app.command()
def token(
    service_account: str = typer.Argument(..., metavar="SERVICEACCOUNT"),
    namespace: str = typer.Option(..., "--namespace", help="the workload's namespace"),
    dir: str = typer.Option(..., "--dir", help="the controller's identity directory"),
) -> None:
    """Print a new bootstrap token for workload SERVICEACCOUNT.NAMESPACE; only its hash is stored."""
    from lightmesh.controller.identity import store, tokens

    directory = Path(dir)
    try:
        config = store.read_config(directory)
        name = identity_name(service_account, namespace, config.controller_namespace, config.trust_domain)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if not directory.is_dir():
        raise _fail(f"{dir} is not a directory (run `lightmesh identity init --dir {dir}` first)")
    try:
        secret = tokens.add_token(directory, service_account, namespace)
    except OSError as exc:
        raise _fail(f"cannot store the token: {exc}") from None
    print(f"token for {name} (give it to the proxy in LIGHTMESH_PROXY_IDENTITY_TOKEN_FILE):", file=sys.stderr)
    typer.echo(secret)
