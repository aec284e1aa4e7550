"""The exit-status table of README.md, command by command, with real processes:
0 done, 1 operational failure, 2 usage or configuration error, 3 nothing running."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsstest import RunDss, snapshots


@pytest.fixture
def made(run_dss: RunDss, source: Path, dest: Path) -> list[str]:
    """``--source-dir S/ --dest-dir D`` with one complete snapshot in D."""
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    run_dss(*opts, "create", check=True)
    assert len(snapshots(dest)) == 1
    return opts


def status(run_dss: RunDss, *args: str) -> int:
    result = run_dss(*args)
    if result.returncode not in (0, 3):
        # every failure is one line naming the problem
        assert result.stderr.strip(), args
    return result.returncode


@pytest.mark.usefixtures("rsync")
def test_done_is_zero(run_dss: RunDss, made: list[str]) -> None:
    assert status(run_dss, *made, "create") == 0
    assert status(run_dss, *made, "ls") == 0
    assert status(run_dss, *made, "prune") == 0  # nothing to remove is done too
    assert status(run_dss, *made, "configtest") == 0


@pytest.mark.usefixtures("rsync")
def test_operational_failures_are_one(
    run_dss: RunDss, made: list[str], tmp_path: Path, dest: Path
) -> None:
    missing = tmp_path / "unmounted"  # what an unmounted source disk looks like
    assert status(run_dss, "--source-dir", f"{missing}/", "--dest-dir", str(dest), "create") == 1
    config = tmp_path / "false.toml"
    config.write_text('rsync-path = "/bin/false"\n')
    assert status(run_dss, "-c", str(config), *made, "create") == 1  # the copy failed


@pytest.mark.usefixtures("rsync")
def test_usage_and_configuration_errors_are_two(
    run_dss: RunDss, made: list[str], source: Path, dest: Path, tmp_path: Path
) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert status(run_dss, "--source-dir", str(a_file), "--dest-dir", str(dest), "create") == 2
    assert status(run_dss, *made, "--num-intervals", "99", "create") == 2
    assert status(run_dss, *made, "nosuchcommand") == 2
    for command in (["describe"], ["pin"], ["unpin"], ["delete"], ["restore"], ["du"]):
        assert status(run_dss, *made, *command, "12345") == 2, command  # no such snapshot
    assert status(run_dss, *made, "diff", snapshots(dest)[0].name, "12345") == 2
    target = tmp_path / "target"
    target.mkdir()
    (target / "mine").write_text("mine")
    name = snapshots(dest)[0].name
    assert status(run_dss, *made, "restore", name, "--target", str(target)) == 2
    assert (target / "mine").read_text() == "mine"  # touched nothing


def test_nothing_running_is_three(run_dss: RunDss, dest: Path) -> None:
    for command in ("status", "kill", "reload"):
        assert status(run_dss, "--dest-dir", str(dest), command) == 3, command
