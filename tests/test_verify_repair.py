"""``dss verify --repair``: corrupt files restored from another snapshot's healthy copy
or from the source, the hard-link structure kept, nothing changed outside the
destination, the lock taken."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dssframe.store.lock import DestLock
from dsstest import RunDss, complete
from test_verify import dss_json, flip_byte, snapshot_series

pytestmark = pytest.mark.usefixtures("rsync")


def leftovers(dest: Path) -> list[Path]:
    return [p for p in dest.rglob(".dss-repair-*")]


def test_repair_takes_another_snapshots_healthy_copy(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    (source / "dup.bin").write_bytes(os.urandom(20_000))
    os.chmod(source / "dup.bin", 0o604)
    snapshot_series(run_dss, source, dest, 1)
    os.utime(source / "dup.bin", ns=(0, 2 * 10**18))  # same content, another mtime:
    run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create", check=True)
    old, new = complete(dest)
    assert (old / "dup.bin").stat().st_ino != (new / "dup.bin").stat().st_ino  # two copies
    run_dss("--dest-dir", str(dest), "verify", "--build", check=True)
    before = (old / "dup.bin").stat()
    flip_byte(old / "dup.bin", 19_999)

    dry = run_dss("--dest-dir", str(dest), "--dry-run", "verify", "--repair")
    assert f"would repair dup.bin in {old.name} from copy of {new.name}/dup.bin" in dry.stdout
    assert (old / "dup.bin").read_bytes() != (new / "dup.bin").read_bytes()  # untouched

    result = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "verify", "--repair")
    assert result.returncode == 0, result.stderr
    assert f"repaired dup.bin in {old.name} from copy of {new.name}/dup.bin" in result.stdout
    after = (old / "dup.bin").stat()
    assert (old / "dup.bin").read_bytes() == (new / "dup.bin").read_bytes()
    assert after.st_ino not in (before.st_ino, (new / "dup.bin").stat().st_ino)
    assert (stat.S_IMODE(after.st_mode), after.st_mtime_ns) == (0o604, before.st_mtime_ns)
    assert run_dss("--dest-dir", str(dest), "verify", check=True).stdout.endswith(": clean\n")
    assert not leftovers(dest)


def test_repair_from_the_source_keeps_the_hard_link_structure(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    os.chmod(source / "sub" / "b.bin", 0o640)
    snapshots = snapshot_series(run_dss, source, dest, 3)
    paths = [s / "sub" / "b.bin" for s in snapshots]
    (inode,) = {p.stat().st_ino for p in paths}
    run_dss("--dest-dir", str(dest), "verify", "--build", check=True)
    dirs = {p.parent: p.parent.stat().st_mtime_ns for p in paths}
    recorded = paths[0].stat()
    flip_byte(paths[1], 100)

    data = dss_json(run_dss, dest, "--source-dir", f"{source}/", "--repair")
    (repair,) = data["repairs"]
    assert repair["repaired"] is True and repair["donor"] == f"source {source}/sub/b.bin"
    assert repair["snapshots"] == [s.name for s in snapshots]
    inodes = {p.stat().st_ino for p in paths}
    assert len(inodes) == 1 and inodes != {inode}  # one repaired inode, shared as before
    st = paths[2].stat()
    assert st.st_nlink == 3
    assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (0o640, recorded.st_mtime_ns)
    assert (st.st_uid, st.st_gid) == (recorded.st_uid, recorded.st_gid)
    assert all(p.read_bytes() == (source / "sub" / "b.bin").read_bytes() for p in paths)
    assert {d: d.stat().st_mtime_ns for d in dirs} == dirs  # directories keep their mtimes
    assert not leftovers(dest)
    assert run_dss("--dest-dir", str(dest), "verify", check=True).stdout.endswith(": clean\n")


def test_what_has_no_healthy_copy_is_left_alone_and_reported(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    (old,) = snapshot_series(run_dss, source, dest, 1)
    run_dss("--dest-dir", str(dest), "verify", "--build", check=True)
    flip_byte(old / "sub" / "b.bin", 7)
    damaged = (old / "sub" / "b.bin").read_bytes()
    (source / "sub" / "b.bin").write_bytes(os.urandom(5000))  # the source moved on
    result = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "verify", "--repair")
    assert result.returncode == 1
    assert "not repaired sub/b.bin" in result.stdout and "no healthy copy" in result.stdout
    assert "another mtime now" in result.stdout or "another size now" in result.stdout
    assert (old / "sub" / "b.bin").read_bytes() == damaged
    assert "1 of 1 finding(s) not repaired" in result.stderr
    assert not leftovers(dest)


def test_a_replaced_path_is_linked_to_its_intact_twin_again(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    old, new = snapshot_series(run_dss, source, dest, 2)
    run_dss("--dest-dir", str(dest), "verify", "--build", check=True)
    twin = (new / "a.txt").stat()
    (old / "a.txt").unlink()
    (old / "a.txt").write_text("something else\n")
    result = run_dss("--dest-dir", str(dest), "verify", "--repair")
    assert result.returncode == 0, result.stderr
    assert f"repaired a.txt in {old.name} from link to {new.name}/a.txt" in result.stdout
    assert (old / "a.txt").stat().st_ino == twin.st_ino
    assert (new / "a.txt").stat().st_nlink == twin.st_nlink  # both paths, as before
    run_dss("--dest-dir", str(dest), "verify", check=True)


def test_repair_never_follows_a_symbolic_link_out_of_the_destination(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    old, new = snapshot_series(run_dss, source, dest, 2)
    run_dss("--dest-dir", str(dest), "verify", "--build", check=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "c.txt").write_text("GAMMA\n")  # same size as the snapshot's c.txt
    for snapshot in (old, new):  # every path of the inode now leads out
        deeper = snapshot / "sub" / "deeper"
        (deeper / "c.txt").unlink()
        deeper.rmdir()
        deeper.symlink_to(outside)
    before = (outside / "c.txt").stat()
    result = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "verify", "--repair")
    assert result.returncode == 1
    assert "not repaired sub/deeper/c.txt" in result.stdout
    assert "symbolic link" in result.stdout
    after = (outside / "c.txt").stat()
    assert (outside / "c.txt").read_text() == "GAMMA\n"
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in outside.iterdir()) == ["c.txt"]


def test_building_and_repairing_take_the_destination_lock(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    (old,) = snapshot_series(run_dss, source, dest, 1)
    with DestLock(str(dest)):
        built = run_dss("--dest-dir", str(dest), "verify", "--build")
        assert built.returncode == 1 and "another dss" in built.stderr
    run_dss("--dest-dir", str(dest), "verify", "--build", check=True)
    flip_byte(old / "a.txt")
    with DestLock(str(dest)):
        repaired = run_dss("--dest-dir", str(dest), "verify", "--repair")
        assert repaired.returncode == 1 and "another dss" in repaired.stderr
        plain = run_dss("--dest-dir", str(dest), "verify")  # read-only: no lock
        assert plain.returncode == 1 and "corrupt" in plain.stdout
