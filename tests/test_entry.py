"""The lean start-up path: plain ``create``/``ls`` run without typer, the rest falls
through to the full command line, and both give the same results."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dssframe.cli.entry import GLOBAL_VALUE_OPTIONS, parse_lean
from dssframe.cli.invocation import Invocation
from dsstest import RunDss


def test_plain_invocations_are_parsed_lean() -> None:
    parsed = parse_lean(["-c", "f.toml", "--source-dir", "/s", "--dest-dir=/d",
                         "--rsync-option", "--exclude", "--rsync-option=-H", "--dry-run",
                         "create"])
    assert parsed is not None
    state, command, flags = parsed
    assert isinstance(state, Invocation) and command == "create" and flags == set()
    assert state.config_file == "f.toml" and state.dry_run
    assert state.overrides == {"source-dir": "/s", "dest-dir": "/d",
                               "rsync-option": ["--exclude", "-H"]}
    assert parse_lean(["--dest-dir", "/d", "ls", "--json"])[2] == {"--json"}  # type: ignore[index]


@pytest.mark.parametrize(
    "argv",
    [[], ["--help"], ["ls", "--help"], ["-p", "mod", "ls"], ["--version"], ["ls", "--tree"],
     ["--dest-dir"], ["--bogus", "ls"], ["prune"], ["ls", "extra"], ["--", "ls"]],
)
def test_anything_else_goes_to_the_full_command_line(argv: list[str]) -> None:
    assert parse_lean(argv) is None


def test_lean_options_are_the_global_options_of_the_full_command_line() -> None:
    from dssframe.cli.app import VALUE_OPTIONS

    assert set(GLOBAL_VALUE_OPTIONS) | {"-p", "--plugin", "-j"} == set(VALUE_OPTIONS)


def test_ls_and_create_do_not_import_typer(tmp_path: Path) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.mkdir()
    dest.mkdir()
    code = (
        "import sys\n"
        "from dssframe.cli.entry import main\n"
        f"assert main(['--dest-dir', {str(dest)!r}, 'ls']) == 0\n"
        f"assert main(['--source-dir', {str(source)!r}, '--dest-dir', {str(dest)!r},"
        " '--dry-run', 'create']) == 0\n"
        "print(sorted(m for m in ('typer', 'click', 'rich', 'importlib.metadata')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_lean_and_full_paths_print_the_same(run_dss: RunDss, dest: Path) -> None:
    from dssframe.core import naming

    for i in range(3):
        (dest / naming.complete_name(1_700_000_000 + 100 * i, 1_700_000_050 + 100 * i)).mkdir()
    lean = run_dss("--dest-dir", str(dest), "ls", "--json", check=True)
    full = run_dss("--dest-dir", str(dest), "ls", "--json", "--with-metadata", check=True)
    assert lean.stdout.count('"name"') == 3
    assert full.stdout.count('"name"') == 0  # no metadata documents: filtered out
    errors = run_dss("--num-intervals", "0", "--dest-dir", str(dest), "ls")
    assert errors.returncode == 2
    assert errors.stderr == "dss: error: command line: num-intervals: 0 is out of range " \
        "(allowed: 1..30)\n"


#: Modules that cost dss create start-up time and that it does not need before rsync
#: runs (measured marginal import costs on Python 3.11: 1.5 to 6 ms each). tomllib is
#: needed only when there is a config file to parse (this test has none).
NOT_BEFORE_RSYNC = (
    "typer", "click", "rich", "importlib.metadata", "platformdirs", "pathlib", "hashlib",
    "tempfile", "dataclasses", "logging", "json", "tomllib", "dssframe.store.metadata",
)  # fmt: skip


def test_a_real_create_starts_rsync_before_importing_what_it_does_not_need(
    rsync: str, source: Path, dest: Path
) -> None:
    code = (
        "import sys\n"
        "seen = []\n"
        "def hook(event, args):\n"
        "    if event == 'subprocess.Popen' and not seen:\n"
        f"        seen.append(sorted(m for m in {NOT_BEFORE_RSYNC!r} if m in sys.modules))\n"
        "sys.addaudithook(hook)\n"
        "from dssframe.cli.entry import main\n"
        f"rc = main(['--source-dir', {str(source)!r}, '--dest-dir', {str(dest)!r},"
        " 'create'])\n"
        "print(rc, seen)\n"
    )
    env = {**os.environ, "DSSFRAME_PLUGINS": ""}  # the core as README installs it
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.strip().splitlines()[-1] == "0 [[]]", result.stdout + result.stderr
    assert len([p for p in dest.iterdir() if not p.name.startswith(".")]) == 1


def test_main_leaves_the_garbage_collector_as_it_found_it(dest: Path) -> None:
    """In-process, main neither switches the collector nor freezes the caller's
    objects (only the console script tunes the collector)."""
    import gc

    from dssframe.cli.entry import main

    frozen = gc.get_freeze_count()
    assert gc.isenabled()
    assert main(["--dest-dir", str(dest), "ls"]) == 0
    assert main(["--dest-dir", str(dest), "describe", "--help"]) == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
    gc.disable()
    try:
        assert main(["--dest-dir", str(dest), "ls"]) == 0
        assert not gc.isenabled()
        assert gc.get_freeze_count() == frozen
    finally:
        gc.enable()
