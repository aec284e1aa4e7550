"""Builtin notifier ``hooks``: the shell-command hooks of the original dss.

| option           | when                              | argument       | non-zero exit         |
|------------------|-----------------------------------|----------------|-----------------------|
| pre-create-hook  | before a snapshot is created      | none           | defers the creation   |
| post-create-hook | after it got its complete name    | snapshot path  | ignored               |
| pre-remove-hook  | before a snapshot is removed      | snapshot path  | skips this removal    |
| post-remove-hook | after the removal                 | snapshot path  | ignored               |
| exit-hook        | when the run loop exits           | the reason     | ignored               |

A value is split like a shell would (``shlex``) and run without a shell, the argument
appended. Only when it needs a shell (pipes, redirections, ``$``, globs, ``~``,
``VAR=x cmd``, ...) it runs as ``/bin/sh -c VALUE dss-hook ARG``: the argument is then
``"$1"``. Either way the path or reason is a separate argument, never spliced into a
command string. Standard input is /dev/null; the hook's output goes to dss's standard
error (the log file under ``--daemon``).

Deadlines. Every hook runs in its own process group, and dss waits for it in short
slices. A hook still running after ``hook-timeout`` seconds (0: no limit) times out:
its whole group gets SIGTERM, then SIGKILL :data:`KILL_GRACE` seconds later; it
counts as a failure (a timed-out pre-create hook defers the creation), is logged as
``pre-create-hook timed out after 3600s; killed`` and reported to the notifiers as
a ``hook-timeout`` event through the ``notify`` the plugin host hands over with
``dssframe_configure``. When dss stops (the ``dssframe_stop`` hook, which the plugin
host calls from the run loop's signal handler and from a one-shot command's SIGTERM
handler: :func:`stop_all`), running hooks get SIGTERM at once; hooks started later
(the exit hook) still run, but get SIGTERM :data:`STOP_TERM_GRACE` seconds before the
stop deadline; every hook is killed by the deadline at the latest
(``dssframe_wait_stopped`` waits for that: :func:`wait_stopped`). An exception in the
waiting thread (KeyboardInterrupt, SystemExit) terminates the group the same way
before it propagates.

The post-create, post-remove and exit hooks run when this plugin hears the event, that
is in the host's delivery thread for this notifier: the work goes on meanwhile, and
``notify-timeout`` bounds how long dss waits for them when it is done.

Several jobs. One ``dss run`` may run several jobs (``[[job]]`` tables), each with its
own hooks and ``hook-timeout``: ``dssframe_configure`` is called once per job before
that job's work, and the plugin keeps each job's configuration by ``config.name`` (the
latest call for a name replaces it). An event runs the hooks of ``event.job`` (an
event without a job, ``""``, those of the job configured last; one of a job never
configured, none), with that job's ``hook-timeout``: an event still queued when the
next job is configured runs its own job's hook. The veto hooks get their job's
``config`` as an argument. Configuration happens on the main thread and events on the
delivery thread: the jobs are an immutable mapping, replaced by one assignment.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

from dssframe import hookimpl, logs
from dssframe.core.config import Config
from dssframe.core.events import Event, EventKind
from dssframe.core.settings import JobTable

log = logs.get("dssframe.hooks")

#: Characters whose meaning only a shell provides.
SHELL_CHARACTERS = frozenset("|&;<>()$`*?[]{}#~!\n")
#: ``$0`` of a hook run through the shell (it names the script in error messages).
SHELL_NAME = "dss-hook"
#: Seconds a terminated hook's process group gets between SIGTERM and SIGKILL.
KILL_GRACE = 5.0
#: Seconds between two looks at a running hook (its exit, its deadline, a stop).
SLICE = 0.05
#: A hook started while dss stops gets SIGTERM this long before the stop deadline.
STOP_TERM_GRACE = 1.0
#: A hook that would get less than this before the stop deadline is not started.
STOP_MIN_RUN = 0.5
#: Default for :func:`stop_all`: seconds until every hook must be gone.
STOP_WITHIN = 5.0
#: The status :func:`run` returns for a hook that timed out or was cut off.
TIMED_OUT = 124
#: Seconds to wait for a SIGKILLed group's leader to be reaped before giving up.
REAP_TIMEOUT = 1.0


#: The configuration of each job (``config.name``) and the one configured last.
_jobs: JobTable[Config] = JobTable()
#: (when :func:`stop_all` was called, when every hook must be gone), monotonic time.
_stop: tuple[float, float] | None = None
#: The process groups of the hooks running now (their leaders' pids).
_running: set[int] = set()
#: Hands an event to the notifiers (the host's notify, from dssframe_configure).
_reporter: Callable[[Event], None] | None = None


def needs_shell(value: str) -> bool:
    """True when ``value`` means something different to ``/bin/sh`` than to shlex."""
    if any(c in SHELL_CHARACTERS for c in value):
        return True
    try:
        words = shlex.split(value)
    except ValueError:
        return True  # unbalanced quotes: let the shell report it
    return bool(words) and "=" in words[0]  # VAR=value command


def command(value: str, *args: str) -> list[str]:
    """The argument list that runs hook ``value`` with ``args`` as separate arguments."""
    if needs_shell(value):
        return ["/bin/sh", "-c", value, SHELL_NAME, *args]
    return [*shlex.split(value), *args]


# --- stopping and reporting -----------------------------------------------------------


def stop_all(within: float = STOP_WITHIN) -> None:
    """dss is stopping: running hooks get SIGTERM at once, hooks started from now on a
    deadline, and every hook is killed (SIGKILL) ``within`` seconds from now at the
    latest. Only the first call counts until :func:`reset`. It only assigns a
    variable (the waiting threads act on it within :data:`SLICE`), so it is safe in a
    signal handler."""
    global _stop
    if _stop is None:
        now = time.monotonic()
        _stop = (now, now + within)


def stopping() -> bool:
    """True once :func:`stop_all` was called."""
    return _stop is not None


def reset() -> None:
    """Forget a :func:`stop_all` (a new run loop in the same process, tests)."""
    global _stop
    _stop = None


def wait_stopped(timeout: float) -> bool:
    """Wait at most ``timeout`` seconds until no hook runs; True when none does."""
    end = time.monotonic() + timeout
    while _running and time.monotonic() < end:
        time.sleep(SLICE)
    return not _running


def set_reporter(reporter: Callable[[Event], None] | None) -> None:
    """Install the function that hands a ``hook-timeout`` event to the notifiers (the
    plugin host's ``notify`` arrives with ``dssframe_configure``; this is for direct
    use of the module)."""
    global _reporter
    _reporter = reporter


def configure(config: Config) -> None:
    """Keep ``config`` as the configuration of its job (``config.name``), replacing an
    earlier one of that name, and as the one configured last."""
    _jobs.keep(config.name, config)


def forget_jobs() -> None:
    """Forget every configured job (tests, an embedding program)."""
    _jobs.clear()


def config_for(job: str) -> Config | None:
    """The configuration of ``job``; for ``""`` (an event that names no job) the one
    configured last; None for a job never configured (or before any)."""
    found = _jobs.lookup(job)
    return found[1] if found else None


def _report_timeout(key: str, message: str, config: Config | None) -> None:
    reporter = _reporter
    if reporter is None:
        return
    event = Event(
        EventKind.HOOK_TIMEOUT,
        int(time.time()),
        source=(config.source_dir or "") if config else "",
        destination=(config.dest_dir or "") if config else "",
        reason=key,
        error=message,
        job=config.name if config else "",
    )
    try:
        reporter(event)
    except Exception as exc:  # noqa: BLE001 - reporting never changes the outcome
        log.error("cannot report the %s timeout: %s", key, exc)


# --- running ---------------------------------------------------------------------------


def _stdout() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        return None


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(process: subprocess.Popen[bytes], kill_at: float) -> None:
    """SIGTERM to the hook's process group now; SIGKILL to what is left of it at
    ``kill_at`` (or the stop deadline, if earlier); the leader is reaped."""
    pgid = process.pid
    _signal_group(pgid, signal.SIGTERM)
    try:
        while process.poll() is None or _group_exists(pgid):
            stop = _stop
            if time.monotonic() >= (min(kill_at, stop[1]) if stop else kill_at):
                break
            time.sleep(SLICE)
    finally:
        _signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(REAP_TIMEOUT)


class _Killed(NamedTuple):
    """A hook that was cut off: why, and whether that was its own ``hook-timeout``."""

    message: str
    timed_out: bool


def _wait(process: subprocess.Popen[bytes], key: str, timeout: float) -> int | _Killed:
    """The exit status of the hook, or why it was cut off (and killed)."""
    started = time.monotonic()
    limit = started + timeout if timeout > 0 else float("inf")
    while True:
        try:
            return process.wait(SLICE)
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        term_at, kill_by = limit, float("inf")
        killed = _Killed(f"{key} timed out after {timeout:g}s; killed", True)
        stop = _stop
        if stop is not None:
            asked, kill_by = stop
            # Running when the stop came: SIGTERM now; started later: shortly before it.
            if started <= asked:
                stop_term, why = asked, f"{key} killed: dss is stopping"
            else:
                stop_term = kill_by - STOP_TERM_GRACE
                why = f"{key} timed out after {stop_term - started:.1f}s (dss is stopping); killed"
            if stop_term < term_at:
                term_at, killed = stop_term, _Killed(why, False)
        if now >= term_at:
            _terminate(process, min(now + KILL_GRACE, kill_by))
            return killed


def _execute(
    key: str, value: str, args: tuple[str, ...], timeout: float, config: Config | None
) -> int | _Killed:
    argv = command(value, *args)
    if not argv:
        log.error("%s is empty", key)
        return 127
    stop = _stop
    if stop is not None and stop[1] - time.monotonic() < STOP_MIN_RUN:
        killed = _Killed(f"{key} not run: dss is stopping", False)
        log.warning("%s", killed.message)
        return killed
    log.info("running %s: %s", key, shlex.join(argv))
    try:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=_stdout(), process_group=0
        )
    except OSError as exc:
        log.error("%s: cannot run %s: %s", key, argv[0], exc.strerror or exc)
        return 127
    _running.add(process.pid)
    try:
        try:
            outcome = _wait(process, key, timeout)
        except BaseException:  # KeyboardInterrupt, SystemExit, a one-shot's SIGTERM
            _terminate(process, time.monotonic() + KILL_GRACE)
            raise
    finally:
        _running.discard(process.pid)
    if isinstance(outcome, _Killed):
        log.warning("%s", outcome.message)
        if outcome.timed_out:
            _report_timeout(key, outcome.message, config)
    elif outcome != 0:
        log.log(
            logs.INFO if key.startswith("pre-") else logs.WARNING,
            "%s exited with status %d",
            key,
            outcome,
        )
    return outcome


def run(
    key: str, value: str, *args: str, timeout: float = 0, config: Config | None = None
) -> int:
    """Run one hook to its end or its deadline (``timeout`` seconds, 0: none); its
    exit status (127: could not be started, negative: killed by that signal,
    :data:`TIMED_OUT`: timed out or cut off by a stop, and killed). A time-out is
    reported as ``config``'s job's (None: the job configured last)."""
    last = _jobs.lookup("")
    job = config if config is not None else (last[1] if last else None)
    outcome = _execute(key, value, args, timeout, job)
    return TIMED_OUT if isinstance(outcome, _Killed) else outcome


def _veto(key: str, value: str, args: tuple[str, ...], config: Config) -> str | None:
    outcome = _execute(key, value, args, config.hook_timeout, config)
    if isinstance(outcome, _Killed):
        return outcome.message
    return None if outcome == 0 else _failure(key, outcome)


def _failure(key: str, status: int) -> str:
    if status < 0:
        return f"{key} was killed by signal {-status}"
    return f"{key} exited with status {status}"


@hookimpl
def dssframe_configure(config: Config, notify: Callable[[Event], None] | None) -> None:
    global _reporter
    configure(config)
    _reporter = notify


@hookimpl
def dssframe_stop(within: float | None) -> None:
    if within is None:
        reset()
    else:
        stop_all(within)


@hookimpl
def dssframe_wait_stopped(deadline: float) -> bool:
    return wait_stopped(max(0.0, deadline - time.monotonic()))


@hookimpl
def dssframe_pre_create(config: Config, destination: str) -> str | None:
    if not config.pre_create_hook:
        return None
    return _veto("pre-create-hook", config.pre_create_hook, (), config)


@hookimpl
def dssframe_pre_remove(config: Config, path: str) -> str | None:
    if not config.pre_remove_hook:
        return None
    return _veto("pre-remove-hook", config.pre_remove_hook, (path,), config)


@hookimpl
def dssframe_event(event: Event) -> None:
    config = config_for(event.job)  # the event's job, whatever was configured since
    if config is None or event.dry_run:
        return
    timeout = config.hook_timeout
    if event.kind is EventKind.SNAPSHOT_CREATED and config.post_create_hook and event.path:
        run("post-create-hook", config.post_create_hook, event.path, timeout=timeout,
            config=config)  # fmt: skip
    elif event.kind is EventKind.SNAPSHOT_REMOVED and config.post_remove_hook and event.path:
        run("post-remove-hook", config.post_remove_hook, event.path, timeout=timeout,
            config=config)  # fmt: skip
    elif event.kind is EventKind.RUN_EXITING and config.exit_hook:
        run("exit-hook", config.exit_hook, event.reason or "", timeout=timeout, config=config)
