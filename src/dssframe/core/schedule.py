"""The run loop's decisions (pure, no I/O): given the clock, the snapshot list, the
settings and what the loop is doing, what comes next -- create, resume, remove one
snapshot for a reason, or wait until a time.

The rules are those of the original dss (SPEC §6):

- The retention policy owns the schedule: the next snapshot is due when its
  ``next_due`` says (see :class:`dssframe.core.retention.RetentionPolicy`); no complete
  snapshot yet: now. A policy without one (or answering None) gets the original dss's
  rule, which is also the builtin ``dyadic`` policy's: completion of the newest complete
  snapshot + ``u / 2**(n-1)`` minus the average creation duration of the complete
  snapshots, and no waiting at all when creating takes longer than that spacing.
- A due creation comes first (after downtime: create, then thin out); pruning happens
  only while idle, i.e. nothing is being created and no creation is due.
- Low disk space overrides both: remove outdated, then redundant, then orphaned, then
  the oldest removable snapshot -- never the one being created, never its reference,
  never a complete snapshot when only ``min-complete`` are left.

Everything time-dependent takes ``now`` as an argument, so years of schedule can be
simulated in milliseconds (see ``tests/test_schedule.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dssframe.core import gate
from dssframe.core.naming import SnapshotName
from dssframe.core.retention import (
    Reason,
    Removal,
    RetentionPolicy,
    SchedulingPolicy,
    dss_spacing,
    evenly_spaced,
    orphans,
    resumable,
)

if TYPE_CHECKING:
    from dssframe.core.config import Config

#: The run loop looks at the world at least this often (seconds), whatever it waits for.
MAX_SLEEP = 60


class Action(enum.Enum):
    """What the run loop should do next."""

    CREATE = "create"
    RESUME = "resume"  # create into the newest, aborted snapshot directory
    REMOVE = "remove"
    WAIT = "wait"
    NO_SPACE = "no-space"  # disk space is low and nothing may be removed: report, wait


@dataclass(frozen=True, slots=True)
class Settings:
    """The part of the configuration the scheduler needs (``unit`` and
    ``num_intervals`` only for the schedule of a policy without ``next_due``)."""

    unit: int
    num_intervals: int
    retry_delay: int = 60
    min_complete: int = 1
    keep_redundant: bool = False
    resume: bool = True

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        return cls(
            unit=config.unit_interval,
            num_intervals=config.num_intervals,
            retry_delay=config.retry_delay,
            min_complete=config.min_complete,
            keep_redundant=config.keep_redundant,
            resume=not config.no_resume,
        )

    @property
    def spacing(self) -> int:
        """Seconds between two creations that fill interval 0: ``u / 2**(n-1)``."""
        return dss_spacing(self.unit, self.num_intervals)


@dataclass(frozen=True, slots=True)
class Activity:
    """What the run loop is doing: the scheduler's only memory.

    ``creating``/``reference`` are creation epochs of the snapshot being created and of
    its ``--link-dest`` base; ``create_not_before`` delays the next creation after a
    failure or a veto; ``skipped`` maps creation epochs of snapshots whose removal was
    vetoed to the time the veto expires.
    """

    creating: int | None = None
    reference: int | None = None
    low_space: bool = False
    create_not_before: int = 0
    skipped: Mapping[int, int] = field(default_factory=dict)
    pinned: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Decision:
    """The next action. ``until`` (WAIT, NO_SPACE) is the earliest time the answer can
    change without an outside event (a child exiting, a signal, the disk filling up);
    None means only an outside event can change it. ``next_snapshot`` is when the next
    creation is due by the schedule (a retry delay may push the start later)."""

    action: Action
    now: int
    next_snapshot: int
    until: int | None = None
    removal: Removal | None = None
    note: str = ""


def next_snapshot_time(
    now: int,
    snapshots: Sequence[SnapshotName],
    settings: Settings,
    policy: RetentionPolicy | None = None,
) -> int:
    """When the next snapshot is due. ``snapshots`` sorted oldest first.

    No complete snapshot: now. Otherwise the policy's ``next_due``; without one (no
    policy, no such method, or None), the original dss's rule (SPEC §6) with the
    spacing of ``settings``."""
    complete = [s for s in snapshots if s.complete and s.completion is not None]
    if not complete:
        return now
    total = sum(s.completion - s.creation for s in complete if s.completion is not None)
    average = total // len(complete)
    due = policy.next_due(snapshots, now, average) if isinstance(policy, SchedulingPolicy) else None
    if due is None:
        return evenly_spaced(snapshots, now, settings.spacing, average)
    return int(due)


def _protected(now: int, activity: Activity) -> dict[int, str]:
    keep = {}
    if activity.creating is not None:
        keep[activity.creating] = "it is being created"
    if activity.reference is not None:
        keep.setdefault(activity.reference, "it is the reference of the snapshot being created")
    for creation, until in activity.skipped.items():
        if until > now:
            keep.setdefault(creation, "its removal was vetoed a moment ago")
    return keep


def removals(
    now: int,
    snapshots: Sequence[SnapshotName],
    policy: RetentionPolicy,
    settings: Settings,
    activity: Activity,
) -> list[Removal]:
    """Every snapshot that may be removed now, in the order they should go.

    Normally: the policy's plan (outdated, then redundant unless ``keep_redundant``),
    then orphans. With low disk space also redundant ones whatever ``keep_redundant``
    says, and finally every other snapshot, oldest first (``LOW_SPACE``). The policy
    must be built without ``keep-redundant``: the scheduler applies it. Everything
    passes the removal gate (:mod:`dssframe.core.gate`): never the newest complete
    snapshot, never a pinned or protected one, never below ``min_complete``.
    """
    protected = _protected(now, activity)
    resume = None if activity.creating is not None else resumable(snapshots, settings.resume)
    if resume is not None:
        protected.setdefault(resume, "the next create resumes it")
    keep = frozenset(protected)
    planned = policy.plan(snapshots, now, gate.never_chosen(snapshots, keep, activity.pinned))
    if settings.keep_redundant and not activity.low_space:
        planned = [r for r in planned if r.reason is not Reason.REDUNDANT]
    planned += orphans(snapshots, keep, resume)
    if activity.low_space:
        listed = {r.snapshot.creation for r in planned}
        planned += [
            Removal(s, Reason.LOW_SPACE, None, "oldest removable")
            for s in snapshots
            if s.creation not in protected and s.creation not in listed
        ]
    return gate.screen(
        planned,
        snapshots,
        protected=protected,
        pinned=activity.pinned,
        min_complete=settings.min_complete,
    ).allowed


def next_change(
    now: int, snapshots: Sequence[SnapshotName], policy: RetentionPolicy
) -> int | None:
    """The next time the policy's plan may change while no snapshot comes or goes
    (for dyadic: a snapshot moves into another interval): the policy's
    ``next_change``; ``now + MAX_SLEEP`` for a policy without one. Always later than
    ``now`` (an idle loop never spins)."""
    if not isinstance(policy, SchedulingPolicy):
        return now + MAX_SLEEP
    change = policy.next_change(snapshots, now)
    return None if change is None else max(int(change), now + 1)


def _earliest(*times: int | None) -> int | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None


def decide(
    now: int,
    snapshots: Sequence[SnapshotName],
    policy: RetentionPolicy,
    settings: Settings,
    activity: Activity,
) -> Decision:
    """The next action of the run loop. ``snapshots`` sorted oldest first.

    A WAIT or NO_SPACE decision's ``until`` is always later than ``now``, so a loop
    that sleeps until then never spins.
    """
    due = next_snapshot_time(now, snapshots, settings, policy)
    vetoes_end = min((t for t in activity.skipped.values() if t > now), default=None)
    if activity.low_space:
        candidates = removals(now, snapshots, policy, settings, activity)
        if candidates:
            return Decision(Action.REMOVE, now, due, now, candidates[0], "disk space low")
        until = _earliest(vetoes_end, now + MAX_SLEEP)
        return Decision(Action.NO_SPACE, now, due, until, note="disk space low, nothing removable")
    if activity.creating is not None:
        return Decision(Action.WAIT, now, due, None, note="creating")
    if due <= now:
        start = max(due, activity.create_not_before)
        if start > now:
            return Decision(Action.WAIT, now, due, start, note="retry delay")
        if resumable(snapshots, settings.resume) is not None:
            return Decision(Action.RESUME, now, due, now)
        return Decision(Action.CREATE, now, due, now)
    candidates = removals(now, snapshots, policy, settings, activity)
    if candidates:
        return Decision(Action.REMOVE, now, due, now, candidates[0])
    until = _earliest(due, next_change(now, snapshots, policy), vetoes_end)
    return Decision(Action.WAIT, now, due, until, note="idle")
