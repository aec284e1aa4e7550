"""The snapshot operations -- create one, remove one, prune by plan -- wiring the pure
core (names, retention plans) to the effects (store, transport process, events)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping

from dssframe import logs
from dssframe.core import gate, naming
from dssframe.core.config import Config
from dssframe.core.errors import ConfigError, DssError, SnapshotError, TransportError
from dssframe.core.events import Event, EventKind
from dssframe.core.naming import SnapshotName
from dssframe.core.retention import Reason, Removal, RetentionPolicy, orphans, resumable
from dssframe.core.transport import (
    CopyRequest,
    CopyResult,
    Outcome,
    Progress,
    ProgressSource,
    StatsSource,
    Transport,
    is_remote,
)
from dssframe.core.transport import source_top as _source_top
from dssframe.engine import runner
from dssframe.logs import NOTICE
from dssframe.plugins.host import PluginHost
from dssframe.store.destination import Destination

log = logs.get("dssframe")


class CreateDeferred(DssError):
    """A pre-create veto said not now."""


class RemovalRefused(SnapshotError):
    """The removal gate kept a snapshot (newest, pinned, busy, below min-complete)."""

    def __init__(self, message: str, refusal: gate.Refusal) -> None:
        super().__init__(message)
        self.refusal = refusal


#: Why the gate keeps the snapshot the next create resumes.
RESUMABLE = "the next create resumes it"
BEING_CREATED = "it is being created"
REFERENCE = "it is the reference of the snapshot being created"


class CreatePlan:
    """What ``create`` is about to do (shown by ``--dry-run``).

    (This module's records are plain classes: ``dss create`` imports it before rsync
    starts, and each dataclass costs about half a millisecond there.)"""

    def __init__(
        self,
        creation: int,
        name: str,
        reference: SnapshotName | None,
        reuse: SnapshotName | None,
        reuse_reason: str | None,
        argv: list[str],
        checksum: bool,
        request: CopyRequest,
    ) -> None:
        self.creation = creation
        self.name = name
        self.reference = reference
        self.reuse = reuse  # resumed or recycled directory
        self.reuse_reason = reuse_reason
        self.argv = argv  # the transport's exact command for ``request``
        self.checksum = checksum
        self.request = request


class Job:
    """One configured snapshot job: where from, where to, and with which plugins.
    ``clock``, ``sleep`` and ``rng`` (randrange) are injectable for tests."""

    def __init__(
        self,
        config: Config,
        host: PluginHost,
        store: Destination,
        transport: Transport,
        retention: RetentionPolicy,
    ) -> None:
        self.config = config
        self.host = host
        self.store = store
        self.transport = transport
        self.retention = retention
        self.clock: Callable[[], float] = time.time
        self.sleep: Callable[[float], None] = time.sleep
        self.rng: Callable[[int], int] | None = None
        #: Creation epochs this job must not lose now, with why: the snapshot it is
        #: creating and that snapshot's reference (set between begin and finish).
        self.busy: dict[int, str] = {}
        #: Risky but legal set-ups (:func:`dssframe.engine.preflight.check_paths`), for the
        #: commands that write snapshots (``create``, ``run``) to show once.
        self.warnings: list[str] = []

    def with_config(self, config: Config) -> Job:
        """The same job (plugins, store, clock) with another configuration."""
        other = Job(config, self.host, self.store, self.transport, self.retention)
        other.clock, other.sleep, other.rng = self.clock, self.sleep, self.rng
        other.busy = self.busy
        return other

    @classmethod
    def from_config(cls, config: Config, host: PluginHost) -> Job:
        from dssframe.engine.preflight import check_paths

        store = Destination.open(config.require("dest-dir"), config.mountpoint)
        transport = host.transport(config)
        local_source = transport.local_source() if config.source_dir else None
        warnings = check_paths(config, local_source)
        job = cls(config, host, store, transport, host.retention(config))
        job.warnings = warnings
        return job

    def _draw(self, bound: int) -> int:
        """A random integer in ``[0, bound)`` (the per-mille ``checksum`` draw)."""
        if self.rng is None:
            import random

            return random.randrange(bound)
        return self.rng(bound)

    def now(self) -> int:
        return int(self.clock())

    def event(self, kind: EventKind, **fields: object) -> None:
        self.host.notify(
            Event(
                kind,
                self.now(),
                source=self.transport.source_display() if self.config.source_dir else "",
                destination=self.store.dest_dir,
                job=self.config.name,
                **fields,  # type: ignore[arg-type]
            )
        )

    # --- planning (pure given a snapshot list) ---------------------------------

    def removal_plan(
        self,
        snapshots: list[SnapshotName],
        now: int,
        protected: Mapping[int, str],
        *,
        pinned: frozenset[int] | None = None,
    ) -> gate.Screened:
        """The retention policy's victims followed by the orphans, through the removal
        gate: ``allowed`` may go (in order), ``refused`` says what stays and why."""
        resume = resumable(snapshots, not self.config.no_resume)
        keep = dict(protected)
        keep.update(self.busy)
        if resume is not None:
            keep.setdefault(resume, RESUMABLE)
        if pinned is None:
            from dssframe.store.pins import active_pins

            pinned = active_pins(self.store.dest_dir, now)
        never = gate.never_chosen(snapshots, keep, pinned)
        proposed = self.retention.plan(snapshots, now, never)
        proposed += orphans(snapshots, frozenset(keep), resume)
        return self.screen(proposed, snapshots, now, keep, pinned=pinned)

    def screen(
        self,
        plan: list[Removal],
        snapshots: list[SnapshotName],
        now: int,
        protected: Mapping[int, str],
        *,
        force: bool = False,
        pinned: frozenset[int] | None = None,
    ) -> gate.Screened:
        """:func:`dssframe.core.gate.screen` with this destination's pins and min-complete."""
        if pinned is None:
            from dssframe.store.pins import active_pins

            pinned = active_pins(self.store.dest_dir, now)
        keep = dict(protected)
        keep.update(self.busy)
        return gate.screen(
            plan,
            snapshots,
            protected=keep,
            pinned=pinned,
            min_complete=self.config.min_complete,
            force=force,
        )

    def plan_create(self, progress: bool = False) -> CreatePlan:
        now = self.now()
        snapshots = self.store.scan(now)
        if any(s.creation == now for s in snapshots):
            # The creation epoch is the identity: never a second snapshot of one second.
            now = self._completion_time(now)
            snapshots = self.store.scan(now)
        complete = [s for s in snapshots if s.complete]
        reference = self._reference(complete)
        reuse, why = self._choose_reuse(snapshots, now, reference)
        name = naming.incomplete_name(now)
        checksum = self.config.checksum > 0 and self._draw(1000) < self.config.checksum
        log_file = None
        if isinstance(self.transport, StatsSource):
            from dssframe.store.lock import copy_log_path

            log_file = copy_log_path(self.store.dest_dir, self.transport.name, now)
        request = CopyRequest(
            destination=self.store.path(name),
            reference=self.store.path(reference.name) if reference else None,
            checksum=checksum,
            progress=progress and isinstance(self.transport, ProgressSource),
            log_file=log_file,
            fresh=reuse is None,
        )
        # The transport's command as it is, so that --dry-run shows exactly what runs.
        argv = self.transport.command(request)
        return CreatePlan(now, name, reference, reuse, why, argv, checksum, request)

    def _choose_reuse(
        self, snapshots: list[SnapshotName], now: int, reference: SnapshotName | None
    ) -> tuple[SnapshotName | None, str | None]:
        """The directory the copy goes into: the aborted newest one (resume), else the
        first snapshot the removal gate lets go (recycle), else None (a fresh one)."""
        if self.config.no_resume or not snapshots:
            return None, None
        if snapshots[-1].incomplete:
            return snapshots[-1], "resume"
        protected = {reference.creation: REFERENCE} if reference else {}
        safe: bool | None = None  # whether a complete snapshot may be recycled
        for removal in self.removal_plan(snapshots, now, protected).allowed:
            if removal.snapshot.complete:
                if safe is None:
                    safe = self._source_not_shrunk(reference)
                if not safe:
                    continue  # a leftover may still be reused
            return removal.snapshot, f"recycle {removal.reason.value}"
        return None, None

    def _source_not_shrunk(self, reference: SnapshotName | None) -> bool:
        """Whether the local source holds at least ``min-shrink-percent`` of the
        reference's entries, counted before a complete snapshot is recycled: if the
        shrink guard failed the copy afterwards, the recycled snapshot would be lost
        for nothing. The count stops as soon as it is enough. A remote source cannot
        be counted beforehand, so only leftovers are recycled for it."""
        percent = self.config.min_shrink_percent
        if reference is None or self.config.allow_shrink or percent == 0:
            return True
        source = self.transport.local_source()
        if source is None:
            return False
        before = self._reference_files(reference)
        if before is None:
            return False
        needed = -(-before * percent // 100)
        found = count_entries(source, limit=needed)
        return found is not None and found >= needed

    # --- effects -------------------------------------------------------------------

    def create(self, progress: bool = False) -> SnapshotName:
        """Make one snapshot, blocking; on failure the incomplete dir stays for a resume.
        Refused before anything is touched when the destination's free space is below
        the thresholds (``dss run`` removes snapshots then; a one-shot create does not)."""
        self._fail_before_copy(self._low_space())
        plan = self.begin_create(progress, announce=False)
        try:
            process = runner.start(plan.argv, plan.request.progress)
        except FileNotFoundError as exc:
            self.announce(plan)
            return self.finish_create(plan, CopyResult(Outcome.ERROR, 127, str(exc)))
        # Told while the copy already runs: the notifiers' work overlaps it.
        self.announce(plan)
        from dssframe.store import metadata  # noqa: F401 - loaded now, needed when the copy ends

        status, stderr = runner.wait(process, self.progress_reader(plan.request.progress))
        return self.finish_create(plan, self.transport.classify(status, stderr))

    def progress_reader(self, progress: bool) -> Callable[[str], Progress | None] | None:
        """What reads the transport's progress when ``progress`` is drawn, else None."""
        if progress and isinstance(self.transport, ProgressSource):
            return self.transport.parse_progress
        return None

    def _take_over(self, plan: CreatePlan) -> None:
        """Rename the resumed or recycled directory to ``plan.name`` and make it safe to
        copy into -- or, when the gate no longer lets it go, start a fresh directory.

        The choice was made before the pre-create hook ran, which may take long: under
        the removal lock the gate looks again at a fresh listing (a pin taken
        meanwhile, a removal by another process). Then every file in the directory
        that has other hard links is removed (:func:`unshare`): rsync changes a file's
        mode or owner in place, and on an inode shared with other snapshots that would
        change them too. rsync links such files again from the reference or copies
        them; only the directory's own files (a resumed copy's data) are reused."""
        assert plan.reuse is not None
        reused = plan.reuse
        wanted = Removal(reused, Reason.ORPHANED, None, plan.reuse_reason or "")
        protected = {plan.reference.creation: REFERENCE} if plan.reference else {}
        with self.store.removal_lock():
            now = self.now()
            screened = self.screen([wanted], self.store.scan(now), now, protected)
            if screened.refused:
                log.warning(
                    "not reusing %s: %s; copying into a new directory",
                    reused.name,
                    screened.refused[0].why,
                )
                plan.reuse, plan.reuse_reason = None, None
                return
            log.info("%s: reusing %s as %s", plan.reuse_reason, reused.name, plan.name)
            self.store.rename(reused.name, plan.name)
        if reused.complete:  # a snapshot leaves the inventory: notifiers must hear it
            self.event(
                EventKind.SNAPSHOT_REMOVED,
                snapshot=reused.name,
                path=self.store.path(reused.name),
                reason="recycled",
            )
        unshare(self.store.path(plan.name))

    def announce(self, plan: CreatePlan) -> None:
        """The CREATE_STARTED event for ``plan``."""
        self.event(
            EventKind.CREATE_STARTED,
            snapshot=plan.name,
            path=self.store.path(plan.name),
            stats={"checksum": plan.checksum},
        )

    def begin_create(
        self, progress: bool = False, notify_deferral: bool = True, announce: bool = True
    ) -> CreatePlan:
        """Everything before the copy: source checks, veto, the incomplete directory
        (fresh, resumed or recycled). The caller then runs ``plan.argv``.

        A source that is missing, not a directory, not a mount point (with
        ``source-mountpoint``) or empty while the reference is not fails here, before
        any directory is renamed -- with a CREATE_FAILED event -- so that a vanished
        source can never make a complete snapshot recycled into an empty one.

        ``notify_deferral=False`` leaves the CREATE_DEFERRED event of a veto to the
        caller (the run loop reports a lasting veto at most once an hour);
        ``announce=False`` leaves the CREATE_STARTED event to the caller (see
        :meth:`announce`)."""
        self.config.require("source-dir")
        problem, usage = source_problem(self.config, self.transport)
        self._fail_before_copy(problem, usage)
        plan = self.plan_create(progress)
        self._fail_before_copy(self._empty_source(plan.reference))
        self._check_layout(plan.reference)
        veto = self.host.veto_create(self.config, self.store.path(plan.name))
        if veto:
            if notify_deferral:
                self.event(EventKind.CREATE_DEFERRED, reason=veto)
            raise CreateDeferred(f"snapshot creation deferred: {veto}")
        self._fail_before_copy(self._open_copy_log(plan))
        if plan.reuse is not None:
            self._take_over(plan)
        if plan.reuse is None:
            self.store.mkdir(plan.name)
        self.busy = {plan.creation: BEING_CREATED}
        if plan.reference is not None:
            self.busy[plan.reference.creation] = REFERENCE
        self._prepare_metadata(plan)
        if plan.checksum:
            log.log(NOTICE, "adding --checksum to this run (checksum = %d)", self.config.checksum)
        if announce:
            self.announce(plan)
        log.info("running %s", " ".join(plan.argv))
        return plan

    def finish_create(self, plan: CreatePlan, result: CopyResult) -> SnapshotName:
        """After the copy: rename to the complete name, or report the failure (raises
        TransportError; the incomplete directory stays for a resume).

        A transport that reports statistics (:class:`~dssframe.core.transport.StatsSource`)
        adds them to ``result`` first -- and may refuse a copy it cannot verify without
        them; a copy that is still complete must then pass the shrink guard (see
        :meth:`_shrunk`)."""
        self.busy = {}
        result = self._add_stats(plan, result)
        stats = result.stats.as_dict() if result.stats is not None else {}
        if result.outcome is Outcome.COMPLETE:
            problem = self._shrunk(plan, stats)
            if problem is not None:
                result = CopyResult(Outcome.ERROR, result.exit_status, problem, stats=result.stats)
        if result.outcome is not Outcome.COMPLETE:
            self.event(
                EventKind.CREATE_FAILED,
                snapshot=plan.name,
                path=self.store.path(plan.name),
                exit_status=result.exit_status,
                error=result.message,
                duration=float(self.now() - plan.creation),
                stats=stats,
            )
            raise TransportError(f"snapshot {plan.name} failed: {result.message}", result).told()
        if result.message:
            log.warning("%s", result.message)
        completion = self._completion_time(plan.creation)
        final = naming.complete_name(plan.creation, completion)
        self.store.rename(plan.name, final)
        snapshot = naming.parse(final)
        assert snapshot is not None
        if result.tolerated_count:
            stats = {**stats, "source_errors": result.tolerated_count}
        self._record(plan, snapshot, result, stats)
        self.event(
            EventKind.SNAPSHOT_CREATED,
            snapshot=final,
            path=self.store.path(final),
            exit_status=result.exit_status,
            duration=float(completion - plan.creation),
            stats={**stats, "checksum": plan.checksum, "source_error_lines": result.tolerated},
        )
        if self.config.verify_on_create:  # hash its new files for dss verify (never fails)
            from dssframe.engine.verify import hash_created

            hash_created(self.store.dest_dir, snapshot, plan.reference)
        return snapshot

    # --- the checks around a copy ------------------------------------------------------

    def _fail_before_copy(self, problem: str | None, usage: bool = False) -> None:
        """Report a failure found before any directory was touched (event, DssError;
        with ``usage``, a ConfigError: the configuration names something that can never
        be copied, exit status 2)."""
        if problem is None:
            return
        self.event(EventKind.CREATE_FAILED, error=problem)
        raise (ConfigError if usage else DssError)(problem).told()

    def _low_space(self) -> str | None:
        """Why the destination's free space is below ``min-free-mb``,
        ``min-free-percent`` or ``min-free-percent-inodes``; None when it is not (or
        cannot be read: the copy will tell)."""
        from dssframe.store import diskspace

        try:
            space = diskspace.measure(self.store.dest_dir)
        except OSError:
            return None
        found = diskspace.shortages(space, diskspace.Thresholds.from_config(self.config))
        if not found:
            return None
        return (
            f"disk space low on dest-dir {self.store.dest_dir} ({'; '.join(found)}): "
            "nothing was copied (dss prune removes outdated snapshots; lower min-free-mb "
            "or min-free-percent to copy anyway)"
        )

    def _empty_source(self, reference: SnapshotName | None) -> str | None:
        """An empty local source while the reference holds files: an unmounted disk,
        most likely. Refused before anything is recycled (unless ``allow-shrink``)."""
        source = self.transport.local_source()
        if source is None or reference is None or self.config.allow_shrink:
            return None
        if self.config.min_shrink_percent == 0 or _is_empty(source) is not True:
            return None
        if _is_empty(self.store.path(reference.name)) is not False:
            return None
        return (
            f"source-dir {source} is empty while the reference snapshot {reference.name} "
            "is not: is the source mounted? (nothing was copied; --allow-shrink accepts it)"
        )

    def _check_layout(self, reference: SnapshotName | None) -> None:
        """Refuse (ConfigError, with an event) a source whose trailing slash would give
        the new snapshot another layout than its reference: with no file in the same
        place, nothing would be hard-linked and every snapshot after the switch would
        be a full copy. ``force-layout`` accepts the switch."""
        if reference is None or self.config.force_layout:
            return
        problem = layout_mismatch(
            self.store.path(reference.name),
            self._reference_source(reference),
            source_top(self.transport),
            self.transport.local_source(),
        )
        if problem is None:
            return
        message = (
            f"the reference snapshot {reference.name} {problem}; "
            "add or remove the trailing slash of source-dir to keep the layout, or "
            "--force-layout to switch (that snapshot is then a full copy)"
        )
        self.event(EventKind.CREATE_FAILED, error=message)
        raise ConfigError(message).told()

    def _reference_source(self, reference: SnapshotName) -> str | None:
        """The source the reference was copied from, as its metadata recorded it."""
        from dssframe.store import metadata

        loaded = metadata.load(self.store.dest_dir, reference.creation)
        return loaded.metadata.source if loaded.metadata is not None else None

    def _shrunk(self, plan: CreatePlan, stats: Mapping[str, int]) -> str | None:
        """The shrink guard: a new snapshot that is empty while its reference is not,
        or holds fewer than ``min-shrink-percent`` % of the reference's files, fails
        (an unmounted or emptied source would otherwise become a snapshot that makes
        the good ones look redundant). ``allow-shrink`` accepts it."""
        percent = self.config.min_shrink_percent
        if plan.reference is None or "files" not in stats or self.config.allow_shrink:
            return None
        if percent == 0:
            return None
        before = self._reference_files(plan.reference)
        after = stats["files"]
        if before is None or before <= 1:
            return None
        empty = after <= 1
        if not empty and after * 100 >= before * percent:
            return None
        what = "is empty" if empty else f"holds {after} entries"
        return (
            f"the new snapshot {what} but its reference {plan.reference.name} holds "
            f"{before} (min-shrink-percent = {percent}): is the source mounted and "
            "complete? Not complete; --allow-shrink accepts a deliberate shrink"
        )

    def _reference_files(self, reference: SnapshotName) -> int | None:
        """How many entries the transport counted in ``reference`` (its metadata), else
        counted now the same way (the top directory included)."""
        from dssframe.store import metadata

        loaded = metadata.load(self.store.dest_dir, reference.creation)
        if loaded.metadata is not None and "files" in loaded.metadata.stats:
            return loaded.metadata.stats["files"]
        return count_entries(self.store.path(reference.name))

    def _completion_time(self, creation: int) -> int:
        """Never complete in the creation second: names must not collide."""
        completion = self.now()
        while completion <= creation:
            self.sleep(max(0.01, creation + 1 - self.clock()))
            completion = self.now()
        return completion

    # --- removing ------------------------------------------------------------------------

    def remove(self, removal: Removal) -> bool:
        """Remove one snapshot through the gate and the veto hooks; False when vetoed."""
        return self.remove_snapshot(removal.snapshot, removal.reason.value, removal=removal)

    def remove_snapshot(
        self,
        snapshot: SnapshotName,
        reason: str,
        *,
        force: bool = False,
        protected: Mapping[int, str] | None = None,
        removal: Removal | None = None,
    ) -> bool:
        """Remove ``snapshot`` through the removal gate and the veto hooks (``reason``
        goes into the events: a retention reason, or ``requested`` for ``dss delete``);
        False when vetoed. The gate looks again at a fresh listing right before the
        rename, under the destination's removal lock, whatever planned the removal;
        a refusal raises :class:`RemovalRefused` (and is a REMOVE_REFUSED event)."""
        path = self.store.path(snapshot.name)
        started = self.clock()
        wanted = removal or Removal(snapshot, Reason.REQUESTED, None, reason)
        self._check_removable(wanted, protected or {}, force)
        veto = self.host.veto_remove(self.config, path)
        if veto:
            self.event(EventKind.REMOVE_SKIPPED, snapshot=snapshot.name, path=path, reason=veto)
            log.warning("not removing %s: %s", snapshot.name, veto)
            return False
        with self.store.removal_lock():
            self._check_removable(wanted, protected or {}, force)  # the world may have moved
            try:
                marked = self.store.mark_being_deleted(snapshot)
            except SnapshotError as exc:
                self.event(
                    EventKind.REMOVE_FAILED, snapshot=snapshot.name, path=path, error=str(exc)
                )
                exc.told()
                raise
        try:
            self.store.delete_tree(marked)
        except SnapshotError as exc:
            self.event(EventKind.REMOVE_FAILED, snapshot=snapshot.name, path=path, error=str(exc))
            exc.told()
            raise
        self._forget(snapshot)
        self.event(
            EventKind.SNAPSHOT_REMOVED,
            snapshot=snapshot.name,
            path=path,
            reason=reason,
            duration=self.clock() - started,
        )
        return True

    def _check_removable(self, wanted: Removal, protected: Mapping[int, str], force: bool) -> None:
        """Ask the gate about one removal against a fresh listing; raise if refused."""
        now = self.now()
        screened = self.screen([wanted], self.store.scan(now), now, protected, force=force)
        if not screened.refused:
            return
        refusal = screened.refused[0]
        name = wanted.snapshot.name
        self.event(
            EventKind.REMOVE_REFUSED,
            snapshot=name,
            path=self.store.path(name),
            reason=refusal.why,
        )
        raise RemovalRefused(gate.refused_message("remove", refusal), refusal)

    # --- metadata beside the snapshots (dssframe.store.metadata; never fatal) ---------------

    def _reference(self, complete: list[SnapshotName]) -> SnapshotName | None:
        """The newest complete snapshot, unless a restore made another one current."""
        if not complete:
            return None
        from dssframe.store.current import current_creation, read_current

        marker = read_current(self.store.dest_dir)
        chosen = current_creation(marker, ((s.creation, s.completion) for s in complete))
        return next((s for s in complete if s.creation == chosen), complete[-1])

    def _prepare_metadata(self, plan: CreatePlan) -> None:
        """Forget the resumed or recycled snapshot (its document no longer applies)."""
        if plan.reuse is not None:
            self._forget(plan.reuse)

    def _open_copy_log(self, plan: CreatePlan) -> str | None:
        """Create the (empty) log file of a transport that reports statistics, dropping
        stale ones a crashed dss left; why it cannot be, or None. (Such a transport
        does not believe a copy without its statistics, so there is no point in
        starting one.)"""
        log_file = plan.request.log_file
        if log_file is None:
            return None
        from dssframe.store.lock import stale_copy_logs

        for stale in stale_copy_logs(self.store.dest_dir, log_file):
            with contextlib.suppress(OSError):
                os.unlink(stale)
        try:
            os.makedirs(os.path.dirname(log_file), mode=0o755, exist_ok=True)
            with open(log_file, "w"):
                pass
        except OSError as exc:
            name = self.transport.name
            return f"cannot create {log_file} for {name}'s statistics: {exc.strerror}"
        return None

    def _add_stats(self, plan: CreatePlan, result: CopyResult) -> CopyResult:
        """``result`` with the transport's statistics (a :class:`StatsSource`); its log
        file is removed."""
        if not isinstance(self.transport, StatsSource):
            return result
        try:
            return self.transport.add_stats(plan.request, result)
        finally:
            if plan.request.log_file is not None:
                with contextlib.suppress(OSError):
                    os.unlink(plan.request.log_file)

    def _record(
        self,
        plan: CreatePlan,
        snapshot: SnapshotName,
        result: CopyResult,
        stats: Mapping[str, int],
    ) -> None:
        """Write the new snapshot's metadata document (a failure is only logged)."""
        from dssframe.store import metadata

        plugins = {i.name: i.version for i in self.host.infos if i.version}
        remote = is_remote(self.transport)
        try:
            metadata.write(
                self.store.dest_dir,
                metadata.for_created(
                    snapshot,
                    reference=plan.reference,
                    source=self.transport.source_display(),
                    remote_host=self.config.remote_host if remote else None,
                    remote_user=self.config.remote_user,
                    transport=self.transport.name,
                    exit_status=result.exit_status,
                    message=result.message or None,
                    checksum=plan.checksum,
                    stats=stats,
                    plugins=plugins,
                    written=self.now(),
                    source_errors=result.tolerated,
                ),
            )
        except OSError as exc:
            log.warning("cannot write the metadata of %s: %s", snapshot.name, exc)

    def _forget(self, snapshot: SnapshotName) -> None:
        """``snapshot`` is gone: drop its document (re-pointing its children) and its
        hashes (``dss verify``)."""
        from dssframe.store import hashes, metadata

        try:
            metadata.forget(self.store.dest_dir, snapshot.creation)
            hashes.forget(self.store.dest_dir, snapshot.creation)
        except OSError as exc:
            log.warning("cannot update the metadata after removing %s: %s", snapshot.name, exc)

    def prune(self, limit: int | None = None) -> gate.Screened:
        """The whole removal plan as it stands now, through the gate: what may go (at
        most ``limit`` of it) and what the gate keeps."""
        now = self.now()
        screened = self.removal_plan(self.store.scan(now), now, {})
        if limit is None:
            return screened
        return gate.Screened(screened.allowed[:limit], screened.refused)


def source_problem(config: Config, transport: Transport) -> tuple[str | None, bool]:
    """Why the local source cannot be copied now, or None (remote: the transport
    finds out), and whether that is a usage error: the check ``create`` makes before
    anything is touched (:meth:`Job.begin_create`), public for ``dss configtest``."""
    source = transport.local_source()
    if source is None:
        return None, False
    if not os.path.exists(source):
        return f"source-dir {source} does not exist", False
    if not os.path.isdir(source):
        return f"source-dir {source} is not a directory", True
    if source_top(transport) is not None and os.path.islink(source):
        # rsync copies a symbolic link itself: the snapshot would hold only the link
        return (
            f"source-dir {source} is a symbolic link and has no trailing slash: rsync "
            f"would copy the link, not the directory (write {source}/)"
        ), True
    if config.source_mountpoint and not os.path.ismount(source):
        return f"source-dir {source} is not a mount point (option source-mountpoint)", False
    return None, False


def source_top(transport: Transport) -> str | None:
    """The one directory a snapshot holds the source in (a local source without a
    trailing slash), None when it holds the source's own entries
    (:class:`~dssframe.core.transport.LayoutTransport`)."""
    return _source_top(transport)


def layout_mismatch(
    reference: str, recorded: str | None, top: str | None, local_source: str | None
) -> str | None:
    """How the reference snapshot's layout differs from what the configured source
    makes, or None. ``recorded`` is the source the reference's metadata names (its
    trailing slash decides); without metadata (a snapshot of the original dss) the
    directory decides: a single top-level directory named like the source holds it
    wrapped. When the source itself holds only such a directory, the two layouts
    cannot be told apart and nothing is refused."""
    if recorded:
        had_top = None if recorded.endswith("/") else os.path.basename(recorded)
        if (had_top is None) == (top is None):
            return None
        name = had_top or top
        wrapped, shown = had_top is not None, ""
    else:
        name = top or (os.path.basename(local_source.rstrip("/")) if local_source else None)
        if not name:
            return None
        try:
            entries = os.listdir(reference)
        except OSError:
            return None
        wrapped = entries == [name] and os.path.isdir(os.path.join(reference, name))
        if not entries or wrapped == (top is not None):
            return None
        if local_source is not None and _entries(local_source) == [name]:
            return None  # /data holding only data/: both layouts look alike
        shown = " (" + ", ".join(sorted(entries)[:3]) + (", ..." if len(entries) > 3 else "") + ")"
    if wrapped:
        return (
            f"holds only {name}/... (copied from a source-dir without a trailing slash), "
            "but the configured source-dir ends in '/' and makes snapshots of the "
            "source's own entries"
        )
    return (
        f"holds the source's own entries{shown}, but the configured source-dir has no "
        f"trailing slash and makes snapshots holding {name}/..."
    )


def _entries(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def unshare(top: str) -> int:
    """Remove every non-directory entry below ``top`` that has other hard links; how
    many. (A reused snapshot directory shares most of its files with other snapshots;
    rsync would change their mode or owner in place.) Entries that cannot be removed
    stay: rsync then fails on them and the copy is not called complete."""
    removed = 0
    stack = [top]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.stat(follow_symlinks=False).st_nlink > 1:
                            os.unlink(entry.path)
                            removed += 1
                    except OSError:
                        continue
        except OSError:
            continue
    return removed


def _is_empty(path: str) -> bool | None:
    """Whether the directory ``path`` has no entries (None: it cannot be read)."""
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:
        return None


def count_entries(top: str, limit: int | None = None) -> int | None:
    """Entries below ``top`` plus ``top`` itself, as rsync's "Number of files" counts
    them (symbolic links are not followed), or ``limit`` as soon as that many are
    found; None when ``top`` cannot be read."""
    count = 1
    stack = [top]
    try:
        while stack:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    count += 1
                    if limit is not None and count >= limit:
                        return count
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
    except OSError:
        return None
    return count


def reason_text(removal: Removal) -> str:
    text = removal.reason.value
    if removal.interval is not None:
        text += f" (interval {removal.interval})"
    if removal.detail:
        text += f": {removal.detail}"
    return text
