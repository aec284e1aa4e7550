"""Compatibility with the original dss: the source path as written (trailing slash and
layout), names from the future, the exact dry-run command. (Name format: test_naming;
the ls format: test_ls_prune; .dssrc: test_dssrc; option-style commands: test_cli.)"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from dssframe.core import naming
from dsstest import RunDss, complete, make_tree, snapshots, tree_state

pytestmark = pytest.mark.usefixtures("rsync")


def test_without_a_trailing_slash_each_snapshot_holds_the_directory_itself(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    opts = ["--source-dir", str(source), "--dest-dir", str(dest)]
    run_dss(*opts, "create", check=True)
    (first,) = complete(dest)
    assert os.listdir(first) == ["source"]
    assert tree_state(first / "source") == tree_state(source)
    (source / "new.txt").write_text("new\n")
    time.sleep(1.05)
    run_dss(*opts, "create", check=True)
    older, newer = complete(dest)
    assert tree_state(newer / "source") == tree_state(source)
    # the same layout: unchanged files are hard links
    assert (newer / "source" / "a.txt").stat().st_ino == (older / "source" / "a.txt").stat().st_ino


def test_dry_run_and_configtest_say_what_the_snapshot_holds(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    opts = ["--source-dir", str(source), "--dest-dir", str(dest)]
    dry = run_dss(*opts, "--dry-run", "create", check=True).stdout.splitlines()
    assert dry[0] == (
        f"# source-dir {source} has no trailing slash: each snapshot holds the directory "
        f"itself, source/... (write {source}/ for its contents)"
    )
    assert shlex.split(dry[-1])[-2] == str(source)
    checked = run_dss(*opts, "configtest", check=True)
    assert f"# source-dir {source} has no trailing slash" in checked.stderr
    with_slash = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "configtest",
                         check=True)
    assert "trailing slash" not in with_slash.stderr


@pytest.mark.parametrize("first, second", [("/", ""), ("", "/")])
def test_a_layout_switch_is_refused_then_forced(
    run_dss: RunDss, source: Path, dest: Path, first: str, second: str
) -> None:
    run_dss("--source-dir", f"{source}{first}", "--dest-dir", str(dest), "create", check=True)
    (ref,) = complete(dest)
    opts = ["--source-dir", f"{source}{second}", "--dest-dir", str(dest)]
    refused = run_dss(*opts, "create")
    assert refused.returncode == 2
    (line,) = [x for x in refused.stderr.splitlines() if x.startswith("dss: error:")]
    assert ref.name in line and "trailing slash" in line and "--force-layout" in line
    assert ("source/..." in line) and ("own entries" in line)
    assert complete(dest) == [ref] and len(snapshots(dest)) == 1  # nothing touched
    time.sleep(1.05)
    run_dss(*opts, "create", "--force-layout", check=True)
    assert len(complete(dest)) == 2


def test_an_original_destination_without_metadata_is_linked_against(
    run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    """A snapshot the original dss made from ``source-dir /data`` (no slash, no
    metadata): the first dssframe snapshot of the same config shares its inodes."""
    data = make_tree(tmp_path / "data")
    now = int(time.time())
    old = dest / naming.complete_name(now - 7200, now - 7100)
    old.mkdir()
    subprocess.run(["cp", "-a", str(data), str(old)], check=True)  # old/data/...
    run_dss("--source-dir", str(data), "--dest-dir", str(dest), "create", check=True)
    _, new = complete(dest)
    assert (new / "data" / "a.txt").stat().st_ino == (old / "data" / "a.txt").stat().st_ino
    # The same destination with the slash added would copy everything again: refused.
    refused = run_dss("--source-dir", f"{data}/", "--dest-dir", str(dest), "create")
    assert refused.returncode == 2 and "holds only data/..." in refused.stderr


def test_an_interrupted_original_copy_is_resumed_with_its_files(
    run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    data = make_tree(tmp_path / "data")
    now = int(time.time())
    partial = dest / f"{now - 60}-incomplete"
    partial.mkdir()
    subprocess.run(["cp", "-a", str(data), str(partial)], check=True)
    inode = (partial / "data" / "a.txt").stat().st_ino
    run_dss("--source-dir", str(data), "--dest-dir", str(dest), "create", check=True)
    (snap,) = complete(dest)
    assert (snap / "data" / "a.txt").stat().st_ino == inode  # reused, not copied again
    assert tree_state(snap / "data") == tree_state(data)


def test_restore_of_a_wrapped_snapshot_restores_the_directory_contents(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    opts = ["--source-dir", str(source), "--dest-dir", str(dest)]
    run_dss(*opts, "create", check=True)
    (snap,) = complete(dest)
    target = tmp_path / "restored"
    run_dss(*opts, "restore", snap.name, "--target", str(target), check=True)
    assert tree_state(target) == tree_state(source)


def test_a_name_whose_completion_is_in_the_future_is_never_listed_or_touched(
    run_dss: RunDss, dest: Path
) -> None:
    now = int(time.time())
    future = naming.complete_name(now - 3 * 86400, now + 86400)
    (dest / future).mkdir()
    old = naming.complete_name(now - 40 * 86400, now - 40 * 86400 + 60)
    (dest / old).mkdir()
    newest = naming.complete_name(now - 3600, now - 3500)
    (dest / newest).mkdir()
    listing = run_dss("--dest-dir", str(dest), "ls", check=True).stdout
    assert future not in listing and old in listing
    run_dss("--dest-dir", str(dest), "prune", check=True)
    assert (dest / future).is_dir() and not (dest / old).exists()


def test_a_symlinked_source_without_the_slash_is_refused(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    """rsync would copy the link itself: a snapshot holding one symbolic link."""
    link = tmp_path / "link"
    link.symlink_to(source)
    result = run_dss("--source-dir", str(link), "--dest-dir", str(dest), "create")
    assert result.returncode == 2  # a source that can never be copied: usage
    assert "is a symbolic link and has no trailing slash" in result.stderr
    assert snapshots(dest) == []
    run_dss("--source-dir", f"{link}/", "--dest-dir", str(dest), "create", check=True)
    (snap,) = complete(dest)
    assert tree_state(snap) == tree_state(source)
