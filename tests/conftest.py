"""Shared fixtures: real rsync, real processes, an isolated config/state dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """Path of ``name``; a missing tool fails the test in CI and skips it elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if IN_CI:
            pytest.fail(message + " (CI must install it)")
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Keep every test away from the user's config and state directories."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.delenv("DSSFRAME_CONFIG", raising=False)
    monkeypatch.delenv("DSSFRAME_PLUGINS", raising=False)
    monkeypatch.delenv("DSSFRAME_DISABLE_PLUGINS", raising=False)
    return home


@pytest.fixture(scope="session")
def rsync() -> str:
    return require_tool("rsync")


RunDss = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_dss() -> RunDss:
    """Run the real ``dss`` command in a child process: ``run_dss("ls", cwd=...)``."""

    def run(*args: str, check: bool = False, **kwargs: object) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "dssframe", *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            **{"timeout": 120, **kwargs},  # type: ignore[arg-type]
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"dss {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
            )
        return result

    return run


def make_tree(root: Path) -> Path:
    """A small source tree with nested dirs, a symlink, an empty file and odd names."""
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.bin").write_bytes(os.urandom(5000))
    (root / "sub" / "deeper" / "c.txt").write_text("gamma\n")
    (root / "empty").write_bytes(b"")
    (root / "name with spaces & $(x)").write_text("odd\n")
    os.symlink("a.txt", root / "link-to-a")
    return root


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "source")


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "dest"
    path.mkdir()
    return path
from sshd import sshd  # noqa: E402,F401
