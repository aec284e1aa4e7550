"""Running a transport's command: /dev/null on stdin, stderr captured and logged,
an optional progress bar drawn from the transport's progress readings
(:class:`~dssframe.core.transport.ProgressSource`).

The bar (only when the caller asks, i.e. on a terminal) is one line of standard error,
redrawn in place at most ten times a second and cleared at the end; the process's
standard output is read for it and never shown, and each line of its standard error
clears the bar before it is logged, so messages keep lines of their own."""

from __future__ import annotations

import contextlib
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
    from dssframe.core.transport import CommandGroup, Progress

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
    A program that cannot be run raises FileNotFoundError ("cannot run ...").

    A :class:`~dssframe.core.transport.CommandGroup`'s argument list starts its
    processes instead, as a :class:`ProcessGroup` (which behaves like one process)."""
    from dssframe.core.transport import parse_group

    group = parse_group(argv)
    if group is not None:
        return ProcessGroup(group, progress).start()
    return _popen(argv, subprocess.PIPE if progress else subprocess.DEVNULL, subprocess.PIPE)


def _popen(
    argv: list[str] | tuple[str, ...], stdout: int | None, stderr: int | None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` (stdin on /dev/null) so that it dies with dss: FileNotFoundError
    ("cannot run ...") when it cannot run."""
    argv = list(argv)
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
            stdout=stdout,
            stderr=stderr,
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
    if isinstance(process, ProcessGroup):
        return _wait_group(process, progress)
    lines: list[str] = []
    assert process.stderr is not None
    line = StatusLine(_write_stderr) if process.stdout is not None else None
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


def _write_stderr(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def collect_stderr(process: subprocess.Popen[bytes]) -> Callable[[float | None], str]:
    """Log and keep ``process``'s standard error from a thread, so the caller need not
    block. The returned function waits up to ``timeout`` seconds for the end of the
    stream (call it once the process has exited) and returns the text read so far."""
    if isinstance(process, ProcessGroup):
        return process.stderr_text
    lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=_collect_stderr, args=(process.stderr, lines), daemon=True)
    reader.start()

    def finish(timeout: float | None) -> str:
        reader.join(timeout)
        return "\n".join(lines)

    return finish


# --- a command group: several processes as one ------------------------------------------

#: Signals that pause a process; SIGCONT resumes it. Any other signal (but these
#: harmless ones) sent to a group also cancels the stages it has not started.
_PAUSE = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
_HARMLESS = frozenset({0, signal.SIGCONT, signal.SIGCHLD, signal.SIGWINCH, signal.SIGURG})


class ProcessGroup(subprocess.Popen[bytes]):
    """The processes of a :class:`~dssframe.core.transport.CommandGroup` as the one
    process the host expects: :func:`start` returns it, and the run loop, ``dss
    create`` and ``dss restore`` use it as they use a :class:`subprocess.Popen`.

    - ``send_signal`` (``terminate``, ``kill``) reaches every process that runs:
      SIGSTOP and SIGCONT pause and resume them all, and a paused group starts no
      stage until it is resumed; any other signal (SIGTERM, SIGKILL) also cancels the
      stages not started yet.
    - ``poll``, ``wait``, ``returncode``: the group has ended when every process it
      started has exited and no stage is left to start. Its status is the first
      non-zero status in command order; 0 when every process ran and exited 0;
      ``-signal`` when a signal cancelled stages before any process failed.
    - Standard error: each line is logged as it comes (as for one process);
      :meth:`stderr_text` is every process's status and lines
      (:func:`~dssframe.core.transport.group_stderr`), which ``classify`` judges.
    - Progress: each process's standard output is read (never shown), and
      :meth:`readings` parses each one's tail; :func:`wait` draws them as one bar
      (:func:`combine_progress`).

    One supervisor thread starts every process and lives until the last has exited
    (the parent-death signal that stops a process when dss dies follows the thread that
    started it); every call into a process's Popen is made under the group's lock, so
    that no two threads race to reap one. (Popen's own constructor is not called:
    this object starts nothing itself.)"""

    def __init__(self, group: CommandGroup, progress: bool, capture: bool = True) -> None:
        self.group = group
        self.commands = group.commands()
        self.args = [word for command in self.commands for word in command]
        self.stdin = self.stdout = self.stderr = None
        self.pid = 0
        self.returncode = None
        self._child_created = False  # what Popen.__del__ looks at
        self.capture = capture
        self.progress = progress and capture
        #: The bar the lines of standard error clear before they are logged.
        self.status_line: StatusLine | None = None
        count = len(self.commands)
        self._processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self._exited: dict[int, int] = {}  # command index -> exit status
        self._lines: list[list[str]] = [[] for _ in range(count)]
        self._tails: list[bytes] = [b""] * count
        self._cond = threading.Condition()
        self._stage = 0  # how many stages have been started
        self._stopped = False
        self._cancelled: int | None = None  # the signal that cancelled the later stages
        self._start_error: str | None = None
        self._started = threading.Event()  # the first stage is running (or could not start)
        self._drained = threading.Event()  # every pipe has been read to its end
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)

    # --- what the host calls ---------------------------------------------------------

    def start(self) -> ProcessGroup:
        """Start the first stage (FileNotFoundError when one of its programs cannot
        run: then nothing of the group runs any more)."""
        supervisor = threading.Thread(target=self._supervise, name="dss-group", daemon=True)
        supervisor.start()
        self._started.wait()
        if self._start_error is not None:
            self.wait()
            raise FileNotFoundError(self._start_error)
        return self

    def poll(self) -> int | None:
        with self._cond:
            self._update()
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._update()
                if self.returncode is not None:
                    return self.returncode
                left = 0.1 if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout or 0)
                self._cond.wait(min(left, 0.1))

    def send_signal(self, sig: int) -> None:
        with self._cond:
            if sig in _PAUSE:
                self._stopped = True
            elif sig == signal.SIGCONT:
                self._stopped = False
            elif sig not in _HARMLESS and self._cancelled is None:
                self._cancelled = sig
            for process in self._processes:
                if process is not None and process.returncode is None:
                    process.send_signal(sig)  # (a process that has exited is left alone)
            self._update()
            self._cond.notify_all()
        self._wake()

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def pids(self) -> list[int]:
        """The process ids of the processes started so far, in command order."""
        with self._cond:
            return [p.pid for p in self._processes if p is not None]

    def stderr_text(self, timeout: float | None = None) -> str:
        """Every process's exit status and standard error as ``classify`` gets them,
        after waiting up to ``timeout`` seconds for the ends of the pipes (call it once
        the group has ended)."""
        from dssframe.core.transport import ProcessReport, group_stderr

        self._drained.wait(timeout)
        with self._cond:
            statuses = [self._exited.get(i) for i in range(len(self.commands))]
        reports = [
            ProcessReport(s, "\n".join(lines))
            for s, lines in zip(statuses, self._lines, strict=True)
        ]
        return group_stderr(reports)

    def readings(self, parse: Callable[[str], Progress | None]) -> list[Progress | None]:
        """Each process's newest progress reading (None: none yet, or not started)."""
        return [parse(tail.decode(errors="replace")) if tail else None for tail in self._tails]

    def ended(self) -> list[bool]:
        """Whether each process has exited (or could not start)."""
        with self._cond:
            return [i in self._exited for i in range(len(self.commands))]

    # --- the state, under self._cond -------------------------------------------------

    def _offset(self, stage: int) -> int:
        return sum(len(commands) for commands in self.group.stages[:stage])

    def _stage_done(self) -> bool:
        """Whether every process of the stages started so far has exited."""
        return all(i in self._exited for i in range(self._offset(self._stage)))

    def _may_proceed(self) -> bool:
        """Whether the statuses of the last stage started let the next one start."""
        if self._stage == 0:
            return True
        first, last = self._offset(self._stage - 1), self._offset(self._stage)
        return all(self._exited[i] in self.group.proceed for i in range(first, last))

    def _next_stage_due(self) -> bool:
        return (
            self._stage < len(self.group.stages)
            and self._cancelled is None
            and self._stage_done()
            and self._may_proceed()
        )

    def _update(self) -> None:
        """Collect the exit statuses, and the group's once it has ended."""
        if self.returncode is not None:
            return
        for index, process in enumerate(self._processes):
            if process is not None and index not in self._exited:
                status = process.poll()  # reaps it (no other thread polls it meanwhile)
                if status is not None:
                    self._exited[index] = status
        if not self._stage_done():
            return
        stages_left = self._stage < len(self.group.stages)
        if stages_left and self._cancelled is None and self._may_proceed():
            return  # the next stage starts (once resumed, if paused)
        self.returncode = self._status()
        self._cond.notify_all()

    def _status(self) -> int:
        for index in range(len(self.commands)):
            status = self._exited.get(index)
            if status:
                return status
        if self._stage < len(self.group.stages):
            return -self._cancelled if self._cancelled else 1
        return 0

    def _wake(self) -> None:
        """Wake the supervisor (a signal was sent: a stage may start, or never will)."""
        with self._cond:
            if self._wake_write >= 0:
                with contextlib.suppress(OSError):  # full: it is awake anyway
                    os.write(self._wake_write, b".")

    # --- the supervisor thread -------------------------------------------------------

    def _start_stage(self, poller: select.poll, watched: dict[int, tuple[str, int]]) -> bool:
        """Start the next stage; whether each process's exit can be watched (pidfd)."""
        stage = self.group.stages[self._stage]
        offset = self._offset(self._stage)
        out = subprocess.PIPE if self.progress else (subprocess.DEVNULL if self.capture else None)
        err = subprocess.PIPE if self.capture else None
        pidfds = True
        first = True
        for number, command in enumerate(stage):
            index = offset + number
            try:
                process = _popen(command, out, err)
            except FileNotFoundError as exc:
                self._exited[index] = 127
                self._lines[index].append(str(exc))
                if self._stage == 0 and self._start_error is None:
                    self._start_error = str(exc)
                continue
            self._processes[index] = process
            if first:
                self.pid, first = process.pid, False
            for stream, what in ((process.stderr, "err"), (process.stdout, "out")):
                if stream is not None:
                    watched[stream.fileno()] = (what, index)
                    poller.register(stream.fileno(), select.POLLIN)
            try:
                pidfd = os.pidfd_open(process.pid)
            except (AttributeError, OSError):
                pidfds = False
            else:
                watched[pidfd] = ("exit", index)
                poller.register(pidfd, select.POLLIN)
        self._stage += 1
        if self._start_error is not None:  # the group cannot run: stop what did start
            self._cancelled = signal.SIGTERM
            for started in self._processes:
                if started is not None and started.returncode is None:
                    started.send_signal(signal.SIGTERM)
        return pidfds

    def _supervise(self) -> None:
        poller = select.poll()
        poller.register(self._wake_read, select.POLLIN)
        watched: dict[int, tuple[str, int]] = {}
        partial: dict[int, bytes] = {}
        pidfds = True
        try:
            while True:
                with self._cond:
                    self._update()
                    if self._next_stage_due() and not self._stopped:
                        pidfds = self._start_stage(poller, watched) and pidfds
                        self._update()
                    ended = self.returncode is not None
                if self._stage or ended:
                    self._started.set()
                if ended:
                    for fd in [fd for fd, (what, _) in watched.items() if what == "exit"]:
                        poller.unregister(fd)
                        os.close(fd)
                        del watched[fd]
                    if not watched:
                        break
                for fd, _event in poller.poll(None if pidfds else 50):
                    if fd == self._wake_read:
                        os.read(fd, 512)
                        continue
                    what, index = watched[fd]
                    if what == "exit":
                        poller.unregister(fd)
                        os.close(fd)
                        del watched[fd]
                        continue  # the next _update collects its status
                    data = os.read(fd, 65536)
                    if not data:
                        poller.unregister(fd)
                        del watched[fd]
                        if what == "err" and partial.get(index):
                            self._line(index, partial.pop(index))
                        self._close(index, what)
                    elif what == "out":
                        self._tails[index] = (self._tails[index] + data)[-PROGRESS_TAIL:]
                    else:
                        *lines, partial[index] = (partial.get(index, b"") + data).split(b"\n")
                        for raw in lines:
                            self._line(index, raw)
                with self._cond:
                    self._cond.notify_all()
        except BaseException as exc:  # never leave a process unwatched: stop them all
            log.error("the copy's processes cannot be watched (%r); stopping them", exc)
            self.send_signal(signal.SIGKILL)
            raise
        finally:
            self._started.set()
            self._drained.set()
            with self._cond:
                fds = (self._wake_read, self._wake_write)
                self._wake_read = self._wake_write = -1
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _close(self, index: int, what: str) -> None:
        process = self._processes[index]
        stream = None if process is None else (process.stderr if what == "err" else process.stdout)
        if stream is not None:
            stream.close()

    def _line(self, index: int, raw: bytes) -> None:
        text = raw.decode(errors="replace")
        self._lines[index].append(text)
        line = self.status_line
        if line is None:
            log.info("%s", text)
            return
        with line.lock:  # the message gets a line of its own; the bar comes back after it
            line.clear()
            log.info("%s", text)


def combine_progress(readings: list[Progress | None], ended: list[bool]) -> Progress | None:
    """One reading for a group's processes (None while none has one): bytes and rates
    summed, the longest time left, and the share done -- of the bytes, from each
    process's own bytes and percentage, when every process has a reading with both,
    else the mean of the percentages (a process that has ended counts as 100 %, one
    without a reading as 0 %)."""
    from dssframe.core.transport import Progress

    if all(reading is None for reading in readings):
        return None
    percents, totals = [], []
    for reading, done in zip(readings, ended, strict=True):
        percent = 100 if done else (reading.percent or 0) if reading is not None else 0
        percents.append(percent)
        if reading is not None and reading.bytes_done is not None and percent > 0:
            totals.append(reading.bytes_done * 100 / percent)
    done_bytes = sum(r.bytes_done or 0 for r in readings if r is not None)
    counted = any(r is not None and r.bytes_done is not None for r in readings)
    whole = sum(totals)
    if len(totals) == len(readings) and whole > 0:
        percent = min(100, int(done_bytes * 100 / whole))
    else:
        percent = sum(percents) // len(percents)
    running = [r for r, done in zip(readings, ended, strict=True) if r is not None and not done]
    rates = [r.rate for r in running if r.rate is not None]
    etas = [r.eta for r in running if r.eta is not None]
    return Progress(
        percent=percent,
        bytes_done=done_bytes if counted else None,
        rate=sum(rates) if rates else None,
        eta=max(etas) if etas else None,
    )


def _wait_group(
    group: ProcessGroup, progress: Callable[[str], Progress | None] | None
) -> tuple[int, str]:
    """:func:`wait` for a :class:`ProcessGroup`: one bar for all its processes."""
    if group.progress and progress is not None:
        line = StatusLine(_write_stderr)
        group.status_line = line
        try:
            fd = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            fd = -1
        try:
            while True:
                try:
                    group.wait(PROGRESS_INTERVAL)
                    break
                except subprocess.TimeoutExpired:
                    pass
                reading = combine_progress(group.readings(progress), group.ended())
                text = progress_text(reading, _columns(fd)) if reading is not None else None
                if text is not None:
                    with line.lock:
                        line.draw(text)
        finally:
            with line.lock:
                line.clear()
            group.status_line = None
    status = group.wait()
    return status, group.stderr_text(None)


def main(arguments: list[str]) -> int:
    """``python -m dssframe.engine.runner --group ...``: run a command group by hand, as
    dss runs it (its processes' output goes where this process's goes; SIGTERM, SIGINT,
    SIGHUP and SIGCONT are passed on to them); exit with the group's status."""
    from dssframe.core.transport import GROUP_MODULE, parse_group

    try:
        group = parse_group([sys.executable, "-m", GROUP_MODULE, *arguments])
    except ValueError as exc:
        group, problem = None, str(exc)
    else:
        problem = "the arguments are not a command group"
    if group is None:
        print(f"python -m {GROUP_MODULE}: {problem}", file=sys.stderr)
        return 2
    processes = ProcessGroup(group, progress=False, capture=False)

    def forward(signum: int, frame: object) -> None:
        processes.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCONT):
        signal.signal(signum, forward)
    try:
        processes.start()
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 127
    status = processes.wait()
    if status < 0:  # die of the same signal, as the copy did
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
