"""``dss du``: each snapshot's unique size is exactly the space its deletion frees
(measured with ``du`` of the destination before and after ``dss delete``), and the
total is what ``du -s`` says of the snapshots together."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dssframe.core.sizes import du_size
from dssframe.engine import du
from dsstest import RunDss, complete, require_tool


def du_bytes(dest: Path) -> int:
    """Disk usage of the snapshots in ``dest`` (hard links counted once, as du does)."""
    result = subprocess.run(
        ["du", "-s", "-B1", "--exclude=.dssframe", str(dest)],
        capture_output=True, text=True, check=True,
    )
    return int(result.stdout.split()[0])


@pytest.mark.usefixtures("rsync")
def test_unique_size_is_what_deleting_frees(run_dss: RunDss, source: Path, dest: Path) -> None:
    require_tool("du")
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest), "--rsync-option=-H"]
    big = source / "big.bin"
    big.write_bytes(os.urandom(300_000))
    os.link(big, source / "big-link.bin")  # a hard link inside the source
    run_dss(*opts, "create", check=True)
    (source / "second.bin").write_bytes(os.urandom(50_000))
    (source / "a.txt").write_text("changed in the second snapshot\n")
    run_dss(*opts, "create", check=True)
    big.unlink()
    (source / "big-link.bin").unlink()
    (source / "third.bin").write_bytes(os.urandom(120_000))
    run_dss(*opts, "create", check=True)
    snapshots = complete(dest)
    assert len(snapshots) == 3

    report = json.loads(run_dss("--dest-dir", str(dest), "du", "--json", check=True).stdout)
    rows = {row["name"]: row for row in report["snapshots"]}
    dest_dir_blocks = os.lstat(dest).st_blocks * 512
    assert report["total"] + dest_dir_blocks == du_bytes(dest)
    # big.bin (two links inside each snapshot) is shared by the first two snapshots
    assert rows[snapshots[0].name]["unique"] < 300_000
    assert rows[snapshots[2].name]["unique"] >= 120_000  # third.bin
    text = run_dss("--dest-dir", str(dest), "du", check=True).stdout.splitlines()
    assert text[0].split() == ["unique", "size", "snapshot"] and text[-1].endswith("total")

    # the middle one first, then the others: each frees exactly its unique size
    for snapshot in (snapshots[1], snapshots[0], snapshots[2]):
        current = json.loads(
            run_dss("--dest-dir", str(dest), "du", snapshot.name, "--json", check=True).stdout
        )
        (row,) = current["snapshots"]
        before = du_bytes(dest)
        # --force: the last of them is the newest complete snapshot (the removal gate)
        run_dss("--dest-dir", str(dest), "delete", snapshot.name, "--force", check=True)
        assert before - du_bytes(dest) == row["unique"], snapshot.name
        if snapshot == snapshots[0]:  # the middle one is gone: big.bin is unique now
            assert row["unique"] >= 300_000


def test_sharing_rules(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "shared").write_bytes(b"s" * 10_000)
    os.link(one / "shared", two / "shared")
    (one / "mine").write_bytes(b"m" * 10_000)
    os.link(one / "mine", one / "mine-again")  # both links inside: unique, counted once
    (tmp_path / "outside").write_bytes(b"o" * 10_000)
    os.link(tmp_path / "outside", one / "linked-from-outside")
    report = du.usage([("one", str(one)), ("two", str(two))])
    first, second = report.snapshots
    blocks = os.lstat(one / "mine").st_blocks * 512
    directory = os.lstat(one).st_blocks * 512
    assert first.unique == blocks + directory
    assert first.size == 3 * blocks + directory
    assert second.unique == os.lstat(two).st_blocks * 512
    assert report.total == first.size + second.unique
    assert du_size(1536) == "1.5K" and du_size(20 * 1024 * 1024) == "20M"
