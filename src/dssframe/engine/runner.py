"""Running a transport's command: /dev/null on stdin, stderr captured and logged,
an optional progress bar drawn from the transport's progress readings
(:class:`~dssframe.core.transport.ProgressSource`).

The bar (only when the caller asks, i.e. on a terminal) is one line of standard error,
redrawn in place at most ten times a second and cleared at the end; the process's
standard output is read for it and never shown, and each line of its standard error
clears the bar before it is logged, so messages keep lines of their own."""

from __future__ import annotations

import functools
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from dssframe import logs

if TYPE_CHECKING:
    from dssframe.core.transport import Progress

log = logs.get("dssframe.engine.runner")
PR_SET_PDEATHSIG = 1
#: How much of the newest standard output a progress reading is looked for in.
PROGRESS_TAIL = 512
#: The shortest time between two progress readings drawn (at most 10 a second).
PROGRESS_INTERVAL = 0.1
#: The bar's width in characters, when the terminal has room for it.
BAR_WIDTH = 20


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


def _collect_stderr(stream: IO[bytes], sink: list[str], line: StatusLine | None = None) -> None:
    """Keep the copy's stderr lines for its verdict, and log each at info: the
    verdict's one line names the cause of a failure (``-v`` shows them all)."""
    for raw in stream:
        text = raw.decode(errors="replace").rstrip("\n")
        sink.append(text)
        if line is None:
            log.info("%s", text)
            continue
        with line.lock:  # the message gets a line of its own; the bar comes back after it
            line.clear()
            log.info("%s", text)


class StatusLine:
    """The one line a progress bar is drawn on: rewritten in place (``\\r``), padded
    over what it replaces, and cleared before any other message and at the end, so
    that the terminal keeps only what is worth keeping. Hold :attr:`lock` around
    :meth:`draw` and :meth:`clear`."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.lock = threading.Lock()
        self.shown = ""

    def draw(self, text: str) -> None:
        if text != self.shown:
            self.write("\r" + text + " " * (len(self.shown) - len(text)))
            self.shown = text

    def clear(self) -> None:
        if self.shown:
            self.write("\r" + " " * len(self.shown) + "\r")
            self.shown = ""


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def progress_text(reading: Progress, columns: int = 80) -> str | None:
    """One reading as the bar shows it, at most ``columns - 1`` characters (the last
    column would make some terminals wrap), or None without a percentage::

        [########............]   42%  1.2 GiB  45.6 MiB/s  0:00:12

    A terminal too narrow for the bar gets the figures alone."""
    if reading.percent is None:
        return None
    from dssframe.core.sizes import iec_size

    percent = max(0, min(100, reading.percent))
    figures = [f"{percent:3d}%"]
    if reading.bytes_done is not None:
        figures.append(iec_size(reading.bytes_done))
    if reading.rate is not None:
        figures.append(iec_size(int(reading.rate)) + "/s")
    if reading.eta is not None:
        figures.append(_clock(reading.eta))
    text = "  ".join(figures)
    filled = percent * BAR_WIDTH // 100
    bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]  "
    if len(bar) + len(text) < columns:
        text = bar + text
    return text[: max(0, columns - 1)]


def _columns(fd: int) -> int:
    try:
        return os.get_terminal_size(fd).columns or 80
    except OSError:
        return 80


def _draw_progress(
    fd: int,
    line: StatusLine,
    parse: Callable[[str], Progress | None] | None,
    columns: Callable[[], int] = lambda: 80,
    interval: float = PROGRESS_INTERVAL,
) -> None:
    """Read the file descriptor ``fd`` to its end; with ``parse``, draw the newest
    reading on ``line``, at most once every ``interval`` seconds (a reading that comes
    sooner is drawn when the interval is over, unless a newer one replaces it), and
    clear ``line`` at the end."""
    tail = b""
    pending = False  # read since the last reading was taken
    drawn = -interval  # when the last reading was taken (time.monotonic)
    poller = select.poll()  # (not select.select: no limit on the descriptor's number)
    poller.register(fd, select.POLLIN)
    try:
        while True:
            timeout = None  # milliseconds
            if pending:
                timeout = max(0, int((drawn + interval - time.monotonic()) * 1000) + 1)
            if poller.poll(timeout):
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                if parse is None:
                    continue
                tail = (tail + chunk)[-PROGRESS_TAIL:]
                pending = True
            now = time.monotonic()
            if not pending or now - drawn < interval:
                continue
            pending = False
            drawn = now
            assert parse is not None
            reading = parse(tail.decode(errors="replace"))
            text = progress_text(reading, columns()) if reading is not None else None
            if text is not None:
                with line.lock:
                    line.draw(text)
    finally:
        with line.lock:
            line.clear()


def wait(
    process: subprocess.Popen[bytes],
    progress: Callable[[str], Progress | None] | None = None,
) -> tuple[int, str]:
    """Wait for ``process``; return its exit status and standard error. When its
    standard output is piped, it is read to its end and never shown: ``progress``
    (the transport's ``parse_progress``) reads it, and a bar is drawn on one line of
    standard error (:class:`StatusLine`, :data:`PROGRESS_INTERVAL`)."""
    lines: list[str] = []
    assert process.stderr is not None

    def out(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    line = StatusLine(out) if process.stdout is not None else None
    reader = threading.Thread(
        target=_collect_stderr, args=(process.stderr, lines, line), daemon=True
    )
    reader.start()
    if process.stdout is not None and line is not None:
        try:
            fd = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            fd = -1
        _draw_progress(process.stdout.fileno(), line, progress, lambda: _columns(fd))
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
