"""``dss run`` for a config with several jobs: one process, one loop, every job's own
:class:`~dssframe.engine.daemon.RunLoop` state (schedule, destination lock, disk-space
guard, retries, ``max-rsync-errors``), stepped in turn.

One loop iteration: handle signals; step every job (:meth:`RunLoop.advance`, with the
plugins configured for that job and its name on every log line); sleep until the
earliest time a job asked for, a child's exit or a signal. At most ``max-parallel``
copies run at once: a job whose copy is due while that many run is queued, and starts
(in config order) when one ends.

A failing job never stops the others: a job that reaches ``max-rsync-errors`` (or meets
an error that would end a single-job ``dss run``) is paused and started again after a
back-off, as systemd's ``Restart=on-failure`` would restart a single-job ``dss run``:
30 s, doubling up to an hour. A job whose destination another dss holds is retried
every ``retry-delay``. SIGHUP re-reads the config: new jobs start, removed ones stop
(their copy is stopped and stays for a resume), changed ones get their new
configuration -- a running copy goes on -- and unchanged ones are not touched. SIGTERM
stops every job within the run loop's stop budget.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dssframe import logs
from dssframe.core.config import Config, job_label
from dssframe.core.errors import DssError
from dssframe.core.events import EventKind
from dssframe.engine import daemon
from dssframe.plugins.host import PluginHost
from dssframe.store import diskspace
from dssframe.store.lock import DestLock, LockedError

log = logs.get("dssframe.engine.fleet")

#: The first pause of a job that gave up (seconds), doubled each time, at most PAUSE_MAX.
PAUSE_FIRST = 30
PAUSE_MAX = 3600


@dataclass
class Member:
    """One job of the fleet: its run loop (None until its destination's lock is held)
    and why it does not run now."""

    config: Config
    loop: daemon.RunLoop | None = None
    lock: DestLock | None = None
    #: Not before this epoch: waiting for the lock, or paused after giving up.
    resume_at: int = 0
    pauses: int = 0
    problem: str | None = None
    #: The last try to start it found its lock held by another dss.
    refused: bool = False
    #: When its first run loop started, and whether it was stale when the last one ended
    #: (a paused job's staleness goes on counting and is not told twice).
    first_started: int | None = None
    stale: bool = False
    #: The time it asked to be stepped again at (None: at the next turn).
    until: int | None = None
    configured: bool = field(default=False, repr=False)

    @property
    def name(self) -> str:
        return job_label(self.config)


class Fleet:
    """Every job of one config in one ``dss run``. ``reload`` re-reads the jobs (for
    SIGHUP); ``clock`` and ``measure`` are injectable, as for a :class:`RunLoop`."""

    def __init__(
        self,
        configs: list[Config],
        host: PluginHost,
        reload: Callable[[], list[Config]],
        *,
        clock: Callable[[], float] = time.time,
        measure: Callable[[str], diskspace.DiskSpace] = diskspace.measure,
    ) -> None:
        self.host = host
        self.reload = reload
        self.clock = clock
        self.measure = measure
        self.members = [Member(config) for config in configs]
        self.max_parallel = configs[0].max_parallel
        self.pending: list[int] = []
        self._wake_fd = -1
        self._stop_began: float | None = None

    # --- the loop -------------------------------------------------------------------

    def run(self, ready: Callable[[str | None], None] | None = None) -> int:
        """Run every job until SIGTERM/SIGINT; the exit status (0). ``ready`` hears
        once whether the loop started (None) or why not: when another dss holds every
        job's destination, this one has nothing to do (LockedError, exit status 1)."""
        with self._signals():
            for member in self.members:
                self._start(member)
            if all(member.refused for member in self.members):
                message = "; ".join(str(member.problem) for member in self.members)
                if ready:
                    ready(message)
                raise LockedError(message).told()  # each job's line said it
            if ready:
                ready(None)
            log.log(logs.NOTICE, "dss run: pid %d, %d jobs: %s", os.getpid(), len(self.members),
                    ", ".join(member.name for member in self.members))  # fmt: skip
            self.host.stop(None)
            reason: str | None = "stopped"
            try:
                while True:
                    reason = self._handle_signals()
                    if reason is not None:
                        break
                    until = self._step_all()
                    if until is not None:
                        self._sleep(until)
            finally:
                self._stop_all(reason or "internal error")
        return 0

    def _step_all(self) -> int | None:
        """Step every job that has something to do (again at once while one acted or a
        queued copy may start); the earliest time one asked to sleep until. A job is
        left alone until the time it asked for, unless its copy ended or it waits for
        a free copy slot: as its own run loop would sleep."""
        earliest: int | None = None
        again = False
        for member in list(self.members):
            until = member.until
            if self._needs_step(member):
                until = member.until = self._step(member)
            if until is None:
                again = True
            elif earliest is None or until < earliest:
                earliest = until
        if self._free_slots() > 0 and any(m.loop and m.loop.queued for m in self.members):
            again = True
        return None if again else earliest

    def _step(self, member: Member) -> int | None:
        now = self.now()
        if member.loop is None:
            if now < member.resume_at:
                return member.resume_at
            self._start(member)
            if member.loop is None:
                return member.resume_at
        loop = member.loop
        with logs.job_named(member.name):
            self._configure(member)
            try:
                until = loop.advance()
                if member.pauses and (loop.last_result or {}).get("result") == "created":
                    member.pauses = 0  # it works again: the next pause starts short
                return until
            except daemon.LoopExit as stop:  # max-rsync-errors: pause this job only
                self._pause(member, stop.reason)
            except (DssError, OSError) as exc:
                self._pause(member, f"error: {exc}")
        return member.resume_at

    def _needs_step(self, member: Member) -> bool:
        if member.until is None or member.until <= self.now():
            return True
        loop = member.loop
        if loop is None:
            return False
        if loop.child is not None and loop.child.process.poll() is not None:
            return True  # its copy ended
        return loop.queued and self._free_slots() > 0

    def _configure(self, member: Member) -> None:
        """Hand the plugins this job's configuration before its work (once per turn:
        plugins keep per-job state by ``config.name``)."""
        if len(self.members) > 1 or not member.configured:
            self.host.configure(member.config)
            member.configured = True

    def _free_slots(self) -> int:
        running = sum(1 for m in self.members if m.loop is not None and m.loop.copying)
        return self.max_parallel - running

    def now(self) -> int:
        return int(self.clock())

    # --- starting, pausing, stopping one job -----------------------------------------

    def _start(self, member: Member) -> None:
        """Take the job's destination lock and make its run loop; when another dss
        holds the lock (or the destination cannot be opened), retry later."""
        config = member.config
        with logs.job_named(member.name):
            self._configure(member)
            lock = DestLock(config.require("dest-dir"))
            loop = None
            try:
                loop = daemon.RunLoop(config, self.host, clock=self.clock, measure=self.measure)
                lock.acquire()
            except DssError as exc:
                lock.release()
                member.refused = isinstance(exc, LockedError)
                retry = max(config.retry_delay, 1)
                if str(exc) != member.problem:  # reported once while it lasts
                    member.problem = str(exc)
                    if isinstance(exc, LockedError) and loop is not None:
                        loop.job.event(EventKind.LOCK_REFUSED, error=str(exc))  # its line
                    else:
                        log.error("%s", exc)
                    log.log(logs.NOTICE, "retrying every %ds", retry)
                member.resume_at = self.now() + retry
                return
            loop.may_create = lambda: self._free_slots() > 0
            if member.first_started is None:
                member.first_started = loop.started
            loop.watched_since, loop.stale = member.first_started, member.stale
            member.loop, member.lock, member.problem, member.refused = loop, lock, None, False
            for warning in loop.job.warnings:
                log.warning("%s", warning)

    def _pause(self, member: Member, reason: str) -> None:
        """A job gave up: stop it (its copy stays for a resume), release its lock and
        start it again after the back-off."""
        delay = min(PAUSE_FIRST * (1 << min(member.pauses, 16)), PAUSE_MAX)
        member.pauses += 1
        if member.loop is not None:
            member.loop.paused_until = self.now() + delay  # in its last state file
        self._stop_member(member, reason, failed=True)  # its run-exiting line says why
        log.log(logs.NOTICE, "this job starts again in %ds; the others go on", delay)
        member.resume_at = self.now() + delay

    def _stop_member(self, member: Member, reason: str, failed: bool) -> None:
        """Stop one job: its copy (SIGKILL after the stop budget: of the fleet's stop,
        or from now), its RUN_EXITING event, its final state file, its lock."""
        loop, lock = member.loop, member.lock
        if loop is None:
            return
        with logs.job_named(member.name):
            self._configure(member)
            loop.stop_copy(self._stop_began or time.monotonic())
            loop.job.event(EventKind.RUN_EXITING, reason=reason, error=reason if failed else None)
            loop.save(exit_reason=reason)
        if lock is not None:
            lock.release()
        member.stale = loop.stale
        member.loop = member.lock = None

    def _stop_all(self, reason: str) -> None:
        """Every job: its copy stopped (all told at once, then each waited for within
        the stop budget), its RUN_EXITING event, its final state file, its lock."""
        began = self._begin_stop()
        for member in self.members:
            child = member.loop.child if member.loop else None
            if child is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
                if child.stopped:
                    child.process.send_signal(signal.SIGCONT)
        self.host.stop_by(began + daemon.EXIT_EVENT_WITHIN)
        for member in self.members:
            self._stop_member(member, reason, failed=False)
        self.host.close()
        left = began + daemon.EXIT_EVENT_WITHIN - time.monotonic()
        if not self.host.wait_stopped(max(0.0, left)):
            log.error("a hook is still running as dss exits")

    def _begin_stop(self) -> float:
        began = self._stop_began
        if began is None:
            began = self._stop_began = time.monotonic()
            self.host.stop(daemon.HOOKS_STOP_WITHIN)
            self.host.stop_by(began + daemon.EVENTS_STOP_WITHIN)
        return began

    # --- reloading --------------------------------------------------------------------

    def _reload(self) -> None:
        """SIGHUP: apply the config file's jobs (see the module docstring)."""
        try:
            configs = self.reload()
        except (DssError, OSError) as exc:
            log.error("reload rejected, keeping the old configuration: %s", exc)
            return
        for each in self.members:
            each.until = None  # every job looks again at its (new) configuration
        old = {each.name: each for each in self.members}
        members: list[Member] = []
        for config in configs:
            member = old.pop(job_label(config), None)
            if member is None:
                log.log(logs.NOTICE, "job %s added", job_label(config))
                members.append(Member(config))
                continue
            members.append(member)
            if config == member.config:
                continue  # unchanged: not touched
            same_dest = os.path.realpath(config.require("dest-dir")) == os.path.realpath(
                member.config.require("dest-dir")
            )
            if not same_dest:
                log.log(logs.NOTICE, "job %s moves to %s: restarting it", member.name,
                        config.dest_dir)  # fmt: skip
                self._stop_member(member, "dest-dir changed by a reload", failed=False)
                member.config, member.resume_at, member.pauses = config, 0, 0
                continue
            with logs.job_named(member.name):
                if member.loop is None or member.loop.apply(config):
                    member.config = config
                    member.configured = False
        for member in old.values():
            log.log(logs.NOTICE, "job %s removed from the configuration", member.name)
            self._stop_member(member, "removed from the configuration", failed=False)
        self.members = members
        self.max_parallel = configs[0].max_parallel

    # --- signals and sleeping ---------------------------------------------------------

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """Handlers only record the signal; a self-pipe wakes the sleeping loop."""
        with daemon.signal_pipe(self._on_signal) as self._wake_fd:
            yield
        self._wake_fd = -1

    def _on_signal(self, signum: int, frame: object) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self._begin_stop()
        if signum != signal.SIGCHLD:
            self.pending.append(signum)

    def _handle_signals(self) -> str | None:
        """Apply a SIGHUP; the stop reason after SIGTERM/SIGINT, else None."""
        while self.pending:
            signum = self.pending.pop(0)
            if signum == signal.SIGHUP:
                self._reload()
            else:
                return f"caught signal {signal.Signals(signum).name}"
        return None

    def _sleep(self, until: int) -> None:
        if not self.pending:
            daemon.sleep_until(self._wake_fd, until, self.clock)


def default_logfile(config_path: str) -> str:
    """The log file of ``dss run --daemon`` for a config with jobs when ``logfile`` is
    not set: one per config file, ``<state dir>/logs/<config file as a name>.log``."""
    return daemon.default_logfile(config_path)
