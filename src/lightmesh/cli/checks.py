"""``lightmesh check``'s framework: categories of checks, run in order, printed Conduit-style.

A :class:`Category` is a name, a condition (``applies``) and a list of :class:`Check`;
each check is an async function of the shared :class:`CheckContext` returning a
:class:`Result`. Lines look like Conduit's::

    lightmesh-api: can reach the control plane's public API.......................[ok]
    lightmesh-data-plane: every proxy is ready..................................[FAIL] -- web-1: 503
        hint: a proxy answers /ready with 503 while starting or draining; read its log

A failing ``fatal`` check stops the run (later checks depend on it). The last line
is ``Status check results are [ok]`` or ``[FAIL]``. Other components add their own
categories with :func:`register` (the identity category is one), so ``check``
grows with the mesh without this module knowing every feature.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

WIDTH = 79


@dataclass
class Result:
    ok: bool
    message: str = ""


OK = Result(True)


@dataclass
class CheckContext:
    """What the checks learn as they run (each check may fill in more for later ones)."""

    api_addr: str
    api_source: str
    client_version: str
    expected_version: str
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Check:
    description: str
    run: Callable[[CheckContext], Awaitable[Result]]
    hint: str
    fatal: bool = False


@dataclass
class Category:
    name: str
    checks: list[Check]
    applies: Callable[[CheckContext], bool] = lambda ctx: True


CATEGORIES: list[Category] = []


def register(category: Category) -> None:
    """Add ``category`` (or replace the one with its name) to what ``lightmesh check`` runs."""
    for i, existing in enumerate(CATEGORIES):
        if existing.name == category.name:
            CATEGORIES[i] = category
            return
    CATEGORIES.append(category)


def line(category: str, description: str, result: Result | None) -> str:
    label = f"{category}: {description}"
    if result is None:
        return label.ljust(WIDTH - len("[SKIP]"), ".") + "[SKIP]"
    status = "[ok]" if result.ok else "[FAIL]"
    text = label.ljust(WIDTH - len(status), ".") + status
    if not result.ok and result.message:
        text += f" -- {result.message}"
    return text


async def run_checks(ctx: CheckContext, categories: list[Category], out: Callable[[str], None]) -> bool:
    """Run and print every applicable check; whether all passed."""
    passed, stopped = True, False
    for category in categories:
        if not stopped and not category.applies(ctx):
            continue
        for check in category.checks:
            if stopped:
                out(line(category.name, check.description, None))
                continue
            try:
                result = await check.run(ctx)
            except Exception as exc:  # a check that crashes is a failed check, not a crashed command
                result = Result(False, f"{type(exc).__name__}: {exc}")
            out(line(category.name, check.description, result))
            if not result.ok:
                passed = False
                out(f"    hint: {check.hint}")
                stopped = check.fatal
    out("")
    out(f"Status check results are {'[ok]' if passed else '[FAIL]'}")
    return passed
