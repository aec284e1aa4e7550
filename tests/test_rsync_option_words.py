"""rsync-option values: one value is one rsync argument, passed as written and never
split; a value that is evidently several arguments glued by whitespace is refused when
the configuration is loaded (exit 2, one line naming it and showing the fix). And the
README's exclude example does what it says, with real rsync."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from dssframe.core import guards
from dssframe.core.errors import ConfigError
from dssframe.store.configfile import build
from dsstest import RunDss, complete, tree_state

ROOT = Path(__file__).resolve().parent.parent

#: Glued words, each with the list of separate arguments the message suggests.
GLUED: list[tuple[list[str], list[str]]] = [
    (["-H -A -X"], ["-H", "-A", "-X"]),
    (["-a --numeric-ids"], ["-a", "--numeric-ids"]),
    (["--delete-excluded -v"], ["--delete-excluded", "-v"]),
    (["-a\t-H"], ["-a", "-H"]),
    (["-a\n-H"], ["-a", "-H"]),
    (["--exclude *.tmp"], ["--exclude", "*.tmp"]),
    (["--exclude My Documents"], ["--exclude", "My Documents"]),  # one pattern
    (["--rsh ssh -p 2222"], ["--rsh", "ssh -p 2222"]),
    (["-a foo"], ["-a", "foo"]),
    (["-f - *.tmp"], ["-f", "- *.tmp"]),  # -f would get " - *.tmp"
    (["-avT /tmp"], ["-avT", "/tmp"]),
    (["-B 1024"], ["-B", "1024"]),
    (["-M --numeric-ids"], ["-M", "--numeric-ids"]),  # rsync: must start with a dash
    (["-a --exclude My Documents"], ["-a", "--exclude", "My Documents"]),
    (["-x", "--exclude", "*.o", "-H -A"], ["-H", "-A"]),  # after a value word
    (["-- -n"], ["--", "-n"]),
]

#: Values with whitespace that are single rsync arguments: whitespace in a value.
SINGLE: list[list[str]] = [
    ["--exclude=My Documents"],
    ["--rsh=ssh -p 2222"],
    ["--rsh=ssh -v"],  # every whitespace-separated piece starts with "-": still a value
    ["--filter=- *.tmp"],
    ["--filter=- -x"],
    ["--exclude=a -b"],
    ["-f- *.tmp"],
    ["-essh -p 22"],
    ["-e ssh -p 22"],  # rsync splits a remote-shell command itself: same as -e, "ssh -p 22"
    ["-avze ssh -p 22"],
    ["-@ 1"],  # strtol skips the space: the same as -@1
    ["-@ -1"],
    ["-e", "ssh -p 22"],
    ["--exclude", "-H -A"],  # the pattern "-H -A"
    ["--filter", "- *.tmp"],
    ["-f", "- *.tmp"],
    ["--", "-H -A"],  # after "--" nothing is an option
]


def ident(value: object) -> str:
    return repr(value)[:40]


@pytest.mark.parametrize(("options", "separate"), GLUED, ids=ident)
def test_glued_options_are_refused_naming_the_value_and_the_fix(
    options: list[str], separate: list[str]
) -> None:
    from dssframe.core.config import toml_value

    values = {"rsync-option": options}
    for file_values, overrides in ((values, {}), ({}, values)):  # the file, the command line
        with pytest.raises(ConfigError) as info:
            build(file_values, overrides, "f.toml")
        message = str(info.value)
        assert info.value.exit_code == 2
        assert "\n" not in message and "\t" not in message
        assert message.startswith(f"rsync-option: {toml_value(options[-1])} is one rsync argument")
        assert f"rsync-option = {toml_value(separate)} in the config file" in message, message
        assert "--rsync-option=" in message


@pytest.mark.parametrize("options", SINGLE, ids=ident)
def test_single_arguments_with_whitespace_pass_unsplit(options: list[str]) -> None:
    assert guards.rsync_option_problem(options) is None
    assert build({"rsync-option": options}, {}, None).rsync_option == tuple(options)


def test_the_suggested_arguments_pass_the_guard() -> None:
    for _, separate in GLUED:
        assert guards.rsync_option_problem(separate) is None, separate


# --- the rule agrees with real rsync ------------------------------------------------


def run_rsync(rsync: str, words: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "f").write_text("f\n")
    out = tmp_path / "out"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    return subprocess.run(
        [rsync, "-a", *words, f"{src}/", f"{out}/"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize(("options", "separate"), GLUED, ids=ident)
def test_real_rsync_fails_on_every_refused_value(
    rsync: str, tmp_path: Path, options: list[str], separate: list[str]
) -> None:
    """Nothing rsync would accept is refused: every refused word breaks a real rsync."""
    result = run_rsync(rsync, options, tmp_path)
    assert result.returncode != 0, (options, result.stderr)


@pytest.mark.parametrize(
    "options", [o for o in SINGLE if o != ["--", "-H -A"]], ids=ident
)  # after "--" the word is a source path
def test_real_rsync_accepts_every_single_argument_with_whitespace(
    rsync: str, tmp_path: Path, options: list[str]
) -> None:
    result = run_rsync(rsync, options, tmp_path)
    assert result.returncode == 0, (options, result.stderr)


def test_glued_e_runs_the_same_remote_shell_as_separate_words(rsync: str, tmp_path: Path) -> None:
    """``-e ssh -p 22`` as one word is accepted because rsync runs exactly the command
    that ``-e``, ``ssh -p 22`` runs (it splits the remote-shell command itself)."""
    log = tmp_path / "rsh.log"
    rsh = tmp_path / "rsh"
    rsh.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexit 1\n')
    rsh.chmod(0o755)
    src = tmp_path / "src"
    src.mkdir()
    for words in (["-e", f"{rsh} -p 22"], [f"-e {rsh} -p 22"]):
        subprocess.run(
            [rsync, "-a", *words, f"{src}/", "somehost:dst/"],
            capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    first, second = log.read_text().splitlines()
    assert first == second and first.startswith("-p 22 somehost rsync --server")


# --- the real command ---------------------------------------------------------------


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dss: error: rsync-option: "), lines
    assert result.stdout == ""
    return lines[0]


@pytest.mark.usefixtures("rsync")
@pytest.mark.parametrize("command", ["create", "configtest"])
def test_a_glued_value_touches_nothing(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path, command: str
) -> None:
    before = tree_state(source)
    paths = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    fix = 'rsync-option = ["-H", "-A", "-X"] in the config file, or --rsync-option=-H'
    line = refused(run_dss(*paths, "--rsync-option=-H -A -X", command))
    assert '"-H -A -X" is one rsync argument' in line and fix in line
    config = tmp_path / "config.toml"
    config.write_text('rsync-option = ["-H -A -X"]\n')
    line = refused(run_dss("-c", str(config), *paths, command))
    assert '"-H -A -X" is one rsync argument' in line and fix in line
    if command == "create":  # the original dss's spelling goes through the same loader
        assert fix in refused(run_dss("-O", "-H -A -X", *paths, "--create"))
    assert tree_state(source) == before
    assert os.listdir(dest) == []


@pytest.mark.usefixtures("rsync")
def test_single_values_with_spaces_reach_rsync_whole(
    run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    source = tmp_path / "src"
    (source / "My Documents").mkdir(parents=True)
    (source / "My Documents" / "letter").write_text("dear\n")
    (source / "My").mkdir()
    (source / "My" / "kept").write_text("kept\n")
    (source / "doc").write_text("doc\n")
    run_dss(
        "--source-dir", f"{source}/", "--dest-dir", str(dest),
        "--rsync-option=--exclude=My Documents", "--rsync-option=--rsh=ssh -p 2222",
        "create", check=True,
    )  # fmt: skip
    (snapshot,) = complete(dest)
    assert sorted(os.listdir(snapshot)) == ["My", "doc"]


@pytest.mark.usefixtures("rsync")
@pytest.mark.parametrize(
    "how",
    ["toml-two-elements", "toml-one-element", "cli-equals", "cli-separate-word"],
)
def test_the_list_form_reaches_rsync_as_separate_arguments(
    run_dss: RunDss, tmp_path: Path, dest: Path, how: str
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "keep.txt").write_text("keep\n")
    (source / "scratch.tmp").write_text("scratch\n")
    config = tmp_path / "config.toml"
    config.write_text(f'source-dir = "{source}/"\ndest-dir = "{dest}"\n')
    args = ["-c", str(config)]
    if how == "toml-two-elements":
        config.write_text(config.read_text() + 'rsync-option = ["--exclude", "*.tmp"]\n')
    elif how == "toml-one-element":
        config.write_text(config.read_text() + 'rsync-option = ["--exclude=*.tmp"]\n')
    elif how == "cli-equals":
        args += ["--rsync-option=--exclude", "--rsync-option=*.tmp"]
    else:  # each --rsync-option takes the next word, even one that starts with "-"
        args += ["--rsync-option", "--exclude", "--rsync-option", "*.tmp"]
    for lean in (True, False):  # the lean create path and typer's (configtest)
        if lean:
            run_dss(*args, "create", check=True)
        else:
            shown = run_dss(*args, "configtest")
            assert re.search(
                r'^rsync-option = \["--exclude(=\*\.tmp"|", "\*\.tmp")\]$', shown.stdout, re.M
            ), shown.stdout
    (snapshot,) = complete(dest)
    assert os.listdir(snapshot) == ["keep.txt"]


@pytest.mark.usefixtures("rsync")
def test_one_rsync_option_takes_one_word(run_dss: RunDss, source: Path, dest: Path) -> None:
    """``--rsync-option --exclude '*.tmp'``: the pattern is not the option's, it is a
    word of its own (README says so)."""
    paths = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    for command in ("create", "configtest"):
        result = run_dss(*paths, "--rsync-option", "--exclude", "*.tmp", command)
        assert result.returncode == 2 and "*.tmp" in result.stderr, result.stderr
    assert os.listdir(dest) == []


# --- README's exclude example -------------------------------------------------------


def readme_config() -> dict[str, object]:
    """The TOML example of README.md's Configuration section, parsed."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Configuration", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.S)
    assert block is not None, "README's Configuration section has no TOML example"
    return tomllib.loads(block.group(1))


@pytest.mark.usefixtures("rsync")
def test_readme_exclude_example_excludes_the_caches(
    run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    example = readme_config()
    source_dir, options = example["source-dir"], example["rsync-option"]
    assert isinstance(source_dir, str) and isinstance(options, list)
    assert source_dir.rstrip("/") == "/home"
    assert any("--exclude" in option for option in options)
    home = tmp_path / "home"
    for user in ("alice", "bob"):
        (home / user / ".cache").mkdir(parents=True)
        (home / user / ".cache" / "x").write_text("cached\n")
        (home / user / "doc").write_text(f"{user}'s\n")
    (home / "alice" / "src" / ".cache").mkdir(parents=True)  # not a home's own .cache
    (home / "alice" / "src" / ".cache" / "y").write_text("kept\n")
    slash = "/" if source_dir.endswith("/") else ""
    config = tmp_path / "config.toml"
    config.write_text(
        f'source-dir = "{home}{slash}"\ndest-dir = "{dest}"\n'
        f"rsync-option = {tomllib_dump(options)}\n"
    )
    run_dss("-c", str(config), "create", check=True)
    (snapshot,) = complete(dest)
    top = snapshot if slash else snapshot / "home"
    assert sorted(os.listdir(top)) == ["alice", "bob"]
    for user in ("alice", "bob"):
        assert sorted(os.listdir(top / user)) == (["doc", "src"] if user == "alice" else ["doc"])
    assert (top / "alice" / "src" / ".cache" / "y").read_text() == "kept\n"


def tomllib_dump(words: list[str]) -> str:
    from dssframe.core.config import toml_value

    return toml_value(words)
