"""The typer application behind ``lightmesh`` (every command except ``proxy``)."""

from __future__ import annotations

from pathlib import Path

import typer

from lightmesh.cli.observe import register as register_observability

app = typer.Typer(
    name="lightmesh",
    help="lightmesh: an ultralight service mesh. `lightmesh proxy --help` runs the sidecar.",
    no_args_is_help=True,
    add_completion=False,
)


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


@app.command()
def controller(
    registry: str = typer.Option(
        "mesh-registry.yaml", help="the service registry (YAML), reloaded when it changes"
    ),
    proxy_api_addr: str = typer.Option("127.0.0.1:8086", help="where proxies reach the Destination API"),
    admin_addr: str = typer.Option("127.0.0.1:9990", help="admin listener: /metrics, /ready, /live"),
    log_level: str = typer.Option("info", help="debug, info, warning or error"),
    registry_poll_interval: float = typer.Option(1.0, help="seconds between checks of the registry file"),
    cluster_domain: str = typer.Option("cluster.local", help="the cluster's DNS domain"),
    source: str = typer.Option("file", help="discovery source: file (--registry) or kubernetes"),
    kubeconfig: str = typer.Option(
        "", help="kubeconfig for --source kubernetes (default: in-cluster, else $KUBECONFIG, ~/.kube/config)"
    ),
    public_api_addr: str = typer.Option(
        "127.0.0.1:8085", help="where the CLI reaches the public API (version, proxies, tap)"
    ),
) -> None:
    """Run the controller: the Destination API for proxies, over a file registry or Kubernetes."""
    from lightmesh.cli.controller import run_controller

    raise typer.Exit(
        run_controller(
            Path(registry),
            proxy_api_addr,
            admin_addr,
            log_level,
            registry_poll_interval,
            cluster_domain,
            source,
            Path(kubeconfig) if kubeconfig else None,
            public_api_addr,
        )
    )


register_observability(app)  # stat, tap, top, routes, edges, check, version
