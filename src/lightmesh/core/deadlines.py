"""The ``lightmesh-deadline`` header: the time a caller still waits, in milliseconds (sans-I/O).

The value is the *remaining* time as a non-negative integer of milliseconds (like
``grpc-timeout``, which also carries a relative time), not an absolute timestamp: a
relative time needs no synchronised clocks between hosts, and each hop subtracts the
time it spent before forwarding, so a clock step on one machine cannot stretch or
shorten another's deadline. A hop that finds the time spent forwards nothing.
"""

from __future__ import annotations

from typing import Final

MAX_DIGITS: Final = 10  # about 115 days


def parse_deadline(value: bytes) -> float | None:
    """Seconds left from a ``lightmesh-deadline`` value; ``None`` when it is malformed."""
    value = value.strip()
    if not value.isdigit() or len(value) > MAX_DIGITS:
        return None
    return int(value) / 1000.0


def encode_deadline(seconds: float) -> bytes:
    """Milliseconds left, rounded down so a deadline never grows hop by hop."""
    return b"%d" % max(int(seconds * 1000.0), 0)
