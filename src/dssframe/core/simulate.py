"""``dss simulate``: the run loop's decisions over simulated time (pure, no files).

:func:`simulate` drives :func:`dssframe.core.schedule.decide` -- the very function
``dss run`` asks -- with a simulated clock: a creation takes ``duration`` seconds and
adds a complete snapshot, a removal takes no time, and a wait jumps straight to the time
the decision names. Any retention policy works (it is asked through the plugin
interface only); the removal gate, ``min-complete``, ``keep-redundant`` and pins apply
exactly as in ``dss run``. What ``dss run`` also has and the simulation has not: disk
space, hooks, vetoes and failing copies.

Two deliberate differences, both only in *when* something is looked at:

- a policy that is not a :class:`~dssframe.core.retention.SchedulingPolicy` gets no
  idle wake-up every :data:`~dssframe.core.schedule.MAX_SLEEP` seconds (a year of them
  would take long): it is asked at every creation and at every sample instead, so a
  removal that only the clock makes possible may come later than in ``dss run``;
- ``every`` replaces the policy's schedule by a fixed spacing (what a timer running
  ``dss create`` and ``dss prune`` does).

At ``samples`` evenly spaced times from start to end (both included) the ages of the
complete snapshots held are recorded (:class:`Frame`): the dots of ``--svg``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from dssframe.core import schedule
from dssframe.core.explain import IntervalPolicy
from dssframe.core.naming import SnapshotName, State
from dssframe.core.retention import (
    ExplainingPolicy,
    Removal,
    RetentionPolicy,
    SchedulingPolicy,
    evenly_spaced,
)

#: Samples recorded by default (the dots per snapshot of ``--svg``).
SAMPLES = 150
#: A snapshot's simulated creation time by default (seconds).
DURATION = 60


class Frame(NamedTuple):
    """The complete snapshots held at one sampled time."""

    time: int
    ages: tuple[int, ...]
    """Their ages (seconds), oldest first."""
    groups: tuple[str | None, ...]
    """What each is kept as, for colouring dots: ``interval K`` for a policy with
    buckets (``interval()``; dyadic; ``outdated`` past an IntervalPolicy's horizon: a
    moment before it goes, while a copy runs), else the first word of the first rule that keeps
    it (an ExplainingPolicy; gfs: ``hourly``), else None."""


class Result(NamedTuple):
    """What a simulation did and where it ended."""

    start: int
    end: int
    settled: int
    """When the run loop was idle at the end: ``end``, or the completion of a copy
    still running at ``end`` once its thinning-out was done."""
    frames: list[Frame]
    snapshots: list[SnapshotName]
    """Every snapshot held at ``settled``, oldest first (all states)."""
    created: list[int]
    """Creation epochs of every snapshot made, in order."""
    removed: dict[str, int]
    """How many were removed, by reason (``outdated``, ``redundant``, ...)."""
    max_held: int
    """The most complete snapshots held at once (counted right after each creation,
    before the run loop thins out)."""
    decisions: int

    @property
    def held(self) -> list[SnapshotName]:
        """The complete snapshots held at the end."""
        return [s for s in self.snapshots if s.complete]

    @property
    def mean_spacing(self) -> float | None:
        """The mean time between two creations, None with fewer than two."""
        if len(self.created) < 2:
            return None
        return (self.created[-1] - self.created[0]) / (len(self.created) - 1)


class FixedSchedule:
    """``policy`` with its schedule replaced: a snapshot every ``every`` seconds
    (counted like the original dss's spacing: from the newest completion, less the
    average creation time). Everything else is the policy's."""

    def __init__(self, policy: RetentionPolicy, every: int) -> None:
        self.policy = policy
        self.every = every
        self.name = policy.name

    def interval(self, snapshot: SnapshotName, now: int) -> int | None:
        return self.policy.interval(snapshot, now)

    def plan(
        self, snapshots: Sequence[SnapshotName], now: int, protected: frozenset[int]
    ) -> list[Removal]:
        return self.policy.plan(snapshots, now, protected)

    def next_due(
        self, snapshots: Sequence[SnapshotName], now: int, average_duration: int
    ) -> int | None:
        return evenly_spaced(snapshots, now, self.every, average_duration)

    def next_change(self, snapshots: Sequence[SnapshotName], now: int) -> int | None:
        if isinstance(self.policy, SchedulingPolicy):
            return self.policy.next_change(snapshots, now)
        return None


def default_span(policy: RetentionPolicy, settings: schedule.Settings) -> int:
    """Seconds simulated by default: twice the policy's horizon (an
    :class:`IntervalPolicy`'s; dyadic: ``num-intervals`` x ``unit-interval``, 40 days
    with the defaults), so that the first half fills the intervals and the second
    shows the steady state; twice ``num-intervals`` x ``unit-interval`` for a policy
    that states no horizon."""
    horizon = policy.horizon() if isinstance(policy, IntervalPolicy) else None
    if not horizon:
        horizon = settings.num_intervals * settings.unit
    return 2 * int(horizon)


def sample_times(start: int, end: int, samples: int) -> list[int]:
    """``samples`` times from ``start`` to ``end``, both included, evenly spaced."""
    if samples <= 1 or end <= start:
        return [end]
    step = (end - start) / (samples - 1)
    times = sorted({start + round(i * step) for i in range(samples)})
    return times


def _snapshot(creation: int, completion: int) -> SnapshotName:
    # A simulated name: parseable, and no strftime per snapshot.
    return SnapshotName(f"{creation}-{completion}.simulated", creation, completion, State.COMPLETE)


def _groups(
    policy: RetentionPolicy, snapshots: Sequence[SnapshotName], now: int
) -> tuple[str | None, ...]:
    held = [s for s in snapshots if s.complete]
    buckets = [policy.interval(s, now) for s in held]
    if any(b is not None for b in buckets):
        horizon = policy.horizon() if isinstance(policy, IntervalPolicy) else None
        return tuple(
            None
            if b is None
            else "outdated"
            if horizon is not None and now - s.creation >= horizon
            else f"interval {b}"
            for s, b in zip(held, buckets, strict=True)
        )
    if isinstance(policy, ExplainingPolicy):
        rules = policy.explain(snapshots, now)
        return tuple(_first_word(rules.get(s.name)) for s in held)
    return tuple(None for _ in held)


def _first_word(rules: list[str] | None) -> str | None:
    if not rules:
        return "not kept" if rules is not None else None
    return rules[0].split(" ", 1)[0]


def simulate(
    policy: RetentionPolicy,
    settings: schedule.Settings,
    start: int,
    end: int,
    *,
    duration: int = DURATION,
    every: int | None = None,
    samples: int = SAMPLES,
    initial: Iterable[SnapshotName] = (),
    pinned: frozenset[int] = frozenset(),
) -> Result:
    """Run the run loop's decisions from ``start`` to ``end`` (epochs) with ``policy``
    (built without ``keep-redundant``: ``settings`` carries it, as in ``dss run``).

    ``initial`` is what the destination holds at ``start`` (default: nothing);
    ``pinned`` the creation epochs pinned throughout. ``every`` (seconds) replaces the
    policy's schedule by a fixed spacing; ``duration`` is every creation's length."""
    duration = max(1, int(duration))
    scheduling = isinstance(policy, SchedulingPolicy)
    own = policy  # the policy's own rules colour the frames, whatever the schedule
    if every is not None:
        policy = FixedSchedule(policy, every)  # ``scheduling``: still the policy's own
    snaps = sorted(initial, key=lambda s: (s.creation, s.name))
    times = sample_times(start, end, samples)
    frames: list[Frame] = []
    activity = schedule.Activity(pinned=frozenset(pinned))
    created: list[int] = []
    removed: dict[str, int] = {}
    max_held = sum(1 for s in snaps if s.complete)
    decisions = 0
    index = 0

    def record_until(limit: int) -> None:
        """Frames for every sample time before ``limit`` (the snapshots held now)."""
        nonlocal index
        while index < len(times) and times[index] < limit:
            t = times[index]
            held = [s for s in snaps if s.complete]
            frames.append(Frame(t, tuple(t - s.creation for s in held), _groups(own, snaps, t)))
            index += 1

    now = start
    while True:
        decision = schedule.decide(now, snaps, policy, settings, activity)
        decisions += 1
        action = decision.action
        if action is schedule.Action.REMOVE:
            assert decision.removal is not None
            snaps.remove(decision.removal.snapshot)
            key = decision.removal.reason.value
            removed[key] = removed.get(key, 0) + 1
            continue
        if now > end:
            break  # past the end, the loop only thins out what the last copy left
        if action in (schedule.Action.CREATE, schedule.Action.RESUME):
            if action is schedule.Action.RESUME:
                snaps.pop()  # the aborted newest one becomes the new copy
            completion = now + duration
            record_until(completion)  # the copy is not complete before that
            snaps.append(_snapshot(now, completion))
            created.append(now)
            max_held = max(max_held, sum(1 for s in snaps if s.complete))
            now = completion
            continue
        until = decision.until if decision.until is not None else end + 1
        if not scheduling:
            # No idle wake-up every minute: ask again when the next snapshot is due
            # or at the next sample, whichever comes first.
            record_until(now + 1)
            following = times[index] if index < len(times) else end + 1
            until = min(max(decision.next_snapshot, now + 1), following)
        # Nothing changes before ``until``: the samples until then see this state.
        record_until(until)
        if until > end:
            break  # idle through the end
        now = until
    record_until(end + 1)
    return Result(start, end, max(now, end), frames, snaps, created, removed, max_held, decisions)


def report(result: Result, policy: RetentionPolicy) -> dict[str, Any]:
    """The end state as ``dss simulate --json`` writes it: totals, every snapshot held
    (age, bucket, the rules of an ExplainingPolicy) and, for an :class:`IntervalPolicy`,
    every interval."""
    end = result.settled
    held = result.held
    rules: dict[str, list[str]] = {}
    if isinstance(policy, ExplainingPolicy):
        rules = policy.explain(result.snapshots, end)
    intervals = None
    if isinstance(policy, IntervalPolicy):
        intervals = [
            {**row._asdict(), "allowed": row.allowed, "excess": row.excess}
            for row in policy.interval_rows(result.snapshots, end)
        ]
    horizon = policy.horizon() if isinstance(policy, IntervalPolicy) else None
    return {
        "policy": policy.name,
        "start": result.start,
        "end": result.end,
        "settled": end,
        "totals": {
            "created": len(result.created),
            "removed": sum(result.removed.values()),
            "removed_by_reason": dict(sorted(result.removed.items())),
            "max_held": result.max_held,
            "held": len(held),
            "mean_spacing": result.mean_spacing,
        },
        "horizon": horizon,
        "intervals": intervals,
        "snapshots": [
            {
                "creation": s.creation,
                "age": end - s.creation,
                "bucket": policy.interval(s, end),
                "rules": rules.get(s.name),
            }
            for s in held
        ],
    }
