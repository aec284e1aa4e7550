"""Parsing of ``unit-interval`` values (pure)."""

from __future__ import annotations

import re

DAY = 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(value: str | int | float) -> int:
    """Seconds for a plain number of days (dss-compatible) or ``6h``/``30m``/``2w``/``90s``.

    Raises ValueError with a message naming what is allowed.
    """
    if isinstance(value, bool):
        raise ValueError("expected a number of days or a duration like 6h, 30m, 2w")
    if isinstance(value, int | float):
        seconds = value * DAY
    else:
        match = _DURATION.match(value)
        if not match:
            raise ValueError("expected a number of days or a duration like 6h, 30m, 2w")
        number, unit = match.groups()
        seconds = float(number) * _UNITS[unit or "d"]
    if seconds < 1 or seconds != seconds:
        raise ValueError("must be at least one second")
    return int(seconds)


def format_duration(seconds: int) -> str:
    """Shortest exact spelling: ``4d``, ``6h``, ``90s``."""
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
