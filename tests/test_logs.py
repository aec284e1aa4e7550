"""dssframe.logs: dss's levels, with the logging module loaded only when a message
is actually logged (each case runs in a fresh interpreter)."""

from __future__ import annotations

import datetime
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from dssframe import logs


def run(code: str) -> subprocess.CompletedProcess[str]:
    prelude = "import sys\nfrom dssframe import logs\nlog = logs.get('dssframe.test')\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, check=True
    )


def test_messages_below_the_level_do_not_load_logging() -> None:
    result = run(
        "logs.setup('warning')\n"
        "log.info('quiet %s', 1)\n"
        "log.log(logs.NOTICE, 'quiet too')\n"
        "print('logging' in sys.modules)\n"
    )
    assert result.stdout == "False\n"
    assert result.stderr == ""


def test_the_first_message_at_the_level_loads_and_configures_logging() -> None:
    result = run(
        "logs.setup('notice')\n"
        "log.info('quiet')\n"
        "log.log(logs.NOTICE, 'shown %s', 1)\n"
        "log.info('quiet again')\n"
        "log.error('and %s', 'this')\n"
        "print('logging' in sys.modules)\n"
    )
    assert result.stdout == "True\n"
    assert result.stderr == "dss: shown 1\ndss: error: and this\n"


def test_a_logfile_gets_time_and_level_names(tmp_path: Path) -> None:
    logfile = tmp_path / "dss.log"
    run(f"logs.setup('debug', {str(logfile)!r})\nlog.debug('d')\nlog.log(logs.EMERG, 'e')\n")
    lines = logfile.read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["DEBUG d", "EMERG e"]
    stamp = lines[0].split(" ", 1)[0]  # ISO 8601 with the UTC offset: 2026-12-02T15:04:05+00:00
    assert datetime.datetime.fromisoformat(stamp).utcoffset() is not None


def test_setup_applies_at_once_when_logging_is_already_loaded() -> None:
    result = run(
        "import logging\n"
        "logs.setup('info')\n"
        "assert logging.getLogger('dssframe').level == logs.INFO\n"
        "logging.getLogger('dssframe.other').info('plain logging %s', 2)\n"
    )
    assert result.stderr == "dss: plain logging 2\n"


def test_once_logging_is_loaded_its_own_levels_decide(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest's caplog lowers the level through logging; the stand-in must not filter."""
    assert "logging" in sys.modules
    monkeypatch.setattr(logging.getLogger("dssframe"), "propagate", True)  # reach caplog
    with caplog.at_level(logging.DEBUG, logger="dssframe"):
        logs.get("dssframe.test").debug("seen by %s", "caplog")
    assert "seen by caplog" in caplog.text


def test_levels_are_the_logging_levels() -> None:
    for name, value in logs.LEVELS.items():
        if name not in ("notice", "emerg"):
            assert logging.getLevelName(value) == name.upper().replace("CRIT", "CRITICAL")
