"""The lean start-up path: plain ``create``/``ls``/``verify`` run without typer, the
rest falls through to the full command line, and both give the same results."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dssframe.cli.entry import GLOBAL_VALUE_OPTIONS, parse_lean, parse_lean_operands
from dssframe.cli.invocation import Invocation
from dsstest import RunDss, complete


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


def test_plain_verify_invocations_are_parsed_lean() -> None:
    parsed = parse_lean_operands(["--dest-dir", "/d", "verify", "--build", "1700000000", "-v",
                                  "old", "--dry-run", "--job=j", "verify"])
    assert parsed is not None
    state, command, flags, operands = parsed
    assert isinstance(state, Invocation) and command == "verify" and flags == {"--build"}
    assert operands == ["1700000000", "old", "verify"]  # after the command word: names
    assert state.overrides == {"dest-dir": "/d"} and state.dry_run and state.verbosity == 1
    assert state.job_names == ["j"]
    assert parse_lean_operands(["verify", "--json"])[1:] == ("verify", {"--json"}, [])  # type: ignore[index]
    assert parse_lean(["verify", "x"]) is not None  # ... without its operands
    assert parse_lean_operands(["ls"])[3] == []  # type: ignore[index]


@pytest.mark.parametrize(
    "argv",
    [[], ["--help"], ["ls", "--help"], ["-p", "mod", "ls"], ["--version"], ["ls", "--tree"],
     ["--dest-dir"], ["--bogus", "ls"], ["prune"], ["ls", "extra"], ["--", "ls"],
     ["verify", "--repair"], ["verify", "--jobs", "2"], ["verify", "--max-rate=1M"],
     ["verify", "--help"], ["verify", "--", "name"], ["verify", "-x"], ["verify", ""],
     ["verify", "--build=1"], ["-p", "mod", "verify"], ["name", "verify"], ["create", "name"]],
)  # fmt: skip
def test_anything_else_goes_to_the_full_command_line(argv: list[str]) -> None:
    assert parse_lean(argv) is None
    assert parse_lean_operands(argv) is None


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


@pytest.mark.usefixtures("rsync")
def test_verify_does_not_import_typer(run_dss: RunDss, source: Path, dest: Path) -> None:
    run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create", check=True)
    code = (
        "import sys\n"
        "from dssframe.cli.entry import main\n"
        f"assert main(['--dest-dir', {str(dest)!r}, 'verify', '--build']) == 0\n"
        f"assert main(['verify', '--dest-dir', {str(dest)!r}, '--json']) == 0\n"
        "print(sorted(m for m in ('typer', 'click', 'rich', 'importlib.metadata',"
        " 'concurrent.futures', 'multiprocessing', 'dssframe.engine.repair')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def _same_run(text: str) -> str:
    """``text`` without what differs from run to run (the seconds a verify took)."""
    text = re.sub(r" in [0-9]+\.[0-9]s", " in 0.0s", text)
    return re.sub(r'"seconds": [0-9.e-]+', '"seconds": 0', text)


@pytest.mark.usefixtures("rsync")
def test_lean_and_full_verify_say_the_same(run_dss: RunDss, source: Path, dest: Path) -> None:
    """Each plain verify, on the lean path and on typer's (``--max-rate 0``, which is
    the default, takes it there): the same output and exit status."""
    for _ in range(2):
        run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create", check=True)
    old, new = (path.name for path in complete(dest))
    hashes = dest / ".dssframe" / "hashes"
    d = ["--dest-dir", str(dest)]
    cases: list[tuple[list[str], bool]] = [  # (arguments, without hashes)
        ([*d, "verify"], True),  # nothing to verify
        ([*d, "verify", "--build", old], True),
        ([*d, "verify"], False),  # a note: one snapshot has no hashes
        ([*d, "verify", "--build", "--json"], True),
        (["verify", new, *d, "-q"], False),
        (["verify", "--json", *d, old, new], False),
        ([*d, "verify", "nosuch"], False),  # exit status 2
        ([*d, "verify", "--build", "nosuch"], False),
        ([*d, "--dry-run", "verify", "--build"], True),
        (["verify", "--build"], True),  # no destination: a usage error
        (["--num-intervals", "0", *d, "verify"], False),  # a configuration error
        ([*d, "verify", "--build"], True),
        ([*d, "verify", "--json"], False),  # after a.txt changed: modified, status 1
        ([*d, "verify"], False),
    ]
    statuses = set()
    for args, fresh in cases:
        if args[-2:] == ["verify", "--json"]:
            (dest / old / "a.txt").write_text("changed\n")  # shared by both snapshots
        assert parse_lean_operands(args) is not None
        results = []
        for extra in ([], ["--max-rate", "0"]):
            if fresh:
                for path in hashes.glob("*"):
                    path.unlink()
            result = run_dss(*args, *extra)
            results.append((result.returncode, _same_run(result.stdout), result.stderr))
        assert results[0] == results[1], args
        statuses.add(results[0][0])
    assert statuses == {0, 1, 2}


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
