"""One writer per destination directory, whoever runs it: an ``flock`` on
``<dest>/.dssframe/lock``, inside the destination itself, so that two users, two
``HOME``s or two hosts sharing the disk can never both write snapshots there. The
holder writes its pid, user and host into the file (mode 0644: every user can read who
holds it). Read-only commands never take it.

Also the per-destination files dss keeps in the user's state directory (the run loop's
state file), named by a readable key of the destination's path, and the transport's log
of a running copy, beside the lock."""

from __future__ import annotations

import contextlib
import fcntl
import os

from dssframe.core.errors import DssError

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
    from dssframe.store.dirs import state_dir

    return os.path.join(state_dir(), kind, dest_key(dest_dir) + suffix)


#: The lock file, relative to the destination directory.
LOCK_FILE = os.path.join(".dssframe", "lock")


def lock_path(dest_dir: str) -> str:
    return os.path.join(os.path.abspath(dest_dir), LOCK_FILE)


def user_name() -> str:
    """The user this process runs as: the password database's name of the effective
    user id (not ``$USER``, which ``su`` leaves unchanged), else the id itself. The one
    user lookup: lock holders, metadata, pins and the config's "is the source local"
    all ask this."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


def local_identity() -> tuple[str, str]:
    """(host name, user name) of this process (here, not in :mod:`dssframe.store.metadata`:
    the lock is taken before rsync starts, when metadata is not loaded yet)."""
    return os.uname().nodename, user_name()  # gethostname() without importing socket


def holder_text() -> str:
    """What a lock holder writes into the lock file: ``pid user@host``."""
    host, user = local_identity()
    return f"{os.getpid()} {user}@{host}"


def read_holder(fd: int) -> tuple[int | None, str]:
    """(pid, ``user@host``) from a lock file's content; (None, "") when unreadable."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        words = os.read(fd, 256).decode(errors="replace").split()
    except OSError:
        return None, ""
    pid = int(words[0]) if words and words[0].isdigit() else None
    return pid, words[1] if len(words) > 1 else ""


def copy_log_path(dest_dir: str, transport: str, creation: int) -> str:
    """The log file a transport that reports statistics gets while it copies a snapshot
    of ``dest_dir`` (:attr:`dssframe.core.transport.CopyRequest.log_file`):
    ``<dest>/.dssframe/<transport>-<creation>.log`` (``rsync-1700000000.log``), beside
    the lock (so creating a snapshot needs nothing but the destination; the log is
    removed when the copy ends). Characters other than letters, digits, ``.``, ``_``
    and ``-`` in the transport's name become ``_``."""
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in transport)
    return os.path.join(os.path.abspath(dest_dir), ".dssframe", f"{name}-{creation}.log")


def stale_copy_logs(dest_dir: str, keep: str) -> list[str]:
    """The copy logs (:func:`copy_log_path`) in ``dest_dir`` other than ``keep``: left by
    a crashed dss (call it while holding the lock: no other copy runs)."""
    directory = os.path.join(os.path.abspath(dest_dir), ".dssframe")
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    mine = os.path.basename(keep)
    return [
        os.path.join(directory, name)
        for name in names
        if name != mine and _is_copy_log(name)
    ]


def _is_copy_log(name: str) -> bool:
    stem, dash, creation = name.removesuffix(".log").rpartition("-")
    return name.endswith(".log") and bool(dash and stem) and creation.isdigit()


class DestLock:
    """Held for the lifetime of a create, prune, delete, restore or run on ``dest_dir``."""

    def __init__(self, dest_dir: str) -> None:
        self.dest_dir = dest_dir
        self.path = lock_path(dest_dir)
        self.fd: int | None = None

    def _open(self) -> tuple[int, bool]:
        """The lock file's descriptor and whether we may write the holder into it."""
        try:
            os.mkdir(os.path.dirname(self.path), 0o755)
        except FileExistsError:
            pass
        except OSError as exc:
            raise DssError(f"cannot lock {self.dest_dir}: {exc.strerror}") from None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except PermissionError:
            # Another user's lock file: a read-only descriptor locks just as well.
            try:
                return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW), False
            except OSError as exc:
                raise DssError(f"cannot lock {self.dest_dir}: {exc.strerror}") from None
        except OSError as exc:
            raise DssError(f"cannot lock {self.dest_dir}: {exc.strerror}") from None
        return fd, True

    def acquire(self) -> None:
        fd, writable = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, who = read_holder(fd)
            os.close(fd)
            holder = f"pid {pid}" if pid is not None else "pid unknown"
            if who:
                holder += f", {who}"
            raise LockedError(
                f"another dss ({holder}) is working on {self.dest_dir}; refusing to start"
            ) from None
        if writable:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{holder_text()}\n".encode(), 0)
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o644)  # readable by every user, whatever the umask
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
