"""``dss systemd``: the units it prints run this dss (absolute path), restart on failure
with back-off, follow the schedule's period, and pass ``systemd-analyze verify``."""

from __future__ import annotations

import datetime
import itertools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from dssframe.cli import systemd_commands as sc
from dssframe.core import naming, retention
from dsstest import RunDss, require_tool


def write_config(tmp_path: Path, unit: str = "1", intervals: int = 5) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "backup").mkdir(exist_ok=True)
    path = tmp_path / "config.toml"
    path.write_text(
        f'source-dir = "{tmp_path}/src/"\ndest-dir = "{tmp_path}/backup"\n'
        f'unit-interval = "{unit}"\nnum-intervals = {intervals}\n'
    )
    return path


def exec_lines(text: str) -> list[list[str]]:
    return [
        shlex.split(line.split("=", 1)[1])
        for line in text.splitlines()
        if line.startswith("ExecStart=")
    ]


def test_service_runs_this_dss_with_its_config_and_restarts_on_failure(
    run_dss: RunDss, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    text = run_dss("-c", str(config), "systemd", "--service", check=True).stdout
    ((program, *args),) = exec_lines(text)
    assert os.path.isabs(program) and os.path.isfile(program) and os.access(program, os.X_OK)
    # run_dss starts `python -m dssframe`: the unit names the venv's console script
    assert program == str(Path(sys.executable).parent / "dss")
    assert args == ["--config", str(config), "run"]
    assert "Restart=on-failure\n" in text
    assert "StartLimitIntervalSec=0\n" in text
    assert "ExecReload=/bin/kill -HUP $MAINPID\n" in text
    assert "WantedBy=multi-user.target\n" in text
    timeout = re.search(r"^TimeoutStopSec=(\d+)s$", text, re.M)
    assert timeout and int(timeout.group(1)) > 10  # dss run stops within 10 s
    assert "Restart=on-abnormal" not in text and "/usr/bin/env" not in text


def test_back_off_only_where_systemd_has_it(run_dss: RunDss, tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    new = run_dss("-c", config, "systemd", "--service", "--systemd-version", "254", check=True)
    assert "RestartSteps=" in new.stdout and "RestartMaxDelaySec=" in new.stdout
    old = run_dss("-c", config, "systemd", "--service", "--systemd-version", "252", check=True)
    assert "\nRestartSteps=" not in old.stdout and "RestartSec=5min\n" in old.stdout


def test_user_units(run_dss: RunDss, tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    text = run_dss("-c", config, "systemd", "--service", "--user", check=True).stdout
    assert "WantedBy=default.target\n" in text
    assert "User=" not in text and "ProtectSystem" not in text


def test_timer_creates_then_prunes_every_period(run_dss: RunDss, tmp_path: Path) -> None:
    # 1 day, 5 intervals: a snapshot every 86400 / 2^4 s = 1 h 30 min
    config = write_config(tmp_path, unit="1", intervals=5)
    out = tmp_path / "units"
    written = run_dss("-c", str(config), "systemd", "--timer", "-o", str(out), check=True)
    assert written.stdout.split() == [
        str(out / "dss-snapshot.service"),
        str(out / "dss-snapshot.timer"),
    ]
    service = (out / "dss-snapshot.service").read_text()
    assert "Type=oneshot\n" in service
    assert [args[-1] for args in exec_lines(service)] == ["create", "prune"]
    timer = (out / "dss-snapshot.timer").read_text()
    assert re.findall(r"^OnCalendar=(.*)$", timer, re.M) == ["*-*-* 00/3:00:00", "*-*-* 01/3:30:00"]
    assert "Persistent=true\n" in timer and "WantedBy=timers.target\n" in timer


@pytest.mark.parametrize(
    ("period", "events"),
    [
        (6 * 3600, ["*-*-* 00/6:00:00"]),  # the defaults: 4 days, 5 intervals
        (3600, ["*-*-* *:00:00"]),
        (900, ["*-*-* *:00/15:00"]),
        (5400, ["*-*-* 00/3:00:00", "*-*-* 01/3:30:00"]),
        (86400, ["*-*-* 00:00:00"]),  # gfs keep-daily
        (4 * 86400, None),  # longer than a day: a monotonic timer
        (7 * 3600, None),  # does not divide a day
    ],
)
def test_calendar_events(period: int, events: list[str] | None) -> None:
    assert sc.calendar_events(period) == events


def test_calendar_events_fire_every_period() -> None:
    """systemd's own reading of the expressions: one event every period, all day."""
    analyze = require_tool("systemd-analyze")
    events = sc.calendar_events(5400)
    assert events
    result = subprocess.run(
        [analyze, "calendar", "--iterations=16", *events],
        capture_output=True, text=True, check=True, env={**os.environ, "TZ": "UTC"},
    )  # fmt: skip
    stamps = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+)", result.stdout)
    assert len(stamps) == 32, result.stdout
    epochs = sorted(
        int(datetime.datetime.fromisoformat(stamp + "+00:00").timestamp()) for stamp in stamps
    )
    assert {b - a for a, b in itertools.pairwise(epochs)} == {5400}


def test_monotonic_timer_for_long_periods(run_dss: RunDss, tmp_path: Path) -> None:
    config = str(write_config(tmp_path, unit="4", intervals=1))
    text = run_dss("-c", config, "systemd", "--timer", check=True).stdout
    assert "OnUnitActiveSec=4d\n" in text and "OnBootSec=" in text


class HourlyPolicy:
    """A calendar policy like gfs keep-hourly: due at the next full hour."""

    def plan(self, snapshots, now, protected):  # type: ignore[no-untyped-def]
        return []

    def interval(self, snapshot, now):  # type: ignore[no-untyped-def]
        return None

    def next_due(self, snapshots, now, average_duration):  # type: ignore[no-untyped-def]
        return (snapshots[-1].creation // 3600 + 1) * 3600

    def next_change(self, snapshots, now):  # type: ignore[no-untyped-def]
        return None


def test_period_comes_from_the_policy() -> None:
    now = 1_700_000_123
    assert retention.schedule_period(HourlyPolicy(), 86400, 5, now) == 3600
    assert retention.schedule_period(object(), 4 * 86400, 5, now) == 6 * 3600  # dss's spacing
    assert naming.parse(naming.complete_name(now, now))  # the probe's snapshot name


def test_quote() -> None:
    assert sc.quote("/usr/bin/dss") == "/usr/bin/dss"
    assert sc.quote("a b") == '"a b"'
    assert sc.quote("100%$HOME") == "100%%$$HOME"
    assert sc.quote("a $b") == '"a $$b"'
    assert sc.quote('say "x"') == '"say \\"x\\""'


def test_neither_service_nor_timer_is_a_usage_error(run_dss: RunDss, tmp_path: Path) -> None:
    result = run_dss("-c", str(write_config(tmp_path)), "systemd")
    assert result.returncode == 2 and "--service or --timer" in result.stderr


@pytest.mark.parametrize("user", [False, True], ids=["system", "user"])
def test_systemd_analyze_verifies_the_units(run_dss: RunDss, tmp_path: Path, user: bool) -> None:
    """``systemd-analyze verify`` accepts the units, with no warning about them."""
    analyze = require_tool("systemd-analyze")
    version = sc.systemd_version()
    assert version, "systemd-analyze is installed but systemctl --version says nothing"
    config = str(write_config(tmp_path))
    out = tmp_path / "units"
    flags = ["--user"] if user else []
    run_dss(
        "-c", config, "systemd", "--service", "--timer", *flags, "-o", str(out),
        "--systemd-version", str(version), check=True,
    )  # fmt: skip
    runtime = tmp_path / "runtime"  # a user manager needs one; CI has no session
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_LEVEL": "notice"}
    units = sorted(str(p) for p in out.iterdir())
    assert len(units) == 3
    result = subprocess.run(
        [analyze, *flags, "verify", *units], capture_output=True, text=True, env=env, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert str(out) not in output, output  # no warning about our files
