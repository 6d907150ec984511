"""Tap events as text: Linkerd's line format, and JSON with headers (pure).

Lines (``µs`` and ``B`` as in ``linkerd tap``)::

    req id=3141:1 proxy=in  src=10.0.0.5:41236 dst=web-0:8080 tls=true :method=GET :authority=web:80 :path=/
    rsp id=3141:1 proxy=in  src=10.0.0.5:41236 dst=web-0:8080 tls=true :status=200 latency=1234µs
    end id=3141:1 proxy=in  src=10.0.0.5:41236 dst=web-0:8080 tls=true duration=56µs response-length=12B

``end`` carries ``grpc-status=NAME`` for gRPC, ``reset-error=CODE`` for a reset
stream, or ``error="..."`` when the proxy could not finish the response. ``dst``
shows the destination pod (``pod:PORT``) when known, else the address, else the
authority. ``-o wide`` adds the resources (``src_pod``, ``src_res=deploy/NAME``,
``src_ns``, and the same for ``dst``) where known. :func:`event_json` is one JSON
object per event with every field and the (redacted) headers.
"""

from __future__ import annotations

import json
from typing import Any

from lightmesh.api.gen import tap_pb2 as pb

GRPC_CODES = (
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
)
H2_ERRORS = (
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "INTERNAL_ERROR",
    "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT",
    "STREAM_CLOSED",
    "FRAME_SIZE_ERROR",
    "REFUSED_STREAM",
    "CANCEL",
    "COMPRESSION_ERROR",
    "CONNECT_ERROR",
    "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
)
DIRECTIONS = {pb.TapEvent.INBOUND: "in ", pb.TapEvent.OUTBOUND: "out"}


def grpc_name(code: int) -> str:
    return GRPC_CODES[code] if code < len(GRPC_CODES) else str(code)


def _addr(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def source(event: pb.TapEvent) -> str:
    return _addr(event.source.ip, event.source.port)


def destination(event: pb.TapEvent) -> str:
    port = event.destination.port
    pod = event.destination_meta.get("pod")
    if pod:
        return f"{pod}:{port}"
    if event.destination.ip:
        return _addr(event.destination.ip, port)
    return str(event.destination_meta.get("authority", f":{port}"))


def flow(event: pb.TapEvent) -> str:
    proxy = DIRECTIONS.get(event.proxy_direction, "???")
    tls = "true" if event.tls else ""
    return f"proxy={proxy} src={source(event)} dst={destination(event)} tls={tls}"


def event_id(ident: pb.TapEvent.Http.StreamId) -> str:
    return f"{ident.base}:{ident.stream}"


def resources(event: pb.TapEvent) -> str:
    """``-o wide``'s suffix: the source's and destination's resources, where known."""
    parts = []
    for side, meta in (("src", event.source_meta), ("dst", event.destination_meta)):
        if meta.get("pod"):
            parts.append(f"{side}_pod={meta['pod']}")
        if meta.get("service"):
            parts.append(f"{side}_res=deploy/{meta['service']}")
        if meta.get("namespace"):
            parts.append(f"{side}_ns={meta['namespace']}")
    return " " + " ".join(parts) if parts else ""


def event_line(event: pb.TapEvent, wide: bool = False) -> str:
    """One line for ``event`` (``wide``: with resources); empty for an event without HTTP data."""
    line = _line(event)
    return line + resources(event) if wide and line else line


def _line(event: pb.TapEvent) -> str:
    http = event.http
    which = http.WhichOneof("event")
    if which == "request_init":
        r = http.request_init
        head = f"req id={event_id(r.id)} {flow(event)}"
        return f"{head} :method={r.method} :authority={r.authority} :path={r.path}"
    if which == "response_init":
        s = http.response_init
        head = f"rsp id={event_id(s.id)} {flow(event)}"
        return f"{head} :status={s.http_status} latency={s.since_request_init_us}µs"
    if which == "response_end":
        e = http.response_end
        return (
            f"end id={event_id(e.id)} {flow(event)} {end_status(e)}"
            f"duration={e.since_response_init_us}µs response-length={e.response_bytes}B"
        )
    return ""


def end_status(end: pb.TapEvent.Http.ResponseEnd) -> str:
    """``grpc-status=...``, ``reset-error=...`` or ``error=...`` with a trailing space, or ""."""
    if not end.HasField("eos"):
        return ""
    kind = end.eos.WhichOneof("end")
    if kind == "grpc_status_code":
        return f"grpc-status={grpc_name(end.eos.grpc_status_code)} "
    if kind == "reset_error_code":
        code = end.eos.reset_error_code
        return f"reset-error={H2_ERRORS[code] if code < len(H2_ERRORS) else code} "
    if kind == "error":
        return f"error={json.dumps(end.eos.error)} "
    return ""


def _headers(fields: Any) -> list[dict[str, str]]:
    return [{"name": h.name, "value": h.value.decode("utf-8", "replace")} for h in fields]


def event_json(event: pb.TapEvent) -> dict[str, Any]:
    http = event.http
    which = http.WhichOneof("event")
    out: dict[str, Any] = {
        "proxy": event.proxy,
        "proxyDirection": pb.TapEvent.ProxyDirection.Name(event.proxy_direction),
        "source": {"ip": event.source.ip, "port": event.source.port},
        "sourceMeta": dict(sorted(event.source_meta.items())),
        "destination": {"ip": event.destination.ip, "port": event.destination.port},
        "destinationMeta": dict(sorted(event.destination_meta.items())),
        "tls": event.tls,
    }
    if which == "request_init":
        r = http.request_init
        out["requestInitEvent"] = {
            "id": {"base": r.id.base, "stream": r.id.stream},
            "method": r.method,
            "scheme": r.scheme,
            "authority": r.authority,
            "path": r.path,
            "headers": _headers(r.headers),
        }
    elif which == "response_init":
        s = http.response_init
        out["responseInitEvent"] = {
            "id": {"base": s.id.base, "stream": s.id.stream},
            "sinceRequestInitUs": s.since_request_init_us,
            "httpStatus": s.http_status,
            "headers": _headers(s.headers),
        }
    elif which == "response_end":
        e = http.response_end
        end: dict[str, Any] = {
            "id": {"base": e.id.base, "stream": e.id.stream},
            "sinceRequestInitUs": e.since_request_init_us,
            "sinceResponseInitUs": e.since_response_init_us,
            "responseBytes": e.response_bytes,
            "httpStatus": e.http_status,
            "trailers": _headers(e.trailers),
        }
        if e.HasField("eos"):
            kind = e.eos.WhichOneof("end")
            if kind == "grpc_status_code":
                end["grpcStatus"] = grpc_name(e.eos.grpc_status_code)
            elif kind == "reset_error_code":
                end["resetErrorCode"] = e.eos.reset_error_code
            elif kind == "error":
                end["error"] = e.eos.error
        out["responseEndEvent"] = end
    return out


def event_json_line(event: pb.TapEvent) -> str:
    return json.dumps(event_json(event), ensure_ascii=False)
