"""Dyadic retention math (pure): intervals, outdated and redundant snapshots.

Interval ``k = (now - creation) // unit``; interval ``k < n`` wants ``2**(n-k-1)``
snapshots, older ones are outdated. Redundancy walks from the oldest interval to the
newest carrying the deficit of under-full intervals; inside an over-full interval the
victim is the snapshot with the smallest gap to the previous candidate (the oldest one
only when it is the sole candidate), exactly as the original dss chooses one at a time.

Only complete snapshots count towards the desired numbers: an aborted copy never makes
a good snapshot look redundant.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import NamedTuple

from dssframe.core.naming import SnapshotName
from dssframe.core.retention import Reason, Removal


def desired(interval: int, num_intervals: int) -> int:
    """How many snapshots interval ``interval`` should hold."""
    if interval >= num_intervals:
        return 0
    return 1 << (num_intervals - interval - 1)


def interval_of(creation: int, now: int, unit: int) -> int:
    return (now - creation) // unit


def next_change(
    snapshots: Sequence[SnapshotName], now: int, unit: int, num_intervals: int
) -> int | None:
    """The next time a snapshot moves into another interval (its removability may
    change then), or None."""
    times = []
    for s in snapshots:
        if s.being_deleted or s.creation > now:
            continue
        k = interval_of(s.creation, now, unit)
        if k < num_intervals:
            times.append(s.creation + (k + 1) * unit)
    return min(times, default=None)


def outdated(
    snapshots: Sequence[SnapshotName],
    now: int,
    unit: int,
    num_intervals: int,
    protected: frozenset[int],
) -> list[Removal]:
    """Snapshots (any state but being-deleted) older than ``num_intervals`` units."""
    found = []
    for s in snapshots:
        if s.creation in protected or s.being_deleted:
            continue
        k = interval_of(s.creation, now, unit)
        if k >= num_intervals:
            found.append(Removal(s, Reason.OUTDATED, k))
    return found


def redundant(
    snapshots: Sequence[SnapshotName],
    now: int,
    unit: int,
    num_intervals: int,
    protected: frozenset[int],
) -> list[Removal]:
    """The whole list of redundant snapshots, in the order repeated single choice
    would remove them. ``snapshots`` must be sorted by creation."""
    by_interval: dict[int, list[SnapshotName]] = {}
    for s in snapshots:
        if not s.complete:
            continue
        k = interval_of(s.creation, now, unit)
        if k < num_intervals:
            by_interval.setdefault(k, []).append(s)
    plan: list[Removal] = []
    missing = 0
    for k in range(num_intervals - 1, -1, -1):
        members = by_interval.get(k, [])
        keep = desired(k, num_intervals)
        if keep >= len(members):
            missing += keep - len(members)
            continue
        excess = len(members) - keep - missing
        if excess <= 0:
            continue
        candidates = [s for s in members if s.creation not in protected]
        for victim in _smallest_gap_victims(candidates, excess):
            plan.append(Removal(victim, Reason.REDUNDANT, k))
    return plan


def _smallest_gap_victims(candidates: list[SnapshotName], count: int) -> list[SnapshotName]:
    """Remove ``count`` candidates one at a time, each time the one whose gap to the
    previous surviving candidate is smallest (ties: the older one); the first
    candidate only when it is the last one left."""
    n = len(candidates)
    prev = list(range(-1, n - 1))
    nxt = list(range(1, n + 1))
    alive = [True] * n
    times = [s.creation for s in candidates]
    heap = [(times[i] - times[i - 1], i) for i in range(1, n)]
    heapq.heapify(heap)
    first = 0
    left = n
    victims: list[SnapshotName] = []
    while len(victims) < count and left:
        if left == 1:
            victims.append(candidates[first])
            break
        while True:
            gap, i = heapq.heappop(heap)
            if alive[i] and prev[i] >= 0 and gap == times[i] - times[prev[i]]:
                break
        alive[i] = False
        left -= 1
        victims.append(candidates[i])
        p, q = prev[i], nxt[i]
        nxt[p] = q
        if q < n:
            prev[q] = p
            heapq.heappush(heap, (times[q] - times[p], q))
    return victims


def plan(
    snapshots: Sequence[SnapshotName],
    now: int,
    unit: int,
    num_intervals: int,
    protected: frozenset[int],
    keep_redundant: bool = False,
) -> list[Removal]:
    """Outdated snapshots (oldest first), then redundant ones in choice order."""
    result = outdated(snapshots, now, unit, num_intervals, protected)
    if not keep_redundant:
        result += redundant(snapshots, now, unit, num_intervals, protected)
    return result


class IntervalRow(NamedTuple):
    """One dyadic interval as the planner sees it at one moment (``dss simulate``'s
    table, ``dss explain``'s facts)."""

    interval: int
    """The interval number ``k`` (0: the newest)."""
    start: int
    """The youngest age in it, in seconds (``k * unit``)."""
    end: int
    """The first age past it (``(k + 1) * unit``)."""
    desired: int
    """How many snapshots it should hold (``2**(n-k-1)``)."""
    held: int
    """How many complete snapshots it holds."""
    carried: int
    """The deficit carried into it: the shortfall of all older intervals together.
    Like the original dss, the planner adds it to the allowance of *every* younger
    interval and never uses it up (an over-full interval does not consume it)."""

    @property
    def allowed(self) -> int:
        """What it may hold before one of its snapshots is redundant."""
        return self.desired + self.carried

    @property
    def excess(self) -> int:
        """How many of its snapshots are redundant (before protected ones are spared)."""
        return max(0, self.held - self.allowed)


def interval_rows(
    snapshots: Sequence[SnapshotName], now: int, unit: int, num_intervals: int
) -> list[IntervalRow]:
    """Every interval ``0 .. n-1`` with its desired and held counts and the deficit
    carried into it, exactly as :func:`redundant` computes them (complete snapshots
    only)."""
    held = [0] * num_intervals
    for s in snapshots:
        if s.complete and s.creation <= now:
            k = interval_of(s.creation, now, unit)
            if k < num_intervals:
                held[k] += 1
    carried = [0] * num_intervals
    missing = 0
    for k in range(num_intervals - 1, -1, -1):
        carried[k] = missing
        missing += max(0, desired(k, num_intervals) - held[k])
    return [
        IntervalRow(k, k * unit, (k + 1) * unit, desired(k, num_intervals), held[k], carried[k])
        for k in range(num_intervals)
    ]
