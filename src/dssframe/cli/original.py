"""The original dss's option-style command line, so that an existing cron line or
script runs unchanged: ``dss --run -c ~/.dssrc``, ``dss -C``, ``dss --ls --dest-dir X``.

In the 0.1 series a command is an option (``--create``/``-C``, ``--prune``/``-P``,
``--ls``/``-L``, ``--run``/``-R``; later ``--kill``, ``--reload``, ``--configtest``),
and every setting is an option of the same name as its config key (gengetopt syntax:
``--opt value``, ``--opt=value``, ``-u 4``, ``-u4``). This module translates such a
command line into dssframe's global options and command (pure, :func:`translate`) and
runs it. ``-c FILE`` names an original option file, read directly; without ``-c`` the
original's default ``~/.dssrc`` is read when it exists (else dssframe's own config).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from dssframe.core.errors import UsageError

#: Command options of the original and the dssframe command each is.
COMMANDS = {
    "--create": "create", "-C": "create",
    "--prune": "prune", "-P": "prune",
    "--ls": "ls", "-L": "ls",
    "--run": "run", "-R": "run",
    "--kill": "kill", "-K": "kill",
    "--reload": "reload",
    "--configtest": "configtest",
}  # fmt: skip

#: Short options of dss.ggo (0.1.4) and the long option (= config key) each stands for.
SHORT = {
    "-c": "config-file", "-d": "daemon", "-D": "dry-run", "-l": "loglevel",
    "-H": "remote-host", "-U": "remote-user", "-O": "rsync-option", "-u": "unit-interval",
    "-n": "num-intervals", "-r": "pre-create-hook", "-o": "post-create-hook",
    "-e": "exit-hook", "-m": "min-free-mb", "-p": "min-free-percent",
    "-i": "min-free-percent-inodes", "-k": "keep-redundant", "-w": "wait", "-s": "signal",
}  # fmt: skip

#: Options without a value.
FLAGS = frozenset({"daemon", "dry-run", "no-resume", "keep-redundant", "mountpoint", "wait"})
#: Options that are not config keys: what they become.
SPECIAL = frozenset({"config-file", "daemon", "dry-run", "wait", "signal"})


class Translated(NamedTuple):
    """An original command line as dssframe sees it."""

    command: str
    config_file: str | None
    overrides: dict[str, object]
    dry_run: bool
    arguments: list[str]  # the command's own options (run --daemon, kill --wait ...)


def is_option_style(argv: list[str]) -> bool:
    """Whether ``argv`` is the original's spelling (a command given as an option)."""
    for token in argv:
        if token == "--":
            return False
        if token in COMMANDS:
            return True
    return False


def translate(argv: list[str]) -> Translated:
    """The dssframe command, config file, overrides and command options of ``argv``
    (pure). Raises UsageError for an unknown option, a missing value or not exactly
    one command."""
    from dssframe.core.config import OPTION_BY_KEY

    commands: list[str] = []
    values: dict[str, object] = {}
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token in COMMANDS:
            commands.append(COMMANDS[token])
            continue
        if token.startswith("--"):
            key, eq, inline = token[2:].partition("=")
            value: str | None = inline if eq else None
        elif token.startswith("-") and len(token) >= 2 and token[:2] in SHORT:
            key, value = SHORT[token[:2]], token[2:] or None
        else:
            raise UsageError(f"unknown option {token!r} in the original dss command line")
        if key not in OPTION_BY_KEY and key not in SPECIAL:
            raise UsageError(f"unknown option {token!r} in the original dss command line")
        if key in FLAGS:
            if value is not None:
                raise UsageError(f"option --{key} takes no value")
            values[key] = True
            continue
        if value is None:
            if i >= len(tokens):
                raise UsageError(f"option --{key} needs a value")
            value = tokens[i]
            i += 1
        if key == "rsync-option":
            existing = values.setdefault(key, [])
            assert isinstance(existing, list)
            existing.append(value)
        else:
            values[key] = value
    if len(set(commands)) != 1:
        raise UsageError(
            "give exactly one of --create, --prune, --ls, --run, --kill, --reload "
            "(the original dss's commands)"
        )
    command = commands[0]
    arguments: list[str] = []
    if values.pop("daemon", False):
        if command != "run":
            raise UsageError("--daemon goes with --run")
        arguments.append("--daemon")
    if values.pop("wait", False):
        arguments.append("--wait")
    signal_name = values.pop("signal", None)
    if signal_name is not None:
        arguments += ["--signal", str(signal_name)]
    if arguments and command not in ("run", "kill"):
        raise UsageError(f"{' '.join(arguments)} does not go with --{command}")
    config_file = values.pop("config-file", None)
    dry_run = bool(values.pop("dry-run", False))
    return Translated(
        command, None if config_file is None else str(config_file), values, dry_run, arguments
    )


def default_dssrc() -> str | None:
    """The original's default option file, ``~/.dssrc``, when it exists."""
    path = os.path.join(os.path.expanduser("~"), ".dssrc")
    return path if os.path.isfile(path) else None


def run(argv: list[str]) -> int:
    """Run an original command line; the exit status."""
    from dssframe.cli.report import reporting_errors

    def action() -> int:
        from dssframe.cli.app import main as full_main
        from dssframe.cli.invocation import Invocation

        translated = translate(argv)
        config_file = translated.config_file or default_dssrc()
        state = Invocation(
            config_file=config_file,
            overrides=dict(translated.overrides),
            dry_run=translated.dry_run,
        )
        return full_main([translated.command, *translated.arguments], state)

    return reporting_errors(action)
