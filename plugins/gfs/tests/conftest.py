"""Fixtures of the gfs plugin's tests: UTC local time, isolated XDG dirs, the real CLI."""

from __future__ import annotations

import os
import subprocess
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
def isolated_dirs(dss_isolated: Path) -> Path:
    """Keep every test away from the user's config and state (dssframe.testing)."""
    return dss_isolated


RunDss = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_dss(dss_cli: RunDss) -> RunDss:
    """Run the real ``dss`` command in a child process (dssframe.testing's dss_cli)."""
    return dss_cli
