"""The gfs policy owns the run loop's schedule: a snapshot per period of its finest rule."""

from __future__ import annotations

import calendar
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dssframe_gfs import GfsRetention
from dssframe_gfs.rules import CALENDAR_RULES, next_start, period

from dssframe.core import naming
from dssframe.core.config import Config
from dssframe.core.naming import SnapshotName
from dssframe.core.schedule import Action, Decision
from dssframe.engine.daemon import RunLoop
from dssframe.plugins.host import load_host
from dssframe.store import diskspace


def at(y: int, mo: int, d: int, h: int = 12, mi: int = 0, s: int = 0) -> int:
    """Epoch of a UTC wall-clock time (the tests run with TZ=UTC)."""
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def snap(creation: int, duration: int = 60) -> SnapshotName:
    parsed = naming.parse(naming.complete_name(creation, creation + duration))
    assert parsed is not None
    return parsed


def policy(**keep: int) -> GfsRetention:
    table = {f"keep-{rule}": count for rule, count in keep.items()}
    return GfsRetention(Config(retention="gfs", plugins={"gfs": table}))


# --- calendar periods: where the next one starts ------------------------------------


def test_next_start_of_each_calendar_rule() -> None:
    t = at(2024, 12, 31, 10, 20, 30)  # a Tuesday
    assert next_start("hourly", t) == at(2024, 12, 31, 11, 0)
    assert next_start("daily", t) == at(2025, 1, 1, 0, 0)
    assert next_start("weekly", t) == at(2025, 1, 6, 0, 0)  # the next Monday
    assert next_start("monthly", t) == at(2025, 1, 1, 0, 0)
    assert next_start("yearly", t) == at(2025, 1, 1, 0, 0)
    assert next_start("monthly", at(2024, 1, 31, 23, 59)) == at(2024, 2, 1, 0, 0)
    assert next_start("weekly", at(2024, 1, 8, 0, 0)) == at(2024, 1, 15, 0, 0)  # a Monday
    assert next_start("hourly", at(2024, 1, 8, 9, 0)) == at(2024, 1, 8, 10, 0)
    with pytest.raises(ValueError):
        next_start("last", t)


@pytest.mark.parametrize("rule", CALENDAR_RULES)
def test_next_start_is_the_first_second_of_a_later_period(rule: str) -> None:
    for t in (at(2023, 2, 28, 23, 59, 59), at(2024, 2, 29, 0, 0), at(2020, 12, 28, 7, 30)):
        start = next_start(rule, t)
        assert start > t
        assert period(rule, start) != period(rule, t)
        assert period(rule, start - 1) == period(rule, t)  # no period skipped


@pytest.fixture
def berlin() -> Iterator[None]:
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    os.environ["TZ"] = "UTC"  # the autouse fixture restores the original
    time.tzset()


@pytest.mark.usefixtures("berlin")
def test_next_start_across_daylight_saving_time() -> None:
    # 26 March 2023: 02:00 CET does not exist, the clock jumps to 03:00 CEST (01:00 UTC)
    assert next_start("hourly", at(2023, 3, 26, 0, 30)) == at(2023, 3, 26, 1, 0)
    # 29 October 2023: 02:00-03:00 comes twice (CEST, then CET); one hourly period
    first_two_thirty = at(2023, 10, 29, 0, 30)  # 02:30 CEST
    assert next_start("hourly", first_two_thirty) == at(2023, 10, 29, 2, 0)  # 03:00 CET
    # a day of 25 hours still ends at midnight
    assert next_start("daily", at(2023, 10, 29, 8, 0)) == at(2023, 10, 29, 23, 0)


# --- the policy's schedule -------------------------------------------------------------


def test_the_finest_calendar_rule_sets_the_schedule() -> None:
    t = at(2024, 5, 7, 10, 0)
    history = [snap(t - 7200), snap(t)]
    assert policy(hourly=24, daily=7).next_due(history, t + 60, 60) == t + 3600
    assert policy(last=3, daily=7, weekly=4).next_due(history, t + 60, 60) == at(2024, 5, 8, 0)
    assert policy(weekly=-1).next_due(history, t + 60, 60) == at(2024, 5, 13, 0)
    assert policy(monthly=6).next_due(history, t + 60, 60) == at(2024, 6, 1, 0)
    # keep-last has no period: no opinion, the host's default schedule applies
    assert policy(last=5).next_due(history, t + 60, 60) is None
    assert policy(hourly=1).next_change(history, t) is None  # the clock alone changes nothing


# --- the run loop asks the policy -------------------------------------------------------


def _decision(tmp_path: Path, now: int, history: list[int], config: Config) -> Decision:
    """The run loop's decision at ``now`` on a destination holding ``history``."""
    dest, source = tmp_path / "dest", tmp_path / "source"
    for path in (dest, source):
        path.mkdir(exist_ok=True)
    for creation in history:
        (dest / naming.complete_name(creation, creation + 60)).mkdir(exist_ok=True)
    options = config._replace(dest_dir=str(dest), source_dir=str(source))
    host = load_host()
    clock = [float(now)]

    def measure(path: str) -> diskspace.DiskSpace:
        return diskspace.DiskSpace(100_000, 50_000, 50.0, 50.0)

    loop = RunLoop(options, host, lambda: options, clock=lambda: clock[0], measure=measure)
    return loop.decide()


@pytest.fixture
def gfs_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSSFRAME_PLUGINS", "gfs")


@pytest.mark.usefixtures("gfs_installed")
def test_run_loop_with_keep_hourly_snapshots_every_hour(tmp_path: Path) -> None:
    t = at(2024, 5, 7, 10, 0)
    gfs = Config(retention="gfs", plugins={"gfs": {"keep-hourly": 24}})
    decision = _decision(tmp_path, t + 120, [t - 3600, t], gfs)
    assert decision.action is Action.WAIT
    assert decision.next_snapshot == t + 3600  # not the 6 h of the dyadic defaults
    assert decision.until is not None and decision.until <= t + 3600
    assert _decision(tmp_path, t + 3600, [], gfs).action is Action.CREATE


@pytest.mark.usefixtures("gfs_installed")
def test_run_loop_with_dyadic_keeps_the_original_spacing(tmp_path: Path) -> None:
    t = at(2024, 5, 7, 10, 0)
    decision = _decision(tmp_path, t + 120, [t], Config())
    spacing = Config().unit_interval // (1 << (Config().num_intervals - 1))
    assert spacing == 6 * 3600
    assert decision.action is Action.WAIT
    assert decision.next_snapshot == t + 60 + spacing - 60
