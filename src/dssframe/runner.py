"""Running a transport's command: /dev/null on stdin, stderr captured and logged,
an optional progress bar from rsync's ``--info=progress2`` output."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO

from . import logs

log = logs.get("dssframe.runner")
_PERCENT = re.compile(rb"(\d+)%")
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None]:
    """What the child runs before exec: get SIGTERM when dss dies, so no orphan rsync
    keeps writing. ctypes is loaded here, in the parent, so the child only makes the
    one system call and execs rsync without delay."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return in_child


def start(argv: list[str], progress: bool) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if progress else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent(),
            close_fds=True,
        )
    except OSError as exc:
        raise FileNotFoundError(f"cannot run {argv[0]}: {exc.strerror}") from None


def _collect_stderr(stream: IO[bytes], sink: list[str]) -> None:
    for raw in stream:
        line = raw.decode(errors="replace").rstrip("\n")
        sink.append(line)
        log.warning("%s", line)


def _draw_progress(stream: IO[bytes], out: Callable[[str], None]) -> None:
    buffer = b""
    last = -1
    while chunk := stream.read1(4096):  # type: ignore[attr-defined]
        buffer = (buffer + chunk)[-512:]
        matches = _PERCENT.findall(buffer)
        if matches:
            percent = min(100, int(matches[-1]))
            if percent != last:
                last = percent
                filled = percent * 40 // 100
                out(f"\r[{'#' * filled}{'.' * (40 - filled)}] {percent:3d}%")
    if last >= 0:
        out("\n")


def wait(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    """Wait for ``process``; return its exit status and standard error."""
    lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=_collect_stderr, args=(process.stderr, lines), daemon=True)
    reader.start()
    if process.stdout is not None:

        def out(text: str) -> None:
            sys.stderr.write(text)
            sys.stderr.flush()

        _draw_progress(process.stdout, out)
    status = process.wait()
    reader.join()
    return status, "\n".join(lines)


def collect_stderr(process: subprocess.Popen[bytes]) -> Callable[[float | None], str]:
    """Log and keep ``process``'s standard error from a thread, so the caller need not
    block. The returned function waits up to ``timeout`` seconds for the end of the
    stream (call it once the process has exited) and returns the text read so far."""
    lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=_collect_stderr, args=(process.stderr, lines), daemon=True)
    reader.start()

    def finish(timeout: float | None) -> str:
        reader.join(timeout)
        return "\n".join(lines)

    return finish
