"""The ``lightmesh`` command line.

``lightmesh proxy`` is dispatched before the typer application is imported: the
proxy is a long-running sidecar whose memory matters, and typer and rich add
several megabytes it never uses. Every other command goes through typer.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["proxy"]:
        from lightmesh.cli.proxy import main as proxy_main

        raise SystemExit(proxy_main(args[1:]))
    from lightmesh.cli.app import app

    app(args=args, prog_name="lightmesh")
