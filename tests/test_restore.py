"""``dss restore`` with real rsync on real trees: a round trip to a new target is
identical to the snapshot (content, permissions, symlinks, hard links, mtimes); a
restore of the source takes a safety snapshot first, makes the snapshot current and
branches the tree; changes since the last snapshot are only overwritten when forced;
and the same over ssh against a real sshd."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from dsstest import RunDss, complete
from sshd import SshServer, source_config

pytestmark = pytest.mark.usefixtures("rsync")


def full_state(root: Path) -> dict[str, tuple[object, ...]]:
    """Type, mode, mtime, content (or target) of every entry, and which files share an
    inode (hard links inside the tree), with the root's own mode and mtime."""
    state: dict[str, tuple[object, ...]] = {}
    inodes: dict[int, str] = {}
    top = root.lstat()
    state["."] = ("dir", stat.S_IMODE(top.st_mode), top.st_mtime_ns)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath, name)
            st = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                state[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                state[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            else:
                first = inodes.setdefault(st.st_ino, rel)
                state[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_mtime_ns,
                              path.read_bytes(), first)
    return state


def settle(root: Path) -> None:
    """Move directory mtimes out of the current second: rsync (3.5.0 here) does not
    preserve a directory mtime that lies in the second it copies in, with or without
    -H, which would make these comparisons flaky. Real sources are not that fresh."""
    old = time.time_ns() - 60 * 10**9
    for dirpath, _dirs, _files in os.walk(root):
        if os.lstat(dirpath).st_mtime_ns > old:
            os.utime(dirpath, ns=(old, old))


@pytest.fixture
def rich_source(source: Path) -> Path:
    """The shared tree plus odd permissions, old mtimes and hard links inside it."""
    (source / "a.txt").chmod(0o640)
    (source / "sub").chmod(0o750)
    os.link(source / "sub" / "b.bin", source / "b-again.bin")
    os.link(source / "sub" / "b.bin", source / "sub" / "deeper" / "b-third.bin")
    os.utime(source / "sub" / "deeper" / "c.txt", ns=(1_000_000_000_123, 1_000_000_000_123))
    settle(source)
    os.utime(source / "sub" / "deeper", ns=(1_100_000_000_000, 1_100_000_000_000))
    return source


def opts(source: Path, dest: Path) -> list[str]:
    # -H: hard links inside the source are kept only if the snapshot keeps them
    return ["--source-dir", f"{source}/", "--dest-dir", str(dest), "--rsync-option=-H"]


def test_round_trip_to_a_new_target_is_identical(
    run_dss: RunDss, rich_source: Path, dest: Path, tmp_path: Path
) -> None:
    o = opts(rich_source, dest)
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    expected = full_state(rich_source)
    assert full_state(snapshot) == expected
    target = tmp_path / "restored" / "here"
    dry = run_dss(*o, "restore", snapshot.name, "--target", str(target), "--dry-run", check=True)
    lines = dry.stdout.splitlines()
    assert "create a.txt" in lines and "create name with spaces & $(x)" in lines
    assert not any(line.startswith(("change ", "delete ")) for line in lines)
    assert not target.exists()
    result = run_dss(*o, "restore", snapshot.name, "--target", str(target), check=True)
    assert result.stdout.splitlines()[0] == f"restored {snapshot.name} to {target}/"
    assert full_state(target) == expected
    assert len(complete(dest)) == 1  # no safety snapshot for another target
    # a non-empty target is only overwritten with --force
    (target / "mine.txt").write_text("keep?\n")
    refused = run_dss(*o, "restore", snapshot.name, "--target", str(target))
    assert refused.returncode == 2 and "--force" in refused.stderr  # usage error
    assert (target / "mine.txt").exists()
    run_dss(*o, "restore", snapshot.name, "--target", str(target), "--force", check=True)
    assert full_state(target) == expected
    inside = run_dss(*o, "restore", snapshot.name, "--target", str(dest / "x"))
    assert inside.returncode == 2 and "inside dest-dir" in inside.stderr


def test_restore_the_source_safety_snapshot_current_and_branch(
    run_dss: RunDss, rich_source: Path, dest: Path
) -> None:
    o = opts(rich_source, dest)
    run_dss(*o, "create", check=True)
    (rich_source / "a.txt").write_text("second version\n")
    run_dss(*o, "create", check=True)
    first, second = complete(dest)
    wanted = full_state(first)
    # a new user deletes a file, asks what a restore would do, and restores
    (rich_source / "sub" / "deeper" / "c.txt").unlink()
    settle(rich_source)
    before = full_state(rich_source)
    dry = run_dss(*o, "restore", first.name, "--dry-run", check=True).stdout.splitlines()
    assert "create sub/deeper/c.txt" in dry and "change a.txt" in dry
    assert any("safety snapshot" in line for line in dry)
    assert full_state(rich_source) == before and len(complete(dest)) == 2
    result = run_dss(*o, "restore", first.name, check=True)
    assert (rich_source / "sub" / "deeper" / "c.txt").read_text() == "gamma\n"
    assert full_state(rich_source) == wanted
    _, _, safety = complete(dest)
    assert f"safety snapshot {safety.name}" in result.stdout
    assert full_state(safety) == before  # the pre-restore state, deletion included
    described = json.loads(run_dss(*o, "describe", safety.name, check=True).stdout)
    assert described["origin"] == "safety" and first.name in described["note"]
    assert described["parent"]["name"] == second.name
    restored = json.loads(run_dss(*o, "describe", first.name, check=True).stdout)
    assert restored["current"] is True
    assert restored["restores"][0]["safety_snapshot"] == safety.name
    # the next snapshot links against the restored one: the tree branches
    (rich_source / "new.txt").write_text("after the restore\n")
    run_dss(*o, "create", check=True)
    newest = complete(dest)[-1]
    assert (newest / "a.txt").stat().st_ino == (first / "a.txt").stat().st_ino
    tree = run_dss(*o, "ls", "--tree", check=True).stdout.splitlines()
    assert tree == [
        first.name,
        f"|-- {second.name}",
        f"|   `-- {safety.name} (safety)",
        f"`-- {newest.name} *current",
    ]


def test_changes_since_the_last_snapshot_need_force_without_a_safety_snapshot(
    run_dss: RunDss, rich_source: Path, dest: Path
) -> None:
    o = opts(rich_source, dest)
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    clean = run_dss(*o, "restore", snapshot.name, "--no-safety-snapshot", check=True)
    assert "is now current" in clean.stdout  # nothing changed: nothing to refuse
    (rich_source / "a.txt").write_text("unsaved work\n")
    (rich_source / "extra").write_text("also unsaved\n")
    dry = run_dss(*o, "restore", snapshot.name, "--no-safety-snapshot", "--dry-run",
                  check=True).stdout
    assert "would refuse without --force" in dry and "delete extra" in dry
    refused = run_dss(*o, "restore", snapshot.name, "--no-safety-snapshot")
    assert refused.returncode == 1
    assert "2 changes since" in refused.stderr and "--force" in refused.stderr
    assert "changed a.txt, added extra" in refused.stderr
    assert (rich_source / "a.txt").read_text() == "unsaved work\n"
    assert len(complete(dest)) == 1
    run_dss(*o, "restore", snapshot.name, "--no-safety-snapshot", "--force", check=True)
    assert full_state(rich_source) == full_state(snapshot)
    assert len(complete(dest)) == 1


def test_a_running_dss_blocks_a_restore_of_the_source(
    run_dss: RunDss, rich_source: Path, dest: Path
) -> None:
    from dssframe.store.lock import DestLock

    o = opts(rich_source, dest)
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    with DestLock(str(dest)):
        result = run_dss(*o, "restore", snapshot.name)
    assert result.returncode == 1 and "another dss" in result.stderr




def test_restore_over_ssh(
    run_dss: RunDss, sshd: SshServer, rich_source: Path, dest: Path, tmp_path: Path
) -> None:
    config = str(source_config(tmp_path, sshd, rich_source, dest, rsync_option=["-H"]))
    run_dss("-c", config, "create", check=True)
    (snapshot,) = complete(dest)
    wanted = full_state(snapshot)
    (rich_source / "a.txt").unlink()
    (rich_source / "sub" / "b.bin").write_bytes(b"overwritten")
    settle(rich_source)
    dry = run_dss("-c", config, "restore", snapshot.name, "--dry-run", check=True)
    assert "create a.txt" in dry.stdout.splitlines()
    result = run_dss("-c", config, "restore", snapshot.name, check=True)
    remote = f"{sshd.user}@{sshd.host}:{rich_source}/"
    assert result.stdout.splitlines()[0] == f"restored {snapshot.name} to {remote}"
    assert full_state(rich_source) == wanted
    _, safety = complete(dest)
    assert not (safety / "a.txt").exists()
    assert (safety / "sub" / "b.bin").read_bytes() == b"overwritten"
