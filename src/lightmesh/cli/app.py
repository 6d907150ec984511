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


@app.command()
def demo(
    duration: float = typer.Option(None, help="stop after this many seconds (default: run until Ctrl-C)"),
    app_port: int = typer.Option(8080, help="port of the sample app"),
    inbound_port: int = typer.Option(4143, help="proxy inbound listener port"),
    outbound_port: int = typer.Option(4140, help="proxy outbound listener port"),
    admin_port: int = typer.Option(4191, help="proxy admin port (/metrics, /ready)"),
) -> None:
    """Run a sample app behind a lightmesh proxy on 127.0.0.1 and print what to curl."""
    from lightmesh.cli.demo import run_demo

    raise typer.Exit(run_demo(app_port, inbound_port, outbound_port, admin_port, duration))


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False
)
def proxy() -> None:
    """Run the sidecar proxy (configured by LIGHTMESH_PROXY_* variables; see --help)."""
    raise typer.Exit(2)  # dispatched in lightmesh.cli.main before typer; listed here for --help
