"""End to end: the real ``dss create`` (real rsync, a child process) pings a real HTTP
server on 127.0.0.1 through the installed ping plugin."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from plugins.ping.tests.conftest import PingServer

RunDss = Callable[..., subprocess.CompletedProcess[str]]  # the run_dss fixture


def require_rsync() -> None:
    if shutil.which("rsync") is None:
        if os.environ.get("CI"):
            pytest.fail("rsync is not installed (CI must install it)")
        pytest.skip("rsync is not installed")


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("alpha\n")
    (source / "sub" / "b.txt").write_text("beta\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    return source, dest


def write_config(path: Path, source: Path, dest: Path, table: str, extra: str = "",
                 notify: str = 'notify = ["ping"]\n') -> Path:
    path.write_text(
        f'source-dir = "{source}/"\ndest-dir = "{dest}"\n'
        f"min-free-mb = 1\nmin-free-percent = 0\n{extra}{notify}"
        f"[plugins.ping]\n{table}"
    )
    return path


def snapshots(dest: Path) -> list[str]:
    return [name for name in os.listdir(dest) if not name.startswith(".")]


def test_a_create_pings_start_then_success(
    run_dss: RunDss, ping_server: PingServer, tmp_path: Path, tree: tuple[Path, Path]
) -> None:
    require_rsync()
    source, dest = tree
    config = write_config(tmp_path / "dss.toml", source, dest,
                          f'url = "{ping_server.url("/ping/0f3c-uuid")}"\n')
    result = run_dss("--config", str(config), "create")
    assert result.returncode == 0, result.stderr
    [snapshot] = snapshots(dest)
    assert [(r.method, r.path) for r in ping_server.received] == [
        ("POST", "/ping/0f3c-uuid/start"),
        ("POST", "/ping/0f3c-uuid"),
    ]
    start, success = ping_server.received
    assert start.body.splitlines()[0].startswith("create-started ")
    assert success.body.splitlines()[0].startswith(f"snapshot-created {snapshot} in ")
    assert f"snapshot: {snapshot}" in success.body.splitlines()
    assert "dss: warning: ping:" not in result.stderr


def test_a_failing_create_pings_start_then_fail_with_the_error(
    run_dss: RunDss, ping_server: PingServer, tmp_path: Path, tree: tuple[Path, Path]
) -> None:
    source, dest = tree
    fake = tmp_path / "fake-rsync"
    fake.write_text("#!/bin/sh\necho 'fake rsync: the disk caught fire' >&2\nexit 12\n")
    fake.chmod(0o755)
    config = write_config(tmp_path / "dss.toml", source, dest,
                          f'url = "{ping_server.url("/hc/uuid")}"\n',
                          extra=f'rsync-path = "{fake}"\n')
    result = run_dss("--config", str(config), "create")
    assert result.returncode == 1, result.stderr
    assert ping_server.paths() == ["/hc/uuid/start", "/hc/uuid/fail"]
    failure = ping_server.received[1]
    lines = failure.body.splitlines()
    assert "12" in lines[0] and lines[0] in result.stderr  # the error line dss printed
    assert "event: create-failed" in lines and "exit status: 12" in lines
    tail = lines[lines.index("recent events, oldest first:") + 1:]
    assert [line.split(" ")[2] for line in tail] == ["create-started", "create-failed"]


def test_a_missing_source_pings_fail_only(
    run_dss: RunDss, ping_server: PingServer, tmp_path: Path, tree: tuple[Path, Path]
) -> None:
    _, dest = tree
    config = write_config(tmp_path / "dss.toml", tmp_path / "gone", dest,
                          f'url = "{ping_server.url("/hc/uuid")}"\n')
    result = run_dss("--config", str(config), "create")
    assert result.returncode != 0
    assert ping_server.paths() == ["/hc/uuid/fail"]
    assert "gone" in ping_server.received[0].body.splitlines()[0]


def test_a_server_that_is_down_costs_one_warning(
    run_dss: RunDss, closed_port: int, tmp_path: Path, tree: tuple[Path, Path]
) -> None:
    require_rsync()
    source, dest = tree
    url = f"http://127.0.0.1:{closed_port}/ping/secret-uuid"
    config = write_config(tmp_path / "dss.toml", source, dest,
                          f'url = "{url}"\nretries = 1\n')
    result = run_dss("--config", str(config), "create")
    assert result.returncode == 0, result.stderr
    assert len(snapshots(dest)) == 1
    prefix = "dss: warning: ping:"
    warnings = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith(
        f"{prefix} start ping to http://127.0.0.1:{closed_port}/… failed after 2 attempts")
    assert "secret-uuid" not in result.stderr


def test_not_listed_in_notify_nothing_is_sent(
    run_dss: RunDss, ping_server: PingServer, tmp_path: Path, tree: tuple[Path, Path]
) -> None:
    require_rsync()
    source, dest = tree
    config = write_config(tmp_path / "dss.toml", source, dest,
                          f'url = "{ping_server.url("/hc/uuid")}"\n', notify="")
    result = run_dss("--config", str(config), "create")
    assert result.returncode == 0, result.stderr
    assert len(snapshots(dest)) == 1
    assert ping_server.received == []
    assert "[plugins.ping]: plugin 'ping' is installed but not enabled" in result.stderr


def test_a_bad_url_is_a_config_error(
    run_dss: RunDss, ping_server: PingServer, tmp_path: Path, tree: tuple[Path, Path]
) -> None:
    source, dest = tree
    config = write_config(tmp_path / "dss.toml", source, dest,
                          'on-failure = "ftp://example.com/secret-token"\n')
    result = run_dss("--config", str(config), "configtest")
    assert result.returncode == 2
    assert "[plugins.ping] on-failure: 'ftp://example.com/…' is not an http" in result.stderr
    assert "secret-token" not in result.stderr
