"""The checks ``lightmesh check`` runs, and the command itself.

* ``lightmesh-api``: the public API answers (fatal: nothing else can be checked).
* ``lightmesh-version``: the control plane runs the expected version (the CLI's).
* ``lightmesh-data-plane``: proxies have announced themselves, every one answers
  ``/ready`` with 200, and every one runs the control plane's version.
* ``lightmesh-identity`` (when any proxy announced an identity): every proxy has
  one, and every proxy's certificate (``identity_cert_expiration_timestamp_seconds``
  on its ``/metrics``) is valid for at least :data:`MIN_CERT_VALIDITY` more.
Exit code 0 when every check passed, 2 otherwise.
"""

from __future__ import annotations

import asyncio
import time

from lightmesh import __version__
from lightmesh.cli.checks import OK, Category, Check, CheckContext, Result, register, run_checks
from lightmesh.cli.client import ApiClient, ApiError, ApiUnavailable
from lightmesh.cli.commands import fail
from lightmesh.cli.samples import parse
from lightmesh.cli.scrape import fetch, ready
from lightmesh.cli.statrows import Proxy
from lightmesh.cli.target import Target, api_addr

MIN_CERT_VALIDITY = 3600.0
CERT_EXPIRY = "identity_cert_expiration_timestamp_seconds"


async def _api(ctx: CheckContext) -> Result:
    try:
        async with ApiClient(Target(ctx.api_addr, ctx.api_source)) as client:
            ctx.facts["server_version"] = await client.version()
            reply = await client.list_proxies()
    except (ApiUnavailable, ApiError) as exc:
        return Result(False, str(exc).splitlines()[0])
    ctx.facts["proxies"] = [
        (Proxy(p.namespace, p.service, p.pod, p.identity, p.admin_addr), p.version) for p in reply.proxies
    ]
    return OK


async def _version(ctx: CheckContext) -> Result:
    server = ctx.facts.get("server_version", "")
    if server != ctx.expected_version:
        return Result(False, f"control plane is {server}, expected {ctx.expected_version}")
    return OK


def _proxies(ctx: CheckContext) -> list[tuple[Proxy, str]]:
    return list(ctx.facts.get("proxies", []))


async def _announced(ctx: CheckContext) -> Result:
    count = len(_proxies(ctx))
    return OK if count else Result(False, "no proxy has announced itself")


async def _ready(ctx: CheckContext) -> Result:
    proxies = [p for p, _ in _proxies(ctx)]
    answers = await asyncio.gather(*(asyncio.to_thread(ready, p) for p in proxies))
    bad = [f"{p.namespace}/{p.pod}: {why}" for p, (ok, why) in zip(proxies, answers, strict=True) if not ok]
    return Result(False, "; ".join(bad)) if bad else OK


async def _proxy_versions(ctx: CheckContext) -> Result:
    server = ctx.facts.get("server_version", "")
    bad = [f"{p.namespace}/{p.pod} runs {v}" for p, v in _proxies(ctx) if v != server]
    return Result(False, "; ".join(bad)) if bad else OK


async def _identities(ctx: CheckContext) -> Result:
    missing = [f"{p.namespace}/{p.pod}" for p, _ in _proxies(ctx) if not p.identity]
    return Result(False, "no identity: " + ", ".join(missing)) if missing else OK


def _expiry(proxy: Proxy) -> float | None:
    for sample in parse(fetch(f"http://{proxy.admin_addr}/metrics")):
        if sample.name == CERT_EXPIRY:
            return sample.value
    return None


async def _certificates(ctx: CheckContext) -> Result:
    proxies = [p for p, _ in _proxies(ctx) if p.identity]
    expiries = await asyncio.gather(*(asyncio.to_thread(_expiry, p) for p in proxies), return_exceptions=True)
    now, bad = time.time(), []
    for p, expiry in zip(proxies, expiries, strict=True):
        name = f"{p.namespace}/{p.pod}"
        if isinstance(expiry, BaseException):
            bad.append(f"{name}: cannot read /metrics: {expiry}")
        elif expiry is None:
            bad.append(f"{name}: no {CERT_EXPIRY} metric")
        elif expiry - now < MIN_CERT_VALIDITY:
            bad.append(f"{name}: certificate expires in {max(0, round(expiry - now))}s")
    return Result(False, "; ".join(bad)) if bad else OK


def _identity_on(ctx: CheckContext) -> bool:
    return any(p.identity for p, _ in _proxies(ctx))


register(
    Category(
        "lightmesh-api",
        [
            Check(
                "can reach the control plane's public API",
                _api,
                "start the control plane with `lightmesh up` (or `lightmesh controller`), or point to it "
                "with --api-addr HOST:PORT or LIGHTMESH_API_ADDR",
                fatal=True,
            )
        ],
    )
)
register(
    Category(
        "lightmesh-version",
        [
            Check(
                "control plane runs the expected version",
                _version,
                "run the same lightmesh version for the CLI and the control plane (see `lightmesh version`)",
            )
        ],
    )
)
register(
    Category(
        "lightmesh-data-plane",
        [
            Check(
                "proxies have announced themselves",
                _announced,
                "set LIGHTMESH_PROXY_CONTROLLER_ADDR on each proxy to the controller's proxy API "
                "(docs/proxy.md)",
            ),
            Check(
                "every proxy is ready",
                _ready,
                "a proxy answers /ready with 503 while starting or draining; read its log",
            ),
            Check(
                "every proxy runs the control plane's version",
                _proxy_versions,
                "restart the listed proxies with the control plane's lightmesh version",
            ),
        ],
    )
)
register(
    Category(
        "lightmesh-identity",
        [
            Check(
                "every proxy has an identity", _identities, "turn identity on for every proxy, or for none"
            ),
            Check(
                "proxy certificates are valid for at least an hour",
                _certificates,
                "check the identity service and the proxies' certificate refresh (their logs)",
            ),
        ],
        applies=_identity_on,
    )
)


def run_check(expected_version: str, api_flag: str | None) -> int:
    from lightmesh.cli.checks import CATEGORIES

    try:
        target = api_addr(api_flag)
    except ValueError as exc:
        return fail("check", str(exc), 2)
    ctx = CheckContext(target.addr, target.source, __version__, expected_version or __version__)
    passed = asyncio.run(run_checks(ctx, CATEGORIES, lambda text: print(text, flush=True)))
    return 0 if passed else 2
