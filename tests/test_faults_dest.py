"""Real destination faults through the real ``dss create``: a full disk, no free inodes,
and a file rsync cannot delete. rsync calls each a "partial transfer" (exit 23) or an
I/O error (exit 11); dss must exit 1 naming the real cause, leave the new snapshot
``<epoch>-incomplete`` and keep the older complete snapshot exactly as it was."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import faultfs
from dsstest import RunDss, complete, snapshots, tree_state

pytestmark = pytest.mark.usefixtures("rsync")



@pytest.fixture
def run_dss(run_dss: RunDss, tmp_path: Path) -> RunDss:
    """``dss`` with the free-space thresholds off: these file systems are far below the
    default min-free-mb (100), and the copy itself must meet the fault (a one-shot
    create refuses to start below them, see tests/test_log_lines.py)."""
    config = tmp_path / "thresholds-off.toml"
    config.write_text("min-free-mb = 0\nmin-free-percent = 0\n")

    def run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_dss("--config", str(config), *args, **kwargs)

    return run


def error_line(stderr: str) -> str:
    """The one ``dss: error:`` line (there must be exactly one)."""
    lines = [line for line in stderr.splitlines() if line.startswith("dss: error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def check_failed_snapshot_after_a_good_one(
    run_dss: RunDss, source: Path, dest: Path, grow: int, size: int, cause: str
) -> None:
    """A first snapshot that fits, then ``grow`` more files of ``size`` bytes that do
    not: the second ``dss create`` fails with ``cause``, only the first is complete."""
    first = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create")
    assert first.returncode == 0, first.stderr
    (older,) = complete(dest)
    before = tree_state(older)

    faultfs.write_files(source, grow, size, prefix="more")  # grows: no shrink guard
    result = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create")
    assert result.returncode == 1, result.stderr
    line = error_line(result.stderr)
    assert cause in line
    assert "Broken pipe" not in line
    assert complete(dest) == [older]
    newer = [s for s in snapshots(dest) if dest / s.name != older]
    assert len(newer) == 1 and newer[0].incomplete, [s.name for s in snapshots(dest)]
    assert newer[0].name.endswith("-incomplete")
    assert tree_state(older) == before  # the older snapshot is untouched


def test_full_disk_mid_copy_is_an_error_naming_no_space(run_dss: RunDss, tmp_path: Path) -> None:
    source = tmp_path / "source"
    faultfs.write_files(source, 20, 20_000)  # ~0.4 MB: fits on 2 MiB
    with faultfs.tmpfs(tmp_path / "mnt", size="2m") as mnt:
        dest = mnt / "snapshots"
        dest.mkdir(mode=0o700)
        # then ~6 MB more, of which only a part fits
        check_failed_snapshot_after_a_good_one(
            run_dss, source, dest, grow=300, size=20_000, cause="No space left on device"
        )


def test_no_free_inodes_is_an_error_naming_no_space(run_dss: RunDss, tmp_path: Path) -> None:
    source = tmp_path / "source"
    faultfs.write_files(source, 10, 1000)
    # plenty of bytes, few inodes: the first snapshot's files, dss's own files, not more
    with faultfs.tmpfs(tmp_path / "mnt", size="64m", inodes=120) as mnt:
        dest = mnt / "snapshots"
        dest.mkdir(mode=0o700)
        check_failed_snapshot_after_a_good_one(
            run_dss, source, dest, grow=300, size=1000, cause="No space left on device"
        )


def test_undeletable_file_in_a_resumed_directory_is_an_error(
    run_dss: RunDss, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    faultfs.write_files(source, 5, 1000)
    with faultfs.ext4_image(tmp_path / "mnt", size_mb=8) as mnt:
        dest = mnt / "snapshots"
        dest.mkdir(mode=0o700)
        aborted = dest / f"{int(time.time()) - 100}-incomplete"
        aborted.mkdir()
        (aborted / "i").write_text("left by an aborted run, not in the source\n")
        with faultfs.immutable(aborted / "i", clear=mnt):
            # resumes in `aborted`, where rsync --delete cannot remove "i"
            result = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create")
            assert result.returncode == 1, result.stderr
            line = error_line(result.stderr)
            assert "unlink(i) failed" in line
            assert "Operation not permitted" in line
            for snapshot in complete(dest):
                assert not (snapshot / "i").exists()
            assert complete(dest) == []
            (left,) = snapshots(dest)
            assert left.incomplete
            assert (dest / left.name / "i").exists()  # resumed in the same directory
