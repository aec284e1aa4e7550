"""One dss process per destination directory (an flock on a file in the state dir)."""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from .errors import DssError


class LockedError(DssError):
    """Another dss process works on the same destination directory."""


def lock_path(dest_dir: str) -> Path:
    from platformdirs import user_state_dir

    key = hashlib.sha256(os.path.realpath(dest_dir).encode()).hexdigest()[:16]
    return Path(user_state_dir("dssframe")) / "locks" / f"{key}.lock"


class DestLock:
    """Held for the lifetime of a create, prune or run on ``dest_dir``."""

    def __init__(self, dest_dir: str) -> None:
        self.dest_dir = dest_dir
        self.path = lock_path(dest_dir)
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
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
