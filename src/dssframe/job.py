"""The snapshot operations -- create one, remove one, prune by plan -- wiring the pure
core (names, retention plans) to the effects (store, transport process, events)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

from . import logs, naming, runner
from .config import Config
from .errors import DssError, SnapshotError, TransportError
from .events import Event, EventKind
from .logs import NOTICE
from .naming import SnapshotName
from .plugins import PluginHost
from .retention import Removal, RetentionPolicy, orphans, resumable
from .store import Store
from .transport import CopyRequest, CopyResult, Outcome, Transport

log = logs.get("dssframe")


class CreateDeferred(DssError):
    """A pre-create veto said not now."""


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
    ) -> None:
        self.creation = creation
        self.name = name
        self.reference = reference
        self.reuse = reuse  # resumed or recycled directory
        self.reuse_reason = reuse_reason
        self.argv = argv
        self.checksum = checksum
        self.stats_log: str | None = None  # rsync --log-file holding the --stats figures


class Job:
    """One configured snapshot job: where from, where to, and with which plugins.
    ``clock``, ``sleep`` and ``rng`` (randrange) are injectable for tests."""

    def __init__(
        self,
        config: Config,
        host: PluginHost,
        store: Store,
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

    def with_config(self, config: Config) -> Job:
        """The same job (plugins, store, clock) with another configuration."""
        other = Job(config, self.host, self.store, self.transport, self.retention)
        other.clock, other.sleep, other.rng = self.clock, self.sleep, self.rng
        return other

    @classmethod
    def from_config(cls, config: Config, host: PluginHost) -> Job:
        from .guards import check_paths

        store = Store.open(config.require("dest-dir"), config.mountpoint)
        transport = host.transport(config)
        local_source = transport.local_source() if config.source_dir else None
        for warning in check_paths(config, local_source):
            log.warning("%s", warning)
        return cls(config, host, store, transport, host.retention(config))

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
                **fields,  # type: ignore[arg-type]
            )
        )

    # --- planning (pure given a snapshot list) ---------------------------------

    def removal_plan(
        self, snapshots: list[SnapshotName], now: int, protected: frozenset[int]
    ) -> list[Removal]:
        """The retention policy's victims followed by the orphans."""
        resume = resumable(snapshots, not self.config.no_resume)
        keep = protected | ({resume} if resume is not None else frozenset())
        return self.retention.plan(snapshots, now, keep) + orphans(snapshots, keep, resume)

    def plan_create(self, progress: bool = False) -> CreatePlan:
        now = self.now()
        snapshots = self.store.scan(now)
        complete = [s for s in snapshots if s.complete]
        reference = self._reference(complete)
        reuse, why = self._choose_reuse(snapshots, now, reference)
        name = naming.incomplete_name(now)
        checksum = self.config.checksum > 0 and self._draw(1000) < self.config.checksum
        request = CopyRequest(
            destination=self.store.path(name),
            reference=self.store.path(reference.name) if reference else None,
            checksum=checksum,
            progress=progress,
        )
        return CreatePlan(
            now, name, reference, reuse, why, self.transport.command(request), checksum
        )

    def _choose_reuse(
        self, snapshots: list[SnapshotName], now: int, reference: SnapshotName | None
    ) -> tuple[SnapshotName | None, str | None]:
        if self.config.no_resume or not snapshots:
            return None, None
        if snapshots[-1].incomplete:
            return snapshots[-1], "resume"
        protected = frozenset({reference.creation}) if reference else frozenset()
        for removal in self.removal_plan(snapshots, now, protected):
            return removal.snapshot, f"recycle {removal.reason.value}"
        return None, None

    # --- effects -------------------------------------------------------------------

    def create(self, progress: bool = False) -> SnapshotName:
        """Make one snapshot, blocking; on failure the incomplete dir stays for a resume."""
        plan = self.begin_create(progress, announce=False)
        try:
            process = runner.start(plan.argv, progress)
        except FileNotFoundError as exc:
            self.announce(plan)
            return self.finish_create(plan, CopyResult(Outcome.ERROR, 127, str(exc)))
        # Told while rsync already runs: the notifiers' work overlaps the copy.
        self.announce(plan)
        from . import metadata  # noqa: F401 - loaded now, needed when the copy ends

        status, stderr = runner.wait(process)
        return self.finish_create(plan, self.transport.classify(status, stderr))

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
        """Everything before the copy: source check, veto, the incomplete directory
        (fresh, resumed or recycled). The caller then runs ``plan.argv``.

        ``notify_deferral=False`` leaves the CREATE_DEFERRED event of a veto to the
        caller (the run loop reports a lasting veto at most once an hour);
        ``announce=False`` leaves the CREATE_STARTED event to the caller (see
        :meth:`announce`)."""
        self._check_source()
        plan = self.plan_create(progress)
        veto = self.host.veto_create(self.config, self.store.path(plan.name))
        if veto:
            if notify_deferral:
                self.event(EventKind.CREATE_DEFERRED, reason=veto)
            raise CreateDeferred(f"snapshot creation deferred: {veto}")
        if plan.reuse is not None:
            log.info("%s: reusing %s as %s", plan.reuse_reason, plan.reuse.name, plan.name)
            self.store.rename(plan.reuse.name, plan.name)
        else:
            self.store.mkdir(plan.name)
        self._prepare_metadata(plan)
        if plan.checksum:
            log.log(NOTICE, "adding --checksum to this run (checksum = %d)", self.config.checksum)
        if announce:
            self.announce(plan)
        log.info("running %s", " ".join(plan.argv))
        return plan

    def finish_create(self, plan: CreatePlan, result: CopyResult) -> SnapshotName:
        """After the copy: rename to the complete name, or report the failure (raises
        TransportError; the incomplete directory stays for a resume)."""
        if result.outcome is not Outcome.COMPLETE:
            self._stats(plan)  # drops the log; an incomplete snapshot has no document
            self.event(
                EventKind.CREATE_FAILED,
                snapshot=plan.name,
                path=self.store.path(plan.name),
                exit_status=result.exit_status,
                error=result.message,
                duration=float(self.now() - plan.creation),
            )
            raise TransportError(f"snapshot {plan.name} failed: {result.message}", result)
        if result.message:
            log.warning("%s", result.message)
        completion = self._completion_time(plan.creation)
        final = naming.complete_name(plan.creation, completion)
        self.store.rename(plan.name, final)
        snapshot = naming.parse(final)
        assert snapshot is not None
        stats = self._record(plan, snapshot, result)
        self.event(
            EventKind.SNAPSHOT_CREATED,
            snapshot=final,
            path=self.store.path(final),
            exit_status=result.exit_status,
            duration=float(completion - plan.creation),
            stats={**stats, "checksum": plan.checksum},
        )
        return snapshot

    def _check_source(self) -> None:
        import os

        self.config.require("source-dir")
        source = self.transport.local_source()
        if source is not None and not os.path.isdir(source):
            raise DssError(f"source-dir {source} does not exist or is not a directory")

    def _completion_time(self, creation: int) -> int:
        """Never complete in the creation second: names must not collide."""
        completion = self.now()
        while completion <= creation:
            self.sleep(max(0.01, creation + 1 - self.clock()))
            completion = self.now()
        return completion

    def remove(self, removal: Removal) -> bool:
        """Remove one snapshot through the veto hooks; False when vetoed."""
        return self.remove_snapshot(removal.snapshot, removal.reason.value)

    def remove_snapshot(self, snapshot: SnapshotName, reason: str) -> bool:
        """Remove ``snapshot`` through the veto hooks (``reason`` goes into the events:
        a retention reason, or ``requested`` for ``dss delete``); False when vetoed."""
        path = self.store.path(snapshot.name)
        veto = self.host.veto_remove(self.config, path)
        if veto:
            self.event(EventKind.REMOVE_SKIPPED, snapshot=snapshot.name, path=path, reason=veto)
            log.warning("not removing %s: %s", snapshot.name, veto)
            return False
        started = self.clock()
        try:
            marked = self.store.mark_being_deleted(snapshot)
            self.store.delete_tree(marked)
        except SnapshotError as exc:
            self.event(EventKind.REMOVE_FAILED, snapshot=snapshot.name, path=path, error=str(exc))
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

    # --- metadata beside the snapshots (dssframe.metadata; never fatal) ---------------

    def _reference(self, complete: list[SnapshotName]) -> SnapshotName | None:
        """The newest complete snapshot, unless a restore made another one current."""
        if not complete:
            return None
        from .current import current_creation, read_current

        marker = read_current(self.store.dest_dir)
        chosen = current_creation(marker, ((s.creation, s.completion) for s in complete))
        return next((s for s in complete if s.creation == chosen), complete[-1])

    def _prepare_metadata(self, plan: CreatePlan) -> None:
        """Forget the resumed or recycled snapshot; have rsync log its --stats."""
        from .lock import rsync_log_path

        if plan.reuse is not None:
            self._forget(plan.reuse)
        if self.transport.name != "rsync" or len(plan.argv) < 3:
            return
        try:
            plan.stats_log = rsync_log_path(self.store.dest_dir, plan.creation)
            with open(plan.stats_log, "w"):
                pass
        except OSError as exc:
            log.warning("no rsync statistics for %s: %s", plan.name, exc)
            plan.stats_log = None
            return
        # Before the two operands (source, destination) the rsync transport ends with.
        plan.argv[-2:-2] = ["--stats", f"--log-file={plan.stats_log}", "--log-file-format="]

    def _stats(self, plan: CreatePlan) -> dict[str, int]:
        """The --stats figures rsync logged for ``plan`` (the log is removed)."""
        if plan.stats_log is None:
            return {}
        from . import metadata

        try:
            with open(plan.stats_log, encoding="utf-8", errors="replace") as handle:
                return metadata.parse_rsync_stats(handle.read())
        except OSError:
            return {}
        finally:
            with contextlib.suppress(OSError):
                os.unlink(plan.stats_log)

    def _record(
        self, plan: CreatePlan, snapshot: SnapshotName, result: CopyResult
    ) -> dict[str, int]:
        """Write the new snapshot's metadata document (a failure is only logged); the
        rsync ``--stats`` figures it holds."""
        from . import metadata

        stats = self._stats(plan)
        plugins = {i.name: i.version for i in self.host.infos if i.version}
        remote = bool(getattr(self.transport, "remote", False))
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
                ),
            )
        except OSError as exc:
            log.warning("cannot write the metadata of %s: %s", snapshot.name, exc)
        return stats

    def _forget(self, snapshot: SnapshotName) -> None:
        """``snapshot`` is gone: drop its document, re-point its children."""
        from . import metadata

        try:
            metadata.forget(self.store.dest_dir, snapshot.creation)
        except OSError as exc:
            log.warning("cannot update the metadata after removing %s: %s", snapshot.name, exc)

    def prune(self, limit: int | None = None) -> list[Removal]:
        """The whole removal plan (at most ``limit`` entries), as it stands now."""
        now = self.now()
        plan = self.removal_plan(self.store.scan(now), now, frozenset())
        return plan if limit is None else plan[:limit]


def reason_text(removal: Removal) -> str:
    text = removal.reason.value
    if removal.interval is not None:
        text += f" (interval {removal.interval})"
    if removal.detail:
        text += f": {removal.detail}"
    return text
