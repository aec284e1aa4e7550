"""The metadata document beside each snapshot: written at create, atomic, never inside
the snapshot, ignored as a snapshot name, reported (never fatal) when missing or
corrupt, rebuilt by ``dss adopt``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dssframe.builtin.rsync.stats import parse_rsync_stats
from dssframe.core import naming
from dssframe.store import metadata
from dssframe.store.current import Current, current_creation
from dssframe.store.metadata import Link, Metadata
from dsstest import RunDss, complete, tree_state

LOG = """\
2026/11/25 21:54:18 [32121] building file list
2026/11/25 21:54:18 [32121] Number of files: 1 (reg: 1)
2026/11/25 21:54:18 [32121] Total file size: 9 bytes
2026/11/25 21:54:19 [32122] building file list
2026/11/25 21:54:19 [32122] Number of files: 20,201 (reg: 20,000, dir: 201)
2026/11/25 21:54:19 [32122] Number of created files: 301 (reg: 300, dir: 1)
2026/11/25 21:54:19 [32122] Number of deleted files: 0
2026/11/25 21:54:19 [32122] Number of regular files transferred: 300
2026/11/25 21:54:19 [32122] Total file size: 283,118,210 bytes
2026/11/25 21:54:19 [32122] Total transferred file size: 3,631,647 bytes
2026/11/25 21:54:19 [32122] Literal data: 3,631,647 bytes
2026/11/25 21:54:19 [32122] Matched data: 0 bytes
2026/11/25 21:54:19 [32122] File list size: 0
2026/11/25 21:54:19 [32122] Total bytes sent: 1.23M
2026/11/25 21:54:19 [32122] Total bytes received: 6,015
2026/11/25 21:54:19 [32122] sent 1,234,567 bytes  received 6,015 bytes  1.00 bytes/sec
"""


def test_stats_of_the_last_run_in_an_rsync_log() -> None:
    assert parse_rsync_stats(LOG) == {
        "files": 20201,
        "created_files": 301,
        "deleted_files": 0,
        "regular_files_transferred": 300,
        "total_size": 283118210,
        "transferred_size": 3631647,
        "literal_data": 3631647,
        "matched_data": 0,
        "bytes_sent": 1230000,
        "bytes_received": 6015,
    }
    assert parse_rsync_stats("rsync: nothing here\n") == {}


def test_round_trip_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    doc = Metadata(
        creation=1700000000, name="1700000000-1700000060.x", completion=1700000060,
        parent=Link(1600000000, "1600000000-1600000060.y"), stats={"files": 3},
        versions={"dssframe": "0.1.0"}, restores=({"time": 1, "target": "/s/"},),
    )
    path = metadata.write(str(tmp_path), doc)
    assert path == str(tmp_path / ".dssframe" / "meta" / "1700000000.json")
    loaded = metadata.load(str(tmp_path), 1700000000)
    assert loaded.status == "ok" and loaded.metadata == doc
    metadata.write(str(tmp_path), doc)  # replace
    assert os.listdir(tmp_path / ".dssframe" / "meta") == ["1700000000.json"]
    assert metadata.keys(str(tmp_path)) == {1700000000}
    assert naming.parse(".dssframe") is None  # never a snapshot name


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "Expecting"),
        ("[]", "not a JSON object"),
        ('{"creation": "1", "name": "x"}', "creation: expected an integer"),
        ('{"creation": 5, "name": "x"}', "holds creation 5"),
        ('{"creation": 7, "name": "x", "parent": {"creation": true}}', "parent: expected"),
        ('{"creation": 7, "name": "x", "schema": 99}', "unsupported schema"),
        ("\udcff", ""),
    ],
)
def test_corrupt_documents_are_reported_not_raised(tmp_path: Path, text: str, problem: str) -> None:
    meta = tmp_path / ".dssframe" / "meta"
    meta.mkdir(parents=True)
    (meta / "7.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    loaded = metadata.load(str(tmp_path), 7)
    assert loaded.status == "corrupt" and loaded.metadata is None
    assert loaded.problem is not None and problem in loaded.problem
    assert metadata.load(str(tmp_path), 8).status == "missing"


def test_forget_re_points_children_to_the_grandparent(tmp_path: Path) -> None:
    d = str(tmp_path)
    metadata.write(d, Metadata(1, "1-2.a"))
    metadata.write(d, Metadata(3, "3-4.b", parent=Link(1, "1-2.a")))
    metadata.write(d, Metadata(5, "5-6.c", parent=Link(3, "3-4.b"), reference=Link(3, "3-4.b")))
    metadata.write(d, Metadata(7, "7-8.d", parent=Link(3, "3-4.b")))
    metadata.forget(d, 3)
    assert metadata.keys(d) == {1, 5, 7}
    for creation in (5, 7):
        meta = metadata.load(d, creation).metadata
        assert meta is not None and meta.parent == Link(1, "1-2.a")
    kept = metadata.load(d, 5).metadata
    assert kept is not None and kept.reference == Link(3, "3-4.b")  # history stays
    metadata.forget(str(tmp_path / "nowhere"), 1)  # no metadata dir: nothing to do


def test_current_marker_applies_until_a_newer_snapshot_completes() -> None:
    marker = Current(10, "10-11.x", restored_at=100)
    assert current_creation(marker, [(10, 11), (50, 99)]) == 10
    assert current_creation(marker, [(10, 11), (50, 100)]) == 10
    assert current_creation(marker, [(10, 11), (100, 101)]) is None
    assert current_creation(marker, [(50, 60)]) is None  # restored one is gone
    assert current_creation(None, [(10, 11)]) is None


@pytest.mark.usefixtures("rsync")
def test_create_writes_the_document_beside_the_snapshot(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    run_dss(*opts, "create", check=True)
    (source / "new.txt").write_text("new\n")
    run_dss(*opts, "--rsync-option=--checksum", "create", check=True)
    first, second = complete(dest)
    assert tree_state(second) == tree_state(source)  # nothing of ours inside
    docs = {
        p.name: json.loads(p.read_text()) for p in (dest / ".dssframe" / "meta").iterdir()
    }
    one = docs[first.name.split("-")[0] + ".json"]
    two = docs[second.name.split("-")[0] + ".json"]
    assert one["name"] == first.name and one["parent"] is None and one["state"] == "complete"
    assert two["parent"] == {"creation": int(first.name.split("-")[0]), "name": first.name}
    assert two["reference"] == two["parent"]
    assert two["source"] == f"{source}/" and two["transport"] == "rsync"
    assert two["exit_status"] == 0 and two["checksum"] is False
    assert two["duration"] >= 1 and two["versions"]["dssframe"]
    assert "rsync" in two["plugins"] and two["dss_host"] and two["source_user"]
    assert one["stats"]["regular_files_transferred"] == 5
    assert two["stats"]["files"] == one["stats"]["files"] + 1
    assert two["stats"]["regular_files_transferred"] == 1  # the rest is hard-linked
    assert two["stats"]["total_size"] > 5000
    # nothing else was left behind: no rsync log in the destination
    assert sorted(os.listdir(dest)) == sorted([".dssframe", first.name, second.name])


@pytest.mark.usefixtures("rsync")
def test_corrupt_or_missing_metadata_never_makes_a_snapshot_unusable(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    run_dss(*opts, "create", check=True)
    run_dss(*opts, "create", check=True)
    first, second = complete(dest)
    doc = dest / ".dssframe" / "meta" / (second.name.split("-")[0] + ".json")
    doc.write_text("{ truncated")
    tree = run_dss(*opts, "ls", "--tree", check=True)
    assert "corrupt metadata" in tree.stderr and "dss adopt" in tree.stderr
    broken = f"`-- {second.name} *current (no metadata: corrupt)"
    assert tree.stdout.splitlines() == [first.name, broken]
    described = json.loads(run_dss(*opts, "describe", second.name, check=True).stdout)
    assert described["metadata"]["status"] == "corrupt"
    assert described["parent"]["name"] == first.name and described["parent"]["inferred"]
    run_dss(*opts, "create", check=True)  # creating is not disturbed either
    assert len(complete(dest)) == 3
    adopt = run_dss(*opts, "adopt", check=True)
    assert f"adopted {second.name} (parent {first.name})" in adopt.stdout
    fixed = json.loads(doc.read_text())
    assert fixed["origin"] == "adopted" and fixed["parent_inferred"] is True
    assert "corrupt" not in run_dss(*opts, "ls", "--tree", check=True).stderr


def test_a_leftover_temporary_file_neither_blocks_nor_is_overwritten(tmp_path: Path) -> None:
    """A crashed writer with the same pid left .tmp-<pid>-0.tmp: the next name is used
    (documents are written by dssframe.store.atomic)."""
    target = Path(metadata.document_path(str(tmp_path), 1))
    target.parent.mkdir(parents=True)
    leftover = target.parent / f".tmp-{os.getpid()}-0.tmp"
    leftover.write_text("half written")
    assert metadata.write(str(tmp_path), metadata.Metadata(1, "1-2")) == str(target)
    assert json.loads(target.read_text())["creation"] == 1
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert leftover.read_text() == "half written"
    assert sorted(p.name for p in target.parent.iterdir()) == sorted([leftover.name, "1.json"])
    assert metadata.keys(str(tmp_path)) == {1}
