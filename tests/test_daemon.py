"""``dss run`` with real rsync, real processes and real signals, on a schedule of
seconds; a fault-injecting rsync wrapper (config key ``rsync-path``) makes failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dssframe.engine.daemon import reload_config
from dssframe.store import control, diskspace
from dsstest import RunDss, require_tool, snapshots

STOP_TIMEOUT = 15


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def write_config(path: Path, options: dict[str, Any]) -> None:
    path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in options.items()))


def script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def snapshot_names(dest: Path) -> list[str]:
    return sorted(s.name for s in snapshots(dest))


def complete(dest: Path) -> list[str]:
    return [n for n in snapshot_names(dest) if "incomplete" not in n and ".being_" not in n]


def process_state(pid: int) -> str:
    """The one-letter state of ``pid`` (``T``: stopped)."""
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


class Dss:
    """One ``dss run`` child process with its config file and captured stderr."""

    def __init__(self, tmp_path: Path, options: dict[str, Any]) -> None:
        self.tmp_path = tmp_path
        self.config = tmp_path / "dss.toml"
        self.dest = Path(options["dest-dir"])
        self.options = dict(options)
        write_config(self.config, self.options)
        self.stderr_path = tmp_path / f"stderr-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> Dss:
        with open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dssframe", "-c", str(self.config), *extra, "run"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        wait_until(lambda: self.state() or self.process_exited(), what="the state file")
        return self

    def process_exited(self) -> bool:
        assert self.process is not None
        return self.process.poll() is not None

    def state(self) -> dict[str, Any] | None:
        return control.read_state(str(self.dest))

    def log(self) -> str:
        return self.stderr_path.read_text()

    def reconfigure(self, **changes: Any) -> None:
        self.options.update(changes)
        write_config(self.config, self.options)
        self.signal(signal.SIGHUP)

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_TIMEOUT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)


@pytest.fixture
def make_dss(tmp_path: Path, source: Path, dest: Path) -> Iterator[Callable[..., Dss]]:
    require_tool("rsync")
    started: list[Dss] = []

    def make(**options: Any) -> Dss:
        base = {
            "source-dir": f"{source}/",
            "dest-dir": str(dest),
            "unit-interval": "1h",
            "num-intervals": 3,
            "retry-delay": "1s",
            "min-free-mb": 0,
            "min-free-percent": 0,
            "loglevel": "notice",
        }
        base.update({k.replace("_", "-"): v for k, v in options.items()})
        dss = Dss(tmp_path, base)
        started.append(dss)
        return dss

    yield make
    for dss in started:
        dss.kill()


@pytest.fixture
def recorder(tmp_path: Path) -> tuple[str, Path]:
    """A hook that appends its arguments (one JSON list per call) to a file."""
    out = tmp_path / "hook-calls.jsonl"
    path = tmp_path / "record-hook"
    path.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(out)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    path.chmod(0o755)
    return str(path), out


def hook_calls(out: Path) -> list[list[str]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


# --- the schedule -----------------------------------------------------------------------


def test_run_creates_on_schedule_refuses_a_second_run_and_stops_on_sigterm(
    make_dss: Callable[..., Dss], run_dss: RunDss, recorder: tuple[str, Path], dest: Path
) -> None:
    hook, out = recorder
    # u = 8 s, n = 3: a snapshot every 8 / 2**2 = 2 seconds
    dss = make_dss(unit_interval="8s", exit_hook=hook, post_create_hook=hook).start()
    wait_until(lambda: len(complete(dest)) >= 3, what="three snapshots")
    creations = [int(name.split("-")[0]) for name in complete(dest)]
    gaps = [b - a for a, b in zip(creations, creations[1:], strict=False)]
    assert all(2 <= gap <= 3 for gap in gaps), gaps

    second = run_dss("-c", str(dss.config), "run")
    assert second.returncode == 1
    assert dss.process is not None
    assert f"another dss (pid {dss.process.pid}, " in second.stderr

    status = json.loads(run_dss("-c", str(dss.config), "status", "--json", check=True).stdout)
    assert status["running"] is True and status["pid"] == dss.process.pid
    assert status["last_result"]["result"] == "created"
    assert status["next_snapshot"] >= creations[-1]

    (dss.config).write_text("this is [not toml\n")
    dss.signal(signal.SIGHUP)
    wait_until(lambda: "reload rejected" in dss.log(), what="the rejected reload")
    count = len(complete(dest))
    wait_until(lambda: len(complete(dest)) > count, what="a snapshot after the bad reload")

    assert dss.stop() == 0
    calls = hook_calls(out)
    assert calls[-1] == ["caught signal SIGTERM"]  # the exit hook, with the reason
    assert all(Path(c[0]).parent == dest for c in calls[:-1])  # post-create hooks
    state = dss.state()
    assert state is not None and state["running"] is False
    assert state["exit_reason"] == "caught signal SIGTERM"
    write_config(dss.config, dss.options)
    assert run_dss("-c", str(dss.config), "status").returncode == 3


def test_a_transient_rsync_failure_is_retried_after_the_retry_delay(
    make_dss: Callable[..., Dss], tmp_path: Path, dest: Path
) -> None:
    calls = tmp_path / "rsync-calls"
    wrapper = script(
        tmp_path / "rsync-fails-once",
        f'date +%s.%N >> "{calls}"\n'
        f'echo "$*" >> "{calls}.args"\n'
        f'if [ ! -e "{tmp_path}/failed" ]; then touch "{tmp_path}/failed"; exit 12; fi\n'
        'exec rsync "$@"\n',
    )
    dss = make_dss(rsync_path=wrapper, checksum=1000).start()
    wait_until(lambda: complete(dest), what="a snapshot")
    first, second = (float(t) for t in calls.read_text().split())
    assert second - first >= 1.0  # retry-delay
    assert snapshot_names(dest) == complete(dest)  # the failed attempt was resumed
    assert all("--checksum" in line for line in (tmp_path / "rsync-calls.args").open())

    def created() -> dict[str, Any] | None:
        state = dss.state()
        last = state and state["last_result"]
        return state if last and last["result"] == "created" else None

    state = wait_until(created, what="the result in the state file")
    assert state["last_result"]["checksum"] is True
    assert state["consecutive_failures"] == 0
    assert dss.stop() == 0


def test_max_rsync_errors_consecutive_failures_end_the_loop(
    make_dss: Callable[..., Dss], tmp_path: Path, recorder: tuple[str, Path]
) -> None:
    hook, out = recorder
    calls = tmp_path / "rsync-calls"
    wrapper = script(tmp_path / "rsync-13", f'echo x >> "{calls}"\nexit 13\n')
    dss = make_dss(rsync_path=wrapper, max_rsync_errors=2, exit_hook=hook).start()
    assert dss.process is not None
    assert dss.process.wait(STOP_TIMEOUT) == 1
    assert len(calls.read_text().split()) == 2
    [[reason]] = hook_calls(out)
    assert "2 consecutive snapshot failures" in reason and "rsync exit 13" in reason


def test_sigint_mid_copy_stops_rsync_and_a_restart_resumes(
    make_dss: Callable[..., Dss], tmp_path: Path, dest: Path, recorder: tuple[str, Path]
) -> None:
    hook, out = recorder
    pidfile = tmp_path / "rsync.pid"
    wrapper = script(
        tmp_path / "rsync-slow-once",
        f'if [ ! -e "{pidfile}" ]; then echo $$ > "{pidfile}"; exec sleep 30; fi\n'
        'exec rsync "$@"\n',
    )
    dss = make_dss(rsync_path=wrapper, exit_hook=hook).start()
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="rsync")
    rsync_pid = int(pidfile.read_text())
    started = time.monotonic()
    dss.signal(signal.SIGINT)
    assert dss.process is not None and dss.process.wait(STOP_TIMEOUT) == 0
    assert time.monotonic() - started < 5
    assert hook_calls(out) == [["caught signal SIGINT"]]
    assert not os.path.exists(f"/proc/{rsync_pid}")  # stopped and reaped
    [left] = snapshot_names(dest)
    assert left.endswith("-incomplete")  # kept for a resume
    again = make_dss(rsync_path=wrapper).start()
    wait_until(lambda: complete(dest), what="the resumed snapshot")
    assert snapshot_names(dest) == complete(dest)  # the incomplete dir was reused
    assert again.stop() == 0


def test_a_pre_create_veto_defers_and_is_reported_once(
    make_dss: Callable[..., Dss], tmp_path: Path, dest: Path
) -> None:
    calls = tmp_path / "pre-create-calls"
    hook = script(
        tmp_path / "not-yet",
        f'date +%s.%N >> "{calls}"\n[ "$(wc -l < "{calls}")" -gt 2 ]\n',
    )
    dss = make_dss(pre_create_hook=hook, loglevel="warning").start()
    wait_until(lambda: complete(dest), what="a snapshot after two vetoes")
    times = [float(t) for t in calls.read_text().split()]
    assert len(times) == 3
    assert all(b - a >= 1.0 for a, b in zip(times, times[1:], strict=False))
    assert dss.log().count("create-deferred") == 1
    assert dss.stop() == 0


# --- disk space ------------------------------------------------------------------------------


def old_snapshot(dest: Path, creation: int, duration: int = 10) -> str:
    name = f"{creation}-{creation + duration}.old-old"
    (dest / name).mkdir()
    (dest / name / "file").write_text("x\n")
    return name


def test_low_space_suspends_rsync_removes_and_resumes_it(
    make_dss: Callable[..., Dss], tmp_path: Path, dest: Path
) -> None:
    now = int(time.time())
    # n*u = 3 h: two outdated snapshots, one of which the new snapshot recycles
    outdated = {old_snapshot(dest, now - 5 * 3600), old_snapshot(dest, now - 4 * 3600)}
    reference = old_snapshot(dest, now - 2 * 3600)
    (dest / "1000-incomplete.being_deleted").mkdir()  # an interrupted removal
    pidfile = tmp_path / "rsync.pid"
    wrapper = script(tmp_path / "rsync-slow", f'echo $$ > "{pidfile}"\nexec sleep 30\n')
    dss = make_dss(rsync_path=wrapper).start()
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="rsync")
    pid = int(pidfile.read_text())
    time.sleep(0.3)
    # creating comes first, and nothing is pruned meanwhile
    assert len(outdated & set(snapshot_names(dest))) == 1
    assert "1000-incomplete.being_deleted" in snapshot_names(dest)

    dss.reconfigure(**{"min-free-percent": 100})  # now space is always low
    wait_until(lambda: process_state(pid) == "T", what="SIGSTOP")
    wait_until(lambda: "no-space" in dss.log(), what="the NO_SPACE report")
    names = snapshot_names(dest)
    assert reference in names and not outdated & set(names)
    assert "1000-incomplete.being_deleted" not in names
    assert len([n for n in names if n.endswith("-incomplete")]) == 1  # being created
    state = wait_until(lambda: (s := dss.state()) and s["disk"]["low"] and s, what="state")
    assert state["creating"]["suspended"] is True
    assert state["reloads"] == 1

    dss.reconfigure(**{"min-free-percent": 0})
    wait_until(lambda: process_state(pid) != "T", what="SIGCONT")
    assert dss.log().count("no-space") == 1
    assert dss.stop() == 0


def test_low_space_at_start_removes_down_to_min_complete_and_reports_no_space(
    make_dss: Callable[..., Dss], dest: Path, recorder: tuple[str, Path]
) -> None:
    hook, out = recorder
    now = int(time.time())
    outdated = old_snapshot(dest, now - 4 * 3600)
    recent = [old_snapshot(dest, now - 1000 + 200 * k) for k in range(4)]
    orphan = f"{now - 1100}-incomplete"  # not the newest: not resumable
    (dest / orphan).mkdir()
    dss = make_dss(
        min_free_percent=100, min_complete=2, post_remove_hook=hook, rsync_path="false"
    ).start()
    wait_until(lambda: "no-space" in dss.log(), what="the NO_SPACE report")
    # post-remove hooks run in the notifiers' delivery thread: in order, but the loop
    # does not wait for them
    wait_until(lambda: len(hook_calls(out)) >= 4, what="the post-remove hooks")
    removed = [Path(call[0]).name for call in hook_calls(out)]
    assert removed == [outdated, orphan, recent[0], recent[1]]
    assert snapshot_names(dest) == recent[2:]
    wait_until(
        lambda: (s := dss.state()) and s["activity"].startswith("waiting: disk space low"),
        what="the state file",
    )
    assert dss.stop() == 0
    assert dss.log().count("no-space") == 1


# --- options and modes ---------------------------------------------------------------------------


def test_run_refuses_dry_run_and_an_unmounted_destination(
    make_dss: Callable[..., Dss], run_dss: RunDss
) -> None:
    dss = make_dss()
    assert run_dss("-c", str(dss.config), "--dry-run", "run").returncode == 2
    dss = make_dss(mountpoint=True)
    result = run_dss("-c", str(dss.config), "run")
    assert result.returncode == 1 and "not a mount point" in result.stderr


def test_daemon_mode_detaches_and_logs_to_the_logfile(
    make_dss: Callable[..., Dss], run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    logfile = tmp_path / "dss.log"
    dss = make_dss(logfile=str(logfile), loglevel="info")
    result = run_dss("-c", str(dss.config), "run", "--daemon", check=True)
    pid = control.running_pid(str(dest))
    try:
        assert pid is not None and f"pid {pid}" in result.stderr
        wait_until(lambda: complete(dest), what="a snapshot")
        wait_until(lambda: "snapshot-created" in logfile.read_text(), what="the log")
        status = run_dss("-c", str(dss.config), "status", check=True)
        assert f"running: yes (pid {pid})" in status.stdout
        second = run_dss("-c", str(dss.config), "run", "--daemon")
        assert second.returncode == 1 and f"another dss (pid {pid}, " in second.stderr
        run_dss("-c", str(dss.config), "kill", "--wait", check=True)
        assert control.running_pid(str(dest)) is None
        assert "NOTICE run-exiting (caught signal SIGTERM)" in logfile.read_text()
    finally:
        if control.running_pid(str(dest)) is not None:
            os.kill(pid or 0, signal.SIGKILL)


# --- pure parts: thresholds, reload precedence ---------------------------------------------


def test_disk_space_thresholds_zero_turns_a_check_off() -> None:
    space = diskspace.DiskSpace(
        total_mb=1000, free_mb=50, percent_free=5.0, percent_free_inodes=1.0
    )
    assert diskspace.shortages(space, diskspace.Thresholds(0, 0, 0)) == []
    assert diskspace.shortages(space, diskspace.Thresholds(100, 0, 0)) == ["50 MiB free < 100 MiB"]
    assert diskspace.shortages(space, diskspace.Thresholds(0, 6, 0)) == ["5.0% free < 6%"]
    assert diskspace.shortages(space, diskspace.Thresholds(0, 0, 2))
    assert not diskspace.shortages(space, diskspace.Thresholds(50, 5, 1))  # "below", not "at"
    limits = diskspace.Thresholds(100, 0, 2)
    assert diskspace.record(space, limits) == {
        "free_mb": 50, "total_mb": 1000, "percent_free": 5.0, "percent_free_inodes": 1.0,
        "min_free_mb": 100, "min_free_percent": 0, "min_free_percent_inodes": 2, "low": True,
        "shortages": ["50 MiB free < 100 MiB", "1.0% inodes free < 2%"],
    }
    unread = diskspace.record(None, limits, error="Permission denied")
    assert unread["error"] == "Permission denied" and unread["free_mb"] is None
    assert unread["low"] is False and unread["min_free_mb"] == 100


def test_statvfs_is_read_as_an_unprivileged_user_sees_it(dest: Path) -> None:
    fake = os.statvfs_result((4096, 4096, 1000, 500, 250, 0, 0, 0, 0, 255))
    space = diskspace.from_statvfs(fake)
    assert space.percent_free == 25.0  # f_bavail, not f_bfree
    assert space.percent_free_inodes == 100.0  # no inode counts: never low on inodes
    real = diskspace.measure(str(dest))
    assert 0 < real.percent_free < 100 and real.total_mb > 0
    assert diskspace.shortages(real, diskspace.Thresholds(0, 100, 0))  # how tests force it


def test_on_reload_the_file_wins_over_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "dss.toml"
    write_config(config, {"unit-interval": "1h", "num-intervals": 4})
    overrides = {"unit-interval": "8s", "dest-dir": "/from/the/command/line"}
    reloaded = reload_config(str(config), overrides)
    assert reloaded.unit_interval == 3600 and reloaded.num_intervals == 4
    assert reloaded.dest_dir == "/from/the/command/line"  # not in the file: kept
