"""``dss prune --json`` (issue 13): one JSON document for the dry run and the real run
-- every planned removal with its reason and outcome, what the removal gate kept, and
(dry run, a policy that explains itself) the rules that keep each snapshot. Real
``dss`` processes on real destinations; the human output is unchanged without it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from dssframe.core import naming
from dsstest import RunDss

DAY = 86400


@pytest.fixture
def dest(dest: Path) -> Path:
    dest.chmod(0o700)  # no warning about a destination others can read
    return dest


def make(dest: Path, creation: int, duration: int = 60) -> str:
    name = naming.complete_name(creation, creation + duration)
    (dest / name).mkdir()
    (dest / name / "data").write_text(name)
    return name


def names_in(dest: Path) -> set[str]:
    return set(os.listdir(dest)) - {".dssframe"}


def test_dry_run_json_is_the_plan_and_touches_nothing(run_dss: RunDss, dest: Path) -> None:
    now = int(time.time())
    outdated = make(dest, now - 40 * DAY)
    aborted = f"{now - 7 * DAY}-incomplete"
    (dest / aborted).mkdir()
    newest = make(dest, now - 3600)
    before = names_in(dest)
    human = run_dss("--dest-dir", str(dest), "--dry-run", "prune", check=True)
    result = run_dss("--dest-dir", str(dest), "prune", "--dry-run", "--json", check=True)
    assert names_in(dest) == before
    assert result.stderr == ""
    assert result.stdout.startswith('{\n  "dry_run": true,\n')  # two-space indent
    document = json.loads(result.stdout)
    assert document == {
        "dry_run": True,
        "removals": [
            {
                "name": outdated,
                "reason": "outdated",
                "interval": 10,
                "detail": document["removals"][0]["detail"],
                "text": document["removals"][0]["text"],
                "removed": False,
                "vetoed": False,
                "error": None,
            },
            {
                "name": aborted,
                "reason": "orphaned",
                "interval": None,
                "detail": "aborted, not resumable",
                "text": "orphaned: aborted, not resumable",
                "removed": False,
                "vetoed": False,
                "error": None,
            },
        ],
        "kept_by_gate": [],
        "keep": None,  # dyadic does not explain itself
    }
    # the same plan, the same texts, as the human dry run
    lines = [f"would remove {r['name']}: {r['text']}" for r in document["removals"]]
    assert human.stdout.splitlines() == lines
    assert newest in before


def test_real_run_json_reports_each_outcome_and_exit_1_on_a_failure(
    run_dss: RunDss, dest: Path
) -> None:
    now = int(time.time())
    stuck = make(dest, now - 40 * DAY)
    blocked = naming.being_deleted_name(naming.parse(stuck))  # type: ignore[arg-type]
    (dest / blocked).write_text("a file where the rename must go")  # removal fails
    other = f"{now - 39 * DAY}-incomplete"
    (dest / other).mkdir()
    make(dest, now - 3600)
    result = run_dss("--dest-dir", str(dest), "prune", "--json")
    assert result.returncode == 1
    *logged, summary = result.stderr.splitlines()  # the log notifier may log the event
    assert summary.startswith("dss: error: 1 removal(s) failed; first: ")
    assert not any(line.startswith(("removed ", "kept ", "nothing ")) for line in logged)
    document = json.loads(result.stdout)
    assert document["dry_run"] is False
    by_name = {r["name"]: r for r in document["removals"]}
    assert by_name[stuck]["removed"] is False and by_name[stuck]["error"]
    assert by_name[stuck]["error"] in result.stderr
    assert (by_name[other]["removed"], by_name[other]["vetoed"], by_name[other]["error"]) == (
        True, False, None,
    )  # fmt: skip
    assert not (dest / other).exists() and (dest / stuck).exists()
    assert document["keep"] is None


def test_a_vetoed_removal_is_not_removed_and_not_an_error(
    run_dss: RunDss, dest: Path, tmp_path: Path
) -> None:
    now = int(time.time())
    outdated = make(dest, now - 40 * DAY)
    make(dest, now - 3600)
    config = tmp_path / "config.toml"
    config.write_text(f'dest-dir = "{dest}"\npre-remove-hook = "/bin/false"\n')
    result = run_dss("-c", str(config), "prune", "--json", check=True)
    (removal,) = json.loads(result.stdout)["removals"]
    assert removal["name"] == outdated
    assert (removal["removed"], removal["vetoed"], removal["error"]) == (False, True, None)
    assert (dest / outdated).exists()


def test_what_the_gate_keeps_is_listed_with_why(
    run_dss: RunDss, dest: Path, tmp_path: Path
) -> None:
    """Three outdated complete snapshots and min-complete = 3: the policy proposes the
    two older ones (never the newest), the gate keeps both."""
    now = int(time.time())
    old = [make(dest, now - days * DAY) for days in (50, 45, 40)]
    config = tmp_path / "config.toml"
    config.write_text(f'dest-dir = "{dest}"\nmin-complete = 3\n')
    human = run_dss("-c", str(config), "prune", check=True)
    result = run_dss("-c", str(config), "prune", "--json", check=True)
    document = json.loads(result.stdout)
    assert document["removals"] == []
    kept = document["kept_by_gate"]
    assert [k["name"] for k in kept] == old[:2]
    for entry in kept:
        assert entry["reason"] == "outdated"
        assert entry["why"] == "only 3 complete snapshot(s) would be left (min-complete = 3)"
        assert f"kept {entry['name']}: {entry['why']} (removal gate)" in human.stderr
    assert result.stderr == ""
    assert names_in(dest) == set(old)


def test_an_explaining_policy_says_what_keeps_each_snapshot(
    run_dss: RunDss, dest: Path, tmp_path: Path
) -> None:
    """gfs (plugins/gfs, installed with the suite) explains its plan: every complete
    snapshot with the rules that keep it, an empty list for the ones it lets go."""
    pytest.importorskip("dssframe_gfs")
    now = int(time.time())
    older, newer = make(dest, now - 7200), make(dest, now - 3600)
    config = tmp_path / "config.toml"
    config.write_text(
        f'dest-dir = "{dest}"\nretention = "gfs"\n[plugins.gfs]\nkeep-last = 1\n'
    )
    human = run_dss("-c", str(config), "--dry-run", "prune", check=True)
    document = json.loads(run_dss("-c", str(config), "--dry-run", "prune", "--json",
                                  check=True).stdout)  # fmt: skip
    assert [r["name"] for r in document["removals"]] == [older]
    assert document["keep"] == {older: [], newer: ["last #1"]}
    assert f"keep {newer}: last #1" in human.stdout.splitlines()
    real = json.loads(run_dss("-c", str(config), "prune", "--json", check=True).stdout)
    assert real["keep"] is None and real["removals"][0]["removed"] is True
    assert names_in(dest) == {newer}


def test_nothing_to_remove_is_an_empty_document(run_dss: RunDss, dest: Path) -> None:
    result = run_dss("--dest-dir", str(dest), "prune", "--json", check=True)
    assert json.loads(result.stdout) == {
        "dry_run": False, "removals": [], "kept_by_gate": [], "keep": None,
    }  # fmt: skip
    assert result.stderr == ""
