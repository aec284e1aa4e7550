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
    "create": frozenset({"--allow-shrink", "--force-layout"}),
    "ls": frozenset({"--json"}),
}


def parse_lean(argv: list[str]) -> tuple[object, str, set[str]] | None:
    """``(State, command, flags)`` for a plain invocation, None for anything else."""
    from dssframe.cli.invocation import State

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


class Terminated(BaseException):
    """SIGTERM in a one-shot command (anything but ``dss run``, which handles its
    signals itself): raised in the main thread, it unwinds the command like
    KeyboardInterrupt -- a hook it waits for has its process group terminated on the
    way out -- and becomes ``dss: terminated`` and exit status 143."""


#: Exit status after SIGTERM (128 + 15).
TERMINATED_STATUS = 143
_terminating = False


def _on_sigterm(signum: int, frame: object) -> None:
    global _terminating
    if _terminating:
        return  # the first one is unwinding already (bounded by the hooks' deadlines)
    _terminating = True
    hooks = sys.modules.get("dssframe.builtin.shell_hooks")
    if hooks is not None:
        hooks.stop_all()  # hooks waited for by other threads (notifiers) are cut off too
    raise Terminated


def _end_hooks() -> None:
    """After SIGTERM: wait (bounded) until the hooks of other threads are killed."""
    hooks = sys.modules.get("dssframe.builtin.shell_hooks")
    if hooks is not None:
        hooks.wait_stopped(hooks.KILL_GRACE + 1.0)


def reporting_errors(action: Callable[[], int | None]) -> int:
    """Run ``action``; a dssframe error, an interrupt, SIGTERM (:class:`Terminated`)
    or an OS error becomes one ``dss: ...`` line and an exit status (the error's own,
    130, 143, 1)."""
    from dssframe.core.errors import DssError

    try:
        result = action()
    except DssError as exc:
        print(f"dss: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dss: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        _end_hooks()
        print("dss: terminated", file=sys.stderr)
        return TERMINATED_STATUS
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
        from dssframe.cli import original as original_cli
        from dssframe.cli.app import main as full_main
        from dssframe.cli.app import preparse

        gc.freeze()  # the loaded modules: never rescanned, even by a months-long ``run``
        gc.enable()
        if original_cli.is_option_style(args):  # dss --create, dss -R -c ~/.dssrc ...
            if "--run" in args or "-R" in args:
                return original_cli.run(args)
            with _sigterm_unwinds():
                return original_cli.run(args)
        if preparse(args)[1] == "run":  # the run loop handles its signals itself
            return full_main(args)
        with _sigterm_unwinds():
            return full_main(args)
    state, command, flags = lean
    from dssframe.cli import plain as commands
    from dssframe.cli.invocation import State

    assert isinstance(state, State)
    with _sigterm_unwinds():
        if command == "create":
            shrink, layout = "--allow-shrink" in flags, "--force-layout" in flags
            return reporting_errors(
                lambda: commands.create(state, allow_shrink=shrink, force_layout=layout)
            )
        return reporting_errors(lambda: commands.ls(state, as_json="--json" in flags))


class _sigterm_unwinds:  # noqa: N801 - used like a contextlib.contextmanager function
    """While a one-shot command runs, SIGTERM raises :class:`Terminated` in the main
    thread (contextlib is not imported for this: ``dss create`` does not need it)."""

    def __enter__(self) -> None:
        import signal

        global _terminating
        _terminating = False
        self.installed = False
        try:
            self.old = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread (an embedding program): leave it alone
            return
        self.installed = True

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if self.old is None else self.old)
