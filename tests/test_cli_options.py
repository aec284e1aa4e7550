"""Global options work before and after the command word, on both paths (the lean
create/ls path and the typer app), and every command's --help names them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import typer

from dssframe.cli.app import build_app, hoist_global_options
from dssframe.cli.entry import parse_lean
from dssframe.cli.invocation import Invocation
from dssframe.core import naming
from dssframe.plugins.host import load_host
from dsstest import RunDss, snapshots


@pytest.fixture(scope="module")
def root() -> Any:
    return typer.main.get_command(build_app(load_host()))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["prune", "--dry-run"], ["--dry-run", "prune"]),
        (["prune", "--dest-dir", "D", "--max", "2"], ["--dest-dir", "D", "prune", "--max", "2"]),
        (["ls", "--dest-dir=D", "--json"], ["--dest-dir=D", "ls", "--json"]),
        (["-c", "f", "status", "-c", "g"], ["-c", "f", "-c", "g", "status"]),
        # a command's own --dry-run stays its own (it means the same)
        (["delete", "N", "--dry-run"], ["delete", "N", "--dry-run"]),
        # a value of the command's own option is never taken for an option
        (["pin", "N", "--note", "--dry-run"], ["pin", "N", "--note", "--dry-run"]),
        # after --, nothing is an option
        (["restore", "N", "--", "--dest-dir"], ["restore", "N", "--", "--dest-dir"]),
        # groups: the subcommand's word stays with its group
        (["config", "show", "--config", "f"], ["--config", "f", "config", "show"]),
        # an unknown command, or none: left to click
        (["nosuch", "--dry-run"], ["nosuch", "--dry-run"]),
        (["--dry-run"], ["--dry-run"]),
    ],
)
def test_global_options_after_the_command_move_before_it(
    root: Any, args: list[str], expected: list[str]
) -> None:
    assert hoist_global_options(args, root) == expected


def test_the_lean_path_takes_global_options_after_the_command() -> None:
    lean = parse_lean(["create", "--dest-dir", "/d", "--dry-run", "--allow-shrink"])
    assert lean is not None
    state, command, flags = lean
    assert isinstance(state, Invocation)
    assert (command, flags, state.dry_run) == ("create", {"--allow-shrink"}, True)
    assert state.overrides == {"dest-dir": "/d"}
    assert parse_lean(["ls", "--nosuch"]) is None  # typer reports it


@pytest.mark.usefixtures("rsync")
def test_every_documented_form_works(run_dss: RunDss, source: Path, dest: Path) -> None:
    now = int(time.time())
    for creation in (now - 30 * 86400, now - 20 * 86400):
        (dest / naming.complete_name(creation, creation + 60)).mkdir()
    opts = ["--unit-interval", "1", "--num-intervals", "3"]
    listed = run_dss("ls", "--dest-dir", str(dest), *opts, check=True)
    assert len(listed.stdout.splitlines()) == 2
    dry = run_dss("create", "--dry-run", "--source-dir", f"{source}/", "--dest-dir", str(dest),
                  *opts, check=True)
    assert "rsync" in dry.stdout and len(snapshots(dest)) == 2  # nothing made
    plan = run_dss("prune", "--dry-run", "--dest-dir", str(dest), *opts, check=True)
    assert "would remove" in plan.stdout and len(snapshots(dest)) == 2  # nothing removed
    same = run_dss("--dry-run", "--dest-dir", str(dest), *opts, "prune", check=True)
    assert same.stdout == plan.stdout


def test_every_command_help_names_the_global_options(run_dss: RunDss) -> None:
    for command in (["prune"], ["describe"], ["config", "show"], ["run"]):
        shown = run_dss(*command, "--help", check=True).stdout
        assert "Global options, before or after the command" in shown, command
        assert "--dest-dir" in shown and "--dry-run" in shown, command
