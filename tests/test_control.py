"""Talking to a running dss: the state file, the lock probe, kill/reload/status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dssframe.core.errors import UsageError
from dssframe.store import control
from dssframe.store.lock import DestLock
from dsstest import RunDss

HOLDER = """
import signal, sys, time
from dssframe.store.lock import DestLock
lock = DestLock(sys.argv[1])
lock.acquire()
signal.signal(signal.SIGUSR1, lambda *a: print("usr1", flush=True))
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(dest: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the destination lock, as ``dss run`` does."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(dest)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(10)


def config_file(tmp_path: Path, dest: Path) -> str:
    path = tmp_path / "dss.toml"
    path.write_text(f"dest-dir = {json.dumps(str(dest))}\n")
    return str(path)


# --- state file ----------------------------------------------------------------------


def test_state_file_lives_in_the_state_dir_one_per_destination(
    tmp_path: Path, isolated_dirs: Path
) -> None:
    a, b = control.state_path(str(tmp_path / "a")), control.state_path(str(tmp_path / "b"))
    assert a != b and a.parent == b.parent
    assert str(a).startswith(str(isolated_dirs / "state"))


def test_state_file_is_replaced_atomically(dest: Path) -> None:
    path = control.state_path(str(dest))
    assert control.read_state(str(dest)) is None
    control.write_state(path, {"pid": 1, "activity": "idle"})
    control.write_state(path, {"pid": 2, "activity": "creating"})
    assert control.read_state(str(dest)) == {"pid": 2, "activity": "creating"}
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind
    assert path.read_text() == '{\n "activity": "creating",\n "pid": 2\n}\n'  # sorted keys
    assert path.stat().st_mode & 0o777 == 0o600  # it holds the effective configuration
    path.write_text("{half a fi")
    assert control.read_state(str(dest)) is None


# --- the lock probe --------------------------------------------------------------------


def test_running_pid_follows_the_lock(dest: Path) -> None:
    assert control.running_pid(str(dest)) is None
    with DestLock(str(dest)):
        assert control.running_pid(str(dest)) == os.getpid()
    assert control.running_pid(str(dest)) is None  # the stale pid in the file is ignored


def test_wait_gone_times_out_while_the_lock_is_held(dest: Path) -> None:
    with DestLock(str(dest)):
        assert control.wait_gone(str(dest), timeout=0.2) is False
    assert control.wait_gone(str(dest), timeout=0.2) is True


@pytest.mark.parametrize(
    ("name", "expected"),
    [("TERM", signal.SIGTERM), ("sighup", signal.SIGHUP), ("9", signal.SIGKILL)],
)
def test_parse_signal(name: str, expected: signal.Signals) -> None:
    assert control.parse_signal(name) is expected


def test_parse_signal_rejects_nonsense() -> None:
    with pytest.raises(UsageError, match="unknown signal"):
        control.parse_signal("NOPE")


def test_status_ignores_a_state_file_of_an_earlier_run(dest: Path) -> None:
    control.write_state(control.state_path(str(dest)), {"pid": 1, "exit_reason": "old"})
    info = control.status(str(dest))
    assert info["running"] is False and info["exit_reason"] == "old"
    with DestLock(str(dest)):
        info = control.status(str(dest))
    assert info["running"] is True and info["pid"] == os.getpid()
    assert "exit_reason" not in info


# --- the commands ------------------------------------------------------------------------


def test_kill_dry_run_prints_the_pid(
    run_dss: RunDss, tmp_path: Path, dest: Path, holder: subprocess.Popen[str]
) -> None:
    config = config_file(tmp_path, dest)
    result = run_dss("-c", config, "kill", "--dry-run", check=True)
    assert result.stdout.strip() == str(holder.pid)
    result = run_dss("-c", config, "--dry-run", "kill", check=True)
    assert result.stdout.strip() == str(holder.pid)
    assert holder.poll() is None


def test_kill_with_a_signal_name(
    run_dss: RunDss, tmp_path: Path, dest: Path, holder: subprocess.Popen[str]
) -> None:
    run_dss("-c", config_file(tmp_path, dest), "kill", "--signal", "USR1", check=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "usr1"


def test_kill_wait_returns_once_it_is_gone(
    run_dss: RunDss, tmp_path: Path, dest: Path, holder: subprocess.Popen[str]
) -> None:
    run_dss("-c", config_file(tmp_path, dest), "kill", "-w", check=True)
    assert control.running_pid(str(dest)) is None
    assert holder.wait(10) == -signal.SIGTERM


def test_kill_and_reload_without_a_running_dss_fail(
    run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    config = config_file(tmp_path, dest)
    for command in ("kill", "reload"):
        result = run_dss("-c", config, command)
        assert result.returncode == 3  # as status: nothing running
        assert "no dss is running on" in result.stderr


def test_status_when_not_running(run_dss: RunDss, tmp_path: Path, dest: Path) -> None:
    config = config_file(tmp_path, dest)
    result = run_dss("-c", config, "status")
    assert result.returncode == 3
    assert "running: no" in result.stdout
    assert "thresholds 100 MiB, 2%, 0% inodes" in result.stdout
    info = json.loads(run_dss("-c", config, "status", "--json").stdout)
    assert info["running"] is False
    assert info["disk"]["low"] is False and info["disk"]["min_free_mb"] == 100


def test_status_json_of_a_running_dss(
    run_dss: RunDss, tmp_path: Path, dest: Path, holder: subprocess.Popen[str]
) -> None:
    state = {"pid": holder.pid, "activity": "creating", "next_snapshot": 1234567890}
    control.write_state(control.state_path(str(dest)), state)
    result = run_dss("-c", config_file(tmp_path, dest), "status", "--json", check=True)
    info = json.loads(result.stdout)
    assert info["running"] is True and info["pid"] == holder.pid
    assert info["activity"] == "creating" and info["next_snapshot"] == 1234567890
