"""Byte counts for people, in the two styles dss prints (pure)."""

from __future__ import annotations


def iec_size(size: int) -> str:
    """``1.5 MiB`` style, as ``dss diff`` prints it (binary units, one decimal above bytes)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def du_size(size: int) -> str:
    """``du -h`` style, as ``dss du`` prints it: 1024-based, one decimal below 10."""
    value = float(size)
    for unit in ("", "K", "M", "G", "T", "P"):
        if value < 1024 or unit == "P":
            if not unit:
                return f"{size}"
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
