"""What dss writes to its log, read as an administrator reads it: every line of
``dss run`` has its time with the UTC offset (or, under journald, a syslog priority);
each failure is one line naming its real cause; a normal stop is one notice; SIGHUP
logs the configuration as TOML and the state as JSON; ``--daemon`` logs to one file
per destination. Real ``dss`` processes, real rsync, real signals."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from dssframe.engine.daemon import logfile_name
from dssframe.store import control
from dsstest import RunDss
from faultfs import tmpfs
from test_daemon import STOP_TIMEOUT, Dss, complete, make_dss, script, wait_until

__all__ = ["make_dss"]  # the fixture, used by name


@pytest.fixture(autouse=True)
def private_dest(dest: Path) -> None:
    """A destination only its owner reads: no permission warning among the lines."""
    dest.chmod(0o700)


def thresholds_off(tmp_path: Path) -> str:
    """A config file turning the free-space thresholds off (tmp dirs may be small)."""
    config = tmp_path / "thresholds-off.toml"
    config.write_text("min-free-mb = 0\nmin-free-percent = 0\n")
    return str(config)

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"
LINE = re.compile(rf"^{STAMP} (DEBUG|INFO|NOTICE|WARNING|ERROR|CRITICAL|EMERG) \S")


def test_foreground_run_lines_carry_time_with_offset_and_level(
    make_dss: Callable[..., Dss], dest: Path
) -> None:
    dss = make_dss(loglevel="info").start()
    wait_until(lambda: complete(dest), what="a snapshot")
    wait_until(lambda: "snapshot-created" in dss.log(), what="its log line")
    assert dss.stop() == 0
    lines = dss.log().splitlines()
    assert len(lines) >= 3
    assert all(LINE.match(line) for line in lines), lines


def test_under_journald_lines_carry_a_syslog_priority_and_no_time(
    make_dss: Callable[..., Dss], tmp_path: Path, dest: Path
) -> None:
    dss = make_dss(loglevel="info")
    journal = tmp_path / "journal"
    with open(journal, "wb") as err:
        stat = os.fstat(err.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
        process = subprocess.Popen(
            [sys.executable, "-m", "dssframe", "-c", str(dss.config), "run"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env,
        )  # fmt: skip
    try:
        wait_until(lambda: "snapshot-created" in journal.read_text(), what="a snapshot")
        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_TIMEOUT) == 0
    finally:
        process.kill()
    lines = journal.read_text().splitlines()
    assert lines and all(re.match(r"^<[0-7]>\S", line) for line in lines), lines
    assert "<5>run-exiting (caught signal SIGTERM)" in lines
    assert any(line.startswith("<6>snapshot-created ") for line in lines)


def test_an_inherited_journal_stream_that_is_not_stderr_keeps_timestamps(
    make_dss: Callable[..., Dss], dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:1")  # inherited from a systemd service
    dss = make_dss().start()
    wait_until(lambda: complete(dest), what="a snapshot")
    assert dss.stop() == 0
    lines = dss.log().splitlines()
    assert lines and all(LINE.match(line) for line in lines), lines


def test_a_normal_stop_is_one_notice_in_the_log_file(
    make_dss: Callable[..., Dss], run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    logfile = tmp_path / "dss.log"
    dss = make_dss(logfile=str(logfile), loglevel="notice")
    run_dss("-c", str(dss.config), "run", "--daemon", check=True)
    pid = control.running_pid(str(dest))
    try:
        wait_until(lambda: complete(dest), what="a snapshot")
        run_dss("-c", str(dss.config), "kill", "--wait", check=True)
    finally:
        if control.running_pid(str(dest)) is not None:
            os.kill(pid or 0, signal.SIGKILL)
    lines = logfile.read_text().splitlines()
    stops = [line for line in lines if "SIGTERM" in line or "exiting" in line]
    assert len(stops) == 1, lines
    assert re.match(rf"^{STAMP} NOTICE run-exiting \(caught signal SIGTERM\)$", stops[0])
    assert not any(" WARNING " in line or " ERROR " in line for line in lines), lines


def test_daemon_mode_logs_to_one_file_per_destination(
    run_dss: RunDss, tmp_path: Path, source: Path, isolated_dirs: Path
) -> None:
    """Without ``logfile``, two destinations (one with a space and a quote in its path)
    get two log files in the state dir, each naming only its own destination."""
    dests = [tmp_path / "backup one", tmp_path / "backup'two"]
    pids = []
    try:
        for dest in dests:
            dest.mkdir(mode=0o700)
            run_dss(
                "-c", thresholds_off(tmp_path), "--source-dir", f"{source}/",
                "--dest-dir", str(dest), "--loglevel", "notice", "run", "--daemon", check=True,
            )  # fmt: skip
            pids.append(control.running_pid(str(dest)))
            wait_until(functools.partial(complete, dest), what="a snapshot")
        logs = sorted(isolated_dirs.rglob("logs/*.log"))
        assert len(logs) == 2, logs
        for dest in dests:
            run_dss("--dest-dir", str(dest), "kill", "--wait", check=True)
        texts = {log.name: log.read_text() for log in logs}
        for dest in dests:
            [mine] = [name for name, text in texts.items() if f"on {dest}" in text]
            assert mine == logfile_name(str(dest))
            readable = re.sub(r"[^A-Za-z0-9._-]", "_", str(dest).strip("/").replace("/", "-"))
            assert mine.startswith(readable[:80] + "-") and " " not in mine
    finally:
        for pid in pids:
            if pid is not None and os.path.exists(f"/proc/{pid}"):
                os.kill(pid, signal.SIGKILL)


def test_sighup_logs_the_config_as_toml_and_the_state_as_json(
    make_dss: Callable[..., Dss], dest: Path
) -> None:
    dss = make_dss(loglevel="info").start()
    wait_until(lambda: complete(dest), what="a snapshot")
    dss.reconfigure(**{"retry-delay": "7s"})
    wait_until(lambda: " INFO state: " in dss.log(), what="the reload's lines")
    assert dss.stop() == 0
    text = dss.log()
    toml_text = text.split(" INFO configuration now:\n", 1)[1]
    toml_lines = []
    for line in toml_text.splitlines():
        if LINE.match(line):
            break
        toml_lines.append(line)
    config = tomllib.loads("\n".join(toml_lines))
    assert config["retry-delay"] == "7s" and config["dest-dir"] == str(dest)
    [state_line] = [line for line in text.splitlines() if " INFO state: " in line]
    state = json.loads(state_line.split(" INFO state: ", 1)[1])
    assert state["pid"] == dss.process.pid if dss.process else False
    assert state["reloads"] == 1


def test_a_failing_create_is_one_line_naming_rsyncs_own_words(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    result = run_dss("-c", thresholds_off(dest.parent), "--source-dir", f"{source}/",
                     "--dest-dir", str(dest), "create", "--rsync-option=--no-such-option")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert re.fullmatch(
        r"dss: error: create-failed \d+-incomplete in \d+\.\ds: rsync exit 1: "
        r"rsync: (error: )?--no-such-option: unknown option", line
    ), line


def test_a_missing_source_is_one_line(run_dss: RunDss, tmp_path: Path, dest: Path) -> None:
    result = run_dss("--source-dir", str(tmp_path / "gone"), "--dest-dir", str(dest), "create")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"dss: error: create-failed: source-dir {tmp_path / 'gone'} does not exist"
    ]


def test_each_run_loop_failure_is_one_line_at_the_default_level(
    make_dss: Callable[..., Dss], tmp_path: Path
) -> None:
    wrapper = script(
        tmp_path / "rsync-fails",
        'echo "rsync: [sender] write error: Broken pipe (32)" >&2\n'
        'echo "rsync error: error in rsync protocol data stream (code 12)" >&2\nexit 12\n',
    )
    dss = make_dss(rsync_path=wrapper, max_rsync_errors=2, loglevel="warning").start()
    assert dss.process is not None and dss.process.wait(STOP_TIMEOUT) == 1
    lines = [line.split(" ", 2)[2] for line in dss.log().splitlines()]
    failed = [line for line in lines if line.startswith("create-failed")]
    assert len(failed) == 2, lines
    assert all(
        "rsync exit 12: rsync: [sender] write error: Broken pipe (32)" in line for line in failed
    ), failed
    assert not any(line.startswith("rsync") for line in lines), lines  # not repeated raw
    [exiting] = [line for line in lines if line.startswith("run-exiting")]
    assert exiting.startswith("run-exiting: 2 consecutive snapshot failures")
    assert len(lines) == 3, lines


def test_one_shot_create_refuses_a_destination_below_min_free_mb(
    run_dss: RunDss, source: Path, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "small", "2m") as small:
        small.chmod(0o700)
        result = run_dss("--source-dir", f"{source}/", "--dest-dir", str(small), "create")
        assert result.returncode == 1
        [line] = result.stderr.splitlines()
        assert line.startswith(f"dss: error: create-failed: disk space low on dest-dir {small} (")
        assert "MiB free < 100 MiB" in line and "nothing was copied" in line
        assert [p.name for p in small.iterdir() if not p.name.startswith(".")] == []
        ok = run_dss("-c", thresholds_off(tmp_path), "--source-dir", f"{source}/",
                     "--dest-dir", str(small), "create")
        assert ok.returncode == 0, ok.stderr
