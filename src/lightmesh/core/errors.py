"""Proxy errors by cause.

Every error the proxy answers for itself is a :class:`ProxyError` carrying the HTTP
status it maps to and a short reason that is sent to the client in the
``lightmesh-proxy-error`` header. The class decides the status; the reason says why.
Local errors (the client sent something wrong) map to 4xx, upstream errors to 5xx.
"""

from __future__ import annotations


class ProxyError(Exception):
    """An error the proxy reports to its client as an HTTP response."""

    status = 502
    grpc_status: int | None = None  # None: derived from ``status`` by gRPC's HTTP mapping

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadRequest(ProxyError):
    """The client's request could not be parsed or is ambiguous (smuggling guard)."""

    status = 400


class HeadersTooLarge(ProxyError):
    """The request head exceeds the size or field-count limit."""

    status = 431


class UpstreamError(ProxyError):
    """The upstream could not be reached or broke the connection."""

    status = 502


class ConnectTimeout(ProxyError):
    """The upstream did not accept a connection within the connect timeout."""

    status = 504


class ResponseTimeout(ProxyError):
    """The upstream did not answer within the response timeout."""

    status = 504


class Unavailable(ProxyError):
    """No endpoint can serve the request (no endpoints, loop, shutdown)."""

    status = 503


class NoDestination(ProxyError):
    """The request names no destination the proxy can route to."""

    status = 400


class DeadlineExceeded(ProxyError):
    """The caller's deadline (``grpc-timeout``) passed before the call finished."""

    status = 504
    grpc_status = 4


class StreamReset(ProxyError):
    """An HTTP/2 peer reset the stream; an HTTP/2 client gets the same reset, others a 502."""

    status = 502

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.code = code


class Unsupported(ProxyError):
    """The request uses a feature this proxy does not carry (e.g. CONNECT over HTTP/2)."""

    status = 501


class RouteTimeout(ProxyError):
    """A route's whole-request timeout passed before a response (service profile)."""

    status = 504


class FaultInjected(ProxyError):
    """A route's fault injection aborted the request on purpose, with the configured status."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


#: failures of the endpoint itself: counted by failure accrual, retried on retryable routes
ENDPOINT_FAILURES: tuple[type[ProxyError], ...] = (
    UpstreamError,
    ConnectTimeout,
    ResponseTimeout,
    StreamReset,
)
