"""gRPC facts the proxy needs without speaking protobuf: deadlines and statuses.

A gRPC call is an HTTP/2 request whose ``content-type`` starts with
``application/grpc``. Its deadline travels in ``grpc-timeout`` as at most eight
digits and a unit (``H M S m u n``); the proxy parses it, enforces it, and sends on
what remains. Errors the proxy makes for a gRPC call are answered the gRPC way: a
trailers-only response (``:status 200`` with ``grpc-status`` and ``grpc-message``
in the headers) so clients see a real status code instead of a transport failure.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

Headers = list[tuple[bytes, bytes]]

OK: Final = 0
CANCELLED: Final = 1
UNKNOWN: Final = 2
INVALID_ARGUMENT: Final = 3
DEADLINE_EXCEEDED: Final = 4
RESOURCE_EXHAUSTED: Final = 8
UNIMPLEMENTED: Final = 12
INTERNAL: Final = 13
UNAVAILABLE: Final = 14

_CODES: Final = {b"%d" % code: code for code in range(17)}  # OK (0) to UNAUTHENTICATED (16)
_UNITS: Final = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}
_MAX_DIGITS: Final = 8
_LIMIT: Final = 10**_MAX_DIGITS


def status_of(fields: Headers | None) -> int | None:
    """The ``grpc-status`` in ``fields`` (trailers, or a trailers-only head); 2 (UNKNOWN) when
    it is not one of gRPC's codes (0 to 16), ``None`` when there is none. Metrics count each
    code apart, so a peer sending made-up numbers must not add series (or huge ints)."""
    for name, value in fields or ():
        if name == b"grpc-status":
            return _CODES.get(value, UNKNOWN)
    return None


def is_grpc(headers: Headers) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return value.startswith(b"application/grpc")
    return False


def parse_timeout(value: bytes) -> float | None:
    """Seconds from a ``grpc-timeout`` value, or ``None`` when it is malformed."""
    digits, unit = value[:-1], value[-1:]
    if not (0 < len(digits) <= _MAX_DIGITS and digits.isdigit()) or unit not in _UNITS:
        return None
    return int(digits) * _UNITS[unit]


def encode_timeout(seconds: float) -> bytes:
    """The finest unit that fits in eight digits, rounded down (never extends a deadline)."""
    for unit, scale in ((b"u", 1e6), (b"m", 1e3), (b"S", 1.0), (b"M", 1 / 60), (b"H", 1 / 3600)):
        amount = int(seconds * scale)
        if amount < _LIMIT:
            return b"%d%s" % (max(amount, 0), unit)
    return b"99999999H"


def status_for_http(status: int) -> int:
    """The gRPC status a client would infer from an HTTP status (gRPC's HTTP mapping)."""
    if status == 400:
        return INTERNAL
    if status in (401, 403, 404):
        return {401: 16, 403: 7, 404: UNIMPLEMENTED}[status]
    if status == 429 or status in (502, 503, 504):
        return UNAVAILABLE
    return UNKNOWN


def error_headers(grpc_status: int, message: str) -> Headers:
    """Headers of a trailers-only gRPC error response (``:status`` added by the codec)."""
    return [
        (b"content-type", b"application/grpc"),
        (b"grpc-status", b"%d" % grpc_status),
        (b"grpc-message", quote(message, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~").encode("ascii")),
    ]
