"""The removal gate (pure): the one place that decides whether a snapshot may go.

Every removal -- ``dss prune``, ``dss delete``, the run loop's pruning and its disk-space
guard, recycling a snapshot directory as the next copy's destination, and whatever a
retention plugin proposes -- passes :func:`screen` first, and again, against a fresh
listing, right before the rename that starts it (:meth:`dssframe.engine.job.Job.remove_snapshot`).
Whatever a policy says, the gate never lets through:

- a name that is not one of the destination's snapshot directories as scanned (only real
  directories directly inside it: no symbolic link, no file, no path, nothing from the
  future);
- the same directory twice in one plan;
- a protected snapshot: the one being created, its reference, the one the next create
  resumes, one whose removal a hook vetoed a moment ago;
- a pinned snapshot (``dss pin``);
- the newest complete snapshot;
- a complete snapshot when only ``min-complete`` complete snapshots would be left.

``force`` (``dss delete --force``) lifts only the last two rules: a user may delete the
newest snapshot or go below ``min-complete`` on purpose, never a pinned or busy one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from dssframe.core.naming import SnapshotName
from dssframe.core.retention import Removal

NEWEST = "it is the newest complete snapshot"
PINNED = "it is pinned"
TWICE = "it is already in the plan"
UNKNOWN = "it is not a snapshot directory of the destination"


class Refusal(NamedTuple):
    """A removal the gate kept back, and why (a phrase: ``it is pinned``)."""

    removal: Removal
    why: str
    forceable: bool = False  # ``dss delete --force`` would let it through


class Screened(NamedTuple):
    """The gate's answer for one plan: what may go, in plan order, and what may not."""

    allowed: list[Removal]
    refused: list[Refusal]


def below_minimum(min_complete: int) -> str:
    return f"only {min_complete} complete snapshot(s) would be left (min-complete = {min_complete})"


def screen(
    plan: Iterable[Removal],
    snapshots: Sequence[SnapshotName],
    *,
    protected: Mapping[int, str],
    pinned: Iterable[int] = (),
    min_complete: int = 1,
    force: bool = False,
) -> Screened:
    """Split ``plan`` into the removals that may happen, in order, and the refused ones.

    ``snapshots`` is the destination's listing (every state, as scanned); ``protected``
    maps creation epochs to why they must stay; ``pinned`` holds the creation epochs of
    snapshots with an active pin. The removals are checked in order, each as if the
    allowed ones before it had happened, so a plan can never go below the minimum."""
    by_name = {s.name: s for s in snapshots}
    complete = [s for s in snapshots if s.complete]
    newest = max(complete, key=lambda s: s.creation).name if complete else None
    left = len(complete)
    minimum = max(1, min_complete)
    pins = frozenset(pinned)
    seen: set[str] = set()
    allowed: list[Removal] = []
    refused: list[Refusal] = []
    for removal in plan:
        snapshot = removal.snapshot
        if by_name.get(snapshot.name) != snapshot:
            refused.append(Refusal(removal, UNKNOWN))
            continue
        if snapshot.name in seen:
            refused.append(Refusal(removal, TWICE))
            continue
        seen.add(snapshot.name)
        if snapshot.creation in protected:
            refused.append(Refusal(removal, protected[snapshot.creation]))
            continue
        if snapshot.creation in pins:
            refused.append(Refusal(removal, PINNED))
            continue
        if snapshot.complete:
            if snapshot.name == newest and not force:
                refused.append(Refusal(removal, NEWEST, forceable=True))
                continue
            if left <= minimum and not force:
                refused.append(Refusal(removal, below_minimum(minimum), forceable=True))
                continue
            left -= 1
        allowed.append(removal)
    return Screened(allowed, refused)


def never_chosen(
    snapshots: Sequence[SnapshotName], protected: Iterable[int], pinned: Iterable[int]
) -> frozenset[int]:
    """What a retention policy is told it must never choose: the protected and pinned
    snapshots and the newest complete one. Told beforehand, a policy picks another
    victim where it can (dyadic: the next smallest gap in the same interval), so the
    retention shape holds; the gate still checks whatever comes back."""
    keep = set(protected) | set(pinned)
    complete = [s.creation for s in snapshots if s.complete]
    if complete:
        keep.add(max(complete))
    return frozenset(keep)


def refused_message(verb: str, refusal: Refusal) -> str:
    """``refusing to delete NAME: why; what would get past it`` (one line)."""
    hint = ""
    if refusal.why == PINNED:
        hint = "; dss unpin it first"
    elif refusal.forceable:
        hint = "; --force deletes it anyway"
    return f"refusing to {verb} {refusal.removal.snapshot.name}: {refusal.why}{hint}"


def refusal_text(refusal: Refusal) -> str:
    """``keep NAME: why`` as ``dss --dry-run prune`` and the logs print it."""
    return f"{refusal.removal.snapshot.name}: {refusal.why}"
