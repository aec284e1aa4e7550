"""Running a transport's command: /dev/null on stdin, stderr captured and logged,
an optional progress bar drawn from the transport's progress readings
(:class:`~dssframe.core.transport.ProgressSource`)."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from dssframe import logs

if TYPE_CHECKING:
    from dssframe.core.transport import Progress

log = logs.get("dssframe.engine.runner")
PR_SET_PDEATHSIG = 1
#: How much of the newest standard output a progress reading is looked for in.
PROGRESS_TAIL = 512


#: Where util-linux's setpriv may live (a fixed list: never one found on $PATH).
SETPRIV_PATHS = ("/usr/bin/setpriv", "/bin/setpriv")


@functools.cache
def _setpriv() -> str | None:
    """util-linux's ``setpriv`` if it knows ``--pdeathsig`` (util-linux >= 2.33, 2018).

    The transport's process must get SIGTERM when dss dies (PR_SET_PDEATHSIG), so that
    no orphaned rsync keeps writing into a snapshot directory. Setting that in the
    child with a Python ``preexec_fn`` makes subprocess fork instead of vfork and run
    Python in the child: 2 ms, plus 1.7 ms to import ctypes, before rsync starts.
    ``setpriv --pdeathsig TERM -- rsync ...`` sets it and execs rsync (same process)
    in 1 ms. Whether the option exists is read from the binary (its option table
    holds the word), so an older setpriv is never run with an option it lacks.
    """
    for path in SETPRIV_PATHS:
        try:
            with open(path, "rb") as handle:
                knows = b"pdeathsig" in handle.read()
        except OSError:
            continue
        if knows and os.access(path, os.X_OK):
            return path
    return None


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _which(program: str) -> str | None:
    """``program`` as ``execvp`` would find it; None when it would not. (Not
    ``shutil.which``: create does not otherwise import shutil, and its import,
    with zlib, bz2 and lzma, would cost more than this loop.)"""
    if "/" in program:
        return program if _executable(program) else None
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if _executable(candidate):
            return candidate
    return None


def _die_with_parent() -> Callable[[], None]:
    """What the child runs before exec when there is no usable setpriv: get SIGTERM
    when dss dies. ctypes is loaded here, in the parent, so the child only makes the
    one system call and execs rsync without delay."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return in_child


def start(argv: list[str], progress: bool) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdin on /dev/null and stderr piped; it dies with dss.
    A program that cannot be run raises FileNotFoundError ("cannot run ...")."""
    setpriv = _setpriv()
    program = _which(argv[0]) if setpriv else None
    preexec: Callable[[], None] | None = None
    if setpriv and program:
        command = [setpriv, "--pdeathsig", "TERM", "--", program, *argv[1:]]
    else:  # no setpriv, or a program execvp would not find: exactly as before
        command, preexec = argv, _die_with_parent()
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if progress else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=preexec,
            close_fds=True,
        )
    except OSError as exc:
        raise FileNotFoundError(f"cannot run {argv[0]}: {exc.strerror}") from None


def _collect_stderr(stream: IO[bytes], sink: list[str]) -> None:
    for raw in stream:
        line = raw.decode(errors="replace").rstrip("\n")
        sink.append(line)
        log.warning("%s", line)


def _draw_progress(
    stream: IO[bytes],
    out: Callable[[str], None],
    parse: Callable[[str], Progress | None] | None,
) -> None:
    """Read ``stream`` to its end; with ``parse``, draw a bar from each new reading."""
    buffer = b""
    last = -1
    while chunk := stream.read1(4096):  # type: ignore[attr-defined]
        if parse is None:
            continue
        buffer = (buffer + chunk)[-PROGRESS_TAIL:]
        reading = parse(buffer.decode(errors="replace"))
        if reading is not None and reading.percent is not None:
            percent = max(0, min(100, reading.percent))
            if percent != last:
                last = percent
                filled = percent * 40 // 100
                out(f"\r[{'#' * filled}{'.' * (40 - filled)}] {percent:3d}%")
    if last >= 0:
        out("\n")


def wait(
    process: subprocess.Popen[bytes],
    progress: Callable[[str], Progress | None] | None = None,
) -> tuple[int, str]:
    """Wait for ``process``; return its exit status and standard error. When its
    standard output is piped, ``progress`` (the transport's ``parse_progress``) reads
    it and a bar is drawn on standard error."""
    lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=_collect_stderr, args=(process.stderr, lines), daemon=True)
    reader.start()
    if process.stdout is not None:

        def out(text: str) -> None:
            sys.stderr.write(text)
            sys.stderr.flush()

        _draw_progress(process.stdout, out, progress)
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
