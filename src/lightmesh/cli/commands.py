"""Running the observability commands: resolve the API, call it, print, map errors to exit codes.

Exit codes: 0 done, 1 the control plane could not be reached or refused the request,
2 invalid flags. Output is flushed line by line so ``lightmesh tap | grep`` is live.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from lightmesh import __version__
from lightmesh.api.gen.tap_pb2 import TapEvent
from lightmesh.cli.client import ApiClient, ApiError, ApiUnavailable
from lightmesh.cli.tapflags import TapFlags, tap_request
from lightmesh.cli.tapformat import event_json_line, event_line
from lightmesh.cli.target import Target, api_addr


def fail(command: str, message: str, code: int) -> int:
    print(f"lightmesh {command}: {message}", file=sys.stderr)
    return code


def run_api(command: str, api_flag: str | None, body: Callable[[Target], Coroutine[Any, Any, int]]) -> int:
    """Resolve the API address and run ``body``, turning API errors into messages and exit codes."""
    try:
        target = api_addr(api_flag)
    except ValueError as exc:
        return fail(command, str(exc), 2)
    try:
        return asyncio.run(body(target))
    except (ApiUnavailable, ApiError) as exc:
        return fail(command, str(exc), 1)
    except KeyboardInterrupt:
        return 0


def run_tap(flags: TapFlags, output: str, api_flag: str | None) -> int:
    if output not in ("", "wide", "json"):
        return fail("tap", f"-o must be wide or json (or omitted for lines), got {output!r}", 2)
    try:
        request = tap_request(flags)
    except ValueError as exc:
        return fail("tap", str(exc), 2)
    wide = output == "wide"

    def render(event: TapEvent) -> str:
        return event_json_line(event) if output == "json" else event_line(event, wide)

    async def body(target: Target) -> int:
        async with ApiClient(target) as client:
            async for event in client.tap(request):
                line = render(event)
                if line:
                    print(line, flush=True)
        return 0

    return run_api("tap", api_flag, body)


def run_version(short: bool, client_only: bool, api_flag: str | None) -> int:
    if short and client_only:
        print(__version__)
        return 0
    print(__version__ if short else f"Client version: {__version__}")
    if client_only:
        return 0

    async def body(target: Target) -> int:
        async with ApiClient(target) as client:
            try:
                server = await client.version()
            except (ApiUnavailable, ApiError) as exc:
                print("unavailable" if short else "Server version: unavailable")
                print(f"lightmesh version: {exc}", file=sys.stderr)
                return 1
        print(server if short else f"Server version: {server}")
        return 0

    return run_api("version", api_flag, body)


CLEAR = "\x1b[H\x1b[2J"
REFRESH = 1.0


def run_top(flags: TapFlags, hide_sources: bool, api_flag: str | None) -> int:
    """Aggregate tap events into a table: redrawn every second on a terminal, else printed
    once when the tap ends (``--limit``) or on Ctrl-C."""
    from lightmesh.cli.topmodel import TopTable, render

    try:
        request = tap_request(flags)
    except ValueError as exc:
        return fail("top", str(exc), 2)
    table = TopTable(hide_sources)
    live = sys.stdout.isatty()

    async def redraw() -> None:
        while True:
            await asyncio.sleep(REFRESH)
            sys.stdout.write(CLEAR + (render(table) if table.rows else "(waiting for requests)\n"))
            sys.stdout.flush()

    async def body(target: Target) -> int:
        painter = asyncio.create_task(redraw()) if live else None
        try:
            async with ApiClient(target) as client:
                async for event in client.tap(request):
                    table.add(event)
        finally:
            if painter is not None:
                painter.cancel()
            sys.stdout.write((CLEAR if live else "") + render(table))
            sys.stdout.flush()
        return 0

    return run_api("top", api_flag, body)
