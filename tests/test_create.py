"""Creating snapshots with real rsync on real trees, through the real ``dss`` command."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dssframe.core import naming
from dsstest import RunDss, check_snapshot_pair, complete, make_tree, snapshots, tree_state

#: What the fake rsync writes into dss's --log-file, as rsync --stats would.
FAKE_STATS = (
    'for arg; do case "$arg" in --log-file=*) '
    'echo "Number of files: 7 (reg: 4, dir: 3)" > "${arg#--log-file=}";; esac; done\n'
)


def fake_rsync(tmp_path: Path, body: str, stats: bool = True) -> Path:
    """A fault-injecting rsync wrapper (config key rsync-path); with ``stats`` it
    reports statistics like rsync --stats does."""
    script = tmp_path / "fake-rsync"
    script.write_text("#!/bin/sh\n" + (FAKE_STATS if stats else "") + body + "\n")
    script.chmod(0o755)
    return script


@pytest.mark.usefixtures("rsync")
def test_snapshot_is_identical_and_hard_links_unchanged_files(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    check_snapshot_pair(run_dss, opts, source, dest, unchanged=("sub/b.bin",))


@pytest.mark.usefixtures("rsync")
def test_names_are_dss_names_and_never_collide(run_dss: RunDss, source: Path, dest: Path) -> None:
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    for _ in range(3):
        run_dss(*opts, "create", check=True)
    found = snapshots(dest)
    assert len(found) == 3
    creations = [s.creation for s in found]
    assert len(set(creations)) == 3
    for s in found:
        assert s.complete and s.completion is not None and s.completion > s.creation
        assert s.name == naming.complete_name(s.creation, s.completion)


@pytest.mark.usefixtures("rsync")
def test_dry_run_prints_the_exact_command_and_touches_nothing(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    run_dss(*opts, "create", check=True)
    (ref,) = complete(dest)
    before = sorted(os.listdir(dest))
    result = run_dss(*opts, "--rsync-option", "--exclude=*.tmp", "--dry-run", "create", check=True)
    assert sorted(os.listdir(dest)) == before
    argv = shlex.split(result.stdout.strip().splitlines()[-1])
    target = argv[-1]
    creation = os.path.basename(target.rstrip("/")).split("-")[0]
    # every argument the real run gets, --stats and its log included
    assert argv == [
        "rsync", "-aq", "--delete", "--exclude=*.tmp", f"--link-dest={ref}", "--stats",
        f"--log-file={dest}/.dssframe/rsync-{creation}.log", "--log-file-format=",
        f"{source}/", target,
    ]
    assert target.startswith(f"{dest}/") and target.endswith("-incomplete/")


@pytest.mark.parametrize("status", [0, 23, 24])
def test_partial_and_vanished_count_as_complete(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path, status: int
) -> None:
    rsync = fake_rsync(tmp_path, f'for last; do :; done; mkdir -p "$last"; exit {status}')
    result = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create",
                     env={**os.environ, "DSSFRAME_CONFIG": _config(tmp_path, rsync)})
    assert result.returncode == 0, result.stderr
    assert len(complete(dest)) == 1


@pytest.mark.parametrize("status", [1, 12, 13, 30, 255])
def test_failed_copy_keeps_an_incomplete_dir_and_exits_1(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path, status: int
) -> None:
    rsync = fake_rsync(tmp_path, f"echo 'rsync: boom {status}' >&2; exit {status}")
    result = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create",
                     env={**os.environ, "DSSFRAME_CONFIG": _config(tmp_path, rsync)})
    assert result.returncode == 1
    assert f"boom {status}" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("dss: error: ")
    (only,) = snapshots(dest)
    assert only.incomplete


def _config(tmp_path: Path, rsync: Path) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'rsync-path = "{rsync}"\n')
    return str(path)


@pytest.mark.usefixtures("rsync")
def test_sigkill_mid_copy_then_rerun_resumes_in_the_same_directory(
    run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    source = tmp_path / "big"
    source.mkdir()
    for i in range(40):
        (source / f"f{i:02d}").write_bytes(os.urandom(64 * 1024))
    slow = fake_rsync(tmp_path, 'exec rsync --bwlimit=300 "$@"')
    config = _config(tmp_path, slow)
    cmd = [sys.executable, "-m", "dssframe", "--config", config,
           "--source-dir", f"{source}/", "--dest-dir", str(dest), "create"]
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    partial = None
    while time.monotonic() < deadline:
        found = snapshots(dest)
        if found and found[0].incomplete and len(os.listdir(dest / found[0].name)) >= 3:
            partial = found[0]
            break
        time.sleep(0.05)
    assert partial is not None, "rsync never started copying"
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=10)
    time.sleep(0.3)  # rsync dies with its parent (PR_SET_PDEATHSIG)
    (left,) = snapshots(dest)
    assert left.incomplete, "a partial copy must never carry a complete name"
    inode = (dest / left.name).stat().st_ino
    copied = len(os.listdir(dest / left.name))
    assert 0 < copied < 40

    run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create", check=True)
    (done,) = snapshots(dest)
    assert done.complete
    assert (dest / done.name).stat().st_ino == inode  # same directory, resumed
    assert tree_state(dest / done.name) == tree_state(source)


@pytest.mark.usefixtures("rsync")
def test_no_resume_leaves_the_aborted_dir_as_an_orphan(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    aborted = dest / f"{int(time.time()) - 100}-incomplete"
    aborted.mkdir()
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    cfg = dest.parent / "noresume.toml"
    cfg.write_text("no-resume = true\n")
    run_dss("--config", str(cfg), *opts, "create", check=True)
    assert aborted.exists()
    plan = run_dss("--config", str(cfg), *opts, "--dry-run", "prune", check=True)
    assert f"would remove {aborted.name}: orphaned" in plan.stdout


@pytest.mark.usefixtures("rsync")
def test_outdated_snapshot_is_recycled_but_never_the_reference(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    now = int(time.time())
    oldest = naming.complete_name(now - 40 * 86400, now - 40 * 86400 + 60)
    reference = naming.complete_name(now - 30 * 86400, now - 30 * 86400 + 60)
    for name in (oldest, reference):
        (dest / name).mkdir()
        (dest / name / "stale").write_text("x")
    inode = (dest / oldest).stat().st_ino
    made = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "--unit-interval",
                   "1", "--num-intervals", "3", "--loglevel", "info", "create", check=True)
    # the recycled snapshot leaves the inventory: notifiers hear it as a removal
    assert f"snapshot-removed {oldest} (recycled)" in made.stderr
    ref, new = snapshots(dest)
    assert ref.name == reference and (dest / reference / "stale").exists()
    assert (dest / new.name).stat().st_ino == inode  # the outdated one became the new one
    assert tree_state(dest / new.name) == tree_state(source)


@pytest.mark.usefixtures("rsync")
def test_second_create_on_the_same_dest_is_refused(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    slow = fake_rsync(tmp_path, 'sleep 3; exec rsync "$@"')
    config = _config(tmp_path, slow)
    cmd = [sys.executable, "-m", "dssframe", "--config", config,
           "--source-dir", f"{source}/", "--dest-dir", str(dest), "create"]
    first = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not snapshots(dest) and time.monotonic() < deadline:
            time.sleep(0.05)
        second = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create")
        assert second.returncode == 1
        assert f"pid {first.pid}" in second.stderr
    finally:
        first.communicate(timeout=30)
    assert first.returncode == 0
    assert len(complete(dest)) == 1


def test_missing_source_touches_nothing(run_dss: RunDss, dest: Path, tmp_path: Path) -> None:
    result = run_dss("--source-dir", str(tmp_path / "nope"), "--dest-dir", str(dest), "create")
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert os.listdir(dest) in ([], [".dssframe"])  # at most the lock


def test_make_tree_helper_is_reproducible(tmp_path: Path) -> None:
    a = tree_state(make_tree(tmp_path / "a"))
    assert set(a) >= {"a.txt", "sub/b.bin", "link-to-a", "name with spaces & $(x)"}
