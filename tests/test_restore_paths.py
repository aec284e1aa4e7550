"""``dss restore NAME PATH...`` with real rsync: only the chosen files and directories
change (a directory becomes identical to the snapshot's, extra entries inside it
deleted; nothing outside the paths changes), into the source (with its safety
snapshot) or ``--target``, over ssh too; bad paths are refused with exit 2 and a dry
run changes nothing."""

from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dsstest import RunDss, complete, tree_state
from sshd import SshServer, source_config

pytestmark = pytest.mark.usefixtures("rsync")

ODD = "name with spaces & $(x)"  # make_tree's file with shell metacharacters


def state(root: Path) -> dict[str, tuple[object, ...]]:
    """Type, mode and content (or link target) of every entry below ``root``."""
    return tree_state(root, mtimes=False)


def below(found: dict[str, tuple[object, ...]], top: str) -> dict[str, tuple[object, ...]]:
    return {k: v for k, v in found.items() if k == top or k.startswith(top + "/")}


def outside(found: dict[str, tuple[object, ...]], top: str) -> dict[str, tuple[object, ...]]:
    return {k: v for k, v in found.items() if k not in below(found, top)}


def opts(source: Path, dest: Path) -> list[str]:
    return ["--source-dir", f"{source}/", "--dest-dir", str(dest)]


def test_one_file_into_the_source(run_dss: RunDss, source: Path, dest: Path) -> None:
    o = opts(source, dest)
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    (source / "a.txt").write_text("edited\n")
    (source / "sub" / "deeper" / "c.txt").write_text("also edited\n")
    (source / "new.txt").write_text("new\n")
    before = state(source)
    result = run_dss(*o, "restore", snapshot.name, "a.txt", check=True)
    assert (source / "a.txt").read_text() == "alpha\n"
    assert outside(state(source), "a.txt") == outside(before, "a.txt")  # others untouched
    _, safety = complete(dest)
    assert state(safety) == before  # the safety snapshot holds the state before
    assert f"safety snapshot {safety.name}" in result.stdout
    assert "current snapshot is unchanged" in result.stdout
    # a partial restore does not make the snapshot current; it is recorded
    described = json.loads(run_dss(*o, "describe", snapshot.name, check=True).stdout)
    assert described["current"] is False
    assert described["restores"][0]["paths"] == ["a.txt"]
    xml = run_dss(*o, "describe", snapshot.name, "--format=xml", check=True).stdout
    (record,) = ET.fromstring(xml).find("restores") or []
    assert [p.text for p in record.findall("path")] == ["a.txt"] and "paths" not in record.attrib


def test_one_directory_into_a_target(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    o = opts(source, dest)
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    target = tmp_path / "target"
    (target / "sub" / "deeper").mkdir(parents=True)
    (target / "sub" / "extra").write_text("not in the snapshot\n")
    (target / "sub" / "deeper" / "c.txt").write_text("stale\n")
    (target / "sub" / "deeper" / "gone").mkdir()
    (target / "sibling.txt").write_text("keep me\n")
    (target / "subway").write_text("a name that starts like sub\n")
    before = state(target)
    refused = run_dss(*o, "restore", snapshot.name, "sub/", "--target", str(target))
    assert refused.returncode == 2 and "--force" in refused.stderr  # non-empty target
    assert state(target) == before
    run_dss(*o, "restore", snapshot.name, "sub/", "--target", str(target), "--force",
            check=True)
    assert below(state(target), "sub") == below(state(snapshot), "sub")
    assert outside(state(target), "sub") == outside(before, "sub")  # siblings untouched
    assert not (target / "a.txt").exists()


def test_bad_paths_are_refused(run_dss: RunDss, source: Path, dest: Path) -> None:
    o = opts(source, dest)
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    (source / "a.txt").write_text("edited\n")
    before = state(source)
    for path, says in [
        ("no/such/file", "not in the snapshot"),
        ("missing.txt", "not in the snapshot"),
        ("../x", "'..'"),
        ("sub/../../x", "'..'"),
        ("/etc/passwd", "absolute"),
        ("link-to-a/x", "not in the snapshot"),  # never through a symbolic link
    ]:
        result = run_dss(*o, "restore", snapshot.name, "a.txt", path)
        assert result.returncode == 2, path
        assert len(result.stderr.strip().splitlines()) == 1 and says in result.stderr, path
    assert state(source) == before and len(complete(dest)) == 1  # nothing, not even a safety


def test_dry_run_lists_only_the_paths_and_changes_nothing(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    o = opts(source, dest)
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    (source / "a.txt").write_text("edited\n")
    (source / "sub" / "extra").write_text("extra\n")
    (source / "sub" / "deeper" / "c.txt").unlink()
    before = state(source)
    dry = run_dss(*o, "restore", snapshot.name, "sub", "--dry-run", check=True)
    lines = dry.stdout.splitlines()
    assert "delete sub/extra" in lines and "create sub/deeper/c.txt" in lines
    assert not any("a.txt" in line for line in lines)
    assert any("safety snapshot" in line for line in lines)
    assert state(source) == before and len(complete(dest)) == 1
    # without a safety snapshot the comparison looks only at the paths: a.txt changed,
    # but it is not restored, so the restore of sub needs no --force
    quiet = run_dss(*o, "restore", snapshot.name, "sub", "--no-safety-snapshot", "--dry-run",
                    check=True).stdout
    assert "would refuse without --force" in quiet and "a.txt" not in quiet
    alone = run_dss(*o, "restore", snapshot.name, "sub", "--no-safety-snapshot")
    assert alone.returncode == 1 and "--force" in alone.stderr
    assert state(source) == before


def test_odd_names_and_several_paths(run_dss: RunDss, source: Path, dest: Path) -> None:
    o = opts(source, dest)
    (source / "dir with $(touch pwned); `x` 'q'").mkdir()
    (source / "dir with $(touch pwned); `x` 'q'" / "*?[a]").write_text("glob\n")
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    (source / ODD).unlink()
    (source / "dir with $(touch pwned); `x` 'q'" / "*?[a]").write_text("edited\n")
    (source / "a.txt").write_text("edited\n")
    cwd_before = set(os.listdir(source.parent))
    run_dss(*o, "restore", snapshot.name, ODD, "dir with $(touch pwned); `x` 'q'/*?[a]",
            "--no-safety-snapshot", "--force", check=True)
    assert (source / ODD).read_text() == "odd\n"
    assert (source / "dir with $(touch pwned); `x` 'q'" / "*?[a]").read_text() == "glob\n"
    assert (source / "a.txt").read_text() == "edited\n"
    assert not (source / "pwned").exists() and set(os.listdir(source.parent)) == cwd_before


def test_a_source_inside_a_directory_of_the_snapshot(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    o = ["--source-dir", str(source), "--dest-dir", str(dest)]  # no slash: source/ inside
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    assert (snapshot / source.name / "a.txt").exists()
    (source / "sub" / "b.bin").write_bytes(b"overwritten")
    run_dss(*o, "restore", snapshot.name, "sub/b.bin", check=True)
    assert (source / "sub" / "b.bin").read_bytes() == (
        snapshot / source.name / "sub" / "b.bin"
    ).read_bytes()




def test_paths_over_ssh(
    run_dss: RunDss, sshd: SshServer, source: Path, dest: Path, tmp_path: Path
) -> None:
    config = str(source_config(tmp_path, sshd, source, dest))
    run_dss("-c", config, "create", check=True)
    (snapshot,) = complete(dest)
    (source / "sub" / "extra").write_text("extra\n")
    (source / ODD).write_text("edited\n")
    (source / "a.txt").write_text("edited\n")
    dry = run_dss("-c", config, "restore", snapshot.name, "sub", ODD, "--dry-run", check=True)
    assert "delete sub/extra" in dry.stdout.splitlines()
    assert (source / "sub" / "extra").exists()
    run_dss("-c", config, "restore", snapshot.name, "sub", ODD, check=True)
    assert below(state(source), "sub") == below(state(snapshot), "sub")
    assert (source / ODD).read_text() == "odd\n"
    assert (source / "a.txt").read_text() == "edited\n"
    _, safety = complete(dest)
    assert (safety / "sub" / "extra").exists()


def test_missing_leading_directories_get_the_snapshots_attributes(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    import shutil

    o = opts(source, dest)
    (source / "sub").chmod(0o710)
    old = 1_100_000_000
    os.utime(source / "sub" / "deeper", (old, old))
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    shutil.rmtree(source / "sub")
    run_dss(*o, "restore", snapshot.name, "sub/deeper/c.txt", "--no-safety-snapshot",
            "--force", check=True)
    assert (source / "sub" / "deeper" / "c.txt").read_text() == "gamma\n"
    assert not (source / "sub" / "b.bin").exists()  # only the chosen path
    assert stat.S_IMODE((source / "sub").stat().st_mode) == 0o710
    assert (source / "sub" / "deeper").stat().st_mtime == old


def test_a_symbolic_link_leading_to_a_path_in_the_target_is_refused(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    o = opts(source, dest)
    run_dss(*o, "create", check=True)
    (snapshot,) = complete(dest)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(elsewhere, target / "sub")
    result = run_dss(*o, "restore", snapshot.name, "sub/deeper", "--target", str(target),
                     "--force")
    assert result.returncode == 2 and "symbolic link" in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_transport_that_ignores_the_paths_is_refused(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    """tests/pycopy_transport.py restores whole trees only: with PATH it would delete
    everything else, so dss refuses it before anything runs."""
    tests = str(Path(__file__).parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [tests, *filter(None, [os.environ.get("PYTHONPATH")])])}
    o = ["-p", "pycopy_transport", "--transport", "pycopy", *opts(source, dest)]
    run_dss(*o, "create", check=True, env=env)
    (snapshot,) = complete(dest)
    (source / "a.txt").write_text("edited\n")
    (source / "new.txt").write_text("new\n")
    before = state(source)
    result = run_dss(*o, "restore", snapshot.name, "a.txt", env=env)
    assert result.returncode == 2 and "cannot restore chosen paths" in result.stderr
    assert state(source) == before and len(complete(dest)) == 1
