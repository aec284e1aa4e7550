"""Talking to a running ``dss run``: its state file, its pid, signals.

The run loop holds the destination's :class:`~dssframe.store.lock.DestLock` and keeps a
JSON state file beside the lock, in the state directory (:mod:`dssframe.store.dirs`),
rewritten atomically (:mod:`dssframe.store.atomic`) so a reader never sees half a file.
Whether a run loop is alive is decided by the lock, never by the state file: a crashed
loop leaves a stale state file, but never a held lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dssframe.core.errors import DssError, UsageError
from dssframe.store.atomic import write_json_atomically
from dssframe.store.lock import lock_path, read_holder, state_file

POLL_INTERVAL = 0.1


class NotRunningError(DssError):
    """No run loop holds the lock of the destination directory: ``kill`` and
    ``reload`` exit with status 3, as ``status`` does (LSB's "program is not
    running")."""

    exit_code = 3


def state_path(dest_dir: str) -> Path:
    """The state file of the run loop on ``dest_dir`` (named like its lock)."""
    return Path(state_file("run", dest_dir, ".json"))


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically (:mod:`dssframe.store.atomic`) with ``state`` as JSON,
    keys sorted; readable by its owner only (it holds the effective configuration).
    Not fsynced: the run loop rewrites it at every step, and after a crash the next
    run writes it anew (nothing is decided from it)."""
    write_json_atomically(str(path), state, sort_keys=True, mode=0o600, durable=False)


def read_state(dest_dir: str) -> dict[str, Any] | None:
    """The last state the run loop wrote, None when there is none (or it is unreadable)."""
    try:
        with open(state_path(dest_dir), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def running_pid(dest_dir: str) -> int | None:
    """Pid of the process holding the destination lock, None when nobody holds it.

    Probes the lock with a shared, non-blocking flock that is released at once.
    """
    try:
        fd = os.open(lock_path(dest_dir), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, _ = read_holder(fd)
            return -1 if pid is None else pid
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def parse_signal(name: str) -> signal.Signals:
    """``TERM``, ``SIGTERM``, ``term`` or ``15``."""
    text = name.strip().upper()
    try:
        if text.isdigit():
            return signal.Signals(int(text))
        return signal.Signals[text if text.startswith("SIG") else "SIG" + text]
    except (KeyError, ValueError):
        raise UsageError(f"unknown signal {name!r}") from None


def require_pid(dest_dir: str) -> int:
    pid = running_pid(dest_dir)
    if pid is None:
        raise NotRunningError(f"no dss is running on {dest_dir}")
    if pid <= 0:
        raise DssError(f"the lock of {dest_dir} is held, but its pid is unknown")
    return pid


def send(dest_dir: str, sig: signal.Signals) -> int:
    """Send ``sig`` to the run loop on ``dest_dir``; its pid."""
    pid = require_pid(dest_dir)
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        raise NotRunningError(f"dss (pid {pid}) on {dest_dir} has just exited") from None
    except PermissionError:
        raise DssError(f"not allowed to signal dss (pid {pid})") from None
    return pid


def wait_gone(
    dest_dir: str,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Wait until no process holds the lock; False when ``timeout`` passed first."""
    deadline = None if timeout is None else clock() + timeout
    while running_pid(dest_dir) is not None:
        if deadline is not None and clock() >= deadline:
            return False
        sleep(POLL_INTERVAL)
    return True


def status(dest_dir: str) -> dict[str, Any]:
    """What ``dss status`` shows: liveness from the lock, the rest from the state file."""
    pid = running_pid(dest_dir)
    state = read_state(dest_dir) or {}
    running = pid is not None
    if running and state.get("pid") not in (None, pid):
        state = {}  # written by an earlier run loop, not by the one holding the lock
    result: dict[str, Any] = dict(state)
    result["running"] = running
    result["pid"] = pid if running else state.get("pid")
    result["dest_dir"] = state.get("dest_dir", os.path.abspath(dest_dir))
    result["state_file"] = str(state_path(dest_dir))
    return result
