"""Free disk space of the destination file system: one ``statvfs`` read, and a pure
decision whether it is below the configured thresholds.

Low = free MiB < ``min-free-mb`` or free % < ``min-free-percent`` or free inodes % <
``min-free-percent-inodes``; a threshold of 0 turns its check off (as in dss).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dssframe.core.config import Config

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class DiskSpace:
    """What statvfs says, as an unprivileged user sees it (``f_bavail``)."""

    total_mb: int
    free_mb: int
    percent_free: float
    percent_free_inodes: float


@dataclass(frozen=True, slots=True)
class Thresholds:
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


def is_low(space: DiskSpace, limits: Thresholds) -> bool:
    return bool(shortages(space, limits))


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
