"""Disk usage of hard-linked snapshots, exact about sharing.

For each snapshot:

``unique``
    what deleting that snapshot alone would free: the blocks (``st_blocks * 512``) of
    every inode all of whose links lie inside the snapshot -- the number of links met
    while walking the snapshot equals the inode's ``st_nlink`` -- plus its directories
    (a directory cannot be hard-linked). A file hard-linked into another snapshot, or
    anywhere else on the file system, is not unique.
``size``
    the blocks of every inode in the snapshot, each counted once (``du -s`` of it
    alone).

``total`` is the blocks of every inode of all snapshots, each counted once (``du -s``
of the snapshots together). The metadata beside the snapshots is not counted.

Every entry is ``lstat``-ed once; symbolic links are never followed and the walk
stays on the snapshot's file system.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

BLOCK = 512


@dataclass(frozen=True)
class Usage:
    """The disk usage of one snapshot, in bytes."""

    name: str
    unique: int
    size: int
    inodes: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "unique": self.unique, "size": self.size,
                "inodes": self.inodes}


@dataclass(frozen=True)
class Report:
    snapshots: list[Usage]
    total: int

    def to_json(self) -> dict[str, Any]:
        return {"snapshots": [u.to_json() for u in self.snapshots], "total": self.total}


def _scan(root: str) -> tuple[dict[int, list[int]], int]:
    """inode -> [links seen, st_nlink, bytes] for everything below and including
    ``root`` (directories get ``st_nlink`` 0: always unique); the root's device."""
    top = os.lstat(root)
    device = top.st_dev
    seen: dict[int, list[int]] = {top.st_ino: [1, 0, top.st_blocks * BLOCK]}
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = os.scandir(directory)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if st.st_dev != device:
                    continue  # a mount point below the snapshot: not ours
                record = seen.get(st.st_ino)
                if record is not None:
                    record[0] += 1
                    continue
                if stat.S_ISDIR(st.st_mode):
                    seen[st.st_ino] = [1, 0, st.st_blocks * BLOCK]
                    stack.append(entry.path)
                else:
                    seen[st.st_ino] = [1, st.st_nlink, st.st_blocks * BLOCK]
    return seen, device


def snapshot_usage(name: str, path: str) -> tuple[Usage, dict[int, int], int]:
    """One snapshot's usage, with inode -> bytes of everything in it and its device."""
    seen, device = _scan(path)
    unique = 0
    blocks: dict[int, int] = {}
    for inode, (links, nlink, size) in seen.items():
        blocks[inode] = size
        if nlink == 0 or links >= nlink:
            unique += size
    return Usage(name, unique, sum(blocks.values()), len(blocks)), blocks, device


def usage(snapshots: Iterable[tuple[str, str]]) -> Report:
    """Usage of every ``(name, path)`` and the total, each inode counted once."""
    rows = []
    everything: dict[tuple[int, int], int] = {}
    for name, path in snapshots:
        row, blocks, device = snapshot_usage(name, path)
        rows.append(row)
        for inode, size in blocks.items():
            everything[(device, inode)] = size
    return Report(rows, sum(everything.values()))


def human(size: int) -> str:
    """``du -h`` style: 1024-based, one decimal below 10."""
    value = float(size)
    for unit in ("", "K", "M", "G", "T", "P"):
        if value < 1024 or unit == "P":
            if not unit:
                return f"{size}"
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_text(report: Report, human_readable: bool = True) -> str:
    """``unique  size  name`` per snapshot, then ``total``."""
    show = human if human_readable else str
    lines = [f"{'unique':>8}  {'size':>8}  snapshot"]
    for row in report.snapshots:
        lines.append(f"{show(row.unique):>8}  {show(row.size):>8}  {row.name}")
    lines.append(f"{show(report.total):>8}  {'':>8}  total")
    return "".join(line + "\n" for line in lines)
