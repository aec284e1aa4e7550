"""``dss restore --json`` (issue 13): one JSON document saying what was restored --
snapshot, target, paths, the safety snapshot taken, whether it became current -- and,
for a dry run, every change the restore would make. Real rsync, real ``dss``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dsstest import RunDss, complete, tree_state

pytestmark = pytest.mark.usefixtures("rsync")


def opts(source: Path, dest: Path) -> list[str]:
    return ["--source-dir", f"{source}/", "--dest-dir", str(dest)]


def restore_json(run_dss: RunDss, *args: str) -> dict[str, Any]:
    result = run_dss(*args, "--json", check=True)
    assert result.stdout.startswith('{\n  "snapshot": ')  # two-space indent
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_dry_run_into_a_new_target_lists_every_change(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    o = opts(source, dest)
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    target = tmp_path / "elsewhere"
    human = run_dss(*o, "restore", snapshot.name, "-t", str(target), "--dry-run", check=True)
    document = restore_json(run_dss, *o, "restore", snapshot.name, "-t", str(target),
                            "--dry-run")  # fmt: skip
    assert not target.exists()
    changes = document.pop("changes")
    assert document == {
        "snapshot": snapshot.name,
        "target": f"{target}/",
        "paths": [],
        "dry_run": True,
        "safety_snapshot": None,
        "safety_snapshot_planned": False,  # another target: no safety snapshot
        "current": False,
        "counts": {"create": len(changes), "change": 0, "delete": 0},
        "notes": [],
    }
    assert isinstance(changes, list)
    assert {"kind": "create", "path": "a.txt"} in [
        {"kind": c["kind"], "path": c["path"]} for c in changes
    ]
    assert all(c["item"] for c in changes)  # rsync's itemize code
    # the human dry run lists the same changes
    assert [f"{c['kind']} {c['path']}" for c in changes] == human.stdout.splitlines()[:-1]


def test_restoring_the_source_names_the_safety_snapshot(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    o = opts(source, dest)
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    wanted = tree_state(snapshot, mtimes=False)
    (source / "a.txt").write_text("changed\n")
    (source / "extra").write_text("new\n")
    before = tree_state(source)
    dry = restore_json(run_dss, *o, "restore", snapshot.name, "--dry-run")
    assert tree_state(source) == before and len(complete(dest)) == 1
    assert dry["dry_run"] is True and dry["current"] is True
    assert dry["safety_snapshot"] is None and dry["safety_snapshot_planned"] is True
    kinds = {(c["kind"], c["path"]) for c in dry["changes"]}
    assert {("change", "a.txt"), ("delete", "extra")} <= kinds
    assert dry["counts"] == {
        kind: sum(c["kind"] == kind for c in dry["changes"])
        for kind in ("create", "change", "delete")
    }
    assert f"{snapshot.name} would become current" in dry["notes"]

    done = restore_json(run_dss, *o, "restore", snapshot.name)
    first, safety = complete(dest)
    assert done == {
        "snapshot": snapshot.name,
        "target": f"{source}/",
        "paths": [],
        "dry_run": False,
        "safety_snapshot": safety.name,
        "safety_snapshot_planned": False,
        "current": True,
        "changes": None,
        "counts": None,
        "notes": done["notes"],
    }
    assert tree_state(source, mtimes=False) == wanted
    assert (safety / "extra").read_text() == "new\n"  # the state before the restore


def test_chosen_paths_without_a_safety_snapshot(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    o = opts(source, dest)
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    (source / "sub" / "deeper" / "c.txt").unlink()
    document = restore_json(
        run_dss, *o, "restore", snapshot.name, "sub/deeper", "--no-safety-snapshot", "--force"
    )
    assert document["paths"] == ["sub/deeper"]
    assert document["safety_snapshot"] is None and document["current"] is False
    assert (source / "sub" / "deeper" / "c.txt").read_text() == "gamma\n"
    assert len(complete(dest)) == 1


def test_an_error_is_one_line_and_no_document(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    o = opts(source, dest)
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    target = tmp_path / "full"
    target.mkdir()
    (target / "mine").write_text("keep\n")
    result = run_dss(*o, "restore", snapshot.name, "-t", str(target), "--json")
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "--force" in result.stderr
