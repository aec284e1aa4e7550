"""Fixtures of the gfs plugin's tests: UTC local time, isolated XDG dirs, the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Local time is UTC (no DST) here and in the dss child processes."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


@pytest.fixture(autouse=True)
def isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Keep every test away from the user's config and state directories."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    for variable in ("DSSFRAME_CONFIG", "DSSFRAME_PLUGINS", "DSSFRAME_DISABLE_PLUGINS"):
        monkeypatch.delenv(variable, raising=False)
    return home


RunDss = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_dss() -> RunDss:
    """Run the real ``dss`` command in a child process."""

    def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dssframe", *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
            **kwargs,  # type: ignore[call-overload]
        )

    return run
