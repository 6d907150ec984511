"""Run the CLI with ``python -m lightmesh``."""

from __future__ import annotations

from lightmesh.cli import main

main()
