"""The pure scheduler: next-snapshot time, decisions, and years of simulated schedule."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dssframe.builtin.dyadic_retention import DyadicRetention
from dssframe.core import naming
from dssframe.core.config import Config
from dssframe.core.dyadic import desired, interval_of
from dssframe.core.naming import SnapshotName
from dssframe.core.retention import Reason, Removal
from dssframe.core.schedule import (
    MAX_SLEEP,
    Action,
    Activity,
    Settings,
    decide,
    next_change,
    next_snapshot_time,
    removals,
)

DAY = 86400
T0 = 1_600_000_000


def complete(creation: int, completion: int) -> SnapshotName:
    parsed = naming.parse(f"{creation}-{completion}.x-y")
    assert parsed is not None
    return parsed


def incomplete(creation: int) -> SnapshotName:
    parsed = naming.parse(naming.incomplete_name(creation))
    assert parsed is not None
    return parsed


def being_deleted(creation: int) -> SnapshotName:
    parsed = naming.parse(f"{creation}-incomplete.being_deleted")
    assert parsed is not None
    return parsed


def policy_for(s: Settings) -> DyadicRetention:
    # The run loop builds the policy without keep-redundant; the scheduler applies it.
    return DyadicRetention(Config(unit_interval=s.unit, num_intervals=s.num_intervals))


S = Settings(unit=DAY, num_intervals=5, retry_delay=60, min_complete=1)


# --- next snapshot time (SPEC §6) ------------------------------------------------------


def test_no_snapshot_yet_means_now() -> None:
    assert next_snapshot_time(T0, [], S) == T0
    assert next_snapshot_time(T0, [incomplete(T0 - 100)], S) == T0


def test_next_time_is_newest_completion_plus_spacing_minus_average_duration() -> None:
    # spacing = 1 day / 2**4 = 5400 s; durations 100 and 300 -> average 200
    snaps = [complete(T0, T0 + 100), complete(T0 + 1000, T0 + 1300)]
    assert S.spacing == 5400
    assert next_snapshot_time(T0 + 2000, snaps, S) == T0 + 1300 + 5400 - 200


def test_newest_complete_counts_even_when_an_incomplete_is_newer() -> None:
    snaps = [complete(T0, T0 + 100), incomplete(T0 + 500)]
    assert next_snapshot_time(T0 + 600, snaps, S) == T0 + 100 + 5400 - 100


def test_no_waiting_when_creating_is_slower_than_the_spacing() -> None:
    # average 6000 s * 16 > 1 day: dss does not wait at all
    snaps = [complete(T0, T0 + 6000)]
    assert next_snapshot_time(T0 + 6001, snaps, S) == T0 + 6001


# --- single decisions ---------------------------------------------------------------


def test_first_decision_is_to_create() -> None:
    d = decide(T0, [], policy_for(S), S, Activity())
    assert d.action is Action.CREATE and d.next_snapshot == T0


def test_idle_waits_until_the_next_snapshot_is_due() -> None:
    snaps = [complete(T0, T0 + 100)]
    d = decide(T0 + 200, snaps, policy_for(S), S, Activity())
    assert d.action is Action.WAIT
    assert d.until == d.next_snapshot == T0 + 100 + 5400 - 100


def test_while_creating_nothing_is_removed_and_only_the_child_wakes_the_loop() -> None:
    snaps = [complete(T0 - 10 * DAY, T0 - 10 * DAY + 5), complete(T0 - 100, T0 - 50)]
    snaps.append(incomplete(T0))
    activity = Activity(creating=T0, reference=T0 - 100)
    d = decide(T0 + 10, snaps, policy_for(S), S, activity)
    assert d.action is Action.WAIT and d.until is None


def test_after_downtime_create_first_then_remove() -> None:
    old = [complete(T0 - k * DAY, T0 - k * DAY + 60) for k in (40, 30, 20, 10)]
    d = decide(T0, old, policy_for(S), S, Activity())
    assert d.action is Action.CREATE
    new = [*old, complete(T0, T0 + 60)]
    d = decide(T0 + 60, new, policy_for(S), S, Activity())
    assert d.action is Action.REMOVE
    assert d.removal is not None and d.removal.reason is Reason.OUTDATED


def test_resume_when_the_newest_snapshot_is_incomplete() -> None:
    snaps = [complete(T0 - DAY, T0 - DAY + 60), incomplete(T0 - 30)]
    d = decide(T0, snaps, policy_for(S), S, Activity())
    assert d.action is Action.RESUME
    no_resume = Settings(unit=DAY, num_intervals=5, resume=False)
    assert decide(T0, snaps, policy_for(no_resume), no_resume, Activity()).action is Action.CREATE


def test_a_failed_creation_is_retried_after_the_retry_delay() -> None:
    snaps = [complete(T0 - DAY, T0 - DAY + 60), incomplete(T0 - 30)]
    activity = Activity(create_not_before=T0 + 60)
    d = decide(T0, snaps, policy_for(S), S, activity)
    assert d.action is Action.WAIT and d.until == T0 + 60 and d.note == "retry delay"
    assert decide(T0 + 60, snaps, policy_for(S), S, activity).action is Action.RESUME


def test_no_pruning_while_a_retry_is_pending() -> None:
    snaps = [complete(T0 - 10 * DAY, T0 - 10 * DAY + 60), complete(T0 - DAY, T0 - DAY + 60)]
    d = decide(T0, snaps, policy_for(S), S, Activity(create_not_before=T0 + 60))
    assert d.action is Action.WAIT


def test_orphans_are_removed_while_idle_but_not_the_resumable_one() -> None:
    snaps = [
        being_deleted(T0 - 500),
        incomplete(T0 - 400),
        complete(T0 - 300, T0 - 290),
    ]
    d = decide(T0, snaps, policy_for(S), S, Activity())
    assert d.action is Action.REMOVE and d.removal is not None
    assert d.removal.reason is Reason.ORPHANED


def test_keep_redundant_removes_redundant_only_when_space_is_low() -> None:
    keep = Settings(unit=DAY, num_intervals=2, keep_redundant=True, min_complete=1)
    # interval 1 wants 1 snapshot and holds 3: two are redundant
    snaps = [complete(T0 - DAY - k * 100, T0 - DAY - k * 100 + 10) for k in (3, 2, 1)]
    snaps.append(complete(T0 - 100, T0 - 90))
    assert decide(T0, snaps, policy_for(keep), keep, Activity()).action is Action.WAIT
    d = decide(T0, snaps, policy_for(keep), keep, Activity(low_space=True))
    assert d.action is Action.REMOVE and d.removal is not None
    assert d.removal.reason is Reason.REDUNDANT


def test_low_space_order_outdated_redundant_orphaned_oldest() -> None:
    s = Settings(unit=DAY, num_intervals=2, min_complete=1)
    snaps = [
        complete(T0 - 5 * DAY, T0 - 5 * DAY + 10),  # outdated
        complete(T0 - DAY - 300, T0 - DAY - 290),  # interval 1: one redundant
        complete(T0 - DAY - 200, T0 - DAY - 190),
        incomplete(T0 - DAY - 100),  # orphaned: not the newest
        complete(T0 - 600, T0 - 590),
        complete(T0 - 500, T0 - 490),
    ]
    plan = removals(T0, snaps, policy_for(s), s, Activity(low_space=True))
    reasons = [r.reason for r in plan]
    assert reasons[:3] == [Reason.OUTDATED, Reason.REDUNDANT, Reason.ORPHANED]
    assert set(reasons[3:]) == {Reason.LOW_SPACE}
    # every complete snapshot but min_complete of them may go
    assert sum(1 for r in plan if r.snapshot.complete) == 5 - 1


def test_low_space_never_removes_the_snapshot_being_created_nor_its_reference() -> None:
    s = Settings(unit=DAY, num_intervals=3, min_complete=0)
    snaps = [complete(T0 - 900, T0 - 890), complete(T0 - 500, T0 - 490), incomplete(T0)]
    activity = Activity(creating=T0, reference=T0 - 500, low_space=True)
    d = decide(T0 + 5, snaps, policy_for(s), s, activity)
    assert d.action is Action.REMOVE and d.removal is not None
    assert d.removal.snapshot.creation == T0 - 900
    d = decide(T0 + 5, snaps[1:], policy_for(s), s, activity)
    assert d.action is Action.NO_SPACE
    assert d.until is not None and T0 + 5 < d.until <= T0 + 5 + MAX_SLEEP


def test_low_space_keeps_min_complete_snapshots() -> None:
    s = Settings(unit=DAY, num_intervals=3, min_complete=2)
    snaps = [complete(T0 - 900 + k * 100, T0 - 890 + k * 100) for k in range(3)]
    d = decide(T0, snaps, policy_for(s), s, Activity(low_space=True))
    assert d.action is Action.REMOVE and d.removal is not None
    assert d.removal.snapshot == snaps[0]
    assert decide(T0, snaps[1:], policy_for(s), s, Activity(low_space=True)).action is (
        Action.NO_SPACE
    )


def test_a_vetoed_removal_is_skipped_until_the_veto_expires() -> None:
    snaps = [being_deleted(T0 - 500), being_deleted(T0 - 400), complete(T0 - 10, T0 - 5)]
    activity = Activity(skipped={T0 - 500: T0 + 60})
    d = decide(T0, snaps, policy_for(S), S, activity)
    assert d.removal is not None and d.removal.snapshot.creation == T0 - 400
    d = decide(T0, [snaps[0], snaps[2]], policy_for(S), S, activity)
    assert d.action is Action.WAIT and d.until == T0 + 60
    d = decide(T0 + 60, [snaps[0], snaps[2]], policy_for(S), S, activity)
    assert d.action is Action.REMOVE


def test_idle_wait_ends_when_a_snapshot_changes_interval() -> None:
    s = Settings(unit=100, num_intervals=2)
    snaps = [complete(T0 - 150, T0 - 149), complete(T0 - 10, T0 - 9)]
    assert next_change(T0, snaps, policy_for(s)) == T0 - 150 + 200
    d = decide(T0, snaps, policy_for(s), s, Activity())
    assert d.action is Action.WAIT and d.until == T0 + 40  # next snapshot due at T0+40


# --- the policy owns the schedule ------------------------------------------------------


class KeepAll:
    """A policy without ``next_due`` / ``next_change``: the scheduler's fallbacks."""

    name = "keep-all"

    def interval(self, snapshot: SnapshotName, now: int) -> int | None:
        return None

    def plan(
        self, snapshots: Sequence[SnapshotName], now: int, protected: frozenset[int]
    ) -> list[Removal]:
        return []


class Hourly(KeepAll):
    """A policy with its own schedule: an hour after the newest creation."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.asked: list[tuple[int, int]] = []

    def next_due(
        self, snapshots: Sequence[SnapshotName], now: int, average_duration: int
    ) -> int | None:
        self.asked.append((now, average_duration))
        done = [s for s in snapshots if s.complete]
        return done[-1].creation + 3600 if self.answer else None

    def next_change(self, snapshots: Sequence[SnapshotName], now: int) -> int | None:
        return None


def test_the_scheduler_asks_the_policy_when_the_next_snapshot_is_due() -> None:
    snaps = [complete(T0, T0 + 100), complete(T0 + 1000, T0 + 1300)]
    policy = Hourly()
    d = decide(T0 + 2000, snaps, policy, S, Activity())
    assert d.action is Action.WAIT and d.next_snapshot == d.until == T0 + 1000 + 3600
    assert policy.asked == [(T0 + 2000, 200)]  # average duration of the complete ones
    assert decide(T0 + 4600, snaps, policy, S, Activity()).action is Action.CREATE
    # no complete snapshot yet: at once, without asking
    assert decide(T0, [incomplete(T0 - 5)], Hourly(), S, Activity()).action is Action.RESUME


def test_a_policy_without_a_schedule_gets_the_original_dss_spacing() -> None:
    snaps = [complete(T0, T0 + 100), complete(T0 + 1000, T0 + 1300)]
    spaced = T0 + 1300 + S.spacing - 200
    for policy in (KeepAll(), Hourly(answer=False)):
        assert next_snapshot_time(T0 + 2000, snaps, S, policy) == spaced
    d = decide(T0 + 2000, snaps, KeepAll(), S, Activity())
    # no next_change either: the idle loop plans again after MAX_SLEEP
    assert d.action is Action.WAIT and d.next_snapshot == spaced
    assert d.until == T0 + 2000 + MAX_SLEEP
    assert next_change(T0, snaps, KeepAll()) == T0 + MAX_SLEEP
    assert next_change(T0, snaps, Hourly()) is None


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([8, 100, 3600, DAY]),
    st.integers(1, 6),
    st.lists(st.tuples(st.integers(0, 5 * DAY), st.integers(0, 7200)), max_size=12),
)
def test_dyadic_schedule_is_the_original_rule(
    unit: int, n: int, spans: list[tuple[int, int]]
) -> None:
    s = Settings(unit=unit, num_intervals=n)
    now = T0 + 6 * DAY
    snaps = sorted(
        {c: complete(T0 + c, T0 + c + d) for c, d in spans}.values(), key=lambda x: x.creation
    )
    dyadic_policy = policy_for(s)
    assert next_snapshot_time(now, snaps, s, dyadic_policy) == next_snapshot_time(now, snaps, s)
    if snaps:
        average = sum(x.duration or 0 for x in snaps) // len(snaps)
        wanted = 1 << (n - 1)
        newest = snaps[-1].completion
        assert newest is not None
        expected = now if unit < average * wanted else newest + s.spacing - average
        assert dyadic_policy.next_due(snaps, now, average) == expected


# --- properties -----------------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, list[SnapshotName], Settings, Activity]:
    unit = draw(st.sampled_from([10, 100, 3600, DAY]))
    n = draw(st.integers(1, 6))
    s = Settings(
        unit=unit,
        num_intervals=n,
        retry_delay=draw(st.integers(1, 120)),
        min_complete=draw(st.integers(0, 3)),
        keep_redundant=draw(st.booleans()),
        resume=draw(st.booleans()),
    )
    now = T0
    creations = sorted(set(draw(st.lists(st.integers(0, 3 * n * unit), max_size=25))))
    snaps = []
    for offset in creations:
        creation = now - offset
        kind = draw(st.sampled_from(["complete", "complete", "incomplete", "deleted"]))
        if kind == "complete":
            snaps.append(complete(creation, min(now, creation + draw(st.integers(0, unit)))))
        elif kind == "incomplete":
            snaps.append(incomplete(creation))
        else:
            snaps.append(being_deleted(creation))
    snaps.sort(key=lambda x: x.creation)
    creating = None
    reference = None
    if draw(st.booleans()):
        snaps.append(incomplete(now))
        creating = now
        done = [x for x in snaps if x.complete]
        reference = done[-1].creation if done else None
    skipped = {x.creation: now + 30 for x in snaps if draw(st.booleans()) and x.creation != now}
    activity = Activity(
        creating=creating,
        reference=reference,
        low_space=draw(st.booleans()),
        create_not_before=now + draw(st.sampled_from([0, 0, 30])),
        skipped=skipped,
    )
    return now, snaps, s, activity


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_decisions_are_safe(scenario: tuple[int, list[SnapshotName], Settings, Activity]) -> None:
    now, snaps, s, activity = scenario
    d = decide(now, snaps, policy_for(s), s, activity)
    if d.action in (Action.WAIT, Action.NO_SPACE):
        assert d.until is None or d.until > now  # never a busy loop
    if d.action is Action.REMOVE:
        assert d.removal is not None
        victim = d.removal.snapshot.creation
        assert victim not in (activity.creating, activity.reference)
        assert victim not in activity.skipped
        if d.removal.snapshot.complete:
            assert sum(1 for x in snaps if x.complete) > s.min_complete
        if not activity.low_space:
            assert activity.creating is None  # prune only while idle
            assert d.next_snapshot > now
    if d.action in (Action.CREATE, Action.RESUME):
        assert activity.creating is None and now >= activity.create_not_before
    if activity.creating is not None:
        assert d.action in (Action.WAIT, Action.REMOVE, Action.NO_SPACE)


# --- simulation -------------------------------------------------------------------------


class Simulation:
    """The run loop without processes: a creation takes ``duration(now)`` seconds,
    a removal no time; ``offline`` windows are downtime (nothing happens)."""

    def __init__(self, s: Settings, duration: Callable[[int], int], regular: bool = True) -> None:
        self.s = s
        self.regular = regular
        self.policy = policy_for(s)
        self.duration = duration
        self.snaps: list[SnapshotName] = []
        self.creations: list[int] = []
        self.start = 0
        self.idle_checks = 0
        self.steady_checks = 0
        self.decisions = 0
        self.first_after_downtime: list[Action] = []

    def run(self, start: int, end: int, offline: tuple[tuple[int, int], ...] = ()) -> None:
        now = self.start = start
        s = self.s
        just_back = False
        while now < end:
            window = next(((a, b) for a, b in offline if a <= now < b), None)
            if window is not None:
                now = window[1]
                just_back = True
                continue
            d = decide(now, self.snaps, self.policy, s, Activity())
            self.decisions += 1
            if just_back:
                self.first_after_downtime.append(d.action)
                just_back = False
            if d.action in (Action.CREATE, Action.RESUME):
                completion = now + max(1, self.duration(now))
                self.snaps.append(complete(now, completion))
                self.creations.append(now)
                now = completion
            elif d.action is Action.REMOVE:
                assert d.removal is not None
                self.snaps.remove(d.removal.snapshot)
            else:
                assert d.action is Action.WAIT and d.until is not None and d.until > now
                self.check_invariants(now)
                now = d.until

    def check_invariants(self, now: int) -> None:
        """Idle and pruned: the dyadic bounds hold.

        Per interval: no more than desired plus the deficit carried from the older
        intervals (SPEC §3). In total: at most ``2**n - 1`` once the history is
        ``n*u`` old, when snapshots come at the regular spacing. (dss's rule carries a
        deficit to *every* younger interval without using it up, so while old
        intervals are under-full -- during warm-up, or when irregular durations leave
        a gap -- the total may exceed ``2**n - 1`` by a few: 34 with n=5.)
        """
        s = self.s
        self.idle_checks += 1
        assert all(x.complete for x in self.snaps)
        if self.snaps:
            assert now - self.snaps[0].creation < s.num_intervals * s.unit
        counts = Counter(interval_of(x.creation, now, s.unit) for x in self.snaps)
        missing = 0
        for k in range(s.num_intervals - 1, -1, -1):
            want, have = desired(k, s.num_intervals), counts.get(k, 0)
            assert have <= want + missing
            missing += max(0, want - have)
        if self.regular and now - self.start >= s.num_intervals * s.unit:
            assert len(self.snaps) <= (1 << s.num_intervals) - 1
            self.steady_checks += 1


def test_two_years_of_daily_units_keep_the_dyadic_invariants() -> None:
    s = Settings(unit=DAY, num_intervals=5)
    sim = Simulation(s, lambda now: 600)
    sim.run(T0, T0 + 730 * DAY)
    assert sim.steady_checks > 10000
    gaps = [b - a for a, b in zip(sim.creations, sim.creations[1:], strict=False)]
    assert set(gaps) == {s.spacing}  # constant duration: exactly u / 2**(n-1) apart
    assert len(sim.creations) == pytest.approx(730 * DAY / s.spacing, abs=2)
    # the steady state is full: 2**n - 1 snapshots, spread over all intervals
    assert len(sim.snaps) >= (1 << s.num_intervals) - 2


def test_varying_durations_keep_the_average_spacing() -> None:
    rng = random.Random(7)
    s = Settings(unit=DAY, num_intervals=5)
    sim = Simulation(s, lambda now: rng.randint(60, 1800), regular=False)
    sim.run(T0, T0 + 120 * DAY)
    span = sim.creations[-1] - sim.creations[0]
    mean_gap = span / (len(sim.creations) - 1)
    assert mean_gap == pytest.approx(s.spacing, rel=0.1)


def test_creation_slower_than_the_spacing_runs_back_to_back() -> None:
    s = Settings(unit=3600, num_intervals=4)  # spacing 450 s
    sim = Simulation(s, lambda now: 900)
    sim.run(T0, T0 + 10 * 3600)
    gaps = {b - a for a, b in zip(sim.creations, sim.creations[1:], strict=False)}
    assert gaps == {900}


def test_downtime_catch_up_creates_first_then_thins_out() -> None:
    s = Settings(unit=DAY, num_intervals=5)
    sim = Simulation(s, lambda now: 300, regular=False)  # a gap is irregular
    offline = ((T0 + 40 * DAY, T0 + 47 * DAY), (T0 + 100 * DAY, T0 + 300 * DAY))
    sim.run(T0, T0 + 320 * DAY, offline)
    assert sim.first_after_downtime == [Action.CREATE, Action.CREATE]
    assert sim.idle_checks > 0


def test_seconds_work_like_days() -> None:
    s = Settings(unit=8, num_intervals=3)  # spacing 2 s
    sim = Simulation(s, lambda now: 1)
    sim.run(T0, T0 + 1000)
    gaps = {b - a for a, b in zip(sim.creations, sim.creations[1:], strict=False)}
    assert gaps == {2}
