"""Free disk space of the destination file system: one ``statvfs`` read, and a pure
decision whether it is below the configured thresholds.

Low = free MiB < ``min-free-mb`` or free % < ``min-free-percent`` or free inodes % <
``min-free-percent-inodes``; a threshold of 0 turns its check off (as in dss).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from dssframe.core.config import Config

MIB = 1 << 20


# Named tuples, not dataclasses: a one-shot ``dss create`` checks the space before it
# starts rsync, and importing dataclasses would cost it a few milliseconds.


class DiskSpace(NamedTuple):
    """What statvfs says, as an unprivileged user sees it (``f_bavail``)."""

    total_mb: int
    free_mb: int
    percent_free: float
    percent_free_inodes: float


class Thresholds(NamedTuple):
    """The free-space options: below any of them space is low (0 turns one off)."""

    min_free_mb: int = 100
    min_free_percent: int = 2
    min_free_percent_inodes: int = 0

    @classmethod
    def from_config(cls, config: Config) -> Thresholds:
        return cls(config.min_free_mb, config.min_free_percent, config.min_free_percent_inodes)


def shortages(space: DiskSpace, limits: Thresholds) -> list[str]:
    """Why space is low, one phrase per threshold crossed; empty when it is not."""
    found = []
    if limits.min_free_mb and space.free_mb < limits.min_free_mb:
        found.append(f"{space.free_mb} MiB free < {limits.min_free_mb} MiB")
    if limits.min_free_percent and space.percent_free < limits.min_free_percent:
        found.append(f"{space.percent_free:.1f}% free < {limits.min_free_percent}%")
    if (
        limits.min_free_percent_inodes
        and space.percent_free_inodes < limits.min_free_percent_inodes
    ):
        found.append(
            f"{space.percent_free_inodes:.1f}% inodes free < {limits.min_free_percent_inodes}%"
        )
    return found


def record(
    space: DiskSpace | None,
    limits: Thresholds,
    found: list[str] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The ``disk`` object of ``dss status --json`` and of the run loop's state file:
    the space (null values when not measured), the thresholds, ``low`` and the
    ``shortages`` (``found``, or computed from ``space``), and ``error`` when the space
    could not be read."""
    if found is None:
        found = [] if space is None else shortages(space, limits)
    result: dict[str, Any] = {
        "free_mb": space.free_mb if space else None,
        "total_mb": space.total_mb if space else None,
        "percent_free": round(space.percent_free, 2) if space else None,
        "percent_free_inodes": round(space.percent_free_inodes, 2) if space else None,
        "min_free_mb": limits.min_free_mb,
        "min_free_percent": limits.min_free_percent,
        "min_free_percent_inodes": limits.min_free_percent_inodes,
        "low": bool(found),
        "shortages": list(found),
    }
    if error is not None:
        result["error"] = error
    return result


def from_statvfs(st: os.statvfs_result) -> DiskSpace:
    """Pure conversion; a file system without inode counts reports 100% free inodes."""
    block = st.f_frsize or st.f_bsize
    total = st.f_blocks * block
    free = st.f_bavail * block
    percent = 100.0 * st.f_bavail / st.f_blocks if st.f_blocks else 100.0
    inodes = 100.0 * st.f_favail / st.f_files if st.f_files else 100.0
    return DiskSpace(total // MIB, free // MIB, percent, inodes)


def measure(path: str) -> DiskSpace:
    """Read the free space of the file system holding ``path`` (raises OSError)."""
    return from_statvfs(os.statvfs(path))
