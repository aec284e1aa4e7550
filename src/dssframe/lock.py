"""One dss process per destination directory (an flock on a file in the state dir),
and the other per-destination files there, named by the same key."""

from __future__ import annotations

import fcntl
import os

from .errors import DssError

#: Bytes kept as they are in a destination key; every other byte is escaped as %XX.
_PLAIN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.,+=@")
#: Keys longer than this are cut and end in a digest of the whole path (name limit 255).
_MAX_KEY = 160


class LockedError(DssError):
    """Another dss process works on the same destination directory."""


def dest_key(dest_dir: str) -> str:
    """The file-name key of a destination: its real path, readable and one-to-one.

    ``/srv/my-backup`` becomes ``srv-my%2Dbackup``: the leading ``/`` is dropped,
    ``/`` becomes ``-``, and every byte other than letters, digits and ``_.,+=@``
    is written ``%XX`` (so ``-`` and ``%`` in a name cannot collide with the
    separators); ``/`` itself is ``-``. A key longer than 160 characters keeps its
    first 140 and ends in ``~`` and 16 hex digits of the path's SHA-256.
    """
    path = os.fsencode(os.path.realpath(dest_dir)).strip(b"/")
    parts = []
    for component in path.split(b"/"):
        parts.append("".join(chr(b) if b in _PLAIN else f"%{b:02X}" for b in component))
    key = "-".join(parts) or "-"
    if key.startswith("."):  # never a hidden file
        key = "%2E" + key[1:]
    if len(key) > _MAX_KEY:
        import hashlib  # only here: loading OpenSSL costs every command 3 ms

        key = key[:140] + "~" + hashlib.sha256(path).hexdigest()[:16]
    return key


def state_file(kind: str, dest_dir: str, suffix: str) -> str:
    """``<state dir>/<kind>/<key of dest_dir><suffix>``; the directory is not created.
    (Strings, not pathlib: ``dss create`` needs these before rsync starts.)"""
    from .dirs import state_dir

    return os.path.join(state_dir(), kind, dest_key(dest_dir) + suffix)


def lock_path(dest_dir: str) -> str:
    return state_file("locks", dest_dir, ".lock")


def rsync_log_path(dest_dir: str, creation: int) -> str:
    """Where rsync logs its ``--stats`` while copying a snapshot of ``dest_dir``
    (the state dir, beside the lock; nothing appears in the destination before a
    snapshot completes)."""
    path = state_file("rsync", dest_dir, f"-{creation}.log")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


class DestLock:
    """Held for the lifetime of a create, prune or run on ``dest_dir``."""

    def __init__(self, dest_dir: str) -> None:
        self.dest_dir = dest_dir
        self.path = lock_path(dest_dir)
        self.fd: int | None = None

    def acquire(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(
                f"another dss (pid {holder}) is working on {self.dest_dir}; refusing to start"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> DestLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
