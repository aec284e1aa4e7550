"""``dss explain NAME``: why a snapshot is kept or would be removed (core/explain.py,
the dyadic interval rows of core/dyadic.py, the command in cli/simulate_commands.py),
against real snapshot directories and real ``dss`` processes."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dssframe.core import dyadic, gate
from dssframe.core.explain import explain, neighbours
from dssframe.core.naming import SnapshotName, State
from dsstest import RunDss

DAY = 86400
HOUR = 3600
NOW = 1_700_000_000
MakeSnapshots = Callable[..., list[SnapshotName]]


def snap(creation: int) -> SnapshotName:
    return SnapshotName(f"{creation}-{creation + 10}.x", creation, creation + 10, State.COMPLETE)


# --- the interval rows: what the planner counts ---------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    ages=st.lists(
        st.integers(min_value=0, max_value=8 * DAY), min_size=0, max_size=60, unique=True
    ),
    n=st.integers(min_value=1, max_value=6),
)
def test_rows_count_what_the_planner_removes(ages: list[int], n: int) -> None:
    """With nothing protected, each interval's excess is exactly the number of its
    snapshots the planner calls redundant; held and carried follow SPEC §3."""
    snaps = sorted((snap(NOW - age) for age in ages), key=lambda s: s.creation)
    rows = dyadic.interval_rows(snaps, NOW, DAY, n)
    redundant = Counter(r.interval for r in dyadic.redundant(snaps, NOW, DAY, n, frozenset()))
    assert [r.interval for r in rows] == list(range(n))
    missing = 0
    for row in reversed(rows):
        assert row.desired == dyadic.desired(row.interval, n)
        assert row.held == sum(1 for a in ages if a // DAY == row.interval)
        assert (row.start, row.end) == (row.interval * DAY, (row.interval + 1) * DAY)
        assert row.carried == missing  # the deficit of every older interval, never used up
        missing += max(0, row.desired - row.held)
        assert row.excess == redundant.get(row.interval, 0)


# --- the core -------------------------------------------------------------------------


def screened(snaps: list[SnapshotName], n: int = 2, min_complete: int = 1) -> gate.Screened:
    plan = dyadic.plan(snaps, NOW, DAY, n, gate.never_chosen(snaps, (), ()))
    return gate.screen(plan, snaps, protected={}, min_complete=min_complete)


def test_neighbours_are_the_complete_snapshots_beside_it() -> None:
    a, b, c = snap(NOW - 300), snap(NOW - 200), snap(NOW - 50)
    aborted = SnapshotName(f"{NOW - 100}-incomplete", NOW - 100, None, State.INCOMPLETE)
    older, newer = neighbours([a, b, aborted, c], b)
    assert older is not None and newer is not None
    assert (older.name, older.gap, newer.name, newer.gap) == (a.name, 100, c.name, 150)
    assert neighbours([a], a) == (None, None)


def test_a_redundant_snapshot_and_the_newest() -> None:
    # n=2, u=1d: interval 1 wants 1 and holds 3; interval 0 wants 2 and holds 2.
    snaps = [snap(NOW - 40 * HOUR), snap(NOW - 39 * HOUR), snap(NOW - 30 * HOUR),
             snap(NOW - 5000), snap(NOW - 1000)]  # fmt: skip
    rows = dyadic.interval_rows(snaps, NOW, DAY, 2)
    plan = screened(snaps)
    doomed = explain(snaps[1], snaps, NOW, plan, policy="dyadic", rows=rows, bucket=1)
    assert doomed.verdict == "remove" and doomed.reason == "redundant (interval 1)"
    assert doomed.interval == rows[1] and rows[1].excess == 2
    text = "\n".join(doomed.lines())
    assert (
        "dyadic: interval 1 (age 1d to 2d): wants 1, holds 3, carried deficit 0 (may keep 1)"
        in text
    )
    assert f"1h after the older {snaps[0].name}; 9h before the newer {snaps[2].name}" in text
    newest = explain(snaps[-1], snaps, NOW, plan, policy="dyadic", rows=rows, bucket=0)
    assert newest.verdict == "keep" and newest.newest
    assert newest.why == "kept: it is the newest complete snapshot (never removed)"
    json.dumps(newest.to_json())


def test_the_gate_can_keep_what_the_plan_removes() -> None:
    snaps = [snap(NOW - 40 * HOUR), snap(NOW - 39 * HOUR), snap(NOW - 1000)]
    plan = screened(snaps, min_complete=3)
    kept = explain(snaps[1], snaps, NOW, plan, policy="dyadic",
                   rows=dyadic.interval_rows(snaps, NOW, DAY, 2))  # fmt: skip
    assert kept.verdict == "gate-keeps"
    assert kept.why.startswith("the plan removes it (redundant (interval 1)), but the removal gate")
    assert "min-complete = 3" in kept.why


def test_a_policy_without_explanations() -> None:
    snaps = [snap(NOW - 100), snap(NOW - 50)]
    plan = gate.screen([], snaps, protected={})
    told = explain(snaps[0], snaps, NOW, plan, policy="keep-newest")
    assert "  retention 'keep-newest' does not explain its choices" in told.lines()
    assert told.why == "kept: the plan does not remove it"


# --- the command ----------------------------------------------------------------------


def victims(run_dss: RunDss, *opts: str) -> set[str]:
    dry = run_dss(*opts, "--dry-run", "prune", check=True).stdout
    return {line.split()[2].rstrip(":") for line in dry.splitlines() if line.startswith("would")}


def test_explain_agrees_with_prune(
    run_dss: RunDss, dss_make_snapshots: MakeSnapshots, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    now = int(time.time())
    ages = [40 * HOUR, 39 * HOUR, 30 * HOUR, 5000, 4000, 1000, 3 * DAY]
    made = dss_make_snapshots(dest, sorted(now - a for a in ages), duration=10)
    made.append(dss_make_snapshots(dest, [(now - 500, None)])[0])  # aborted, resumable
    opts = ["--dest-dir", str(dest), "--unit-interval", "1", "--num-intervals", "2"]
    doomed = victims(run_dss, *opts)
    assert len(doomed) == 4  # the outdated one, two of interval 1, one of interval 0
    for snapshot in made:
        out = run_dss(*opts, "explain", snapshot.name, "--json", check=True).stdout
        document = json.loads(out)
        assert out.startswith('{\n  "name"')
        assert (document["verdict"] == "remove") == (snapshot.name in doomed), document
    oldest = json.loads(run_dss(*opts, "explain", made[0].name, "--json", check=True).stdout)
    assert oldest["reason"] == "outdated (interval 3)" and oldest["interval"] is None
    text = run_dss(*opts, "explain", made[2].name, check=True).stdout.splitlines()
    assert text[0] == made[2].name
    assert text[1] == "  state: complete, created 1d 15h ago, took 10s"
    assert (
        text[2]
        == "  dyadic: interval 1 (age 1d to 2d): wants 1, holds 3, carried deficit 0 (may keep 1)"
    )
    assert text[3].startswith("  gaps: 1h after the older ") and "9h before the newer" in text[3]
    assert text[4] == "  verdict: dss prune would remove it: redundant (interval 1)"
    by_epoch = run_dss(*opts, "explain", str(made[-1].creation), check=True).stdout
    assert "state: incomplete" in by_epoch and "the next create resumes it" in by_epoch
    # read-only: nothing removed, no lock taken
    assert sorted(p.name for p in dest.iterdir() if p.name != ".dssframe") == sorted(
        s.name for s in made
    )


def test_a_pinned_snapshot_is_kept_and_another_goes(
    run_dss: RunDss, dss_make_snapshots: MakeSnapshots, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    now = int(time.time())
    made = dss_make_snapshots(dest, [now - 40 * HOUR, now - 39 * HOUR, now - 1000], duration=10)
    opts = ["--dest-dir", str(dest), "--unit-interval", "1", "--num-intervals", "2"]
    assert victims(run_dss, *opts) == {made[1].name}  # the smallest gap
    run_dss(*opts, "pin", made[1].name, check=True)
    pinned = run_dss(*opts, "explain", made[1].name, check=True).stdout
    assert "verdict: kept: it is pinned" in pinned
    assert victims(run_dss, *opts) == {made[0].name}
    assert "verdict: dss prune would remove it" in run_dss(*opts, "explain", made[0].name).stdout


def test_min_complete_keeps_through_the_gate(
    run_dss: RunDss, dss_make_snapshots: MakeSnapshots, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    now = int(time.time())
    made = dss_make_snapshots(dest, [now - 30 * DAY, now - 100])
    config = tmp_path / "dss.toml"
    config.write_text(f'dest-dir = "{dest}"\nmin-complete = 2\n')
    document = json.loads(run_dss("-c", str(config), "explain", made[0].name, "--json",
                                  check=True).stdout)  # fmt: skip
    assert document["verdict"] == "gate-keeps"
    assert document["reason"].startswith("outdated (interval 7)")
    assert "min-complete = 2" in document["why"]


def test_an_unknown_name_is_a_usage_error(
    run_dss: RunDss, dss_make_snapshots: MakeSnapshots, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dss_make_snapshots(dest, [int(time.time()) - 100])
    result = run_dss("--dest-dir", str(dest), "explain", "1234-5678.nope")
    assert result.returncode == 2
    assert result.stderr == f"dss: error: no snapshot '1234-5678.nope' in {dest}\n"


def test_gfs_explains_its_rules(
    run_dss: RunDss, dss_make_snapshots: MakeSnapshots, tmp_path: Path
) -> None:
    pytest.importorskip("dssframe_gfs")
    dest = tmp_path / "dest"
    now = int(time.time())
    now -= now % DAY  # midnight UTC: the days below are whole
    made = dss_make_snapshots(dest, [now - 3 * DAY + HOUR, now - 2 * DAY + HOUR,
                                     now - DAY + HOUR, now - DAY + 2 * HOUR])  # fmt: skip
    config = tmp_path / "dss.toml"
    config.write_text(f'dest-dir = "{dest}"\nretention = "gfs"\n[plugins.gfs]\nkeep-daily = 2\n')
    env = {**os.environ, "TZ": "UTC"}

    def explained(name: str) -> str:
        return run_dss("-c", str(config), "explain", name, env=env, check=True).stdout

    newest = explained(made[-1].name)
    assert "  gfs rules: daily #1" in newest
    assert "verdict: kept: it is the newest complete snapshot" in newest
    assert "  gfs rules: daily #2" in explained(made[1].name)
    same_day = explained(made[2].name)  # the older of the newest day's two
    assert "  gfs rules: none keeps it" in same_day
    assert "verdict: dss prune would remove it: redundant: not kept by any rule" in same_day
    first = explained(made[0].name)
    assert "gfs rules: none keeps it" in first and "would remove it" in first


def test_a_policy_that_cannot_explain(
    run_dss: RunDss, dss_make_snapshots: MakeSnapshots, tmp_path: Path
) -> None:
    example = Path(__file__).resolve().parent.parent / "docs" / "examples" / "dss-example"
    dest = tmp_path / "dest"
    now = int(time.time())
    made = dss_make_snapshots(dest, [now - 300, now - 200, now - 100])
    config = tmp_path / "dss.toml"
    config.write_text(
        f'dest-dir = "{dest}"\nretention = "keep-newest"\n[plugins.keepnewest]\ncount = 2\n'
    )
    env = {**os.environ, "PYTHONPATH": str(example)}
    args = ["-p", "keepnewest", "-c", str(config), "explain"]
    doomed = run_dss(*args, made[0].name, env=env, check=True).stdout.splitlines()
    assert "  retention 'keep-newest' does not explain its choices" in doomed
    assert doomed[-1] == "  verdict: dss prune would remove it: redundant: beyond keep-newest"
    kept = run_dss(*args, made[1].name, env=env, check=True).stdout
    assert "verdict: kept: the plan does not remove it" in kept
