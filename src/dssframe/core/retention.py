"""What every retention policy returns, and the policy-independent orphan rule (pure)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

from dssframe.core.naming import SnapshotName


class Reason(enum.Enum):
    """Why a snapshot is removable, in the order removals are preferred."""

    OUTDATED = "outdated"
    REDUNDANT = "redundant"
    ORPHANED = "orphaned"
    LOW_SPACE = "low-space"
    REQUESTED = "requested"  # ``dss delete``: a user asked for it


class Removal(NamedTuple):
    """One entry of a removal plan."""

    snapshot: SnapshotName
    reason: Reason
    interval: int | None
    detail: str = ""


class RetentionPolicy(Protocol):
    """A retention policy decides which *complete* snapshots are no longer wanted.

    Orphans (interrupted copies and removals) are found by the host with
    :func:`orphans`, whatever the policy.
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

    # Optional: ``explain(snapshots, now) -> dict[str, list[str]]`` maps each complete
    # snapshot's name to the rules that keep it; ``dss prune --dry-run`` prints it.


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
