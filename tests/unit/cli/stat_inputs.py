"""Golden inputs for the stats tests: a small mesh (emojivoto) scraped twice, 10 s apart.

``web`` has two instances, ``voting`` one, ``vote-bot`` one (it only calls ``web``).
Each scrape is Prometheus text as the proxies render it; the second scrape adds the
traffic of the window to the first.
"""

from __future__ import annotations

from lightmesh.cli.statrows import Proxy

BOUNDS = ["1", "2", "3", "4", "5", "10", "20", "30", "40", "50", "100", "200", "+Inf"]
NS = "emojivoto"
WEB_ID = "web.emojivoto.serviceaccount.identity.lightmesh.cluster.local"
VOTING_ID = "voting.emojivoto.serviceaccount.identity.lightmesh.cluster.local"
BOT_ID = "vote-bot.emojivoto.serviceaccount.identity.lightmesh.cluster.local"

PROXIES = [
    Proxy(NS, "vote-bot", "vote-bot-0", BOT_ID, "10.0.0.9:4191"),
    Proxy(NS, "voting", "voting-0", VOTING_ID, "10.0.0.7:4191"),
    Proxy(NS, "web", "web-0", WEB_ID, "10.0.0.5:4191"),
    Proxy(NS, "web", "web-1", WEB_ID, "10.0.0.6:4191"),
]
ENDPOINTS = {(NS, "web"): 3, (NS, "voting"): 1, (NS, "vote-bot"): 1, (NS, "emoji"): 1}


def _labels(**labels: str) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


def _http(
    direction: str, success: int, failure: int, latencies_ms: list[float], prefix: str = "", **labels: str
) -> list[str]:
    base = _labels(direction=direction, **labels)
    lines = [f"{prefix}request_total{{{base}}} {success + failure}"]
    for cls, status, count in (("success", "200", success), ("failure", "500", failure)):
        if count:
            lines.append(
                f'{prefix}response_total{{{base},status_code="{status}",classification="{cls}"}} {count}'
            )
    for le in BOUNDS:
        bound = float("inf") if le == "+Inf" else float(le)
        n = sum(1 for v in latencies_ms if v <= bound)
        lines.append(f'{prefix}response_latency_ms_bucket{{{base},le="{le}"}} {n}')
    return lines


def _tcp(direction: str, peer: str, open_now: int, read: int, written: int) -> list[str]:
    base = _labels(direction=direction, peer=peer, tls="")
    return [
        f"tcp_open_connections{{{base}}} {open_now}",
        f"tcp_read_bytes_total{{{base}}} {read}",
        f"tcp_write_bytes_total{{{base}}} {written}",
    ]


def _spread(count: int, low: float, high: float) -> list[float]:
    return [low + (high - low) * i / max(1, count - 1) for i in range(count)]


def scrape(pod: str, scale: int) -> str:
    """The /metrics text of ``pod`` after ``scale`` windows of the same traffic."""
    lines: list[str] = []
    s = scale
    if pod == "web-0":
        lines += _http("inbound", 95 * s, 5 * s, _spread(100 * s, 0.5, 8.0), authority="web:80", tls="true")
        lines += _http(
            "outbound",
            20 * s,
            4 * s,
            _spread(24 * s, 1.5, 30.0),
            authority="voting:8080",
            dst_namespace=NS,
            dst_pod="voting-0",
            dst_service="voting",
            tls="true",
        )
        lines += _tcp("inbound", "src", 3, 1000 * s, 52000 * s)
    elif pod == "web-1":
        lines += _http("inbound", 50 * s, 0, _spread(50 * s, 0.5, 4.0), authority="web:80", tls="true")
        lines += _tcp("inbound", "src", 2, 500 * s, 26000 * s)
    elif pod == "voting-0":
        lines += _http(
            "inbound", 20 * s, 4 * s, _spread(24 * s, 1.0, 25.0), authority="voting:8080", tls="true"
        )
        lines += _http(
            "inbound", 15 * s, 3 * s, _spread(18 * s, 1.0, 25.0), prefix="route_", rt_route="POST /vote"
        )
        lines += _http(
            "inbound",
            15 * s,
            6 * s,
            _spread(21 * s, 1.0, 25.0),
            prefix="route_actual_",
            rt_route="POST /vote",
        )
        lines += _tcp("inbound", "src", 1, 300 * s, 900 * s)
    elif pod == "vote-bot-0":
        lines += _http(
            "outbound",
            150 * s,
            0,
            _spread(150 * s, 2.0, 9.0),
            authority="web:80",
            dst_namespace=NS,
            dst_service="web",
            tls="",
        )
    return "\n".join(lines) + "\n"
