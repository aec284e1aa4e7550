"""What every retention policy returns, and the policy-independent orphan rule (pure)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from dssframe.core.naming import SnapshotName


class Reason(enum.Enum):
    """Why a snapshot is removable, in the order removals are preferred.

    A retention policy returns ``OUTDATED`` and ``REDUNDANT``; the host adds the
    others. Whatever the reason, every removal passes the removal gate
    (:mod:`dssframe.core.gate`): no reason ever removes the newest complete snapshot, a
    pinned or busy one, or goes below ``min-complete`` -- only ``dss delete --force``
    (``REQUESTED``) may remove the newest one or go below ``min-complete``, never a
    pinned or busy one. The value is what ``dss prune`` prints and what the
    ``snapshot-removed`` event carries in ``reason``.

    When the disk-space guard of ``dss run`` must make room it goes down this list:
    outdated first, then redundant (even with ``keep-redundant``), then orphaned,
    then the oldest of the rest (``LOW_SPACE``).
    """

    OUTDATED = "outdated"
    """Older than anything the policy keeps (the builtin ``dyadic`` policy: created
    more than ``num-intervals`` unit intervals ago). Removed by ``dss prune`` and the
    run loop whenever the gate lets it go."""
    REDUNDANT = "redundant"
    """Within the policy's horizon, but one more than it wants (``dyadic``: an
    interval holding more snapshots than it should). With ``keep-redundant = true``
    the run loop removes it only to make room when disk space runs low; ``dss prune``
    keeps it when the policy honours that option (``dyadic`` does: it leaves redundant
    snapshots out of its plan)."""
    ORPHANED = "orphaned"
    """Left behind by interrupted work: a ``.being_deleted`` directory, or an
    incomplete snapshot that is neither being created nor going to be resumed. Found
    by the host (:func:`orphans`) whatever the policy, so a policy never returns it;
    the host also screens a directory it recycles as the next copy's destination
    under this reason."""
    LOW_SPACE = "low-space"
    """The disk-space guard's last resort (``dss run``): space is low and nothing
    outdated, redundant or orphaned is left, so the oldest removable snapshot goes.
    Only the host uses it."""
    REQUESTED = "requested"
    """A user asked for it (``dss delete``; its descendants with ``--children`` are
    ``requested (descendant of NAME)`` in the event). Only the host uses it."""


class Removal(NamedTuple):
    """One entry of a removal plan: which snapshot, why, and a note for people.

    ``dss prune`` prints it as ``removed NAME: REASON (interval N): DETAIL``."""

    snapshot: SnapshotName
    """The snapshot to remove: one of those :meth:`RetentionPolicy.plan` was given."""
    reason: Reason
    """Why it may go (see :class:`Reason`)."""
    interval: int | None
    """The policy's bucket the snapshot is in (``dyadic``: its interval), or None."""
    detail: str = ""
    """Free text for people (``beyond keep-newest``), printed after the reason by
    ``dss prune`` and ``dss --dry-run prune``."""


@runtime_checkable
class RetentionPolicy(Protocol):
    """A retention policy decides which *complete* snapshots are no longer wanted, and
    may say when the run loop should make the next one.

    Orphans (interrupted copies and removals) are found by the host with
    :func:`orphans`, whatever the policy.

    Optional capabilities are separate protocols, checked with ``isinstance``:
    :class:`SchedulingPolicy` (the policy says when ``dss run`` makes the next
    snapshot) and :class:`ExplainingPolicy` (``dss --dry-run prune`` says why each
    snapshot is kept).
    """

    name: str

    def interval(self, snapshot: SnapshotName, now: int) -> int | None:
        """The policy's bucket for ``snapshot`` (shown by ``dss ls``), or None."""
        ...

    def plan(
        self, snapshots: Sequence[SnapshotName], now: int, protected: frozenset[int]
    ) -> list[Removal]:
        """Every snapshot to remove, in removal order, with its reason.

        ``snapshots`` is sorted oldest first and holds every parsed snapshot (all
        states). ``protected`` holds creation epochs that must never be chosen: the
        snapshot being created, its reference, the newest complete snapshot and the
        pinned ones (told beforehand, a policy can choose another victim instead).
        Whatever this returns passes the removal gate (:mod:`dssframe.core.gate`) before
        anything is removed.
        """
        ...



@runtime_checkable
class SchedulingPolicy(Protocol):
    """A retention policy that owns its schedule (``dss run``). The scheduler
    (:mod:`dssframe.core.schedule`) asks a policy that has these methods and falls
    back as described when it answers None; a policy without them gets the fallbacks
    (what every policy got before it could choose)."""

    def next_due(
        self, snapshots: Sequence[SnapshotName], now: int, average_duration: int
    ) -> int | None:
        """The epoch the next snapshot is due (``<= now``: at once). ``snapshots`` is
        sorted oldest first (all states) and holds at least one complete snapshot
        (with none, the scheduler creates at once without asking);
        ``average_duration`` is the average creation time of the complete ones, in
        whole seconds. None: the original dss's rule from the ``unit-interval`` and
        ``num-intervals`` options (:func:`evenly_spaced` with :func:`dss_spacing`),
        which is what the builtin ``dyadic`` policy answers; gfs answers from its
        finest ``keep-*`` rule (``keep-hourly``: hourly)."""
        ...

    def next_change(self, snapshots: Sequence[SnapshotName], now: int) -> int | None:
        """The next time ``plan`` can change its answer while no snapshot is added or
        removed (a snapshot moving into another interval), or None when only a new or
        removed snapshot changes it. (A policy that is not a SchedulingPolicy: the
        idle run loop plans again after at most
        :data:`dssframe.core.schedule.MAX_SLEEP` seconds.)"""
        ...


@runtime_checkable
class ExplainingPolicy(Protocol):
    """A retention policy that can say why it keeps each snapshot."""

    def explain(self, snapshots: Sequence[SnapshotName], now: int) -> dict[str, list[str]]:
        """Each complete snapshot's name mapped to the rules that keep it (empty: no
        rule keeps it); ``dss --dry-run prune`` prints it."""
        ...


def dss_spacing(unit: int, num_intervals: int) -> int:
    """Seconds between two creations that fill the original dss's interval 0:
    ``u / 2**(n-1)``."""
    return unit // (1 << (num_intervals - 1))


def evenly_spaced(
    snapshots: Sequence[SnapshotName], now: int, spacing: int, average_duration: int
) -> int:
    """When the next snapshot is due when snapshots come every ``spacing`` seconds
    (SPEC §6): the completion of the newest complete snapshot plus ``spacing`` minus the
    average creation duration, so that creations start ``spacing`` apart; ``now`` when
    there is no complete snapshot or creating takes longer than ``spacing`` (no waiting
    at all)."""
    newest = None
    for snapshot in snapshots:
        if snapshot.complete and snapshot.completion is not None:
            newest = snapshot.completion  # of the newest complete one: the list's last
    if newest is None or spacing < average_duration:
        return now
    return newest + spacing - average_duration


def orphans(
    snapshots: Iterable[SnapshotName], protected: frozenset[int], resumable: int | None
) -> list[Removal]:
    """Leftovers of interrupted work: ``.being_deleted`` dirs and incomplete snapshots
    that are neither being created (``protected``) nor going to be resumed."""
    found = []
    for snapshot in snapshots:
        if snapshot.creation in protected:
            continue
        if snapshot.being_deleted:
            found.append(Removal(snapshot, Reason.ORPHANED, None, "interrupted removal"))
        elif snapshot.incomplete and snapshot.creation != resumable:
            found.append(Removal(snapshot, Reason.ORPHANED, None, "aborted, not resumable"))
    return found


def resumable(snapshots: Sequence[SnapshotName], resume: bool) -> int | None:
    """Creation epoch of the snapshot the next create would resume, if any.

    Only the newest snapshot can be resumed, and only while it is incomplete.
    """
    if not resume or not snapshots:
        return None
    newest = snapshots[-1]
    return newest.creation if newest.incomplete else None


def schedule_period(policy: Any, unit: int, num_intervals: int, now: int) -> int:
    """Seconds between two snapshots on the configured schedule: what the retention
    policy's ``next_due`` answers for a snapshot taken at the start of a period (asked
    twice, so that a calendar policy like gfs answers a whole period: ``keep-hourly``
    3600), else the original dss's spacing ``unit-interval / 2^(num-intervals - 1)``
    (the builtin ``dyadic`` policy's answer too)."""
    from dssframe.core import naming

    def due_after(epoch: int) -> int | None:
        snapshot = naming.parse(naming.complete_name(epoch, epoch))
        if snapshot is None or not isinstance(policy, SchedulingPolicy):
            return None
        due = policy.next_due([snapshot], epoch, 0)
        return None if due is None or int(due) <= epoch else int(due)

    first = due_after(now)
    second = due_after(first) if first is not None else None
    if first is None or second is None:
        return dss_spacing(unit, num_intervals)
    return second - first
