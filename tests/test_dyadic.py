"""Dyadic retention: the batch planner against dss's one-at-a-time choice."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dssframe.core import dyadic, naming
from dssframe.core.naming import SnapshotName, State
from dssframe.core.retention import Reason, Removal, orphans, resumable

# --- building snapshot lists ------------------------------------------------------------


def snap(creation: int, state: State = State.COMPLETE, tag: str = "x") -> SnapshotName:
    """A parsed snapshot name in ``state``; ``tag`` makes complete names distinct."""
    completion = creation + 1
    name = {
        State.COMPLETE: f"{creation}-{completion}.{tag}",
        State.INCOMPLETE: f"{creation}-incomplete",
        State.COMPLETE_BEING_DELETED: f"{creation}-{completion}.being_deleted",
        State.INCOMPLETE_BEING_DELETED: f"{creation}-incomplete.being_deleted",
    }[state]
    parsed = naming.parse(name)
    assert parsed is not None and parsed.state is state
    return parsed


def complete(*creations: int) -> list[SnapshotName]:
    return [snap(c) for c in sorted(creations)]


def victims(removals: Sequence[Removal]) -> list[int]:
    return [r.snapshot.creation for r in removals]


def key(removals: Sequence[Removal]) -> list[tuple[str, Reason, int | None]]:
    return [(r.snapshot.name, r.reason, r.interval) for r in removals]


# --- the reference: dss's one-at-a-time selection ---------------------------------------


def reference_plan(
    snapshots: Sequence[SnapshotName],
    now: int,
    unit: int,
    n: int,
    protected: frozenset[int],
    keep_redundant: bool,
) -> list[Removal]:
    """Repeat dss's single choice (first outdated, else find_redundant_snapshot) until
    nothing is left to remove."""
    live = list(snapshots)
    removed: list[Removal] = []

    def interval(s: SnapshotName) -> int:
        return (now - s.creation) // unit

    def first_outdated() -> Removal | None:
        for s in live:
            if interval(s) >= n and s.creation not in protected and not s.being_deleted:
                return Removal(s, Reason.OUTDATED, interval(s))
        return None

    def find_redundant() -> Removal | None:
        count = [0] * n
        for s in live:
            if s.complete and 0 <= interval(s) < n:
                count[interval(s)] += 1
        missing = 0
        for k in range(n - 1, -1, -1):
            keep = 2 ** (n - k - 1)
            num = count[k]
            if keep >= num:
                missing += keep - num
            if keep + missing >= num:
                continue
            victim = None
            previous = None
            score = math.inf
            for s in live:
                if not s.complete or s.creation in protected or interval(s) != k:
                    continue
                if victim is None:
                    victim = previous = s
                    continue
                assert previous is not None
                gap = s.creation - previous.creation
                assert gap >= 0
                if gap < score:
                    score = gap
                    victim = s
                previous = s
            if victim is not None:
                return Removal(victim, Reason.REDUNDANT, k)
        return None

    while True:
        choice = first_outdated()
        if choice is None and not keep_redundant:
            choice = find_redundant()
        if choice is None:
            return removed
        removed.append(choice)
        index = next(i for i, s in enumerate(live) if s is choice.snapshot)
        del live[index]


def batch(
    snapshots: Sequence[SnapshotName],
    now: int,
    unit: int,
    n: int,
    protected: frozenset[int] = frozenset(),
    keep_redundant: bool = False,
) -> list[Removal]:
    return dyadic.plan(snapshots, now, unit, n, protected, keep_redundant)


def check_against_reference(
    snapshots: Sequence[SnapshotName],
    now: int,
    unit: int,
    n: int,
    protected: frozenset[int],
    keep_redundant: bool,
) -> list[Removal]:
    got = batch(snapshots, now, unit, n, protected, keep_redundant)
    want = reference_plan(snapshots, now, unit, n, protected, keep_redundant)
    assert key(got) == key(want), (now, unit, n, sorted(protected), keep_redundant)
    # identity, not just equal names: each snapshot object at most once
    assert len({id(r.snapshot) for r in got}) == len(got)
    assert not any(r.snapshot.creation in protected for r in got)
    return got


# --- random snapshot sets ------------------------------------------------------------------

STATES = [State.COMPLETE] * 14 + [
    State.INCOMPLETE,
    State.INCOMPLETE,
    State.COMPLETE_BEING_DELETED,
    State.INCOMPLETE_BEING_DELETED,
]


def random_case(
    rng: random.Random,
) -> tuple[list[SnapshotName], int, int, int, frozenset[int], bool]:
    n = rng.randint(1, 8)
    unit = rng.choice([1, 2, 3, 7, 60, 3600, 86400, 4 * 86400, rng.randint(1, 10**6)])
    now = rng.randint(0, 2 * 10**9)
    span = (n + rng.choice([0, 1, 3])) * unit
    size = rng.choice([0, 1, 2, 3, 5, 10, 20, 40, 70])
    shape = rng.choice(["uniform", "clustered", "grid", "young"])
    offsets: list[int] = []
    if shape == "uniform":
        offsets = [rng.randrange(span) for _ in range(size)]
    elif shape == "clustered":
        centers = [rng.randrange(span) for _ in range(rng.randint(1, 4))]
        spread = max(1, unit // rng.choice([1, 4, 32]))
        offsets = [max(0, rng.choice(centers) + rng.randint(-spread, spread)) for _ in range(size)]
    elif shape == "grid":  # equal gaps everywhere: ties decide
        step = max(1, span // max(1, size) // rng.choice([1, 2, 5]))
        start = rng.randrange(unit)
        offsets = [start + i * step for i in range(size)]
    else:  # everything in the youngest intervals, far more than they want
        offsets = [rng.randrange(max(1, 2 * unit)) for _ in range(size * 2)]
    if offsets and rng.random() < 0.3:  # duplicate creation epochs in other states
        offsets += rng.sample(offsets, k=min(len(offsets), rng.randint(1, 3)))
    snapshots = []
    for i, offset in enumerate(offsets):
        creation = max(0, now - offset)
        snapshots.append(snap(creation, rng.choice(STATES), tag=f"t{i}"))
    snapshots.sort(key=lambda s: s.creation)
    creations = [s.creation for s in snapshots]
    protected: set[int] = set()
    if creations and rng.random() < 0.6:
        protected = set(rng.sample(creations, k=min(len(creations), rng.randint(1, 3))))
    if rng.random() < 0.2:
        protected.add(now + 1)  # protecting something absent changes nothing
    keep_redundant = rng.random() < 0.15
    return snapshots, now, unit, n, frozenset(protected), keep_redundant


def test_batch_equals_one_at_a_time_on_random_sets() -> None:
    rng = random.Random(20080302)
    removed_total = redundant_total = 0
    for _ in range(2500):
        snapshots, now, unit, n, protected, keep_redundant = random_case(rng)
        got = check_against_reference(snapshots, now, unit, n, protected, keep_redundant)
        removed_total += len(got)
        redundant_total += sum(r.reason is Reason.REDUNDANT for r in got)
    # the generator really exercises both kinds of removal
    assert redundant_total > 5000
    assert removed_total - redundant_total > 2000


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[SnapshotName], int, int, int, frozenset[int], bool]:
    n = draw(st.integers(1, 8))
    unit = draw(st.integers(1, 20))
    now = draw(st.integers(0, 10**6))
    entries = draw(
        st.lists(st.tuples(st.integers(0, (n + 2) * unit), st.sampled_from(STATES)), max_size=50)
    )
    snapshots = sorted(
        (snap(max(0, now - off), state, tag=f"h{i}") for i, (off, state) in enumerate(entries)),
        key=lambda s: s.creation,
    )
    pool = [s.creation for s in snapshots] or [now]
    protected = draw(st.frozensets(st.sampled_from(pool), max_size=8))
    return snapshots, now, unit, n, protected, draw(st.booleans())


@settings(max_examples=400, deadline=None)
@given(cases())
def test_batch_equals_one_at_a_time_hypothesis(
    case: tuple[list[SnapshotName], int, int, int, frozenset[int], bool],
) -> None:
    check_against_reference(*case)


# --- hand-worked examples ------------------------------------------------------------------


def test_desired_counts() -> None:
    assert [dyadic.desired(k, 5) for k in range(7)] == [16, 8, 4, 2, 1, 0, 0]
    assert [dyadic.desired(k, 1) for k in range(3)] == [1, 0, 0]
    assert dyadic.desired(0, 30) == 2**29
    for n in range(1, 31):
        assert sum(dyadic.desired(k, n) for k in range(n + 3)) == 2**n - 1


def test_interval_of() -> None:
    assert dyadic.interval_of(1000, 1000, 10) == 0
    assert dyadic.interval_of(991, 1000, 10) == 0
    assert dyadic.interval_of(990, 1000, 10) == 1
    assert dyadic.interval_of(0, 4 * 86400 * 5, 4 * 86400) == 5


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_at_most_2n_minus_1_survive(n: int) -> None:
    unit, now = 100, 10_000
    snapshots = complete(*range(now - n * unit + 1, now + 1))  # one a second, all wanted ages
    removals = batch(snapshots, now, unit, n)
    assert all(r.reason is Reason.REDUNDANT for r in removals)
    gone = set(victims(removals))
    survivors = [s for s in snapshots if s.creation not in gone]
    assert len(survivors) == 2**n - 1
    per_interval = [0] * n
    for s in survivors:
        per_interval[dyadic.interval_of(s.creation, now, unit)] += 1
    assert per_interval == [dyadic.desired(k, n) for k in range(n)]


def test_outdated_first_oldest_first_any_state_but_being_deleted() -> None:
    unit, now, n = 10, 1000, 2  # interval >= 2 means creation <= 980
    snapshots = [
        snap(900, State.INCOMPLETE),
        snap(950, State.COMPLETE_BEING_DELETED),
        snap(960),
        snap(970, State.INCOMPLETE_BEING_DELETED),
        snap(975),
        snap(980),
        snap(990),
        snap(995),
        snap(996),
        snap(1000),
    ]
    removals = batch(snapshots, now, unit, n, protected=frozenset({975}))
    assert key(removals)[:3] == [
        ("900-incomplete", Reason.OUTDATED, 10),
        ("960-961.x", Reason.OUTDATED, 4),
        ("980-981.x", Reason.OUTDATED, 2),
    ]
    # interval 1 (981..990) holds one, interval 0 (991..1000) three of two wanted:
    # 995 -> 996 is the smallest gap
    assert key(removals)[3:] == [("996-997.x", Reason.REDUNDANT, 0)]
    assert (
        key(batch(snapshots, now, unit, n, frozenset({975}), keep_redundant=True))
        == key(removals)[:3]
    )


def test_smallest_gap_victims_in_order() -> None:
    unit, now, n = 100, 100, 1  # every creation in 1..100 is interval 0, which wants one
    snapshots = complete(10, 20, 25, 50, 90)
    # gaps 10 5 25 40 -> 25; then 10 30 40 -> 20; then 40 40 -> the older tie, 50;
    # then 10 and 90: 90; 10 stays alone
    assert victims(batch(snapshots, now, unit, n)) == [25, 20, 50, 90]


def test_oldest_of_an_interval_only_when_alone() -> None:
    unit, now = 100, 200
    # n = 2: interval 1 (100..199 ago) wants one. Its oldest is never the victim
    # while another candidate exists, however large the gap after it.
    assert victims(batch(complete(1, 100, 200), now, unit, 2)) == [100]
    assert victims(batch(complete(1, 99, 100, 200), now, unit, 2)) == [100, 99]
    assert victims(batch(complete(1, 2, 100, 200), now, unit, 2)) == [2, 100]
    # Once the others are protected, the oldest is the only candidate and goes.
    assert victims(batch(complete(1, 99, 100), now, unit, 2, frozenset({99, 100}))) == [1]
    # A single protected snapshot in an over-full interval of two: the other goes,
    # whichever position it has.
    assert victims(batch(complete(50, 60), 100, 100, 1, frozenset({50}))) == [60]
    assert victims(batch(complete(50, 60), 100, 100, 1, frozenset({60}))) == [50]


def test_never_the_protected() -> None:
    unit, now, n = 100, 100, 1
    snapshots = complete(10, 20, 21, 22, 60)
    # without protection the tightest gaps go first
    assert victims(batch(snapshots, now, unit, n)) == [21, 22, 20, 60]
    # protected snapshots still count towards the interval but are never chosen; the
    # gap is measured to the previous candidate (20 -> 22 is 2). 21 still fills the
    # one place, so in the end even the oldest candidate goes.
    assert victims(batch(snapshots, now, unit, n, frozenset({21}))) == [22, 20, 60, 10]
    assert victims(batch(snapshots, now, unit, n, frozenset({10, 60}))) == [21, 22, 20]
    # all protected: nothing, and the younger intervals are still examined
    assert batch(snapshots, now, unit, n, frozenset(s.creation for s in snapshots)) == []
    two = complete(10, 20, 30, 110, 120, 130, 140)  # interval 1: 10..30, interval 0: the rest
    # equal gaps: the older of the tied candidates goes first
    assert victims(batch(two, 200, 100, 2, frozenset({10, 20, 30}))) == [120, 140]
    # protected outdated snapshots stay too
    assert batch(complete(1), 1000, 10, 2, frozenset({1})) == []


def test_carried_deficit_lets_younger_intervals_keep_more() -> None:
    unit, now, n = 10, 100, 3  # intervals: 2 -> 71..80, 1 -> 81..90, 0 -> 91..100
    # interval 2 is empty (deficit 1): interval 1 may keep 2 + 1, interval 0 keeps 4 + 1
    snapshots = complete(82, 84, 86, 92, 94, 96, 98, 100)
    assert batch(snapshots, now, unit, n) == []
    # one more in interval 1 exceeds 2 + 1: exactly one victim there, none in interval 0
    more = complete(82, 83, 84, 86, 92, 94, 96, 98, 100)
    assert key(batch(more, now, unit, n)) == [("83-84.x", Reason.REDUNDANT, 1)]
    # interval 0 with 6 exceeds 4 + 1 by one; the smallest gap (99 -> 100) goes
    crowded = complete(82, 84, 86, 92, 94, 96, 98, 99, 100)
    assert key(batch(crowded, now, unit, n)) == [("99-100.x", Reason.REDUNDANT, 0)]
    # deficits add up: interval 2 and 1 empty -> interval 0 keeps 4 + 1 + 2 = 7
    young = complete(91, 92, 93, 94, 95, 96, 97)
    assert batch(young, now, unit, n) == []
    assert len(batch(complete(91, 92, 93, 94, 95, 96, 97, 98), now, unit, n)) == 1


def test_surplus_is_not_carried_as_credit() -> None:
    """An over-full interval whose excess is protected does not lower what the younger
    intervals may keep (dss only ever carries a deficit)."""
    unit, now, n = 10, 100, 2  # interval 1: 81..90 wants 1, interval 0: 91..100 wants 2
    snapshots = complete(82, 84, 92, 94)
    assert victims(batch(snapshots, now, unit, n, frozenset({82, 84}))) == []
    assert victims(batch(complete(82, 84, 92, 94, 96), now, unit, n, frozenset({82, 84}))) == [94]


def test_incomplete_snapshots_do_not_count() -> None:
    unit, now, n = 100, 100, 1
    snapshots = [snap(10, State.INCOMPLETE), snap(20), snap(30, State.COMPLETE_BEING_DELETED)]
    assert batch(snapshots, now, unit, n) == []
    # but incomplete ones are outdated like any other
    old = [snap(10, State.INCOMPLETE), snap(20, State.INCOMPLETE_BEING_DELETED), snap(150)]
    assert key(batch(old, 250, unit, n)) == [
        ("10-incomplete", Reason.OUTDATED, 2),
        ("150-151.x", Reason.OUTDATED, 1),
    ]


def test_keep_redundant_only_removes_outdated() -> None:
    snapshots = complete(*range(1, 101))
    assert batch(snapshots, 100, 10, 1, keep_redundant=True) == [
        Removal(s, Reason.OUTDATED, dyadic.interval_of(s.creation, 100, 10))
        for s in snapshots
        if s.creation <= 90
    ]


def test_empty_and_tiny() -> None:
    assert batch([], 100, 10, 5) == []
    assert batch(complete(100), 100, 10, 1) == []
    assert batch(complete(99, 100), 100, 10, 1) == [Removal(snap(100), Reason.REDUNDANT, 0)]


def test_outdated_and_redundant_helpers_agree_with_plan() -> None:
    rng = random.Random(7)
    for _ in range(200):
        snapshots, now, unit, n, protected, _ = random_case(rng)
        out = dyadic.outdated(snapshots, now, unit, n, protected)
        red = dyadic.redundant(snapshots, now, unit, n, protected)
        assert dyadic.plan(snapshots, now, unit, n, protected) == out + red
        assert dyadic.plan(snapshots, now, unit, n, protected, keep_redundant=True) == out
        assert all(r.reason is Reason.OUTDATED and r.interval is not None for r in out)
        assert all(r.interval is not None and r.interval >= n for r in out)
        assert all(r.reason is Reason.REDUNDANT and r.snapshot.complete for r in red)


def test_plan_on_a_large_list_runs() -> None:
    """Speed is measured in bench/; this only makes sure a big list goes through."""
    unit, n = 4 * 86400, 5
    now = 2_000_000_000
    count = 100_000
    step = 6 * n * unit // count
    snapshots = [
        SnapshotName(f"{c}-{c + 1}.x", c, c + 1, State.COMPLETE)
        for c in range(now - (count - 1) * step, now + 1, step)
    ]
    removals = batch(snapshots, now, unit, n)
    assert len({id(r.snapshot) for r in removals}) == len(removals)
    survivors = len(snapshots) - len(removals)
    assert survivors == 2**n - 1


# --- retention.orphans and resumable --------------------------------------------------------


def test_resumable_is_the_newest_when_incomplete() -> None:
    base = [snap(1), snap(2, State.INCOMPLETE), snap(3)]
    assert resumable(base, resume=True) is None
    assert resumable([*base, snap(4, State.INCOMPLETE)], resume=True) == 4
    assert resumable([*base, snap(4, State.INCOMPLETE)], resume=False) is None
    assert resumable([*base, snap(4, State.INCOMPLETE_BEING_DELETED)], resume=True) is None
    assert resumable([*base, snap(4, State.COMPLETE_BEING_DELETED)], resume=True) is None
    assert resumable([], resume=True) is None
    assert resumable([snap(9, State.INCOMPLETE)], resume=True) == 9


def test_orphans() -> None:
    snapshots = [
        snap(1, State.INCOMPLETE),
        snap(2, State.INCOMPLETE_BEING_DELETED),
        snap(3, State.COMPLETE_BEING_DELETED),
        snap(4),
        snap(5, State.INCOMPLETE),
        snap(6, State.INCOMPLETE),
    ]
    found = orphans(snapshots, protected=frozenset({5}), resumable=6)
    assert [(r.snapshot.name, r.reason, r.interval) for r in found] == [
        ("1-incomplete", Reason.ORPHANED, None),
        ("2-incomplete.being_deleted", Reason.ORPHANED, None),
        ("3-4.being_deleted", Reason.ORPHANED, None),
    ]
    assert [r.detail for r in found] == [
        "aborted, not resumable",
        "interrupted removal",
        "interrupted removal",
    ]
    # nothing to resume: every incomplete not being created is an orphan
    everything = orphans(snapshots, frozenset(), None)
    assert victims(everything) == [1, 2, 3, 5, 6]
    # a protected leftover of a removal stays, and complete snapshots never are orphans
    assert victims(orphans(snapshots, frozenset({2, 3}), 6)) == [1, 5]
    assert orphans([snap(4), snap(7)], frozenset(), None) == []


def test_orphans_with_resumable_from_the_same_list() -> None:
    snapshots = [snap(1, State.INCOMPLETE), snap(2), snap(3, State.INCOMPLETE)]
    assert victims(orphans(snapshots, frozenset(), resumable(snapshots, True))) == [1]
    assert victims(orphans(snapshots, frozenset(), resumable(snapshots, False))) == [1, 3]
