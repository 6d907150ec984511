"""Durations in configuration: ``100ms``, ``10s``, ``2m``, ``1h``, ``1d``.

A bare number is rejected unless it is ``0`` (Linkerd's rule), so ``10`` never
silently means ten seconds or ten milliseconds.
"""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Plain decimal numbers only: no sign, exponent, underscores, ``nan`` or ``inf``.
_DURATION = re.compile(r"(-?)(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)", re.ASCII)


def parse_duration(text: str) -> float:
    """Return seconds for a duration string; raise ``ValueError`` saying what is wrong."""
    value = text.strip().lower()
    if value == "0":
        return 0.0
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ValueError(f"invalid duration {text!r}: use a number with ms, s, m, h or d (e.g. 10s)")
    sign, number, unit = match.groups()
    if sign:
        raise ValueError(f"negative duration {text!r}")
    return float(number) * _UNITS[unit]
