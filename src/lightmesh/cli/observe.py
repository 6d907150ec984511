"""The observability commands (``stat``, ``tap``, ``top``, ``routes``, ``edges``, ``check``,
``version``), registered on the ``lightmesh`` typer application.

Only flags live here, declared once as ``Annotated`` aliases that the commands share; each
command's work is in a module imported when it runs (:mod:`lightmesh.cli.commands`,
:mod:`lightmesh.cli.statcmd`, :mod:`lightmesh.cli.checkcmd`), so ``lightmesh --help`` stays quick.
"""

from __future__ import annotations

from typing import Annotated

import typer

API_ADDR_HELP = (
    "the control plane's public API, host:port (default: $LIGHTMESH_API_ADDR, "
    "else the running `lightmesh up`, else 127.0.0.1:8085)"
)

WINDOW_HELP = "the time window, e.g. 10s, 1m (default: 10s scraping the proxies, 1m with --prometheus-url)"
PROMETHEUS_HELP = "read stored series from this Prometheus (http://host:9090) instead of scraping the proxies"
RESOURCE_HELP = "TYPE or TYPE/NAME: ns, deploy (or svc) or po, e.g. deploy/web"

ApiAddr = Annotated[str, typer.Option("--api-addr", help=API_ADDR_HELP)]
Name = Annotated[str, typer.Argument(help="NAME, when not given as TYPE/NAME")]
Namespace = Annotated[str, typer.Option("--namespace", "-n", help="namespace of the resource")]
Namespaces = Annotated[str, typer.Option("--namespace", "-n", help="namespace of the resources")]
ToNamespace = Annotated[str, typer.Option("--to-namespace", help="namespace of --to (default: -n)")]
Window = Annotated[str, typer.Option("--time-window", "-t", help=WINDOW_HELP)]
PrometheusUrl = Annotated[str, typer.Option("--prometheus-url", help=PROMETHEUS_HELP)]
# tap and top
TapResource = Annotated[str, typer.Argument(help=RESOURCE_HELP)]
TapTo = Annotated[str, typer.Option("--to", help="only requests to this resource (TYPE/NAME)")]
MaxRps = Annotated[float, typer.Option("--max-rps", help="at most this many requests per second")]
Scheme = Annotated[str, typer.Option("--scheme", help="only this scheme (http or https)")]
Method = Annotated[str, typer.Option("--method", help="only this HTTP method")]
Authority = Annotated[str, typer.Option("--authority", help="only this authority")]
PathPrefix = Annotated[str, typer.Option("--path", help="only paths starting with this prefix")]
Limit = Annotated[int, typer.Option("--limit", help="stop after this many requests (0: until Ctrl-C)")]


def register(app: typer.Typer) -> None:
    @app.command()
    def version(
        short: Annotated[bool, typer.Option("--short", help="print the version numbers only")] = False,
        client: Annotated[bool, typer.Option("--client", help="print the client version only")] = False,
        api_addr: ApiAddr = "",
    ) -> None:
        """Print the client's and the control plane's versions."""
        from lightmesh.cli.commands import run_version

        raise typer.Exit(run_version(short, client, api_addr or None))

    @app.command()
    def tap(
        resource: TapResource,
        name: Name = "",
        namespace: Namespace = "default",
        to: TapTo = "",
        to_namespace: ToNamespace = "",
        max_rps: MaxRps = 100.0,
        scheme: Scheme = "",
        method: Method = "",
        authority: Authority = "",
        path: PathPrefix = "",
        limit: Limit = 0,
        output: Annotated[
            str,
            typer.Option(
                "--output", "-o", help="wide: with resources; json: one JSON object per event, with headers"
            ),
        ] = "",
        api_addr: ApiAddr = "",
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
        resource: TapResource,
        name: Name = "",
        namespace: Namespace = "default",
        to: TapTo = "",
        to_namespace: ToNamespace = "",
        max_rps: MaxRps = 100.0,
        scheme: Scheme = "",
        method: Method = "",
        authority: Authority = "",
        path: PathPrefix = "",
        hide_sources: Annotated[
            bool, typer.Option("--hide-sources", help="one row per destination and path")
        ] = False,
        limit: Limit = 0,
        api_addr: ApiAddr = "",
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
        expected_version: Annotated[
            str, typer.Option("--expected-version", help="the version the control plane must run")
        ] = "",
        api_addr: ApiAddr = "",
    ) -> None:
        """Check that the control plane and the proxies are healthy; exit 2 when something is wrong."""
        from lightmesh.cli.checkcmd import run_check

        raise typer.Exit(run_check(expected_version, api_addr or None))

    @app.command()
    def stat(
        resource: Annotated[
            str,
            typer.Argument(help="TYPE or TYPE/NAME: ns, deploy (or svc) or po, e.g. deploy or deploy/web"),
        ],
        name: Name = "",
        namespace: Namespaces = "default",
        all_namespaces: Annotated[
            bool, typer.Option("--all-namespaces", "-A", help="resources of every namespace")
        ] = False,
        window: Window = "",
        to: Annotated[
            str,
            typer.Option("--to", help="only traffic to this resource (TYPE/NAME), from the sender's side"),
        ] = "",
        to_namespace: ToNamespace = "",
        from_: Annotated[
            str, typer.Option("--from", help="only traffic from this resource (TYPE/NAME)")
        ] = "",
        from_namespace: Annotated[
            str, typer.Option("--from-namespace", help="namespace of --from (default: -n)")
        ] = "",
        output: Annotated[
            str, typer.Option("--output", "-o", help="table, wide (adds bytes/s) or json")
        ] = "table",
        prometheus_url: PrometheusUrl = "",
        api_addr: ApiAddr = "",
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
        resource: Annotated[
            str, typer.Argument(help="TYPE or TYPE/NAME whose routes to show, e.g. deploy/web")
        ],
        name: Name = "",
        namespace: Namespace = "default",
        to: Annotated[
            str,
            typer.Option("--to", help="routes of calls to this resource (TYPE/NAME), from the caller's side"),
        ] = "",
        to_namespace: ToNamespace = "",
        window: Window = "",
        output: Annotated[
            str, typer.Option("--output", "-o", help="table, wide (effective vs actual) or json")
        ] = "table",
        prometheus_url: PrometheusUrl = "",
        api_addr: ApiAddr = "",
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
        resource: Annotated[str, typer.Argument(help="TYPE or TYPE/NAME: deploy (or svc), po or ns")],
        namespace: Namespaces = "default",
        all_namespaces: Annotated[
            bool, typer.Option("--all-namespaces", "-A", help="edges in every namespace")
        ] = False,
        output: Annotated[
            str, typer.Option("--output", "-o", help="table, wide (adds identities) or json")
        ] = "table",
        prometheus_url: PrometheusUrl = "",
        api_addr: ApiAddr = "",
    ) -> None:
        """Which resources talk to which, and whether the connections are secured by mTLS."""
        from lightmesh.cli.statcmd import run_edges

        raise typer.Exit(
            run_edges(resource, namespace, all_namespaces, output, prometheus_url, api_addr or None)
        )
