"""Logging set-up for every lightmesh process: plain or JSON lines on stderr.

The level of the ``lightmesh`` loggers can be changed at runtime (the proxy's
``/proxy-log-level``). Libraries stay at WARNING whatever the level: ``hpack``
logs every header name and value at debug, which would leak credentials into the
logs and cost time on every request; callers add their own noisy libraries.
"""

from __future__ import annotations

import json
import logging
import sys
import time

TRACE = 5
logging.addLevelName(TRACE, "TRACE")
_LEVELS = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


_QUIET = ("hpack", "h2", "hyperframe", "asyncio")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup(level: str, fmt: str = "plain", quiet: tuple[str, ...] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        formatter = logging.Formatter(
            "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    for name in (*_QUIET, *quiet):
        logging.getLogger(name).setLevel(logging.WARNING)
    set_level(level)


def set_level(level: str) -> None:
    """Set the level of every lightmesh logger; raises ``ValueError`` for an unknown level."""
    try:
        value = _LEVELS[level.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(_LEVELS)}") from None
    logging.getLogger().setLevel(max(value, logging.INFO))
    logging.getLogger("lightmesh").setLevel(value)


def get_level() -> str:
    value = logging.getLogger("lightmesh").getEffectiveLevel()
    return next((name for name, v in _LEVELS.items() if v == value), logging.getLevelName(value).lower())
