"""Shared fixtures: real rsync, real processes, an isolated config/state dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsstest import RunDss, make_tree, require_tool
from sshd import sshd  # noqa: F401  (the session's real sshd, for the ssh tests)


@pytest.fixture(autouse=True)
def isolated_dirs(dss_isolated: Path) -> Path:
    """Every test runs away from the user's config and state (dssframe.testing)."""
    return dss_isolated


@pytest.fixture(scope="session")
def rsync() -> str:
    return require_tool("rsync")


@pytest.fixture
def run_dss(dss_cli: RunDss) -> RunDss:
    """Run the real ``dss`` command in a child process: ``run_dss("ls", check=True)``."""
    return dss_cli


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "source")


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "dest"
    path.mkdir()
    return path
