"""``dss ls`` and ``dss prune`` on a destination written with original dss names."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from dssframe.core import naming
from dsstest import RunDss

DAY = 86400


def populate(dest: Path, now: int) -> dict[str, str]:
    """An original dss destination: every state plus junk that must stay untouched."""
    names = {
        "outdated": naming.complete_name(now - 40 * DAY, now - 40 * DAY + 600),
        "old": naming.complete_name(now - 13 * DAY, now - 13 * DAY + 3720),
        "mid1": naming.complete_name(now - 5 * DAY, now - 5 * DAY + 60),
        "mid2": naming.complete_name(now - 5 * DAY + 100, now - 5 * DAY + 200),
        "mid3": naming.complete_name(now - 5 * DAY + 300, now - 5 * DAY + 400),
        "new": naming.complete_name(now - 3600, now - 3000),
        "aborted": f"{now - 7 * DAY}-incomplete",
        "deleting": f"{now - 6 * DAY}-{now - 6 * DAY + 5}.being_deleted",
        "deleting_incomplete": f"{now - 9 * DAY}-incomplete.being_deleted",
    }
    for name in names.values():
        (dest / name).mkdir()
        (dest / name / "data").write_text(name)
    junk = {
        "lost+found": "dir",
        "notes.txt": "file",
        f"{now - DAY}-{now - DAY + 5}.": "dir",  # empty suffix
        f"{now + 10 * DAY}-incomplete": "dir",  # future
        f"{now - DAY}-{now - 2 * DAY}.Mon-Tue": "dir",  # inverted
        f"{now - 2 * DAY}-{now - 2 * DAY + 9}.link": "symlink",
        f"{now - 3 * DAY}-{now - 3 * DAY + 9}.file": "file",
        f"0{now - DAY}-incomplete": "dir",  # leading zero
        f"{now - DAY}-incomplete.bak": "dir",
    }
    for name, kind in junk.items():
        path = dest / name
        if kind == "dir":
            path.mkdir()
            (path / "keep").write_text("junk")
        elif kind == "file":
            path.write_text("junk")
        else:
            path.symlink_to(dest / names["new"])
    return names | {f"junk:{n}": n for n in junk}


def listing(dest: Path) -> dict[str, tuple[int, float]]:
    return {p.name: (p.lstat().st_mode, p.lstat().st_mtime) for p in dest.iterdir()}


def test_ls_lists_every_snapshot_state_oldest_first_and_no_junk(
    run_dss: RunDss, dest: Path
) -> None:
    now = int(time.time())
    names = populate(dest, now)
    before = listing(dest)
    result = run_dss("--dest-dir", str(dest), "ls", check=True)
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    expected = sorted(
        (n for k, n in names.items() if not k.startswith("junk:")),
        key=lambda n: naming.parse(n).creation,  # type: ignore[union-attr]
    )
    assert [row[1] for row in rows] == expected
    by_name = {row[1]: row for row in rows}
    assert by_name[names["old"]][0] == "3"  # 13 days / 4-day unit
    assert by_name[names["old"]][2] == "  1:02"
    assert by_name[names["new"]][2] == "  0:10"
    assert by_name[names["aborted"]][2] == "  0:00"
    assert listing(dest) == before  # ls touches nothing


def test_ls_json_records(run_dss: RunDss, dest: Path) -> None:
    now = int(time.time())
    names = populate(dest, now)
    result = run_dss("--dest-dir", str(dest), "--unit-interval", "1d", "ls", "--json", check=True)
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(records) == {n for k, n in names.items() if not k.startswith("junk:")}
    new = records[names["new"]]
    assert new["state"] == "complete"
    assert new["completion"] - new["creation"] == 600
    assert new["interval"] == 0
    assert new["reference"] == names["mid3"]
    assert records[names["aborted"]]["state"] == "incomplete"
    assert records[names["deleting"]]["state"] == "complete-being-deleted"
    assert records[names["outdated"]]["interval"] == 40


def test_prune_dry_run_then_prune_removes_exactly_the_plan(run_dss: RunDss, dest: Path) -> None:
    now = int(time.time())
    names = populate(dest, now)
    before = listing(dest)
    dry = run_dss("--dest-dir", str(dest), "--dry-run", "prune", check=True)
    assert listing(dest) == before
    victims = [line.split()[2].rstrip(":") for line in dry.stdout.splitlines()]
    lines = dry.stdout.splitlines()
    reasons = {line.split()[2].rstrip(":"): line.split(": ", 1)[1] for line in lines}
    # n=5, u=4d: interval 3 wants 2 (has 'old'), interval 1 wants 8 (has 3 mids):
    # nothing is redundant; 40 days is outdated; aborted (not newest) and the
    # interrupted removals are orphans.
    assert victims[0] == names["outdated"]
    assert reasons[names["outdated"]].startswith("outdated (interval 10)")
    assert set(victims) == {
        names["outdated"], names["aborted"], names["deleting"], names["deleting_incomplete"]
    }
    for key in ("aborted", "deleting", "deleting_incomplete"):
        assert reasons[names[key]].startswith("orphaned")

    run_dss("--dest-dir", str(dest), "prune", check=True)
    left = set(os.listdir(dest)) - {".dssframe"}  # the lock lives there
    assert left == set(before) - set(victims)
    for key, name in names.items():
        if key.startswith("junk:"):
            path = dest / name
            assert path.is_symlink() or (path / "keep").exists() or path.read_text() == "junk"


def test_prune_removes_redundant_smallest_gap_and_respects_max(
    run_dss: RunDss, dest: Path
) -> None:
    now = int(time.time())
    # n=2, u=1 day: interval 0 wants 2, interval 1 wants 1.
    creations = [now - 40 * 3600, now - 39 * 3600, now - 30 * 3600,  # interval 1: 3
                 now - 5000, now - 4000, now - 1000]  # interval 0: 3
    names = [naming.complete_name(c, c + 10) for c in creations]
    for name in names:
        (dest / name).mkdir()
    opts = ["--dest-dir", str(dest), "--unit-interval", "1", "--num-intervals", "2"]
    dry = run_dss(*opts, "--dry-run", "prune", check=True)
    victims = [line.split()[2].rstrip(":") for line in dry.stdout.splitlines()]
    # interval 1 (3 > 1): the 1 h gap goes first, then the 9 h gap; interval 0
    # (3 > 2): the 1000 s gap (now-4000).
    assert victims == [names[1], names[2], names[4]]
    assert all("redundant" in line for line in dry.stdout.splitlines())
    run_dss(*opts, "prune", "--max", "1", check=True)
    assert not (dest / names[1]).exists() and (dest / names[2]).exists()
    run_dss(*opts, "prune", check=True)
    left = sorted(set(os.listdir(dest)) - {".dssframe"})  # the lock lives there
    assert left == sorted([names[0], names[3], names[5]])


def test_prune_of_an_empty_dest_says_so(run_dss: RunDss, dest: Path) -> None:
    result = run_dss("--dest-dir", str(dest), "prune", check=True)
    assert "nothing to remove" in result.stderr


def test_ls_lines_are_byte_for_byte_the_originals() -> None:
    """``printf("%u\\t%s\\t%3d:%02d\\n", interval, name, hours, minutes)`` (dss.c com_ls),
    minutes = duration / 60, 0 for a snapshot that is not complete."""
    from dssframe.cli.plain import ls_line

    assert ls_line(0, "1-2.x", 61 * 60 + 59) + "\n" == "0\t1-2.x\t  1:01\n"
    assert ls_line(3, "5-incomplete", None) == "3\t5-incomplete\t  0:00"
    assert ls_line(12, "n", 59) == "12\tn\t  0:00"
    assert ls_line(1, "n", 123 * 3600 + 4 * 60) == "1\tn\t123:04"
    assert ls_line(1, "n", 1234 * 3600) == "1\tn\t1234:00"  # %3d pads, never cuts
    for hours in (0, 7, 99, 100, 999, 1000):
        for minutes in (0, 5, 59):
            original = "%u\t%s\t%3d:%02d\n" % (4, "name", hours, minutes)  # noqa: UP031
            assert ls_line(4, "name", hours * 3600 + minutes * 60 + 17) + "\n" == original
