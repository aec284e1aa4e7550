"""A job's health at a glance (pure, no I/O): what ``dss status`` and ``dss serve``
show for each job of a fleet, computed from its snapshots, its run loop's state file
(as read by :func:`dssframe.store.control.status`) and the clock.

- :func:`snapshot_period`: how often the job makes a snapshot (the retention policy's
  schedule, else the original dss's spacing), and :func:`stale_limit`: ``stale-after``,
  or twice that period;
- :func:`job_state`: one word for the job (see :data:`STATES`);
- :func:`fill_forecast`: days until the destination is full, linear on the new data of
  the last 30 days' snapshots;
- :func:`timeline_rows`: one row per snapshot, for the timeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from dssframe.core import naming
from dssframe.core.naming import SnapshotName
from dssframe.core.retention import SchedulingPolicy, dss_spacing

DAY = 86400
MIB = 1 << 20
#: The fill forecast looks at the snapshots completed in this many seconds before now.
FORECAST_WINDOW = 30 * DAY
#: What the fill forecast is computed from, as the JSON and the page say it.
FORECAST_BASIS = (
    "stats.transferred_size (the new data each copy wrote instead of hard-linking) of "
    "the snapshots completed in the last 30 days that were copied against a reference"
)

#: The words :func:`job_state` answers, from the worst news to the best.
STATES = ("stopped", "paused", "failing", "creating", "removing", "stale", "idle")


def snapshot_period(policy: object, unit: int, num_intervals: int, now: int) -> int:
    """Seconds between two snapshots on the job's schedule, as ``dss run`` keeps it:
    what a :class:`~dssframe.core.retention.SchedulingPolicy`'s ``next_due`` answers
    for a snapshot taken at the start of a period (asked twice, so that a calendar
    policy like gfs answers a whole period: ``keep-hourly`` 3600; the builtin
    ``dyadic`` answers ``u / 2^(n-1)``), else -- a policy without a schedule, or one
    answering None -- the original dss's spacing ``unit-interval / 2^(num-intervals -
    1)``, which is what the scheduler gives such a policy. At least one second."""

    def due_after(epoch: int) -> int | None:
        snapshot = SnapshotName(
            naming.complete_name(epoch, epoch), epoch, epoch, naming.State.COMPLETE
        )
        if not isinstance(policy, SchedulingPolicy):
            return None
        due = policy.next_due([snapshot], epoch, 0)
        return None if due is None or int(due) <= epoch else int(due)

    first = due_after(now)
    second = due_after(first) if first is not None else None
    if first is None or second is None:
        return max(1, dss_spacing(unit, num_intervals))
    return max(1, second - first)


def stale_limit(stale_after: int, period: int) -> int:
    """The age beyond which a job's newest complete snapshot is stale: the
    ``stale-after`` option, or (0) twice the snapshot period."""
    return stale_after if stale_after > 0 else 2 * period


def last_complete(snapshots: Sequence[SnapshotName]) -> SnapshotName | None:
    """The newest complete snapshot (``snapshots`` oldest first), None when none is."""
    for snapshot in reversed(snapshots):
        if snapshot.complete:
            return snapshot
    return None


def is_stale(snapshots: Sequence[SnapshotName], now: int, limit: int) -> bool:
    """Whether no complete snapshot completed less than ``limit`` seconds ago (no
    complete snapshot at all: stale)."""
    newest = last_complete(snapshots)
    if newest is None or newest.completion is None:
        return True
    return now - newest.completion > limit


def counts(snapshots: Sequence[SnapshotName]) -> dict[str, int]:
    """How many snapshots are complete, incomplete (being made or aborted), and being
    removed (an interrupted removal)."""
    return {
        "complete": sum(1 for s in snapshots if s.complete),
        "incomplete": sum(1 for s in snapshots if s.incomplete),
        "being_deleted": sum(1 for s in snapshots if s.being_deleted),
    }


def job_state(running: bool, state: Mapping[str, Any], stale: bool, paused: bool = False) -> str:
    """One of :data:`STATES`: ``stopped`` (no run loop holds the destination),
    ``paused`` (not running, but a fleet's ``dss run`` starts it again at its state's
    ``paused_until``: it gave up after ``max-rsync-errors``),
    ``failing`` (the last ``consecutive_failures`` > 0: its retries fail), ``creating``
    (a copy runs), ``removing`` (it removes a snapshot), ``stale`` (idle, but no
    complete snapshot is younger than ``stale-after``), else ``idle``. The first that
    holds wins: an operator sees the worst news first."""
    if not running:
        return "paused" if paused else "stopped"
    failures = state.get("consecutive_failures")
    if isinstance(failures, int) and failures > 0:
        return "failing"
    activity = str(state.get("activity") or "")
    if state.get("creating") or activity.startswith("creating"):
        return "creating"
    next_action = state.get("next_action")
    action = next_action.get("action") if isinstance(next_action, Mapping) else None
    if activity == "removing" or action == "remove":
        return "removing"
    return "stale" if stale else "idle"


def last_failure(state: Mapping[str, Any]) -> dict[str, Any] | None:
    """The run loop's last result when it was a failure (time, message, snapshot,
    exit status), else None."""
    last = state.get("last_result")
    if not isinstance(last, Mapping) or last.get("result") != "failed":
        return None
    return {
        "time": last.get("time"),
        "message": last.get("message"),
        "snapshot": last.get("snapshot"),
        "exit_status": last.get("exit_status"),
    }


class Sample(NamedTuple):
    """One snapshot's contribution to the fill forecast."""

    creation: int
    completion: int
    added: int
    """Bytes its copy wrote (``stats.transferred_size``)."""
    incremental: bool
    """Copied against a reference (the first copy, a full one, is not growth)."""


def fill_forecast(
    samples: Sequence[Sample],
    free_bytes: int | None,
    low_bytes: int | None,
    now: int,
    window: int = FORECAST_WINDOW,
) -> dict[str, Any]:
    """Days until the destination is full, linear: the new data the incremental
    snapshots completed in the last ``window`` seconds wrote (all but the first of
    them), divided by the time from the first one's completion to the last one's,
    against ``free_bytes`` now; ``days_until_low`` is the same until only
    ``low_bytes`` are left (where ``dss run``'s disk-space guard starts removing
    snapshots). Pessimistic: it ignores what pruning frees. Every estimate is None,
    with ``reason``, when there is not enough data (fewer than two such snapshots,
    no time between them, no growth, or the free space unknown)."""
    chosen = sorted(
        (s for s in samples if s.incremental and now - window <= s.completion <= now),
        key=lambda s: (s.completion, s.creation),
    )
    result: dict[str, Any] = {
        "basis": FORECAST_BASIS,
        "window_days": window / DAY,
        "samples": len(chosen),
        "bytes_per_day": None,
        "free_bytes": free_bytes,
        "days_until_full": None,
        "full_at": None,
        "days_until_low": None,
        "reason": None,
    }
    if len(chosen) < 2:
        result["reason"] = (
            f"not enough data: {len(chosen)} incremental snapshot(s) with statistics "
            "in the window (2 needed)"
        )
        return result
    span = chosen[-1].completion - chosen[0].completion
    if span <= 0:
        result["reason"] = "not enough data: the snapshots completed at the same time"
        return result
    rate = sum(s.added for s in chosen[1:]) * DAY / span
    result["bytes_per_day"] = round(rate, 1)
    if free_bytes is None:
        result["reason"] = "the free space of the destination is unknown"
        return result
    if rate <= 0:
        result["reason"] = "no new data in the window: not filling up"
        return result
    days = free_bytes / rate
    result["days_until_full"] = round(days, 2)
    result["full_at"] = now + int(days * DAY)
    if low_bytes is not None:
        result["days_until_low"] = round(max(0, free_bytes - low_bytes) / rate, 2)
    return result


def low_bytes(total_mb: int | None, min_free_mb: int, min_free_percent: int) -> int | None:
    """The free bytes below which space is low (``min-free-mb``, ``min-free-percent``;
    the larger), None when the size of the file system is unknown."""
    if total_mb is None:
        return None
    return max(min_free_mb * MIB, total_mb * MIB * min_free_percent // 100)


def timeline_rows(
    snapshots: Sequence[SnapshotName], now: int, added: Mapping[int, int] | None = None
) -> list[dict[str, Any]]:
    """Every snapshot, oldest first: name, creation, completion, state, ``age``
    (seconds since its creation, as retention counts it), duration, and ``added``
    (the bytes its copy wrote, when its metadata says: ``added`` maps creations)."""
    added = added or {}
    return [
        {
            "name": s.name,
            "creation": s.creation,
            "completion": s.completion,
            "state": s.state.value,
            "age": now - s.creation,
            "duration": s.duration,
            "added": added.get(s.creation),
        }
        for s in snapshots
    ]


def forecast_text(forecast: Mapping[str, Any]) -> str:
    """The fill forecast in one line for people: ``full in 41.5 days (1.2 GiB/day over
    14 snapshots of the last 30 days)``, or why there is none."""
    from dssframe.core.sizes import iec_size

    rate = forecast.get("bytes_per_day")
    days = forecast.get("days_until_full")
    if days is None:
        reason = str(forecast.get("reason") or "not enough data")
        if rate is not None and not reason.startswith("not enough"):
            return f"no forecast: {reason} ({iec_size(int(rate))}/day)"
        return f"no forecast: {reason}"
    low = forecast.get("days_until_low")
    until_low = f", low-space threshold in {low:g} days" if low is not None and low < days else ""
    return (
        f"full in {days:g} days{until_low} ({iec_size(int(rate or 0))}/day over "
        f"{forecast.get('samples')} snapshots of the last {forecast.get('window_days', 30):g} days)"
    )
