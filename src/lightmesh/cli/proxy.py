"""``lightmesh proxy [--setting value ...]``: run the sidecar proxy.

Settings come from ``LIGHTMESH_PROXY_*`` environment variables; each has a flag of
the same name (``--inbound-forward 127.0.0.1:8080``) that overrides it. Parsed
with argparse to keep the proxy process free of typer and rich.
"""

from __future__ import annotations

import argparse
import os
import sys

from lightmesh import logs
from lightmesh.proxy.config import SETTINGS, ConfigError, load


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lightmesh proxy",
        description="Run the lightmesh sidecar proxy. Every flag mirrors a LIGHTMESH_PROXY_* variable.",
    )
    for setting in SETTINGS:
        p.add_argument(
            "--" + setting.name.replace("_", "-"),
            dest=setting.name,
            metavar="VALUE",
            help=f"{setting.help} [env {setting.env}, default {setting.default!r}]",
        )
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    try:
        config = load(os.environ, overrides)
    except ConfigError as exc:
        print(f"lightmesh proxy: {exc}", file=sys.stderr)
        return 2
    logs.setup(config.log_level, config.log_format)
    from lightmesh.proxy.main import run

    try:
        run(config)
    except OSError as exc:
        print(f"lightmesh proxy: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
