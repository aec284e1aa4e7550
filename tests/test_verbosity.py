"""``-v`` and ``-q``: one log level more or less than ``--loglevel`` or the config
file's, repeatable, before or after the command word, on both paths (the lean
create/ls path and the typer app)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import typer

from dssframe.cli.app import build_app, hoist_global_options
from dssframe.cli.entry import parse_lean
from dssframe.cli.invocation import Invocation, shift_loglevel
from dssframe.cli.systemd_commands import global_options
from dssframe.core import naming
from dssframe.plugins.host import load_host
from dsstest import RunDss


def test_the_shift_moves_and_clamps() -> None:
    assert shift_loglevel("warning", 1) == "notice"
    assert shift_loglevel("warning", 2) == "info"
    assert shift_loglevel("warning", -1) == "error"
    assert shift_loglevel("warning", 9) == "debug"
    assert shift_loglevel("warning", -9) == "emerg"
    assert shift_loglevel("info", 0) == "info"


def test_both_paths_count_them_anywhere() -> None:
    root: Any = typer.main.get_command(build_app(load_host()))
    assert hoist_global_options(["prune", "-vv", "--max", "1", "-q"], root) == [
        "-vv", "-q", "prune", "--max", "1",
    ]  # fmt: skip
    # written together with a command's own flag (du -b): each goes where it belongs
    assert hoist_global_options(["du", "-vbq", "N"], root) == ["-vq", "du", "-b", "N"]
    assert hoist_global_options(["pin", "N", "-vx"], root) == ["pin", "N", "-vx"]  # unknown
    for argv, verbosity in [
        (["-v", "create"], 1),
        (["create", "-vv"], 2),
        (["--verbose", "ls", "-q", "--quiet", "-qq"], -3),
        (["-vq", "ls"], 0),
    ]:
        lean = parse_lean(argv)
        assert lean is not None, argv
        state = lean[0]
        assert isinstance(state, Invocation) and state.verbosity == verbosity, argv
    assert parse_lean(["-vx", "ls"]) is None  # typer reports it


def test_the_units_keep_the_shift() -> None:
    assert global_options(Invocation(verbosity=2), None) == ["-vv"]
    assert global_options(Invocation(verbosity=-1), None) == ["-q"]


def outdated_destination(path: Path) -> Path:
    """A destination whose oldest snapshot prune removes (--unit-interval 1
    --num-intervals 3)."""
    path.mkdir()
    now = int(time.time())
    for creation in (now - 30 * 86400, now - 20 * 86400):
        (path / naming.complete_name(creation, creation + 60)).mkdir()
    return path


SCHEDULE = ["--unit-interval", "1", "--num-intervals", "3"]


def test_verbose_shows_info_lines_the_default_hides(run_dss: RunDss, tmp_path: Path) -> None:
    removed = "snapshot-removed"  # an info line (the log notifier's)
    plain = outdated_destination(tmp_path / "plain")
    quiet = run_dss("--dest-dir", str(plain), *SCHEDULE, "prune", check=True)
    assert "removed " in quiet.stdout and removed not in quiet.stderr
    twice = outdated_destination(tmp_path / "twice")
    shown = run_dss("--dest-dir", str(twice), *SCHEDULE, "prune", "-vv", check=True)
    assert removed in shown.stderr
    # on top of the config file's loglevel: notice, one step more is info
    config = tmp_path / "config.toml"
    once = outdated_destination(tmp_path / "once")
    config.write_text(f'dest-dir = "{once}"\nloglevel = "notice"\n')
    shown = run_dss("-v", "--config", str(config), *SCHEDULE, "prune", check=True)
    assert removed in shown.stderr
    assert 'loglevel = "info"' in run_dss("-c", str(config), "-v", "config", "show").stdout


@pytest.mark.usefixtures("rsync")
def test_verbose_on_the_lean_path(run_dss: RunDss, source: Path, dest: Path) -> None:
    args = ["--source-dir", f"{source}/", "--dest-dir", str(dest), "create"]
    assert "running rsync" not in run_dss(*args, check=True).stderr
    assert "running rsync" in run_dss(*args, "-vv", check=True).stderr


def test_quiet_hides_warnings_the_default_shows(run_dss: RunDss, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    dest = tmp_path / "dest"
    dest.mkdir()
    config.write_text(f'dest-dir = "{dest}"\n[plugins.nosuch]\nx = 1\n')  # a warning
    warning = "[plugins.nosuch]"
    assert warning in run_dss("-c", str(config), "prune", check=True).stderr
    assert warning not in run_dss("-c", str(config), "-q", "prune", check=True).stderr
    assert warning not in run_dss("-c", str(config), "prune", "--quiet", check=True).stderr
    # -q on top of --loglevel: info, one step less is notice (warnings still show)
    shown = run_dss("-c", str(config), "--loglevel", "info", "prune", "-q", check=True)
    assert warning in shown.stderr
