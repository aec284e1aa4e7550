"""End to end: the real ``dss create`` delivers through the installed apprise plugin."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from plugins.apprise.tests.conftest import HttpSink

RunDss = Callable[..., subprocess.CompletedProcess[str]]  # the run_dss fixture


def write_config(path: Path, sink: HttpSink, source: Path, dest: Path, extra: str = "") -> Path:
    path.write_text(
        f'source-dir = "{source}/"\n'
        f'dest-dir = "{dest}"\n'
        f"{extra}"
        'notify = ["apprise"]\n'
        "[plugins.apprise]\n"
        f'on-failure = ["{sink.url("/fail")}"]\n'
        f'on-success = ["{sink.url("/ok")}"]\n'
    )
    return path


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("alpha\n")
    (source / "sub" / "b.txt").write_text("beta\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    return source, dest


def test_a_failing_create_notifies_the_failure_url(
    run_dss: RunDss, http_sink: HttpSink, tmp_path: Path, tree: tuple[Path, Path]
) -> None:
    source, dest = tree
    fake = tmp_path / "fake-rsync"
    fake.write_text("#!/bin/sh\necho 'fake rsync: giving up' >&2\nexit 12\n")
    fake.chmod(0o755)
    config = write_config(tmp_path / "dss.toml", http_sink, source, dest,
                          f'rsync-path = "{fake}"\n')
    result = run_dss("--config", str(config), "create")
    assert result.returncode == 1, result.stderr
    [payload] = http_sink.at("/fail")
    assert payload["title"] == "dss: create failed"
    lines = payload["message"].splitlines()
    assert "exit status: 12" in lines
    assert f"destination: {dest}" in lines
    assert any(line.startswith("error: ") for line in lines)
    assert http_sink.at("/ok") == []


def test_a_snapshot_created_notifies_the_success_url(
    run_dss: RunDss, http_sink: HttpSink, tmp_path: Path, tree: tuple[Path, Path]
) -> None:
    if shutil.which("rsync") is None:
        if os.environ.get("CI"):
            pytest.fail("rsync is not installed (CI must install it)")
        pytest.skip("rsync is not installed")
    source, dest = tree
    config = write_config(tmp_path / "dss.toml", http_sink, source, dest)
    result = run_dss("--config", str(config), "create")
    assert result.returncode == 0, result.stderr
    [snapshot] = [name for name in os.listdir(dest) if not name.startswith(".")]
    [payload] = http_sink.at("/ok")
    assert payload["title"] == "dss: snapshot created"
    assert f"snapshot: {snapshot}" in payload["message"].splitlines()
    assert http_sink.at("/fail") == []
