"""The ``dss`` entry point. Plain invocations of the hot commands (``create``, ``ls``)
run without importing typer, which alone costs more start-up time than the whole
snapshot bookkeeping; anything else (help, ``-p`` plugins, other commands, anything
unusual) goes to the typer app in :mod:`dssframe.cli`, which parses it fully."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable

#: Global options that take a value, with the config key they set (None: not a key).
GLOBAL_VALUE_OPTIONS: dict[str, str | None] = {
    "-c": None,
    "--config": None,
    "--source-dir": "source-dir",
    "--dest-dir": "dest-dir",
    "--remote-host": "remote-host",
    "--remote-user": "remote-user",
    "--rsync-option": "rsync-option",
    "--unit-interval": "unit-interval",
    "--num-intervals": "num-intervals",
    "--retention": "retention",
    "--transport": "transport",
    "--loglevel": "loglevel",
}
#: Commands the lean path runs, with the options each accepts (all flags).
LEAN_COMMANDS: dict[str, frozenset[str]] = {
    "create": frozenset(),
    "ls": frozenset({"--json"}),
}


def parse_lean(argv: list[str]) -> tuple[object, str, set[str]] | None:
    """``(State, command, flags)`` for a plain invocation, None for anything else."""
    from .state import State

    state = State()
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, eq, inline = token.partition("=")
        if token == "--dry-run":
            state.dry_run = True
        elif name in GLOBAL_VALUE_OPTIONS and name.startswith("--") or token in ("-c",):
            if eq:
                value = inline
            elif i + 1 < len(tokens):
                i += 1
                value = tokens[i]
            else:
                return None
            key = GLOBAL_VALUE_OPTIONS[name]
            if key is None:
                state.config_file = value
            elif key == "rsync-option":
                state.overrides.setdefault(key, []).append(value)
            else:
                state.overrides[key] = value
        elif token in LEAN_COMMANDS:
            flags = set(tokens[i + 1 :])
            if not flags <= LEAN_COMMANDS[token]:
                return None
            return state, token, flags
        else:
            return None  # help, -p, --version, another command, a typo: typer decides
        i += 1
    return None


def reporting_errors(action: Callable[[], int | None]) -> int:
    """Run ``action``; a dssframe error, an interrupt or an OS error becomes one
    ``dss: error:`` line and an exit status (the error's own, 130, 1)."""
    from .errors import DssError

    try:
        result = action()
    except DssError as exc:
        print(f"dss: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dss: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # e.g. a state dir or destination we may not write
        print(f"dss: error: {exc}", file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0


def main(argv: list[str] | None = None) -> int:
    """Run ``dss`` with ``argv`` (default: the process arguments); the exit status.

    Start-up creates thousands of long-lived objects (modules, classes, functions) and
    hardly any garbage, so the cyclic garbage collector is paused while it runs: its
    collections would only scan them again and again. A lean command runs to its end
    with it paused (a create's garbage is a few frames; reference counting frees the
    rest); the typer path turns it back on before the command runs, since ``dss run``
    lives for months. At the end everything is frozen, so that the interpreter's
    final collection does not walk it all once more (this is the process's entry
    point: objects alive now are never scanned by the collector again)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _dispatch(sys.argv[1:] if argv is None else list(argv))
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _dispatch(args: list[str]) -> int:
    lean = parse_lean(args)
    if lean is None:
        from .cli import main as full_main

        gc.freeze()  # the loaded modules: never rescanned, even by a months-long ``run``
        gc.enable()
        return full_main(args)
    state, command, flags = lean
    from . import commands
    from .state import State

    assert isinstance(state, State)
    if command == "create":
        return reporting_errors(lambda: commands.create(state))
    return reporting_errors(lambda: commands.ls(state, as_json="--json" in flags))
