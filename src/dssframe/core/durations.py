"""Parsing of ``unit-interval`` values (pure)."""

from __future__ import annotations

import math
import re

DAY = 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}
# ASCII digits only: \d would also take e.g. Arabic-Indic digits.
_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)\s*", re.ASCII)
_EXPECTED = "expected a number of days or a duration like 6h, 30m, 2w"


def parse_duration(value: str | int | float) -> int:
    """Seconds for a plain number of days (dss-compatible) or ``6h``/``30m``/``2w``/``90s``.

    Raises ValueError with a message naming what is allowed.
    """
    if isinstance(value, bool):
        raise ValueError(_EXPECTED)
    if isinstance(value, int | float):
        seconds = value * DAY
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if not match:
            raise ValueError(_EXPECTED)
        number, unit = match.groups()
        seconds = float(number) * _UNITS[unit or "d"]
    else:  # e.g. a TOML array or date: a ValueError like any other bad value
        raise ValueError(_EXPECTED)
    if isinstance(seconds, float) and not math.isfinite(seconds):
        # int(inf) would raise OverflowError, which callers do not expect
        raise ValueError("must be a finite duration")
    if seconds < 1:
        raise ValueError("must be at least one second")
    return int(seconds)


def format_duration(seconds: int) -> str:
    """Shortest exact spelling: ``4d``, ``6h``, ``90s``."""
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def humane(seconds: int) -> str:
    """Roughly, for people: the two largest units (``5h 59m``, ``1d 2h``, ``45s``)."""
    left = abs(int(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
        if len(parts) == 2:
            break
    return " ".join(parts)
