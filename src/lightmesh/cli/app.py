"""The typer application behind ``lightmesh`` (every command except ``proxy``)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    name="lightmesh",
    help="lightmesh: an ultralight service mesh. `lightmesh proxy --help` runs the sidecar.",
    no_args_is_help=True,
    add_completion=False,
)


API_ADDR_HELP = (
    "the control plane's public API, host:port (default: $LIGHTMESH_API_ADDR, "
    "else the running `lightmesh up`, else 127.0.0.1:8085)"
)


@app.command()
def version(
    short: bool = typer.Option(False, "--short", help="print the version numbers only"),
    client: bool = typer.Option(False, "--client", help="print the client version only"),
    api_addr: str = typer.Option("", "--api-addr", help=API_ADDR_HELP),
) -> None:
    """Print the client's and the control plane's versions."""
    from lightmesh.cli.commands import run_version

    raise typer.Exit(run_version(short, client, api_addr or None))


@app.command()
def tap(
    resource: str = typer.Argument(..., help="TYPE[/NAME]: ns, deploy (or svc) or po, e.g. deploy/web"),
    name: str = typer.Argument("", help="NAME, when not given as TYPE/NAME"),
    namespace: str = typer.Option("default", "--namespace", "-n", help="namespace of the resource"),
    to: str = typer.Option("", "--to", help="only requests to this resource (TYPE/NAME)"),
    to_namespace: str = typer.Option("", "--to-namespace", help="namespace of --to (default: -n)"),
    max_rps: float = typer.Option(100.0, "--max-rps", help="at most this many requests per second"),
    scheme: str = typer.Option("", "--scheme", help="only this scheme (http or https)"),
    method: str = typer.Option("", "--method", help="only this HTTP method"),
    authority: str = typer.Option("", "--authority", help="only this authority"),
    path: str = typer.Option("", "--path", help="only paths starting with this prefix"),
    limit: int = typer.Option(0, "--limit", help="stop after this many requests (0: until Ctrl-C)"),
    output: str = typer.Option("", "--output", "-o", help="json: one JSON object per event, with headers"),
    api_addr: str = typer.Option("", "--api-addr", help=API_ADDR_HELP),
) -> None:
    """Watch live requests of a resource's proxies (req, rsp and end lines)."""
    from lightmesh.cli.commands import run_tap
    from lightmesh.cli.tapflags import TapFlags

    flags = TapFlags(
        resource, name, namespace, to, to_namespace, method, authority, path, scheme, max_rps, limit
    )
    raise typer.Exit(run_tap(flags, output, api_addr or None))


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
        "127.0.0.1:8085", help="the control plane's public API (recorded in up.json)"
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


@app.command()
def top(
    resource: str = typer.Argument(..., help="TYPE[/NAME]: ns, deploy (or svc) or po, e.g. deploy/web"),
    name: str = typer.Argument("", help="NAME, when not given as TYPE/NAME"),
    namespace: str = typer.Option("default", "--namespace", "-n", help="namespace of the resource"),
    to: str = typer.Option("", "--to", help="only requests to this resource (TYPE/NAME)"),
    to_namespace: str = typer.Option("", "--to-namespace", help="namespace of --to (default: -n)"),
    max_rps: float = typer.Option(100.0, "--max-rps", help="at most this many requests per second"),
    scheme: str = typer.Option("", "--scheme", help="only this scheme (http or https)"),
    method: str = typer.Option("", "--method", help="only this HTTP method"),
    authority: str = typer.Option("", "--authority", help="only this authority"),
    path: str = typer.Option("", "--path", help="only paths starting with this prefix"),
    hide_sources: bool = typer.Option(False, "--hide-sources", help="one row per destination and path"),
    limit: int = typer.Option(0, "--limit", help="stop after this many requests (0: until Ctrl-C)"),
    api_addr: str = typer.Option("", "--api-addr", help=API_ADDR_HELP),
) -> None:
    """A live table of the busiest paths (from tap): count, best, worst, last latency, success rate."""
    from lightmesh.cli.commands import run_top
    from lightmesh.cli.tapflags import TapFlags

    flags = TapFlags(
        resource, name, namespace, to, to_namespace, method, authority, path, scheme, max_rps, limit
    )
    raise typer.Exit(run_top(flags, hide_sources, api_addr or None))


@app.command()
def check(
    expected_version: str = typer.Option(
        "", "--expected-version", help="the version the control plane must run"
    ),
    api_addr: str = typer.Option("", "--api-addr", help=API_ADDR_HELP),
) -> None:
    """Check that the control plane and the proxies are healthy; exit 2 when something is wrong."""
    from lightmesh.cli.checkcmd import run_check

    raise typer.Exit(run_check(expected_version, api_addr or None))


WINDOW_HELP = "the time window, e.g. 10s, 1m (default: 10s scraping the proxies, 1m with --prometheus-url)"
PROMETHEUS_HELP = "read stored series from this Prometheus (http://host:9090) instead of scraping the proxies"


@app.command()
def stat(
    resource: str = typer.Argument(
        ..., help="TYPE[/NAME]: ns, deploy (or svc) or po, e.g. deploy or deploy/web"
    ),
    name: str = typer.Argument("", help="NAME, when not given as TYPE/NAME"),
    namespace: str = typer.Option("default", "--namespace", "-n", help="namespace of the resources"),
    all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A", help="resources of every namespace"),
    window: str = typer.Option("", "--time-window", "-t", help=WINDOW_HELP),
    to: str = typer.Option(
        "", "--to", help="only traffic to this resource (TYPE/NAME), from the sender's side"
    ),
    to_namespace: str = typer.Option("", "--to-namespace", help="namespace of --to (default: -n)"),
    from_: str = typer.Option("", "--from", help="only traffic from this resource (TYPE/NAME)"),
    from_namespace: str = typer.Option("", "--from-namespace", help="namespace of --from (default: -n)"),
    output: str = typer.Option("table", "--output", "-o", help="table, wide (adds bytes/s) or json"),
    prometheus_url: str = typer.Option("", "--prometheus-url", help=PROMETHEUS_HELP),
    api_addr: str = typer.Option("", "--api-addr", help=API_ADDR_HELP),
) -> None:
    """Golden metrics per resource: success rate, requests per second, latency percentiles."""
    from lightmesh.cli.statcmd import run_stat

    raise typer.Exit(
        run_stat(
            resource,
            name,
            namespace,
            all_namespaces,
            to,
            to_namespace,
            from_,
            from_namespace,
            window,
            output,
            prometheus_url,
            api_addr or None,
        )
    )


@app.command()
def routes(
    resource: str = typer.Argument(..., help="TYPE[/NAME] whose routes to show, e.g. deploy/web"),
    name: str = typer.Argument("", help="NAME, when not given as TYPE/NAME"),
    namespace: str = typer.Option("default", "--namespace", "-n", help="namespace of the resource"),
    to: str = typer.Option(
        "", "--to", help="routes of calls to this resource (TYPE/NAME), from the caller's side"
    ),
    to_namespace: str = typer.Option("", "--to-namespace", help="namespace of --to (default: -n)"),
    window: str = typer.Option("", "--time-window", "-t", help=WINDOW_HELP),
    output: str = typer.Option("table", "--output", "-o", help="table, wide (effective vs actual) or json"),
    prometheus_url: str = typer.Option("", "--prometheus-url", help=PROMETHEUS_HELP),
    api_addr: str = typer.Option("", "--api-addr", help=API_ADDR_HELP),
) -> None:
    """Per-route success rate, requests per second and latency."""
    from lightmesh.cli.statcmd import run_routes

    raise typer.Exit(
        run_routes(
            resource, name, namespace, to, to_namespace, window, output, prometheus_url, api_addr or None
        )
    )


@app.command()
def edges(
    resource: str = typer.Argument(..., help="TYPE[/NAME]: deploy (or svc), po or ns"),
    namespace: str = typer.Option("default", "--namespace", "-n", help="namespace of the resources"),
    all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A", help="edges in every namespace"),
    output: str = typer.Option("table", "--output", "-o", help="table, wide (adds identities) or json"),
    prometheus_url: str = typer.Option("", "--prometheus-url", help=PROMETHEUS_HELP),
    api_addr: str = typer.Option("", "--api-addr", help=API_ADDR_HELP),
) -> None:
    """Which resources talk to which, and whether the connections are secured by mTLS."""
    from lightmesh.cli.statcmd import run_edges

    raise typer.Exit(run_edges(resource, namespace, all_namespaces, output, prometheus_url, api_addr or None))


from lightmesh.cli.identity import identity_app  # noqa: E402  (registers `lightmesh identity`)

app.add_typer(identity_app, name="identity")
