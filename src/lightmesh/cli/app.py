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
    netns: bool = typer.Option(
        False, "--netns", help="root: run every instance in its own network namespace"
    ),
    failure_rate: float = typer.Option(0.25, min=0.0, max=1.0, help="share of voting's Vote calls that fail"),
    rate: float = typer.Option(10.0, min=0.1, max=1000.0, help="vote-bot rounds (a list, a vote) per second"),
) -> None:
    """Run the emojivoto-like demo app under `lightmesh up` and print the commands to try."""
    from lightmesh.cli.demo import run_demo

    raise typer.Exit(run_demo(duration, netns, failure_rate, rate))


@app.command()
def up(
    file: str = typer.Option("mesh.yaml", "-f", "--file", help="the mesh file (docs/local.md)"),
    netns: bool = typer.Option(
        False, "--netns", help="root: one network namespace per instance, service IPs, iptables redirection"
    ),
    subnet: str = typer.Option(
        "10.213.0.0/16", help="--netns: pods in the first /24, service IPs in the last"
    ),
    api_addr: str = typer.Option(
        "",
        help="the control plane's public API, recorded in up.json "
        "(default: 127.0.0.1:8085, or a free port when that one is taken)",
    ),
    proxy_api_addr: str = typer.Option("", help="the controller's Destination API (default: a free port)"),
    controller_admin_addr: str = typer.Option(
        "", help="the controller's admin listener (default: a free port)"
    ),
    ready_timeout: float = typer.Option(60.0, help="seconds to wait for every instance before reporting"),
    duration: float = typer.Option(None, help="stop after this many seconds (default: run until Ctrl-C)"),
) -> None:
    """Run the services of a mesh file locally, each instance with its sidecar, until Ctrl-C."""
    from lightmesh.cli.up import run_up

    raise typer.Exit(
        run_up(
            Path(file),
            netns,
            subnet,
            api_addr,
            proxy_api_addr,
            controller_admin_addr,
            ready_timeout,
            duration,
        )
    )


@app.command()
def scale(
    service: str = typer.Argument(..., help="NAME or NAME.NAMESPACE of a service in the running mesh"),
    replicas: int = typer.Argument(..., min=0, max=64, help="how many instances to run"),
) -> None:
    """Change how many instances of a service the running `lightmesh up` runs (live)."""
    from lightmesh.cli.up import run_scale

    raise typer.Exit(run_scale(service, replicas))


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
    identity_dir: str = typer.Option(
        "", help="serve Identity.Certify from this directory (see `lightmesh identity init`); empty: off"
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
            Path(identity_dir) if identity_dir else None,
            public_api_addr,
        )
    )


register_observability(app)  # stat, tap, top, routes, edges, check, version

from lightmesh.cli.identity import identity_app  # noqa: E402  (registers `lightmesh identity`)

app.add_typer(identity_app, name="identity")
