"""The snapshot store: the destination directory, whose names are the database.

Every state change is one ``rename()``; a crash leaves each snapshot in exactly one
well-defined state. Entries that do not parse as snapshot names -- junk, symbolic
links, plain files, names from the future -- are never listed and never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
from collections.abc import Iterable, Iterator
from typing import NamedTuple, Protocol, TypeVar

from dssframe.core.errors import ConfigError, SnapshotError
from dssframe.core.naming import SnapshotName, being_deleted_name, parse


class SnapshotNotFound(SnapshotError):
    """No snapshot of that name or creation epoch: a usage error (exit status 2)."""

    exit_code = 2


class _Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def creation(self) -> int: ...


_N = TypeVar("_N", bound=_Named)


def lookup(snapshots: Iterable[_N], key: str | int) -> _N | None:
    """The one of ``snapshots`` (anything with a directory ``name`` and a ``creation``
    epoch: snapshot names, lifecycle snapshots, pins) that a user means by ``key``: its
    directory name or its creation epoch, also as a path (``/backup/NAME/``); None when
    none is. Every command that takes a snapshot from the user looks it up here."""
    text = str(key).rstrip("/").rsplit("/", 1)[-1]
    for snapshot in snapshots:
        if text in (snapshot.name, str(snapshot.creation)):
            return snapshot
    return None


class Destination(NamedTuple):
    """The destination directory and the snapshot directories in it."""

    dest_dir: str

    @classmethod
    def open(cls, dest_dir: str, mountpoint: bool = False) -> Destination:
        """Check that ``dest_dir`` is a usable directory (never creates it)."""
        path = os.path.abspath(dest_dir)
        if not os.path.isdir(path):
            raise ConfigError(f"dest-dir {path} does not exist or is not a directory")
        if mountpoint and not os.path.ismount(path):
            raise SnapshotError(f"dest-dir {path} is not a mount point (option mountpoint)")
        return cls(path)

    def path(self, name: str) -> str:
        return os.path.join(self.dest_dir, name)

    def scan(self, now: int) -> list[SnapshotName]:
        """Every snapshot directory, oldest first."""
        found = []
        with os.scandir(self.dest_dir) as entries:
            for entry in entries:
                snapshot = parse(entry.name, now)
                if snapshot is not None and entry.is_dir(follow_symlinks=False):
                    found.append(snapshot)
        found.sort(key=lambda s: (s.creation, s.name))
        return found

    def get(self, key: str | int, now: int) -> SnapshotName:
        """The snapshot ``key`` names (:func:`lookup`); raises :class:`SnapshotNotFound`."""
        found = lookup(self.scan(now), key)
        if found is None:
            raise SnapshotNotFound(f"no snapshot {key!r} in {self.dest_dir}")
        return found

    def rename(self, old: str, new: str) -> None:
        """Rename one snapshot dir, refusing to replace anything that exists."""
        if old == new:
            return
        target = self.path(new)
        if os.path.lexists(target):
            raise SnapshotError(f"cannot rename {old} to {new}: {target} already exists")
        try:
            os.rename(self.path(old), target)
        except OSError as exc:
            raise SnapshotError(f"cannot rename {old} to {new}: {exc.strerror}") from None

    def mkdir(self, name: str) -> None:
        try:
            os.mkdir(self.path(name), 0o755)
        except OSError as exc:
            raise SnapshotError(f"cannot create {self.path(name)}: {exc.strerror}") from None

    @contextlib.contextmanager
    def removal_lock(self) -> Iterator[None]:
        """Serialise the decision to remove and its first rename across processes
        (``<dest>/.dssframe/remove.lock``): a ``dss delete`` beside a running
        ``dss run`` must see the listing the other one left, so that together they can
        never go below ``min-complete``. Held for a scan and a rename, never a copy."""
        directory = os.path.join(self.dest_dir, ".dssframe")
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o755)
        path = os.path.join(directory, "remove.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except PermissionError:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def mark_being_deleted(self, snapshot: SnapshotName) -> str:
        """First step of a removal: rename to the ``.being_deleted`` name."""
        if snapshot.being_deleted:
            return snapshot.name
        new = being_deleted_name(snapshot)
        self.rename(snapshot.name, new)
        return new

    def delete_tree(self, name: str) -> None:
        """Remove a (being-deleted) tree as fast as ``rm -rf``: by running it."""
        path = self.path(name)
        result = subprocess.run(
            ["rm", "-rf", "--one-file-system", "--", path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if result.returncode != 0 or os.path.lexists(path):
            detail = result.stderr.strip().splitlines()[-1:] or ["still exists"]
            raise SnapshotError(f"cannot remove {path}: {detail[0]}")
