"""Checks of the configured paths on the real file system, before anything is copied:
a source and destination nested in each other (by real path), a relative local source,
and the root-exposure warnings. The value-only checks are :mod:`dssframe.core.guards`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from dssframe.core.errors import ConfigError
from dssframe.core.guards import one_file_system, relative_path_error

if TYPE_CHECKING:
    from dssframe.core.config import Config


def _inside(path: str, parent: str) -> bool:
    """Whether real path ``path`` is ``parent`` or below it."""
    return path == parent or path.startswith(parent.rstrip(os.sep) + os.sep)



def _same_device(first: str, second: str) -> bool:
    try:
        return os.stat(first).st_dev == os.stat(second).st_dev
    except OSError:
        return True  # cannot tell: assume the worst


def check_paths(config: Config, local_source: str | None) -> list[str]:
    """Raise ConfigError for source/destination mistakes; return warnings to show.

    ``local_source`` is the source directory when it is on this host (None: remote)."""
    dest = config.dest_dir
    if local_source is not None:
        source_dir = config.source_dir
        if source_dir and not os.path.isabs(source_dir):
            raise relative_path_error("source-dir", source_dir)
        if dest:
            _check_nesting(config, local_source, dest)
    return _exposure_warnings(dest) if dest else []


def _check_nesting(config: Config, source: str, dest: str) -> None:
    real_source = os.path.realpath(source)
    real_dest = os.path.realpath(dest)
    both = f"source-dir {source}, dest-dir {dest}"
    if real_source != source or real_dest != dest:
        both += f" (real paths {real_source}, {real_dest})"
    if real_source == real_dest:
        raise ConfigError(
            f"source-dir, dest-dir: {both} are the same directory; every snapshot would "
            "copy the earlier ones into itself"
        )
    if _inside(real_dest, real_source):
        if one_file_system(config.rsync_option) and not _same_device(real_source, real_dest):
            return  # rsync -x does not descend into the destination's file system
        raise ConfigError(
            f"source-dir, dest-dir: {both}: dest-dir is inside source-dir, so each snapshot "
            "would contain the earlier ones (choose a dest-dir outside the source, or put it "
            "on another file system and pass rsync-option -x)"
        )
    if _inside(real_source, real_dest):
        raise ConfigError(
            f"source-dir, dest-dir: {both}: source-dir is inside dest-dir, where dss "
            "creates and removes snapshots"
        )


def _exposure_warnings(dest: str) -> list[str]:
    """As root, a destination other users can enter exposes every file snapshotted:
    setuid binaries (on a suid mount) and other users' private files."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    try:
        mode = os.stat(dest).st_mode & 0o7777
        nosuid = bool(os.statvfs(dest).f_flag & os.ST_NOSUID)
    except OSError:
        return []  # a missing destination: the store reports it
    if not mode & 0o077 or nosuid:
        return []
    return [
        f"dest-dir {dest} is readable by other users (mode {mode:04o}) and not on "
        "a nosuid mount; snapshots keep every file's permissions, including setuid binaries "
        f"and other users' private files: chmod 0700 {dest} or mount it nosuid "
        "(as rsnapshot advises)"
    ]
