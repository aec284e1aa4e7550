"""Command-line behaviour: errors are one clear line with exit 2 and touch nothing."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from dsstest import RunDss, snapshots


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--num-intervals", "0", "ls"], "num-intervals: 0 is out of range (allowed: 1..30)"),
        (["--num-intervals", "31", "ls"], "num-intervals: 31 is out of range"),
        (["--unit-interval", "soon", "ls"], "unit-interval: 'soon'"),
        (["--loglevel", "loud", "ls"], "loglevel: 'loud' is not a log level"),
        (["--retention", "nope", "ls"], "unknown retention 'nope'; valid names: dyadic"),
        (["--transport", "nope", "create"], "unknown transport 'nope'; valid names: rsync"),
        (["--no-such-option", "ls"], "No such option: --no-such-option"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["prune", "--max", "-1"], "--max"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(
    run_dss: RunDss, dest: Path, source: Path, args: list[str], needle: str
) -> None:
    before = sorted(os.listdir(dest))
    result = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dss: error: ")
    assert needle in lines[0]
    assert sorted(os.listdir(dest)) == before


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('source-dir = "/x"\nbogus-key = 1\n', "unknown option 'bogus-key'"),
        ("num-intervals = 'five'\n", "num-intervals: expected an integer, got 'five'"),
        ("keep-redundant = 3\n", "keep-redundant: expected true or false, got 3"),
        ("rsync-option = 5\n", "rsync-option: expected a list of strings"),
        ("min-free-percent = 101\n", "min-free-percent: 101 is out of range (allowed: 0..100)"),
        ("this is not toml\n", "invalid TOML"),
        ("[plugins]\ngfs = 3\n", "[plugins] must hold one table per plugin"),
    ],
)
def test_bad_config_files_give_one_line_and_exit_2(
    run_dss: RunDss, tmp_path: Path, dest: Path, content: str, needle: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(content)
    result = run_dss("--config", str(config), "--dest-dir", str(dest), "ls")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert needle in line
    assert str(config) in line or "command line" in line or "config" in line


def test_missing_dest_dir_and_missing_config(run_dss: RunDss, tmp_path: Path) -> None:
    result = run_dss("ls")
    assert result.returncode == 2
    assert "dest-dir is not set" in result.stderr
    result = run_dss("--dest-dir", str(tmp_path / "absent"), "ls")
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    result = run_dss("--config", str(tmp_path / "absent.toml"), "ls")
    assert result.returncode == 2
    assert "absent.toml does not exist" in result.stderr


def test_config_file_is_read_and_command_line_wins(
    run_dss: RunDss, tmp_path: Path, source: Path, dest: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(  # configtest fails without a source-dir (issue 13)
        f'source-dir = "{source}/"\ndest-dir = "{dest}"\nnum-intervals = 7\nunit-interval = "6h"\n'
        'rsync-option = ["--exclude", "/proc"]\n'
    )
    shown = run_dss("--config", str(config), "--num-intervals", "3", "config", "show", check=True)
    values = tomllib.loads(shown.stdout)
    assert values["dest-dir"] == str(dest)
    assert values["num-intervals"] == 3
    assert values["unit-interval"] == "6h"
    assert values["rsync-option"] == ["--exclude", "/proc"]
    env = {**os.environ, "DSSFRAME_CONFIG": str(config)}
    path = run_dss("config", "path", env=env, check=True)
    assert path.stdout.strip() == str(config)
    test = run_dss("configtest", env=env, check=True)
    assert "configuration OK" in test.stderr
    assert tomllib.loads(test.stdout)["num-intervals"] == 7


def test_default_config_path_is_under_the_user_config_dir(
    run_dss: RunDss, isolated_dirs: Path
) -> None:
    result = run_dss("config", "path", check=True)
    assert result.stdout.strip() == str(isolated_dirs / "config" / "dssframe" / "config.toml")


def test_import_dssrc_writes_a_config_dss_accepts(run_dss: RunDss, tmp_path: Path) -> None:
    dssrc = tmp_path / "dssrc"
    dssrc.write_text(
        "# original dss config\n"
        'source-dir "/home/user data"\n'
        "dest-dir /backup\n"
        'rsync-option "--exclude"\n'
        "rsync-option /proc\n"
        "unit-interval 7\n"
        "num-intervals 6\n"
        "keep-redundant\n"
        "min-free-mb 500\n"
    )
    out = tmp_path / "config.toml"
    run_dss("config", "import-dssrc", str(dssrc), "--output", str(out), check=True)
    values = tomllib.loads(out.read_text())
    assert values["source-dir"] == "/home/user data"
    assert values["rsync-option"] == ["--exclude", "/proc"]
    assert values["unit-interval"] == "1w"  # 7 days, spelled unambiguously
    assert values["keep-redundant"] is True
    shown = run_dss("--config", str(out), "config", "show", check=True)
    assert tomllib.loads(shown.stdout)["unit-interval"] == "1w"
    again = run_dss("config", "import-dssrc", str(dssrc), "--output", str(out))
    assert again.returncode == 2 and "--force" in again.stderr


def test_version_lists_plugins(run_dss: RunDss) -> None:
    result = run_dss("--version", check=True)
    assert result.stdout.startswith("dss (dssframe) ")
    for name in ("rsync", "dyadic", "log_notify"):
        assert f"plugin {name} " in result.stdout


def test_no_command_prints_usage_and_exits_2(run_dss: RunDss) -> None:
    result = run_dss()
    assert result.returncode == 2
    assert "Usage: dss" in result.stdout + result.stderr


@pytest.mark.usefixtures("rsync")
def test_demo_snapshots_twice_and_lists(run_dss: RunDss, tmp_path: Path) -> None:
    result = run_dss("demo", "--dir", str(tmp_path / "demo"), check=True)
    assert "one hard-linked file in both: True" in result.stdout
    assert "new copy in snapshot 2: True" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("0\t")]
    assert len(rows) == 2
    assert len(snapshots(tmp_path / "demo" / "snapshots")) == 2


@pytest.mark.usefixtures("rsync")
def test_create_and_prune_need_nothing_but_the_destination(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    """The lock and rsync's statistics live in <dest>/.dssframe: an unusable state
    directory (a file where it should be) stops neither create nor prune."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state dir should be")
    env = {**os.environ, "XDG_STATE_HOME": str(blocker)}
    for args in (["create"], ["prune"]):
        result = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), *args, env=env)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert len([s for s in snapshots(dest) if s.complete]) == 1


# --- the original's option-style command line -------------------------------------


def test_original_command_lines_are_translated() -> None:
    from dssframe.cli.original import is_option_style, translate

    assert not is_option_style(["ls"]) and not is_option_style(["--", "--create"])
    t = translate(["-R", "-d", "-c", "/root/.dssrc", "-u4", "--num-intervals=6",
                   "-O", "--exclude", "--rsync-option", "/proc", "-D"])
    assert (t.command, t.config_file, t.dry_run, t.arguments) == (
        "run", "/root/.dssrc", True, ["--daemon"])
    assert t.overrides == {"unit-interval": "4", "num-intervals": "6",
                           "rsync-option": ["--exclude", "/proc"]}
    assert translate(["--kill", "-w"]).arguments == ["--wait"]
    assert translate(["--ls", "--dest-dir", "/b", "--keep-redundant"]).overrides == {
        "dest-dir": "/b", "keep-redundant": True}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--create", "--ls"], "exactly one"),
        (["--ls", "--frobnicate"], "unknown option '--frobnicate'"),
        (["--ls", "-u"], "needs a value"),
        (["--ls", "-d"], "--daemon goes with --run"),
        (["--ls", "--keep-redundant=yes"], "takes no value"),
    ],
)
def test_a_bad_original_command_line_is_one_line_and_exit_2(
    run_dss: RunDss, argv: list[str], message: str
) -> None:
    result = run_dss(*argv)
    assert result.returncode == 2
    assert result.stderr.startswith("dss: error:") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.usefixtures("rsync")
def test_an_existing_cron_line_runs_unchanged(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    """``dss --create`` with the original's ~/.dssrc (read directly, not imported),
    then ``-L``, ``--prune -D``, and ``-c FILE`` for another option file."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".dssrc").write_text(
        f'source-dir "{source}/"\ndest-dir {dest}\nunit-interval 4\nnum-intervals 5\n'
    )
    env = {**os.environ, "HOME": str(home)}
    env.pop("DSSFRAME_CONFIG", None)
    created = run_dss("--create", env=env, check=True)
    (snap,) = snapshots(dest)
    assert created.stdout.strip() == str(dest / snap.name)
    listed = run_dss("-L", env=env, check=True)
    assert listed.stdout == f"0\t{snap.name}\t  0:00\n"
    pruned = run_dss("--prune", "-D", env=env, check=True)
    assert pruned.stdout == "" and snapshots(dest) == [snap]
    other = tmp_path / "other.dssrc"
    other.write_text(f"dest-dir {dest}\n")
    assert run_dss("--ls", "-c", str(other), check=True).stdout == listed.stdout
