"""The gfs retention policy: calendar periods, borg's rule interplay, the plan, config."""

from __future__ import annotations

import calendar
import datetime
import os
import time
from collections.abc import Iterable, Mapping

import pytest
from dssframe_gfs import NOT_KEPT, GfsRetention, counts_from
from dssframe_gfs.rules import RULES, period, select
from hypothesis import given, settings
from hypothesis import strategies as st

from dssframe.core import naming
from dssframe.core.config import Config
from dssframe.core.errors import ConfigError
from dssframe.core.naming import SnapshotName
from dssframe.core.retention import Reason
from dssframe.plugins.host import load_host


def at(y: int, mo: int, d: int, h: int = 12, mi: int = 0, s: int = 0) -> int:
    """Epoch of a UTC wall-clock time (the tests run with TZ=UTC)."""
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def snaps(epochs: Iterable[int]) -> list[SnapshotName]:
    """Complete snapshots created at ``epochs``, oldest first, as the host passes them."""
    parsed = [naming.parse(naming.complete_name(e, e + 60)) for e in sorted(epochs)]
    assert all(p is not None for p in parsed)
    return [p for p in parsed if p is not None]


def kept(epochs: Iterable[int], counts: Mapping[str, int]) -> dict[int, str]:
    """Creation epoch -> why it is kept."""
    snapshots = snaps(epochs)
    why = select(snapshots, counts)
    return {s.creation: str(why[s.name]) for s in snapshots if s.name in why}


def policy(**keep: int) -> GfsRetention:
    table = {f"keep-{rule}": count for rule, count in keep.items()}
    return GfsRetention(Config(retention="gfs", plugins={"gfs": table}))


# --- calendar periods -------------------------------------------------------------


def test_periods_follow_the_local_calendar() -> None:
    assert period("hourly", at(2023, 5, 6, 10, 59, 59)) != period("hourly", at(2023, 5, 6, 11))
    assert period("daily", at(2023, 5, 6, 23, 59, 59)) != period("daily", at(2023, 5, 7, 0))
    assert period("daily", at(2023, 5, 6, 0)) == period("daily", at(2023, 5, 6, 23, 59, 59))
    assert period("monthly", at(2023, 1, 31, 23, 59, 59)) != period("monthly", at(2023, 2, 1, 0))
    assert period("yearly", at(2022, 12, 31, 23, 59, 59)) != period("yearly", at(2023, 1, 1, 0))
    assert period("last", 1000) != period("last", 1001)


def test_iso_weeks_cross_year_boundaries() -> None:
    # ISO 2020 has 53 weeks: Mon 28 Dec 2020 .. Sun 3 Jan 2021
    assert period("weekly", at(2020, 12, 28, 0)) == (2020, 53)
    assert period("weekly", at(2021, 1, 3, 23, 59, 59)) == (2020, 53)
    assert period("weekly", at(2021, 1, 4, 0)) == (2021, 1)
    assert period("weekly", at(2020, 12, 27, 23, 59, 59)) == (2020, 52)
    # and a week 1 that starts in December, a week 53 that ends in January
    assert period("weekly", at(2024, 12, 30)) == (2025, 1)
    assert period("weekly", at(2027, 1, 1)) == (2026, 53)


def test_periods_use_local_time_not_utc() -> None:
    os.environ["TZ"] = "CET-1"  # UTC+1 without DST; the utc fixture restores TZ
    time.tzset()
    late = at(2023, 1, 1, 23, 30)  # already 2 January, 00:30, in local time
    assert period("daily", late) == (2023, 1, 2)
    assert period("daily", late) != period("daily", at(2023, 1, 1, 22, 30))
    assert period("yearly", at(2022, 12, 31, 23, 30)) == 2023


# --- which snapshots the rules keep (borg prune semantics) --------------------------


def test_daily_keeps_the_newest_of_each_day_with_snapshots() -> None:
    epochs = [at(2023, 1, 1, 8), at(2023, 1, 1, 20), at(2023, 1, 2, 9),
              at(2023, 1, 4, 10), at(2023, 1, 4, 11)]  # no snapshot on 3 January
    assert kept(epochs, {"daily": 3}) == {
        at(2023, 1, 4, 11): "daily #1",
        at(2023, 1, 2, 9): "daily #2",
        at(2023, 1, 1, 20): "daily #3",
    }


def test_hourly_boundaries() -> None:
    epochs = [at(2023, 5, 6, 10, 0), at(2023, 5, 6, 10, 59, 59), at(2023, 5, 6, 11, 0, 0),
              at(2023, 5, 6, 11, 30)]
    assert kept(epochs, {"hourly": 2}) == {
        at(2023, 5, 6, 11, 30): "hourly #1",
        at(2023, 5, 6, 10, 59, 59): "hourly #2",
    }


def test_month_and_year_boundaries() -> None:
    epochs = [at(2022, 12, 31, 23, 59), at(2023, 1, 1, 0, 0), at(2023, 1, 31, 23, 59),
              at(2023, 2, 1, 0, 0), at(2023, 2, 28)]
    assert kept(epochs, {"monthly": 3}) == {
        at(2023, 2, 28): "monthly #1",
        at(2023, 1, 31, 23, 59): "monthly #2",
        at(2022, 12, 31, 23, 59): "monthly #3",
    }
    assert kept(epochs, {"yearly": 2}) == {
        at(2023, 2, 28): "yearly #1",
        at(2022, 12, 31, 23, 59): "yearly #2",
    }
    # monthly already kept the newest of both years: yearly finds nothing to add
    assert kept(epochs, {"monthly": 3, "yearly": 2}) == kept(epochs, {"monthly": 3})


def test_weekly_across_iso_week_53() -> None:
    epochs = [at(2020, 12, 27), at(2020, 12, 28), at(2020, 12, 31), at(2021, 1, 2),
              at(2021, 1, 3), at(2021, 1, 4)]
    assert kept(epochs, {"weekly": 3}) == {
        at(2021, 1, 4): "weekly #1",  # 2021-W01
        at(2021, 1, 3): "weekly #2",  # 2020-W53, which began on 28 December
        at(2020, 12, 27): "weekly #3",  # 2020-W52
    }
    # the calendar year is not the ISO year
    assert kept(epochs, {"yearly": 2}) == {
        at(2021, 1, 4): "yearly #1",
        at(2020, 12, 31): "yearly #2",
    }


def test_a_period_used_up_by_an_earlier_rule_does_not_count() -> None:
    # one snapshot a day at noon, Monday 6 to Sunday 19 March 2023 (ISO weeks 10, 11)
    epochs = [at(2023, 3, day) for day in range(6, 20)]
    # daily keeps Sunday 19; week 11 is then used up, so weekly keeps Sunday 12
    # as its first snapshot: kept snapshots are additional, as in borg's docs
    assert kept(epochs, {"daily": 1, "weekly": 1}) == {
        at(2023, 3, 19): "daily #1",
        at(2023, 3, 12): "weekly #1",
    }
    # no older snapshot of the used-up week 11 is kept by weekly
    assert kept(epochs, {"daily": 2, "weekly": 1}) == {
        at(2023, 3, 19): "daily #1",
        at(2023, 3, 18): "daily #2",
        at(2023, 3, 12): "weekly #1",
    }


def test_a_rule_that_runs_out_keeps_the_oldest_snapshot() -> None:
    epochs = [at(2023, 3, 1, 8), at(2023, 3, 1, 20), at(2023, 3, 2), at(2023, 3, 3)]
    assert kept(epochs, {"daily": 5}) == {
        at(2023, 3, 3): "daily #1",
        at(2023, 3, 2): "daily #2",
        at(2023, 3, 1, 20): "daily #3",
        at(2023, 3, 1, 8): "daily #4 (oldest)",
    }
    weeks = [at(2023, 3, day) for day in range(6, 20)]
    assert kept(weeks, {"daily": 1, "weekly": 2})[at(2023, 3, 6)] == "weekly #2 (oldest)"
    # a rule that reached its count does not
    assert at(2023, 3, 1, 8) not in kept(epochs, {"daily": 3})


def test_negative_counts_mean_no_limit_and_no_oldest() -> None:
    epochs = [at(2023, 3, 1, 8), at(2023, 3, 1, 20), at(2023, 3, 2), at(2023, 3, 3)]
    assert set(kept(epochs, {"daily": -1})) == {at(2023, 3, 1, 20), at(2023, 3, 2), at(2023, 3, 3)}
    assert set(kept(epochs, {"last": -1})) == set(epochs)


def test_keep_last_comes_first() -> None:
    epochs = [at(2023, 3, 1), at(2023, 3, 2), at(2023, 3, 3, 8), at(2023, 3, 3, 20)]
    assert kept(epochs, {"last": 2, "daily": 2}) == {
        at(2023, 3, 3, 20): "last #1",
        at(2023, 3, 3, 8): "last #2",
        at(2023, 3, 2): "daily #1",  # 3 March is used up
        at(2023, 3, 1): "daily #2",
    }


def test_no_snapshots() -> None:
    assert select([], {"daily": 3}) == {}
    assert policy(daily=3).plan([], at(2023, 1, 1), frozenset()) == []


# --- the plan -------------------------------------------------------------------------


def test_plan_removes_every_complete_unprotected_snapshot_no_rule_keeps() -> None:
    epochs = [at(2023, 1, 1, 8), at(2023, 1, 1, 20), at(2023, 1, 2, 9), at(2023, 1, 2, 10)]
    complete = snaps(epochs)
    incomplete = naming.parse(naming.incomplete_name(at(2023, 1, 2, 11)))
    deleted = naming.parse(naming.being_deleted_name(complete[0]).replace(
        str(at(2023, 1, 1, 8)), str(at(2023, 1, 1, 7)), 1))
    assert incomplete is not None and deleted is not None
    snapshots = sorted([*complete, incomplete, deleted], key=lambda s: s.creation)
    now = at(2023, 1, 3)
    removals = policy(daily=2).plan(snapshots, now, frozenset())
    assert [r.snapshot.creation for r in removals] == [at(2023, 1, 1, 8), at(2023, 1, 2, 9)]
    assert {(r.reason, r.interval, r.detail) for r in removals} == {
        (Reason.REDUNDANT, None, NOT_KEPT)
    }
    protected = policy(daily=2).plan(snapshots, now, frozenset({at(2023, 1, 1, 8)}))
    assert [r.snapshot.creation for r in protected] == [at(2023, 1, 2, 9)]


def test_interval_is_none_and_keep_redundant_defers_everything() -> None:
    snapshots = snaps([at(2023, 1, 1), at(2023, 1, 1, 13)])
    assert policy(daily=1).interval(snapshots[0], at(2023, 2, 1)) is None
    lazy = GfsRetention(
        Config(retention="gfs", keep_redundant=True, plugins={"gfs": {"keep-daily": 1}})
    )
    assert lazy.plan(snapshots, at(2023, 2, 1), frozenset()) == []


def test_explain_names_the_rule_that_keeps_each_snapshot() -> None:
    epochs = [at(2023, 3, 1), at(2023, 3, 2), at(2023, 3, 3, 8), at(2023, 3, 3, 20),
              at(2023, 3, 3, 21)]
    snapshots = snaps(epochs)
    explained = policy(last=1, daily=2).explain(snapshots, at(2023, 3, 4))
    assert list(explained.values()) == [["daily #2"], ["daily #1"], [], [], ["last #1"]]
    assert list(explained) == [s.name for s in snapshots]
    # 3 March is used up by keep-last: daily keeps neither 20:00 nor 08:00


# --- configuration ----------------------------------------------------------------------


def test_every_rule_off_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\[plugins.gfs\]: every rule is 0.*remove every"):
        counts_from({})
    with pytest.raises(ConfigError, match="every rule is 0"):
        GfsRetention(Config(retention="gfs", plugins={"gfs": {"keep-daily": 0}}))
    with pytest.raises(ConfigError, match="every rule is 0"):
        GfsRetention(Config(retention="gfs"))


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="unknown key 'keep-dayly'"):
        counts_from({"keep-dayly": 3})
    with pytest.raises(ConfigError, match="keep-daily: expected int"):
        counts_from({"keep-daily": "3"})
    assert counts_from({"keep-daily": 7, "keep-weekly": 4}) == {
        "last": 0, "hourly": 0, "daily": 7, "weekly": 4, "monthly": 0, "yearly": 0
    }


def test_registered_through_its_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSSFRAME_PLUGINS", "gfs")
    host = load_host()
    assert "gfs" in host.retention_names()
    config = Config(retention="gfs", plugins={"gfs": {"keep-daily": 3}})
    assert isinstance(host.retention(config), GfsRetention)
    assert host.owner_of("retention", "gfs") == "gfs"


# --- against an independent, straightforward implementation ---------------------------

PATTERNS = {"hourly": "%Y-%m-%d %H", "daily": "%Y-%m-%d", "weekly": "%G-%V",
            "monthly": "%Y-%m", "yearly": "%Y"}


def reference(epochs: Iterable[int], counts: Mapping[str, int]) -> dict[int, str]:
    """borg's documented rules, computed by grouping: for each rule in turn, the newest
    snapshot of every period, newest period first; those no earlier rule kept are
    kept, up to the count; a rule left short keeps the oldest snapshot too."""
    order = sorted(set(epochs), reverse=True)
    why: dict[int, str] = {}
    for rule in RULES:
        count = counts.get(rule, 0)
        if count == 0 or not order:
            continue
        heads: dict[str, int] = {}
        for epoch in order:
            key = str(epoch) if rule == "last" else \
                datetime.datetime.fromtimestamp(epoch).strftime(PATTERNS[rule])
            heads.setdefault(key, epoch)
        fresh = [epoch for epoch in heads.values() if epoch not in why]
        chosen = fresh if count < 0 else fresh[:count]
        why.update({epoch: f"{rule} #{i}" for i, epoch in enumerate(chosen, 1)})
        if count > 0 and len(chosen) < count and order[-1] not in why:
            why[order[-1]] = f"{rule} #{len(chosen) + 1} (oldest)"
    return why


BASE = at(2019, 1, 1, 0)
DAY = 86400
any_time = st.integers(BASE, BASE + 8 * 365 * DAY)
same_season = st.integers(BASE + 700 * DAY, BASE + 760 * DAY)
same_days = st.integers(BASE + 1000 * DAY, BASE + 1003 * DAY)
epoch_lists = st.lists(st.one_of(any_time, same_season, same_days), unique=True, max_size=60)
rule_counts = st.fixed_dictionaries({rule: st.integers(-1, 6) for rule in RULES})


@settings(max_examples=300, deadline=None)
@given(epochs=epoch_lists, counts=rule_counts)
def test_matches_the_reference(epochs: list[int], counts: dict[str, int]) -> None:
    assert kept(epochs, counts) == reference(epochs, counts)


@settings(max_examples=200, deadline=None)
@given(epochs=epoch_lists, counts=rule_counts, data=st.data())
def test_plan_invariants(epochs: list[int], counts: dict[str, int], data: st.DataObject) -> None:
    if not any(counts.values()):
        counts["daily"] = 1
    snapshots = snaps(epochs)
    protected = frozenset(data.draw(st.sets(st.sampled_from(epochs))) if epochs else ())
    retention = GfsRetention(
        Config(retention="gfs", plugins={"gfs": {f"keep-{r}": n for r, n in counts.items()}})
    )
    removals = retention.plan(snapshots, BASE + 9 * 365 * DAY, protected)
    removed = [r.snapshot.creation for r in removals]
    assert removed == sorted(removed)
    assert not set(removed) & protected
    keeps = retention.explain(snapshots, 0)
    assert set(removed) == {
        s.creation for s in snapshots if not keeps[s.name] and s.creation not in protected
    }
    if snapshots:
        assert keeps[snapshots[-1].name], "the newest snapshot is always kept"
