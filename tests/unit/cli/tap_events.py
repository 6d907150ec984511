"""A fixed set of tap events covering every line shape, shared by the format tests."""

from __future__ import annotations

from lightmesh.api.gen import tap_pb2 as pb

Http = pb.TapEvent.Http


def _event(direction: int, http: Http, **meta: str) -> pb.TapEvent:
    outbound = direction == pb.TapEvent.OUTBOUND
    return pb.TapEvent(
        source=pb.TcpAddress(ip="10.0.0.5", port=41236),
        source_meta={"tls": "true"} if not outbound else {"pod": "vote-bot-0", "namespace": "emojivoto"},
        destination=pb.TcpAddress(ip="10.0.1.7" if not outbound else "", port=8080),
        destination_meta=meta,
        proxy_direction=direction,  # type: ignore[arg-type]
        http=http,
        tls=not outbound,
        proxy="emojivoto/web-0" if not outbound else "emojivoto/vote-bot-0",
    )


def sample_events() -> list[pb.TapEvent]:
    rid = Http.StreamId(base=3141592, stream=7)
    oid = Http.StreamId(base=27182, stream=12)
    inbound, outbound = pb.TapEvent.INBOUND, pb.TapEvent.OUTBOUND
    auth = pb.Header(name="authorization", value=b"[redacted]")
    return [
        _event(
            inbound,
            Http(
                request_init=Http.RequestInit(
                    id=rid,
                    method="POST",
                    scheme="http",
                    authority="web.emojivoto:8080",
                    path="/emojivoto.v1.EmojiService/ListAll",
                    headers=[pb.Header(name="content-type", value=b"application/grpc"), auth],
                )
            ),
            namespace="emojivoto",
            service="web",
        ),
        _event(
            inbound,
            Http(
                response_init=Http.ResponseInit(
                    id=rid,
                    since_request_init_us=1843,
                    http_status=200,
                    headers=[pb.Header(name="content-type", value=b"application/grpc")],
                )
            ),
            namespace="emojivoto",
            service="web",
        ),
        _event(
            inbound,
            Http(
                response_end=Http.ResponseEnd(
                    id=rid,
                    since_request_init_us=2051,
                    since_response_init_us=208,
                    response_bytes=2161,
                    eos=Http.Eos(grpc_status_code=0),
                    trailers=[pb.Header(name="grpc-status", value=b"0")],
                    http_status=200,
                )
            ),
            namespace="emojivoto",
            service="web",
        ),
        _event(
            outbound,
            Http(
                request_init=Http.RequestInit(
                    id=oid,
                    method="GET",
                    scheme="http",
                    authority="web:80",
                    path="/api/vote?choice=:doughnut:",
                )
            ),
            authority="web:80",
            service="web",
            namespace="emojivoto",
        ),
        _event(
            outbound,
            Http(response_init=Http.ResponseInit(id=oid, since_request_init_us=5230, http_status=503)),
            authority="web:80",
            pod="web-1",
        ),
        _event(
            outbound,
            Http(
                response_end=Http.ResponseEnd(
                    id=oid,
                    since_request_init_us=5300,
                    since_response_init_us=70,
                    response_bytes=35,
                    http_status=503,
                )
            ),
            authority="web:80",
            pod="web-1",
        ),
        _event(
            outbound,
            Http(
                response_end=Http.ResponseEnd(
                    id=Http.StreamId(base=27182, stream=13),
                    since_request_init_us=9000,
                    eos=Http.Eos(reset_error_code=7),
                )
            ),
            authority="web:80",
        ),
        _event(
            inbound,
            Http(
                response_end=Http.ResponseEnd(
                    id=Http.StreamId(base=3141592, stream=8),
                    since_request_init_us=1000500,
                    eos=Http.Eos(error='connect to 127.0.0.1:8080 timed out "1s"'),
                )
            ),
        ),
    ]
