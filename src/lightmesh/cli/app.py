"""The typer application behind ``lightmesh`` (every command except ``proxy``)."""

from __future__ import annotations

import typer

from lightmesh import __version__

app = typer.Typer(
    name="lightmesh",
    help="lightmesh: an ultralight service mesh. `lightmesh proxy --help` runs the sidecar.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print the lightmesh version."""
    typer.echo(f"lightmesh {__version__}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def proxy() -> None:
    """Run the sidecar proxy (configured by LIGHTMESH_PROXY_* variables; see --help)."""
    raise typer.Exit(2)  # dispatched in lightmesh.cli.main before typer; listed here for --help
