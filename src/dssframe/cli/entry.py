"""The ``dss`` entry point. Plain invocations of the hot commands (``create``, ``ls``,
``verify``) run without importing typer, which alone costs more start-up time than the whole
snapshot bookkeeping; anything else (help, ``-p`` plugins, other commands, anything
unusual) goes to the typer app in :mod:`dssframe.cli`, which parses it fully."""

from __future__ import annotations

import sys

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
    "--job": "job",
}
#: Commands the lean path runs, with the options each accepts (all flags).
LEAN_COMMANDS: dict[str, frozenset[str]] = {
    "create": frozenset({"--allow-shrink", "--force-layout"}),
    "ls": frozenset({"--json"}),
    "verify": frozenset({"--build", "--json"}),
}
#: Lean commands that take operands (snapshot names), anywhere after the command word.
LEAN_OPERANDS = frozenset({"verify"})


def _is_verbosity(token: str) -> bool:
    """Whether ``token`` is ``-v`` and ``-q`` flags (``-v``, ``-vv``, ``-qq``, ``-vq``)."""
    return len(token) > 1 and token[0] == "-" and set(token[1:]) <= {"v", "q"}


def parse_lean(argv: list[str]) -> tuple[object, str, set[str]] | None:
    """``(Invocation, command, flags)`` for a plain invocation, None for anything else.
    Global options may come before or after the command word, as on the typer path.
    (The operands of ``verify NAME...``: :func:`parse_lean_operands`.)"""
    parsed = parse_lean_operands(argv)
    return None if parsed is None else parsed[:3]


def parse_lean_operands(argv: list[str]) -> tuple[object, str, set[str], list[str]] | None:
    """:func:`parse_lean` and the operands: ``(Invocation, command, flags, operands)``.
    Operands (``verify NAME``) may come anywhere after the command word, as with
    typer."""
    from dssframe.cli.invocation import Invocation

    state = Invocation()
    tokens = list(argv)
    command: str | None = None
    flags: set[str] = set()
    operands: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, eq, inline = token.partition("=")
        if token == "--dry-run":
            state.dry_run = True
        elif token in ("--verbose", "--quiet"):
            state.verbosity += 1 if token == "--verbose" else -1
        elif _is_verbosity(token):
            state.verbosity += token.count("v") - token.count("q")
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
            elif key == "job":
                state.job_names.append(value)
            elif key == "rsync-option":
                state.overrides.setdefault(key, []).append(value)
            else:
                state.overrides[key] = value
        elif command is None and token in LEAN_COMMANDS:
            command = token
        elif command is not None and token in LEAN_COMMANDS[command]:
            flags.add(token)
        elif command in LEAN_OPERANDS and token[:1] not in ("", "-"):
            operands.append(token)
        else:
            return None  # help, -p, --version, another command, a typo: typer decides
        i += 1
    if command == "ls" and "--json" not in flags and sys.stdout.isatty():
        return None  # a terminal gets the table with a header and sizes: typer's ls
    return None if command is None else (state, command, flags, operands)


def main(argv: list[str] | None = None) -> int:
    """Run ``dss`` with ``argv`` (default: the process arguments); the exit status.
    Safe to call in-process (tests, an embedding program): it leaves the garbage
    collector as it found it. The console script is :func:`console_main`."""
    return _dispatch(sys.argv[1:] if argv is None else list(argv), tune_gc=False)


def console_main() -> int:
    """The ``dss`` console script: :func:`main`, with the garbage collector tuned for a
    process that exits afterwards.

    Start-up creates thousands of long-lived objects (modules, classes, functions) and
    hardly any garbage, so the cyclic garbage collector is paused while it runs: its
    collections would only scan them again and again. A lean command runs to its end
    with it paused (a create's garbage is a few frames; reference counting frees the
    rest); the typer path turns it back on before the command runs, since ``dss run``
    lives for months. At the end everything is frozen, so that the interpreter's
    final collection does not walk it all once more. Only here, never in :func:`main`:
    freezing would also freeze every object of an in-process caller."""
    import gc

    gc.disable()
    try:
        return _dispatch(sys.argv[1:], tune_gc=True)
    finally:
        gc.freeze()


def _dispatch(args: list[str], tune_gc: bool) -> int:
    from dssframe.cli.report import reporting_errors, sigterm_unwinds

    lean = parse_lean_operands(args)
    if lean is None:
        from dssframe.cli import original as original_cli
        from dssframe.cli.app import main as full_main
        from dssframe.cli.app import preparse

        if tune_gc:
            import gc

            gc.freeze()  # the loaded modules: never rescanned, even by a months-long ``run``
            gc.enable()
        if original_cli.is_option_style(args):  # dss --create, dss -R -c ~/.dssrc ...
            if "--run" in args or "-R" in args:
                return original_cli.run(args)
            with sigterm_unwinds():
                return original_cli.run(args)
        if preparse(args)[1] == "run":  # the run loop handles its signals itself
            return full_main(args)
        with sigterm_unwinds():
            return full_main(args)
    state, command, flags, operands = lean
    from dssframe.cli.invocation import Invocation

    assert isinstance(state, Invocation)
    if command == "verify":
        from dssframe.cli import verifying

        with sigterm_unwinds():
            return reporting_errors(
                lambda: verifying.run(
                    state, operands, build="--build" in flags, as_json="--json" in flags
                )
            )
    from dssframe.cli import plain as commands

    with sigterm_unwinds():
        if command == "create":
            shrink, layout = "--allow-shrink" in flags, "--force-layout" in flags
            return reporting_errors(
                lambda: commands.create(state, allow_shrink=shrink, force_layout=layout)
            )
        return reporting_errors(lambda: commands.ls(state, as_json="--json" in flags))


