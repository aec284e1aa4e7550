"""Shell completion, typer's mechanism: the scripts ``dss completion SHELL`` and
``dss --show-completion`` print, sourced by the real shells, complete through the real
``dss`` executable (``_DSS_COMPLETE=complete_bash`` and friends); global options
complete after the command word too, as they are accepted there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dsstest import RunDss, require_tool

#: The ``dss`` console script of this installation (the scripts call ``dss``).
BIN = Path(sys.executable).parent

#: Completes the words of $WORDS (the last one, possibly empty, being completed) as
#: bash does on TAB: the function ``complete -p dss`` names, COMP_WORDS, COMP_CWORD.
BASH_COMPLETE = """
read -r -a COMP_WORDS <<< "$WORDS"
[ "${WORDS: -1}" = " " ] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
spec=$(complete -p dss) || exit 1
function=${spec#*-F }
function=${function%% *}
"$function" dss
printf '%s\\n' "${COMPREPLY[@]}"
"""


def shell_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **extra}
    env.pop("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", None)  # detect the shell
    return env


def bash_completions(load: str, words: str, **env: str) -> list[str]:
    """What real bash offers for ``words`` after running ``load`` (which loads the
    completion script)."""
    bash = require_tool("bash")
    script = load + "\n" + BASH_COMPLETE
    result = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", script],
        env=shell_env(WORDS=words, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.fixture(scope="module")
def dss() -> str:
    path = BIN / "dss"
    assert path.is_file(), f"no dss console script beside {sys.executable}"
    return str(path)


def test_bash_completes_commands_and_their_options(dss: str) -> None:
    load = 'eval "$(dss completion bash)"'
    assert bash_completions(load, "dss pr") == ["prune"]
    offered = bash_completions(load, "dss prune --")
    assert {"--max", "--dry-run", "--dest-dir", "--verbose", "--help"} <= set(offered)
    assert bash_completions(load, "dss prune --dr") == ["--dry-run"]  # a global option
    # after global options, before and after the command word
    assert bash_completions(load, "dss -v --dest-dir /d prune --dest-dir /e --m") == ["--max"]
    assert bash_completions(load, "dss config sh") == ["show"]
    assert bash_completions(load, "dss completion ") == ["bash", "zsh", "fish"]
    # a command's own option is offered once (delete has its own --dry-run)
    assert bash_completions(load, "dss delete N --dry").count("--dry-run") == 1


def test_install_completion_makes_bash_complete(dss: str, tmp_path: Path) -> None:
    """``dss --install-completion`` (typer's) detects bash and installs the script that
    ``dss --show-completion`` and ``dss completion bash`` print. (``; exit $?``: bash
    starts dss as its child instead of replacing itself with it, so that bash is
    the shell dss detects, whatever shell runs the tests.)"""
    bash = require_tool("bash")
    env = shell_env(HOME=str(tmp_path))
    shown = subprocess.run(
        [bash, "--norc", "-c", "dss --show-completion; exit $?"], env=env, capture_output=True,
        text=True, check=True, timeout=120,
    )  # fmt: skip
    printed = subprocess.run(
        [dss, "completion", "bash"], env=env, capture_output=True, text=True, check=True
    )
    assert shown.stdout == printed.stdout and "_DSS_COMPLETE=complete_bash" in shown.stdout
    installed = subprocess.run(
        [bash, "--norc", "-c", "dss --install-completion; exit $?"], env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert "bash completion installed in" in installed.stdout
    load = f"source {tmp_path / '.bashrc'}"
    assert bash_completions(load, "dss pr", HOME=str(tmp_path)) == ["prune"]


def test_fish_completes_commands_and_options(dss: str) -> None:
    fish = require_tool("fish")

    def complete(line: str) -> list[str]:
        script = f"dss completion fish | source; complete --do-complete '{line}'"
        result = subprocess.run(
            [fish, "--no-config", "-c", script], env=shell_env(), capture_output=True,
            text=True, timeout=120, check=True,
        )  # fmt: skip
        return [row.split("\t")[0] for row in result.stdout.splitlines()]

    assert complete("dss pr") == ["prune"]
    assert {"--max", "--dry-run"} <= set(complete("dss prune --"))


def test_zsh_evaluates_what_dss_answers(dss: str) -> None:
    """zsh sources the script and evaluates dss's answer; its completion system's
    functions (compdef, _arguments) are stand-ins that print what they get, as zsh's
    line editor cannot run without a terminal."""
    zsh = require_tool("zsh")
    script = (
        "compdef() { print -r -- compdef $@ }\n"
        "_arguments() { print -r -- $@ }\n"
        'eval "$(dss completion zsh)"\n'
        "words=(dss pr); CURRENT=2; _dss_completion\n"
        "words=(dss prune --); CURRENT=3; _dss_completion\n"
    )
    result = subprocess.run(
        [zsh, "-f", "-c", script], env=shell_env(), capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    first, *rest = result.stdout.splitlines()
    assert first == "compdef _dss_completion dss"
    answers = "\n".join(rest)
    assert '"prune":' in answers and '"--max":' in answers and '"--dry-run":' in answers


@pytest.mark.parametrize(
    ("shell", "names"),
    [
        ("bash", ["complete -o default -F _dss_completion dss", "_DSS_COMPLETE=complete_bash"]),
        ("zsh", ["#compdef dss", "compdef _dss_completion dss", "_DSS_COMPLETE=complete_zsh"]),
        ("fish", ["complete --command dss", "_DSS_COMPLETE=complete_fish"]),
    ],
)
def test_completion_scripts_name_dss(run_dss: RunDss, shell: str, names: list[str]) -> None:
    script = run_dss("completion", shell, check=True).stdout
    for name in names:
        assert name in script, (shell, name)


def test_an_unknown_shell_is_a_usage_error(run_dss: RunDss) -> None:
    result = run_dss("completion", "ksh")
    assert result.returncode == 2 and "'ksh' is not one of" in result.stderr
