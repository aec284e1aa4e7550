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

Each inode is ``lstat``-ed once across all the snapshots measured together: the
directory-entry inode number (``d_ino``, no stat needed) finds the files already seen,
and hard-linked snapshots share almost all of them. Symbolic links are never followed
and the walk stays on the snapshot's file system.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dssframe.core.sizes import du_size

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


class _Walker:
    """Walks snapshots, ``lstat``-ing each inode once across all of them: an entry
    whose directory-entry inode number (``d_ino``) was seen in an earlier snapshot
    reuses that stat. Hard-linked snapshots share almost every file, so this saves
    nearly every stat after the first snapshot. Should ``d_ino`` ever differ from
    ``st_ino`` (some stacked file systems), every entry is stat-ed instead."""

    def __init__(self) -> None:
        self.files: dict[tuple[int, int], tuple[int, int]] = {}  # -> (st_nlink, bytes)
        self.trust_d_ino = True

    def scan(self, name: str, root: str) -> tuple[Usage, int]:
        """One snapshot's usage, and the bytes of its directories."""
        top = os.lstat(root)
        device = top.st_dev
        files = self.files
        dir_bytes = top.st_blocks * BLOCK
        dirs = 1
        links: dict[int, int] = {}
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
                        if entry.is_dir(follow_symlinks=False):
                            st = entry.stat(follow_symlinks=False)
                            if st.st_dev == device:  # a mount point below: not ours
                                dir_bytes += st.st_blocks * BLOCK
                                dirs += 1
                                stack.append(entry.path)
                            continue
                        inode = entry.inode()
                        if not self.trust_d_ino or (device, inode) not in files:
                            st = entry.stat(follow_symlinks=False)
                            if st.st_ino != inode:
                                self.trust_d_ino = False
                                inode = st.st_ino
                            if st.st_dev != device:
                                continue
                            files[(device, inode)] = (st.st_nlink, st.st_blocks * BLOCK)
                    except FileNotFoundError:
                        continue  # vanished while we looked
                    links[inode] = links.get(inode, 0) + 1
        unique = dir_bytes
        size = dir_bytes
        for inode, seen in links.items():
            nlink, used = files[(device, inode)]
            size += used
            if seen >= nlink:
                unique += used
        return Usage(name, unique, size, dirs + len(links)), dir_bytes


def usage(snapshots: Iterable[tuple[str, str]]) -> Report:
    """Usage of every ``(name, path)`` and the total, each inode counted once."""
    walker = _Walker()
    rows = []
    dir_bytes = 0
    for name, path in snapshots:
        row, directories = walker.scan(name, path)
        rows.append(row)
        dir_bytes += directories
    total = dir_bytes + sum(used for _nlink, used in walker.files.values())
    return Report(rows, total)




def format_text(report: Report, human_readable: bool = True) -> str:
    """``unique  size  name`` per snapshot, then ``total``."""
    show = du_size if human_readable else str
    lines = [f"{'unique':>8}  {'size':>8}  snapshot"]
    for row in report.snapshots:
        lines.append(f"{show(row.unique):>8}  {show(row.size):>8}  {row.name}")
    lines.append(f"{show(report.total):>8}  {'':>8}  total")
    return "".join(line + "\n" for line in lines)
