"""``lightmesh check`` output: Conduit-style lines, hints on failures, a fatal failure skips the rest."""

from __future__ import annotations

import asyncio

from lightmesh.cli.checks import OK, Category, Check, CheckContext, Result, run_checks
from tests.support.golden import assert_golden


async def _ok(ctx: CheckContext) -> Result:
    return OK


async def _bad(ctx: CheckContext) -> Result:
    return Result(False, "default/web-1: HTTP Error 503: Service Unavailable")


async def _crash(ctx: CheckContext) -> Result:
    raise RuntimeError("boom")


def _ctx() -> CheckContext:
    return CheckContext("127.0.0.1:8085", "the default", "0.1.0", "0.1.0")


def _run(categories: list[Category]) -> tuple[bool, str]:
    lines: list[str] = []
    loop = asyncio.new_event_loop()  # not installed as the current loop: the test leaves that alone
    try:
        passed = loop.run_until_complete(run_checks(_ctx(), categories, lines.append))
    finally:
        loop.close()
    return passed, "\n".join(lines) + "\n"


def test_all_passing_golden() -> None:
    categories = [
        Category("lightmesh-api", [Check("can reach the control plane's public API", _ok, "start it", True)]),
        Category("lightmesh-data-plane", [Check("every proxy is ready", _ok, "read its log")]),
        Category("lightmesh-identity", [Check("every proxy has an identity", _bad, "x")], lambda c: False),
    ]
    passed, text = _run(categories)
    assert passed
    assert_golden("check_ok.txt", text)


def test_failures_print_a_hint_and_a_fatal_one_skips_the_rest() -> None:
    categories = [
        Category(
            "lightmesh-data-plane",
            [
                Check(
                    "every proxy is ready", _bad, "a proxy answers /ready with 503 while starting or draining"
                ),
                Check("a check that crashes", _crash, "report it"),
            ],
        ),
        Category(
            "lightmesh-api", [Check("can reach the control plane's public API", _bad, "start it", True)]
        ),
        Category("lightmesh-version", [Check("control plane runs the expected version", _ok, "upgrade")]),
    ]
    passed, text = _run(categories)
    assert not passed
    assert_golden("check_fail.txt", text)
