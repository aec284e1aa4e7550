"""What ``--help`` shows: the whole command list, and one placeholder style.

The style is click's: a value is an upper-case word (``--dest-dir DIR``, ``-p
MODULE``, ``--max N``); an argument is its upper-case name in the usage line and in
the Arguments section, in brackets when optional and followed by ``...`` when
repeatable (``NAME``, ``[PATH]...``). Choices are never spelled as a placeholder
(``{json|xml}``, ``<json|xml>``, ``[json|xml]``, ``json|xml``): the placeholder is a
word (``--format FORMAT``) and the help text names the choices."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dssframe.cli.app import build_app, root_command
from dssframe.cli.entry import main
from dssframe.plugins.host import load_host
from dsstest import RunDss

#: An option's value or an argument, in the Options/Arguments sections.
WORD = re.compile(r"[A-Z][A-Z0-9_-]*")
#: An argument in the usage line.
USAGE_ARGUMENT = re.compile(r"\[?[A-Z][A-Z0-9_-]*\]?(\.\.\.)?")


def command_paths() -> list[list[str]]:
    """Every command and command group below the root, as its words."""
    host = load_host()
    host.load_entry_points()
    paths: list[list[str]] = []
    pending: list[tuple[list[str], Any]] = [([], root_command(build_app(host)))]
    while pending:
        path, command = pending.pop()
        if path:
            paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            pending.append(([*path, name], sub))
    return sorted(paths)


def help_text(path: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main([*path, "--help"]) == 0, path
    return capsys.readouterr().out


def sections(text: str) -> dict[str, list[str]]:
    """The help's sections (Options, Arguments, Commands) by name: their lines."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if re.fullmatch(r"[A-Z][a-z]+:", line):
            current = found.setdefault(line[:-1], [])
        elif not line.strip():
            current = None
        elif current is not None:
            current.append(line)
    return found


def first_column(line: str) -> str:
    """A definition line's term (the option names, the argument), without its help."""
    return re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]


def test_the_command_list_is_whole(run_dss: RunDss) -> None:
    shown = run_dss("--help", check=True).stdout
    for line in shown.splitlines():
        if not line.startswith("Usage:"):  # "COMMAND [ARGS]...": click's, not a cut
            assert not line.rstrip().endswith("..."), line
    listed = {first_column(line) for line in sections(shown)["Commands"] if line[2] != " "}
    top = {path[0] for path in command_paths()}
    assert top <= listed
    assert "Remove every outdated, redundant and orphaned snapshot" in shown


def test_every_placeholder_has_one_style(capsys: pytest.CaptureFixture[str]) -> None:
    paths = command_paths()
    assert ["config", "show"] in paths and ["systemd"] in paths and ["completion"] in paths
    for path in [[], *paths]:
        text = help_text(path, capsys)
        usage = next(line for line in text.splitlines() if line.startswith("Usage:"))
        words = usage.split()[2 + len(path) :]
        for word in words:
            if word not in ("[OPTIONS]", "COMMAND", "[ARGS]..."):
                assert USAGE_ARGUMENT.fullmatch(word), (path, usage)
        found = sections(text)
        for line in found.get("Arguments", []):
            if line.startswith("   "):
                continue  # the continuation of a help text (terms are indented by two)
            term = first_column(line).removesuffix("...")
            assert WORD.fullmatch(term), (path, line)
        for line in found.get("Options", []):
            if not line.lstrip().startswith("-"):
                continue  # the continuation of a help text
            for spelled in re.split(r", | / ", first_column(line)):
                name, _, value = spelled.partition(" ")
                assert name.startswith("-"), (path, line)
                assert not value or WORD.fullmatch(value), (path, line)
        for bracket in "<>{}":
            assert bracket not in usage, (path, usage)
