"""The run loop of ``dss run``: carries out the scheduler's decisions with real
processes, signals and the disk-space guard (effects; the decisions are in
:mod:`dssframe.core.schedule`).

One loop step: handle signals, reap a finished rsync, read the free disk space (stop
or continue rsync), ask the scheduler, act, write the state file, and sleep until the
decision's time, a child's exit or a signal -- never longer than a minute, and never
in a busy loop (every WAIT ends later than now, every failure sets a retry time).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dssframe import logs
from dssframe.core import schedule
from dssframe.core.config import Config
from dssframe.core.errors import ConfigError, DssError
from dssframe.core.events import EventKind
from dssframe.core.naming import SnapshotName
from dssframe.core.retention import Removal, RetentionPolicy, schedule_period
from dssframe.core.transport import CopyResult, Outcome
from dssframe.engine import runner
from dssframe.engine.job import CreateDeferred, CreatePlan, Job, reason_text
from dssframe.plugins.host import PluginHost
from dssframe.store import control, diskspace
from dssframe.store.lock import DestLock, LockedError

log = logging.getLogger("dssframe.engine.daemon")

#: Stopping, in seconds after the stop began (the SIGTERM/SIGINT, or the fatal error):
#: the process exits within STOP_BUDGET, whatever its hooks and notifiers do. Hooks
#: running when the stop began get SIGTERM at once and SIGKILL after the hooks
#: module's KILL_GRACE (5 s); rsync gets SIGTERM, and SIGKILL at STOP_TIMEOUT; the
#: exit hook runs, but gets SIGTERM a second before HOOKS_STOP_WITHIN and SIGKILL at
#: it; notifiers are waited for until EVENTS_STOP_WITHIN (events before the last one)
#: and EXIT_EVENT_WITHIN (RUN_EXITING); then the state file, the lock, the exit.
STOP_BUDGET = 10.0
STOP_TIMEOUT = 5.5
HOOKS_STOP_WITHIN = 7.0
EVENTS_STOP_WITHIN = 3.0
EXIT_EVENT_WITHIN = 8.0
#: The least SIGTERM grace rsync gets, even when the stop came late to it (seconds).
MIN_RSYNC_GRACE = 0.5
#: A lasting pre-create veto is reported at most this often (seconds).
DEFERRAL_REPORT_INTERVAL = 3600
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)


class LoopExit(Exception):
    """Leave the run loop with a reason (for the exit hook) and an exit status."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass
class Child:
    """The running copy process."""

    plan: CreatePlan
    process: subprocess.Popen[bytes]
    stderr: Callable[[float | None], str]
    started: int
    stopped: bool = False


@dataclass
class _Setup:
    """Everything derived from one configuration."""

    config: Config
    job: Job
    policy: RetentionPolicy
    settings: schedule.Settings
    thresholds: diskspace.Thresholds
    stale_after: int


def reload_config(explicit: str | None, overrides: Mapping[str, Any]) -> Config:
    """Re-read the config file for SIGHUP: here the file wins over the command line."""
    from dssframe.store import configfile

    path, required = configfile.resolve_path(explicit)
    values = configfile.read_file(path, required)
    weaker = {key: value for key, value in overrides.items() if key not in values}
    exists = required or os.path.exists(path)
    return configfile.build(values, weaker, path if exists else None)


def default_logfile(dest_dir: str) -> str:
    """The log file of ``dss run --daemon`` on ``dest_dir`` when ``logfile`` is not
    set: one per destination, ``<state dir>/logs/<dest-dir as a name>.log``."""
    from dssframe.store.dirs import state_dir

    return os.path.join(state_dir(), "logs", logfile_name(dest_dir))


def logfile_name(dest_dir: str) -> str:
    """``/srv/backup/web 1`` -> ``srv-backup-web_1-<8 hex digits>.log``: readable,
    safe as one file name, and distinct for distinct real paths (the digits hash the
    real path, whose ``-`` and ``_`` the readable part may blur)."""
    import hashlib
    import re

    real = os.path.realpath(dest_dir)
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", real.strip("/").replace("/", "-"))[:80]
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:8]
    return f"{readable or 'root'}-{digest}.log"


def config_toml(config: Config) -> str:
    """``config`` as TOML, exactly as ``dss config show`` prints it."""
    from dssframe.core.config import plugins_to_toml, to_toml

    return to_toml(config.effective()) + plugins_to_toml(config.plugins)


class RunLoop:
    """``dss run`` on one destination directory. ``clock`` gives epoch seconds (the
    scheduler's time), ``measure`` reads free disk space; both are injectable."""

    def __init__(
        self,
        config: Config,
        host: PluginHost,
        reload: Callable[[], Config] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        measure: Callable[[str], diskspace.DiskSpace] = diskspace.measure,
    ) -> None:
        self.host = host
        self.clock = clock
        self.measure = measure
        self._reload_config = reload
        #: Whether a copy may start now (a fleet's ``max-parallel``); False queues it.
        self.may_create: Callable[[], bool] = lambda: True
        #: A due copy waits for :attr:`may_create`.
        self.queued = False
        #: A fleet paused this job until then (after max-rsync-errors), else None.
        self.paused_until: int | None = None
        #: No complete snapshot younger than stale-after (reported once per episode).
        self.stale = False
        self.newest_complete: SnapshotName | None = None
        self.setup = self._build(config)
        self.dest_dir = self.setup.job.store.dest_dir
        self.state_file = control.state_path(self.dest_dir)
        self.child: Child | None = None
        self.failures = 0
        self.retry_at = 0
        self.skipped: dict[int, int] = {}
        self.low = False
        self.space: diskspace.DiskSpace | None = None
        self.shortages: list[str] = []
        self.no_space_reported = False
        self.last_deferral_report: int | None = None
        self.last_result: dict[str, Any] | None = None
        self.last_removal: dict[str, Any] | None = None
        self.decision: schedule.Decision | None = None
        self.reloads = 0
        self.started = self.now()
        #: Staleness counts from here when there is no complete snapshot (a fleet
        #: keeps its first start across a job's restarts).
        self.watched_since = self.started
        self.pending: list[int] = []
        self._wake_fd = -1
        #: The last state written (without its ``updated`` time), and when.
        self._saved: dict[str, Any] | None = None
        self._saved_at = 0

    # --- configuration -----------------------------------------------------------

    def _build(self, config: Config) -> _Setup:
        job = Job.from_config(config, self.host)
        job.clock = self.clock
        # The scheduler applies keep-redundant itself: low space needs the redundant ones.
        policy = self.host.retention(config._replace(keep_redundant=False))
        stale_after = config.stale_after or 2 * schedule_period(
            policy, config.unit_interval, config.num_intervals, self.now()
        )
        return _Setup(
            config,
            job,
            policy,
            schedule.Settings.from_config(config),
            diskspace.Thresholds.from_config(config),
            stale_after,
        )

    @property
    def config(self) -> Config:
        return self.setup.config

    @property
    def job(self) -> Job:
        return self.setup.job

    def now(self) -> int:
        return int(self.clock())

    def _after_retry_delay(self) -> int:
        """The first whole second at least ``retry-delay`` seconds from now."""
        return math.ceil(self.clock() + self.setup.settings.retry_delay)

    def _reload(self) -> None:
        assert self._reload_config is not None
        try:
            config = self._reload_config()
        except (DssError, OSError) as exc:
            log.error("reload rejected, keeping the old configuration: %s", exc)
            return
        self.apply(config)

    def apply(self, config: Config) -> bool:
        """Use ``config`` from now on (a reload): a running copy goes on as it started;
        the retention, thresholds, hooks and plugins are the new ones. Refused (False,
        logged, the old configuration kept) when it is invalid or moves dest-dir."""
        old = self.setup
        try:
            config = self.host.apply_settings(config)
            same = os.path.realpath(config.require("dest-dir")) == os.path.realpath(self.dest_dir)
            if not same:
                raise ConfigError("dest-dir cannot change while dss runs; restart it instead")
            new = self._build(config)
            self.host.configure(config)
        except (DssError, OSError) as exc:
            log.error("reload rejected, keeping the old configuration: %s", exc)
            with contextlib.suppress(DssError):
                self.host.configure(old.config)
            return False
        self.setup = new
        self.reloads += 1
        if config.loglevel != old.config.loglevel:
            logs.set_level(config.loglevel)
        log.log(logs.NOTICE, "configuration reloaded from %s", config.path or "(no file)")
        log.info("configuration now:\n%s", config_toml(config).rstrip("\n"))
        log.info("state: %s", json.dumps(self._state(), sort_keys=True))
        return True

    # --- the loop --------------------------------------------------------------------

    def run(self, ready: Callable[[str | None], None] | None = None) -> int:
        """Hold the destination lock and loop until a signal or a fatal error; the
        exit status (0 after SIGTERM/SIGINT). ``ready`` hears once whether the loop
        started (None) or why not (a message)."""
        lock = DestLock(self.dest_dir)
        try:
            try:
                lock.acquire()
            except LockedError as exc:
                self.host.configure(self.config)
                self.job.event(EventKind.LOCK_REFUSED, error=str(exc))
                raise
            self.host.configure(self.config)
        except DssError as exc:
            lock.release()
            if ready:
                ready(str(exc))
            raise
        try:
            with self._signals():
                if ready:
                    ready(None)
                log.log(logs.NOTICE, "dss run: pid %d on %s", os.getpid(), self.dest_dir)
                for warning in self.job.warnings:
                    log.warning("%s", warning)
                return self._serve()
        finally:
            lock.release()

    def _serve(self) -> int:
        self._stop_began = None
        self.host.stop(None)  # a new run: plugins forget an earlier stop
        try:
            while True:
                self._step()
        except LoopExit as stop:
            reason, code = stop.reason, stop.code
        except (DssError, OSError) as exc:
            reason, code = f"error: {exc}", 1
        except BaseException as exc:
            self._begin_stop()
            self.stop_copy()
            self._exiting(f"internal error: {type(exc).__name__}: {exc}", failed=True)
            raise
        self._begin_stop()
        self.stop_copy()
        self._exiting(reason, failed=code != 0)
        return code

    def _exiting(self, reason: str, failed: bool) -> None:
        """The exit hook and the RUN_EXITING event (its log line is the one line saying
        that dss stops: a notice, or with ``failed`` an error naming the cause),
        bounded by the stop deadlines; the final state file."""
        began = self._begin_stop()
        self.host.stop_by(began + EXIT_EVENT_WITHIN)
        self.job.event(EventKind.RUN_EXITING, reason=reason, error=reason if failed else None)
        self.host.close()  # every event delivered, or the deadline passed
        left = began + EXIT_EVENT_WITHIN - time.monotonic()
        if not self.host.wait_stopped(max(0.0, left)):
            log.error("a hook is still running as dss exits")
        self.save(exit_reason=reason)

    #: When the stop began (``time.monotonic()``), None while the loop runs.
    _stop_began: float | None = None

    def _begin_stop(self) -> float:
        """Start the stop clock, once: running hooks are cut off, later ones and the
        notifiers get their deadlines (see STOP_BUDGET). It only assigns variables, so
        the signal handler calls it: a hook blocking the main thread is cut off too.
        When the stop began."""
        began = self._stop_began
        if began is None:
            began = self._stop_began = time.monotonic()
            self.host.stop(HOOKS_STOP_WITHIN)  # plugins end what they started (hooks)
            self.host.stop_by(began + EVENTS_STOP_WITHIN)
        return began

    def _step(self) -> None:
        self._handle_signals()
        until = self.advance()
        if until is not None:
            self._sleep(until)

    def advance(self) -> int | None:
        """One step of this destination's work: reap a finished copy, read the free
        space, ask the scheduler, act, write the state file. The time to sleep until
        before the next step, or None to take it at once (something was done). A copy
        that is due while :attr:`may_create` says no is queued: the step ends, and the
        next one (when a copy ends) asks again."""
        self._reap()
        self._check_space()
        decision = self.decision = self.decide()
        log.debug("decision: %s", decision)
        self._check_stale()
        self.queued = False
        if decision.action is schedule.Action.REMOVE:
            assert decision.removal is not None
            self._remove(decision.removal)
        elif decision.action in (schedule.Action.CREATE, schedule.Action.RESUME):
            if not self.may_create():
                self.queued = True
                self.save()
                return self.now() + schedule.MAX_SLEEP
            self._create(decision)
        else:
            if decision.action is schedule.Action.NO_SPACE:
                self._report_no_space()
            self.save()
            return self._reap_due(decision.until)
        self.save()
        return None

    def _reap_due(self, until: int | None) -> int:
        """When to step again after a WAIT until ``until`` (None: no deadline, so at
        most ``MAX_SLEEP`` from now -- a signal or a child's exit wakes the loop
        sooner), or sooner: the second a finished copy can be named in."""
        if until is None:
            until = self.now() + schedule.MAX_SLEEP
        child = self.child
        if child is None or child.process.poll() is None:
            return until
        return min(until, child.plan.creation + 1)

    @property
    def copying(self) -> bool:
        """Whether this loop's copy process is running (not: finished, not yet named)."""
        return self.child is not None and self.child.process.poll() is None

    def decide(self) -> schedule.Decision:
        """What the scheduler says now, from the destination, the pins and what the loop
        is doing; the retention policy (:attr:`_Setup.policy`) owns the schedule."""
        from dssframe.store.pins import active_pins

        now = self.now()
        self.skipped = {c: t for c, t in self.skipped.items() if t > now}
        child = self.child
        reference = child.plan.reference if child else None
        activity = schedule.Activity(
            creating=child.plan.creation if child else None,
            reference=reference.creation if reference else None,
            low_space=self.low,
            create_not_before=self.retry_at,
            skipped=dict(self.skipped),
            pinned=active_pins(self.dest_dir, now),
        )
        snapshots = self.job.store.scan(now)
        complete = [snapshot for snapshot in snapshots if snapshot.complete]
        self.newest_complete = complete[-1] if complete else None
        return schedule.decide(now, snapshots, self.setup.policy, self.setup.settings, activity)

    def _sleep(self, until: int | None) -> None:
        if not self.pending:
            sleep_until(self._wake_fd, until, self.clock)

    # --- signals -------------------------------------------------------------------

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """Handlers only record the signal; a self-pipe wakes the sleeping loop."""
        with signal_pipe(self._on_signal) as self._wake_fd:
            yield
        self._wake_fd = -1

    def _on_signal(self, signum: int, frame: object) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self._begin_stop()  # now, not when the main thread gets back to the loop
        if signum != signal.SIGCHLD:
            self.pending.append(signum)

    def _handle_signals(self) -> None:
        while self.pending:
            signum = self.pending.pop(0)
            if signum == signal.SIGHUP:
                log.debug("SIGHUP: re-reading the configuration")
                self._reload()
            else:
                raise LoopExit(f"caught signal {signal.Signals(signum).name}", 0)

    # --- disk space -------------------------------------------------------------------

    def _check_space(self) -> None:
        try:
            space = self.measure(self.dest_dir)
        except OSError as exc:
            log.error("cannot read the free space of %s: %s", self.dest_dir, exc.strerror or exc)
            return
        shortages = diskspace.shortages(space, self.setup.thresholds)
        low = bool(shortages)
        if low and not self.low:  # the event's line says it
            self.job.event(EventKind.DISK_SPACE_LOW, reason="; ".join(shortages))
        elif self.low and not low:
            log.log(logs.NOTICE, "disk space is sufficient again")
            self.no_space_reported = False
        self.space, self.shortages, self.low = space, shortages, low
        child = self.child
        if child is None or child.process.poll() is not None:
            return
        if low and not child.stopped:
            log.warning("suspending %s (pid %d)", child.plan.name, child.process.pid)
            child.process.send_signal(signal.SIGSTOP)
            child.stopped = True
        elif not low and child.stopped:
            log.log(logs.NOTICE, "resuming %s (pid %d)", child.plan.name, child.process.pid)
            child.process.send_signal(signal.SIGCONT)
            child.stopped = False

    def _check_stale(self) -> None:
        """A SNAPSHOT_STALE event when the newest complete snapshot (or, with none, the
        start of this loop) becomes older than ``stale-after``: once, until a snapshot
        is complete again."""
        newest = self.newest_complete
        since = self.watched_since
        if newest is not None and newest.completion is not None:
            since = newest.completion
        age = self.now() - since
        stale = age > self.setup.stale_after
        if stale and not self.stale:
            from dssframe.core.durations import humane

            if newest is None:
                reason = f"no complete snapshot since dss run started {humane(age)} ago"
            else:
                reason = f"no complete snapshot for {humane(age)}"
            reason += f" (stale-after = {humane(self.setup.stale_after)})"
            self.job.event(
                EventKind.SNAPSHOT_STALE,
                reason=reason,
                error=reason,
                snapshot=newest.name if newest is not None else None,
            )
        self.stale = stale

    def _report_no_space(self) -> None:
        if self.no_space_reported:
            return
        self.no_space_reported = True
        reason = "; ".join(self.shortages) or "disk space low"
        message = f"disk space low and nothing removable ({reason})"
        self.job.event(EventKind.NO_SPACE, reason=reason, error=message)  # its line says it

    # --- creating --------------------------------------------------------------------

    def _create(self, decision: schedule.Decision) -> None:
        now = self.now()
        if self.config.mountpoint and not os.path.ismount(self.dest_dir):
            # The backup disk went away while we ran: never fill the file system below.
            message = f"dest-dir {self.dest_dir} is no longer a mount point (option mountpoint)"
            self.job.event(EventKind.CREATE_FAILED, error=message)
            self._failed(DssError(message).told())
            return
        try:
            plan = self.job.begin_create(progress=False, notify_deferral=False)
        except CreateDeferred as exc:
            self.retry_at = self._after_retry_delay()
            last = self.last_deferral_report
            if last is None or now - last >= DEFERRAL_REPORT_INTERVAL:
                self.last_deferral_report = now
                veto = str(exc).removeprefix("snapshot creation deferred: ")
                self.job.event(EventKind.CREATE_DEFERRED, reason=veto)
                log.log(
                    logs.NOTICE,
                    "retrying every %ds; a lasting veto is reported at most once an hour",
                    self.setup.settings.retry_delay,
                )
            else:
                log.debug("%s", exc)
            return
        except DssError as exc:
            self._failed(exc)
            return
        self.last_deferral_report = None
        try:
            process = runner.start(plan.argv, progress=False)
        except FileNotFoundError as exc:
            try:
                self.job.finish_create(plan, CopyResult(Outcome.ERROR, 127, str(exc)))
            except DssError as err:
                self._failed(err)
            return
        self.child = Child(plan, process, runner.collect_stderr(process), now)
        how = decision.action.value if plan.reuse is None else plan.reuse_reason
        log.info(
            "%s: %s (pid %d%s)",
            how,
            plan.name,
            process.pid,
            ", with --checksum" if plan.checksum else "",
        )

    def _reap(self) -> None:
        child = self.child
        if child is None or child.process.poll() is None:
            return
        if self.clock() < child.plan.creation + 1:
            # A snapshot never completes in its creation second (names must not
            # collide): it is named in the next one, when the loop wakes (no sleep here:
            # a fleet's other jobs go on meanwhile).
            return
        self.child = None
        status = child.process.returncode
        stderr = child.stderr(5.0)
        result = self.job.transport.classify(status, stderr)
        try:
            snapshot = self.job.finish_create(child.plan, result)
        except DssError as exc:
            self._failed(exc, child.plan, status)
            return
        self.failures = 0
        self.retry_at = 0
        assert snapshot.completion is not None
        self.last_result = {
            "result": "created",
            "snapshot": snapshot.name,
            "time": snapshot.completion,
            "duration": snapshot.completion - snapshot.creation,
            "exit_status": status,
            "checksum": child.plan.checksum,
            "message": result.message,
        }

    def _failed(
        self, error: DssError, plan: CreatePlan | None = None, status: int | None = None
    ) -> None:
        """A failed create: count it, set the retry time, stop at ``max-rsync-errors``.
        Its cause is logged once: by its failure event, or here when it had none."""
        message = str(error)
        now = self.now()
        self.failures += 1
        delay = self.setup.settings.retry_delay
        self.retry_at = self._after_retry_delay()
        self.last_result = {
            "result": "failed",
            "snapshot": plan.name if plan else None,
            "time": now,
            "exit_status": status,
            "checksum": plan.checksum if plan else None,
            "message": message,
        }
        limit = self.config.max_rsync_errors
        if self.failures >= limit:
            raise LoopExit(
                f"{self.failures} consecutive snapshot failures (max-rsync-errors = {limit}); "
                f"last: {message}",
                1,
            )
        retrying = f"failure {self.failures} of {limit} in a row; retrying in {delay}s"
        if error.reported:
            log.log(logs.NOTICE, "%s", retrying)
        else:
            log.warning("%s (%s)", message, retrying)

    def stop_copy(self, began: float | None = None) -> None:
        """Stop rsync cleanly; its incomplete directory stays and will be resumed. It
        gets SIGTERM, and SIGKILL ``STOP_TIMEOUT`` after ``began`` (``time.monotonic()``;
        default: the run loop's stop, which this begins)."""
        child = self.child
        if child is None:
            return
        if child.process.poll() is not None:  # finished: named (in its next second)
            time.sleep(max(0.0, min(1.0, child.plan.creation + 1 - self.clock())))
            with contextlib.suppress(LoopExit, DssError):
                self._reap()
            return
        self.child = None
        pid = child.process.pid
        log.warning("stopping rsync (pid %d); %s stays for a resume", pid, child.plan.name)
        child.process.send_signal(signal.SIGTERM)
        if child.stopped:
            child.process.send_signal(signal.SIGCONT)
        began = self._begin_stop() if began is None else began
        grace = max(began + STOP_TIMEOUT - time.monotonic(), MIN_RSYNC_GRACE)
        try:
            child.process.wait(grace)
        except subprocess.TimeoutExpired:
            log.error("rsync (pid %d) ignored SIGTERM for %.1fs; killing it", pid, grace)
            child.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(MIN_RSYNC_GRACE)
        child.stderr(max(MIN_RSYNC_GRACE, min(2.0, began + STOP_TIMEOUT - time.monotonic())))

    # --- removing --------------------------------------------------------------------

    def _remove(self, removal: Removal) -> None:
        snapshot = removal.snapshot
        log.log(logs.NOTICE, "removing %s: %s", snapshot.name, reason_text(removal))
        retry = self._after_retry_delay()
        try:
            removed = self.job.remove(removal)
        except DssError as exc:
            log.error("%s (retrying in %ds)", exc, self.setup.settings.retry_delay)
            self.skipped[snapshot.creation] = retry
            return
        if not removed:
            self.skipped[snapshot.creation] = retry
            return
        self.last_removal = {
            "snapshot": snapshot.name,
            "reason": reason_text(removal),
            "time": self.now(),
        }

    # --- state file ---------------------------------------------------------------------

    def _activity_name(self) -> str:
        decision = self.decision
        if self.child is not None:
            return "creating (suspended: disk space low)" if self.child.stopped else "creating"
        if self.queued:
            return "queued (max-parallel copies running)"
        if decision is None:
            return "starting"
        if decision.action is schedule.Action.NO_SPACE:
            return "waiting: disk space low, nothing removable"
        if decision.action is schedule.Action.WAIT and decision.note == "retry delay":
            return "waiting to retry"
        if decision.action is schedule.Action.REMOVE:
            return "removing"
        return "idle"

    def _state(self, exit_reason: str | None = None) -> dict[str, Any]:
        decision = self.decision
        child = self.child
        creating = None
        if child is not None:
            creating = {
                "snapshot": child.plan.name,
                "pid": child.process.pid,
                "started": child.started,
                "reference": child.plan.reference.name if child.plan.reference else None,
                "reuse": child.plan.reuse_reason,
                "checksum": child.plan.checksum,
                "suspended": child.stopped,
            }
        next_action = None
        if decision is not None:
            next_action = {
                "action": decision.action.value,
                "until": decision.until,
                "note": decision.note,
                "snapshot": decision.removal.snapshot.name if decision.removal else None,
            }
        disk = diskspace.record(self.space, self.setup.thresholds, self.shortages)
        return {
            "job": self.config.name,
            "pid": os.getpid(),
            "running": exit_reason is None,
            "dest_dir": self.dest_dir,
            "config_file": self.config.path,
            "started": self.started,
            "updated": self.now(),
            "activity": "exited" if exit_reason is not None else self._activity_name(),
            "creating": creating,
            "next_snapshot": decision.next_snapshot if decision else None,
            "next_action": next_action,
            "retry_at": self.retry_at or None,
            "consecutive_failures": self.failures,
            "stale": self.stale,
            "paused_until": self.paused_until,
            "stale_after": self.setup.stale_after,
            "newest_complete": self.newest_complete.name if self.newest_complete else None,
            "last_result": self.last_result,
            "last_removal": self.last_removal,
            "disk": disk,
            "reloads": self.reloads,
            "exit_reason": exit_reason,
            "config": {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in self.config.effective().items()
            },
        }

    def save(self, exit_reason: str | None = None) -> None:
        """Write the state file (``exit_reason``: the loop has ended, and why) -- unless
        nothing but its ``updated`` time changed since the last write less than
        ``MAX_SLEEP`` seconds ago (a fleet steps every job at every wake)."""
        state = self._state(exit_reason)
        same = {**state, "updated": None}
        now = state["updated"]
        if same == self._saved and now - self._saved_at < schedule.MAX_SLEEP:
            return
        try:
            control.write_state(self.state_file, state)
            self._saved, self._saved_at = same, now
        except OSError as exc:
            log.error("cannot write the state file %s: %s", self.state_file, exc)


@contextlib.contextmanager
def signal_pipe(handler: Callable[[int, object], None]) -> Iterator[int]:
    """``handler`` for :data:`HANDLED_SIGNALS` while inside; yields the read end of a
    self-pipe that every signal writes to (:func:`sleep_until` wakes on it)."""
    read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    old = {sig: signal.signal(sig, handler) for sig in HANDLED_SIGNALS}
    try:
        yield read_fd
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
        signal.set_wakeup_fd(old_wakeup)
        os.close(read_fd)
        os.close(write_fd)


def sleep_until(wake_fd: int, until: int | None, clock: Callable[[], float]) -> None:
    """Sleep until epoch ``until`` (at most ``MAX_SLEEP`` seconds), a signal or a
    child's exit (a byte on ``wake_fd``), then drain the pipe."""
    timeout = float(schedule.MAX_SLEEP)
    if until is not None:
        timeout = min(timeout, max(0.0, until - clock()))
    with contextlib.suppress(InterruptedError):
        select.select([wake_fd], [], [], timeout)
    with contextlib.suppress(BlockingIOError):
        while os.read(wake_fd, 512):
            pass


# --- detaching (--daemon) --------------------------------------------------------------


@dataclass
class Detached:
    """The outcome of :func:`detach` in one of the two processes that return from it."""

    is_daemon: bool
    exit_code: int = 0
    ready: Callable[[str | None], None] | None = None


def detach(logfile: str) -> Detached:
    """Fork into the background (new session, stdin /dev/null, stdout and stderr to
    ``logfile``). The foreground process waits until the daemon reports through
    ``ready`` that it holds the lock (or why it failed), prints that and returns
    ``is_daemon=False`` with the exit status to use."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(logfile)), exist_ok=True)
        log_fd = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot open log file {logfile}: {exc.strerror}") from None
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        os.close(log_fd)
        chunks = []
        while chunk := os.read(read_fd, 4096):
            chunks.append(chunk)
        os.close(read_fd)
        os.waitpid(pid, 0)
        message = b"".join(chunks).decode(errors="replace")
        if message.startswith("ok "):
            print(
                f"dss: running in the background as pid {message[3:]}, logging to {logfile}",
                file=sys.stderr,
            )
            return Detached(False, 0)
        text = message.removeprefix("err ") or f"the background dss exited; see {logfile}"
        print(f"dss: error: {text}", file=sys.stderr)
        return Detached(False, 1)
    os.close(read_fd)
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(devnull)
    os.close(log_fd)
    reported = False

    def ready(error: str | None) -> None:
        nonlocal reported
        if reported:
            return
        reported = True
        text = f"ok {os.getpid()}" if error is None else f"err {error}"
        with contextlib.suppress(OSError):
            os.write(write_fd, text.encode())
        os.close(write_fd)

    return Detached(True, ready=ready)
