"""``dss simulate``: the run loop's decisions over simulated time (core/simulate.py)
and the command (cli/simulate_commands.py), with no file touched."""

from __future__ import annotations

import json
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from dssframe.builtin.dyadic_retention import DyadicRetention
from dssframe.core import schedule
from dssframe.core.config import Config
from dssframe.core.dyadic import desired
from dssframe.core.naming import SnapshotName, State
from dssframe.core.retention import Reason, Removal
from dssframe.core.simulate import (
    FixedSchedule,
    Result,
    default_span,
    report,
    sample_times,
    simulate,
)
from dsstest import RunDss, snapshots

DAY = 86400
T0 = 1_700_000_000
MakeSnapshots = Callable[..., list[SnapshotName]]


def dyadic(
    unit: int = DAY, n: int = 5, keep_redundant: bool = False
) -> tuple[DyadicRetention, schedule.Settings]:
    config = Config(unit_interval=unit, num_intervals=n)
    s = schedule.Settings(unit=unit, num_intervals=n, keep_redundant=keep_redundant)
    return DyadicRetention(config), s


def snap(creation: int, completion: int | None = None) -> SnapshotName:
    if completion is None:
        return SnapshotName(f"{creation}-incomplete", creation, None, State.INCOMPLETE)
    return SnapshotName(f"{creation}-{completion}.x", creation, completion, State.COMPLETE)


class RemoveAllButNewest:
    """A policy that is not a SchedulingPolicy and wants every complete snapshot gone
    (the gate must keep the newest and min-complete)."""

    name = "greedy"

    def interval(self, snapshot: SnapshotName, now: int) -> int | None:
        return None

    def plan(
        self, snapshots: Sequence[SnapshotName], now: int, protected: frozenset[int]
    ) -> list[Removal]:
        return [Removal(s, Reason.REDUNDANT, None, "greedy") for s in snapshots if s.complete]


def reference_run(
    policy: DyadicRetention, s: schedule.Settings, start: int, end: int, duration: int
) -> list[int]:
    """The plain run loop of tests/test_schedule.py: the creations, in order."""
    snaps: list[SnapshotName] = []
    created = []
    now = start
    while now <= end:
        d = schedule.decide(now, snaps, policy, s, schedule.Activity())
        if d.action is schedule.Action.CREATE:
            snaps.append(snap(now, now + duration))
            created.append(now)
            now += duration
        elif d.action is schedule.Action.REMOVE:
            assert d.removal is not None
            snaps.remove(d.removal.snapshot)
        else:
            assert d.until is not None
            now = d.until
    return created


# --- the core -------------------------------------------------------------------------


def test_dyadic_reaches_its_steady_shape() -> None:
    policy, s = dyadic()
    result = simulate(policy, s, T0, T0 + default_span(policy, s))
    assert default_span(policy, s) == 2 * 5 * DAY
    rows = policy.interval_rows(result.snapshots, result.settled)
    assert [r.held for r in rows] == [desired(k, 5) for k in range(5)] == [16, 8, 4, 2, 1]
    assert len(result.held) == 31
    assert result.mean_spacing == s.spacing
    assert sum(result.removed.values()) == len(result.created) - 31
    assert set(result.removed) == {"outdated", "redundant"}
    # warm-up carries deficits (SPEC §3), so a few more than 2**n - 1 at times
    assert 31 < result.max_held <= 35
    # every sample: nothing older than n*u but for a moment while a copy runs
    for frame in result.frames:
        assert all(age < 5 * DAY + 60 for age in frame.ages)


def test_creations_are_those_of_the_plain_run_loop() -> None:
    policy, s = dyadic(unit=6 * 3600, n=4)
    result = simulate(policy, s, T0, T0 + 20 * DAY, duration=120)
    assert result.created == reference_run(policy, s, T0, T0 + 20 * DAY, 120)


def test_frames_sample_start_to_end() -> None:
    assert sample_times(0, 100, 5) == [0, 25, 50, 75, 100]
    assert sample_times(0, 100, 1) == [100]
    policy, s = dyadic()
    end = T0 + 3 * DAY + 1000  # idle at the end: the last frame is the end state
    result = simulate(policy, s, T0, end, samples=7)
    assert [f.time for f in result.frames] == sample_times(T0, end, 7)
    assert result.frames[0].ages == ()  # nothing yet at the start
    assert result.settled == end
    assert result.frames[-1].ages == tuple(end - x.creation for x in result.held)
    assert set(result.frames[-1].groups) == {f"interval {k}" for k in range(4)}


def test_the_gate_keeps_the_newest_and_min_complete() -> None:
    s = schedule.Settings(unit=DAY, num_intervals=5, min_complete=3)
    result = simulate(RemoveAllButNewest(), s, T0, T0 + 10 * DAY, samples=50)
    assert len(result.held) == 3
    assert [f for f in result.frames[10:] if len(f.ages) < 3] == []
    assert result.held[-1].creation == result.created[-1]  # the newest is never removed
    # no idle wake-up every minute for a policy without next_change: few decisions
    assert result.decisions < 10 * len(result.created) + 100


def test_keep_redundant_removes_only_outdated() -> None:
    policy, s = dyadic(keep_redundant=True)
    result = simulate(policy, s, T0, T0 + 12 * DAY)
    assert set(result.removed) == {"outdated"}
    assert len(result.held) == 5 * DAY // s.spacing  # every snapshot of the horizon


def test_every_replaces_the_schedule() -> None:
    policy, s = dyadic()
    result = simulate(policy, s, T0, T0 + 30 * DAY, every=DAY, duration=600)
    gaps = {b - a for a, b in zip(result.created, result.created[1:], strict=False)}
    assert gaps == {DAY}
    assert isinstance(FixedSchedule(policy, DAY).next_change([], T0), int | None)


def test_pins_hold_and_an_aborted_copy_is_resumed() -> None:
    policy, s = dyadic(n=3)
    old, orphan, aborted = snap(T0 - 2 * DAY, T0 - 2 * DAY + 60), snap(T0 - DAY), snap(T0 - 60)
    initial = [old, orphan, aborted]
    result = simulate(
        policy, s, T0, T0 + 10 * DAY, initial=initial, pinned=frozenset({old.creation})
    )
    assert old in result.snapshots  # outdated after a day, but pinned
    assert orphan not in result.snapshots and aborted not in result.snapshots
    assert result.created[0] == T0  # the aborted copy is resumed at once
    assert result.removed["orphaned"] == 1


def test_report_is_the_end_state() -> None:
    policy, s = dyadic()
    result = simulate(policy, s, T0, T0 + 10 * DAY)
    document = report(result, policy)
    json.dumps(document)  # plain data
    assert document["totals"]["held"] == len(document["snapshots"]) == 31
    assert [row["desired"] for row in document["intervals"]] == [16, 8, 4, 2, 1]
    assert sum(row["held"] for row in document["intervals"]) == 31
    assert document["horizon"] == 5 * DAY
    for snap in document["snapshots"]:
        assert snap["age"] == result.settled - snap["creation"]
        assert snap["bucket"] == snap["age"] // DAY


@pytest.fixture
def utc() -> Iterator[None]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


@pytest.mark.usefixtures("utc")
def test_any_policy_through_the_plugin_host(
    dss_plugin_host: object, dss_config: Callable[..., Config]
) -> None:
    """gfs (an installed plugin) owns its schedule and explains its choices."""
    pytest.importorskip("dssframe_gfs")
    config = dss_config(retention="gfs", plugins={"gfs": {"keep-hourly": 24, "keep-daily": 7}})
    policy = dss_plugin_host.retention(config._replace(keep_redundant=False))  # type: ignore[attr-defined]
    s = schedule.Settings.from_config(config)
    start = T0 - T0 % 3600
    result: Result = simulate(policy, s, start, start + 10 * DAY, samples=20)
    assert len(result.created) == 10 * 24 + 1  # one per hour
    assert 24 + 7 <= len(result.held) <= 24 + 7 + 1
    document = report(result, policy)
    assert document["intervals"] is None
    rules = [snap["rules"][0].split()[0] for snap in document["snapshots"]]
    assert set(rules) == {"hourly", "daily"}
    assert {"hourly", "daily"} <= set(result.frames[-1].groups)


# --- the command ----------------------------------------------------------------------


def test_simulate_defaults_to_twice_the_horizon(run_dss: RunDss) -> None:
    out = run_dss("simulate", "--json", check=True).stdout
    document = json.loads(out)
    assert out.startswith('{\n  "policy": "dyadic"')  # two-space indent
    assert document["settings"]["days"] == 40
    assert document["totals"]["created"] == 40 * 4 + 1
    assert document["totals"]["held"] == 31
    assert [row["held"] for row in document["intervals"]] == [16, 8, 4, 2, 1]
    text = run_dss("simulate", check=True).stdout
    assert 'simulated 40d of retention "dyadic" from no snapshots' in text
    assert "created 161, removed 130" in text and "31 at the end" in text
    rows = [line.split() for line in text.splitlines() if re.match(r"\s+\d\s+\d", line)]
    assert [row[0] for row in rows] == ["0", "1", "2", "3", "4"]
    assert [row[4:6] for row in rows][:2] == [["16", "16"], ["8", "8"]]


def test_simulate_options(run_dss: RunDss, tmp_path: Path) -> None:
    out = run_dss("--unit-interval", "8h", "--num-intervals", "4", "simulate", "--days", "365",
                  "--json", check=True).stdout  # fmt: skip
    totals = json.loads(out)["totals"]
    assert totals["created"] == 365 * 24 + 1 and totals["held"] == 15
    out = run_dss("simulate", "--every", "1d", "--days", "10", "--duration", "2h", "--json",
                  check=True).stdout  # fmt: skip
    document = json.loads(out)
    assert document["totals"]["mean_spacing"] == DAY
    assert document["settings"]["duration"] == 7200
    bad = run_dss("simulate", "--every", "soon")
    assert bad.returncode == 2 and "--every 'soon'" in bad.stderr
    unitless = run_dss("simulate", "--duration", "90")
    assert unitless.returncode == 2 and "give a unit" in unitless.stderr
    assert run_dss("simulate", "--days", "0").returncode == 2


def test_simulate_svg(run_dss: RunDss, tmp_path: Path) -> None:
    svg = tmp_path / "out" / "ages.svg"
    result = run_dss("simulate", "--days", "10", "--unit-interval", "1d", "--svg", str(svg),
                     "--samples", "30", check=True)  # fmt: skip
    dots = int(re.search(r"wrote .* \((\d+) dots, 30 samples\)", result.stderr).group(1))  # type: ignore[union-attr]
    root = ET.fromstring(svg.read_text())
    assert len(list(root.iter("{http://www.w3.org/2000/svg}circle"))) == dots > 100
    assert [p.name for p in svg.parent.iterdir()] == ["ages.svg"]  # no temporary left


def test_simulate_from_the_destination_touches_nothing(
    run_dss: RunDss, dss_make_snapshots: MakeSnapshots, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    now = int(time.time())
    made = dss_make_snapshots(dest, [now - 30 * DAY, now - 3 * DAY, now - DAY, now - 3600])
    run_dss("--dest-dir", str(dest), "pin", made[0].name, check=True)

    def state() -> list[tuple[str, int]]:
        return sorted((str(p), p.lstat().st_mtime_ns) for p in dest.rglob("*"))

    before = state()
    out = run_dss("--dest-dir", str(dest), "simulate", "--from-dest", "--days", "30", "--json",
                  check=True).stdout  # fmt: skip
    assert state() == before
    document = json.loads(out)
    assert document["settings"]["from_dest"] == 4 and document["settings"]["pinned"] == 1
    kept = {snap["creation"] for snap in document["snapshots"]}
    assert made[0].creation in kept  # pinned: kept although long outdated
    assert made[1].creation not in kept  # outdated after 17 more days
    assert [s.name for s in snapshots(dest)] == [s.name for s in made]
    text = run_dss("--dest-dir", str(dest), "simulate", "--from-dest", check=True).stdout
    assert "from the destination's 4 snapshot(s)" in text


def test_simulate_gfs_from_the_config_file(run_dss: RunDss, tmp_path: Path) -> None:
    pytest.importorskip("dssframe_gfs")
    config = tmp_path / "dss.toml"
    config.write_text('retention = "gfs"\n[plugins.gfs]\nkeep-hourly = 6\nkeep-daily = 3\n')
    env = {**os.environ, "TZ": "UTC"}
    out = run_dss("-c", str(config), "simulate", "--days", "5", "--json", env=env, check=True)
    document = json.loads(out.stdout)
    assert document["policy"] == "gfs" and document["intervals"] is None
    assert 6 + 3 <= document["totals"]["held"] <= 6 + 3 + 1
    text = run_dss("-c", str(config), "simulate", "--days", "5", env=env, check=True).stdout
    # hourly from the first full hour on (the first one is made at once)
    assert re.search(r"schedule: the policy's, as in dss run, a snapshot every (1h|59m \d+s)", text)
    assert re.search(r"^\s+\S+ \S+: daily #3$", text, re.M), text
