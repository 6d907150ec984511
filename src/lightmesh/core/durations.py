"""Durations in configuration: ``100ms``, ``10s``, ``2m``, ``1h``, ``1d``.

A bare number is rejected unless it is ``0`` (Linkerd's rule), so ``10`` never
silently means ten seconds or ten milliseconds.
"""

from __future__ import annotations

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Return seconds for a duration string; raise ``ValueError`` saying what is wrong."""
    value = text.strip().lower()
    if value == "0":
        return 0.0
    for unit in ("ms", "s", "m", "h", "d"):
        if value.endswith(unit):
            number = value[: -len(unit)]
            try:
                amount = float(number)
            except ValueError:
                break
            if amount < 0:
                raise ValueError(f"negative duration {text!r}")
            return amount * _UNITS[unit]
    raise ValueError(f"invalid duration {text!r}: use a number with ms, s, m, h or d (e.g. 10s)")
