"""The observability commands (``stat``, ``tap``, ``top``, ``routes``, ``edges``, ``check``,
``version``), registered on the ``lightmesh`` typer application.

Only flags live here; each command's work is in a module imported when it runs
(:mod:`lightmesh.cli.commands`, :mod:`lightmesh.cli.statcmd`, :mod:`lightmesh.cli.checkcmd`),
so ``lightmesh --help`` stays quick.
"""

from __future__ import annotations

import typer

API_ADDR_HELP = (
    "the control plane's public API, host:port (default: $LIGHTMESH_API_ADDR, "
    "else the running `lightmesh up`, else 127.0.0.1:8085)"
)

WINDOW_HELP = "the time window, e.g. 10s, 1m (default: 10s scraping the proxies, 1m with --prometheus-url)"
PROMETHEUS_HELP = "read stored series from this Prometheus (http://host:9090) instead of scraping the proxies"


def register(app: typer.Typer) -> None:
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
        resource: str = typer.Argument(
            ..., help="TYPE or TYPE/NAME: ns, deploy (or svc) or po, e.g. deploy/web"
        ),
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
        output: str = typer.Option(
            "", "--output", "-o", help="wide: with resources; json: one JSON object per event, with headers"
        ),
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
    def top(
        resource: str = typer.Argument(
            ..., help="TYPE or TYPE/NAME: ns, deploy (or svc) or po, e.g. deploy/web"
        ),
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

    @app.command()
    def stat(
        resource: str = typer.Argument(
            ..., help="TYPE or TYPE/NAME: ns, deploy (or svc) or po, e.g. deploy or deploy/web"
        ),
        name: str = typer.Argument("", help="NAME, when not given as TYPE/NAME"),
        namespace: str = typer.Option("default", "--namespace", "-n", help="namespace of the resources"),
        all_namespaces: bool = typer.Option(
            False, "--all-namespaces", "-A", help="resources of every namespace"
        ),
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
        resource: str = typer.Argument(..., help="TYPE or TYPE/NAME whose routes to show, e.g. deploy/web"),
        name: str = typer.Argument("", help="NAME, when not given as TYPE/NAME"),
        namespace: str = typer.Option("default", "--namespace", "-n", help="namespace of the resource"),
        to: str = typer.Option(
            "", "--to", help="routes of calls to this resource (TYPE/NAME), from the caller's side"
        ),
        to_namespace: str = typer.Option("", "--to-namespace", help="namespace of --to (default: -n)"),
        window: str = typer.Option("", "--time-window", "-t", help=WINDOW_HELP),
        output: str = typer.Option(
            "table", "--output", "-o", help="table, wide (effective vs actual) or json"
        ),
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
        resource: str = typer.Argument(..., help="TYPE or TYPE/NAME: deploy (or svc), po or ns"),
        namespace: str = typer.Option("default", "--namespace", "-n", help="namespace of the resources"),
        all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A", help="edges in every namespace"),
        output: str = typer.Option("table", "--output", "-o", help="table, wide (adds identities) or json"),
        prometheus_url: str = typer.Option("", "--prometheus-url", help=PROMETHEUS_HELP),
        api_addr: str = typer.Option("", "--api-addr", help=API_ADDR_HELP),
    ) -> None:
        """Which resources talk to which, and whether the connections are secured by mTLS."""
        from lightmesh.cli.statcmd import run_edges

        raise typer.Exit(
            run_edges(resource, namespace, all_namespaces, output, prometheus_url, api_addr or None)
        )
