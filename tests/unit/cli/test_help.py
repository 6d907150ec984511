"""Every observability command's ``--help`` renders (rich markup in help texts breaks it)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lightmesh.cli.app import app


@pytest.mark.parametrize("command", ["stat", "tap", "top", "routes", "edges", "check", "version"])
def test_help_renders(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--api-addr" in result.output
