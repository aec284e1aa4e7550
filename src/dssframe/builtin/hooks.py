"""Builtin notifier ``hooks``: the shell-command hooks of the original dss.

| option           | when                              | argument       | non-zero exit         |
|------------------|-----------------------------------|----------------|-----------------------|
| pre-create-hook  | before a snapshot is created      | none           | defers the creation   |
| post-create-hook | after it got its complete name    | snapshot path  | ignored               |
| pre-remove-hook  | before a snapshot is removed      | snapshot path  | skips this removal    |
| post-remove-hook | after the removal                 | snapshot path  | ignored               |
| exit-hook        | when the run loop exits           | the reason     | ignored               |

A value is split like a shell would (``shlex``) and run without a shell, the argument
appended. Only when it needs a shell (pipes, redirections, ``$``, globs, ``~``,
``VAR=x cmd``, ...) it runs as ``/bin/sh -c VALUE dss-hook ARG``: the argument is then
``"$1"``. Either way the path or reason is a separate argument, never spliced into a
command string. Standard input is /dev/null; the hook's output goes to dss's standard
error (the log file under ``--daemon``).
"""

from __future__ import annotations

import shlex
import subprocess
import sys

from dssframe import hookimpl, logs
from dssframe.config import Config
from dssframe.events import Event, EventKind

log = logs.get("dssframe.hooks")

#: Characters whose meaning only a shell provides.
SHELL_CHARACTERS = frozenset("|&;<>()$`*?[]{}#~!\n")
#: ``$0`` of a hook run through the shell (it names the script in error messages).
SHELL_NAME = "dss-hook"

_config: Config | None = None


def needs_shell(value: str) -> bool:
    """True when ``value`` means something different to ``/bin/sh`` than to shlex."""
    if any(c in SHELL_CHARACTERS for c in value):
        return True
    try:
        words = shlex.split(value)
    except ValueError:
        return True  # unbalanced quotes: let the shell report it
    return bool(words) and "=" in words[0]  # VAR=value command


def command(value: str, *args: str) -> list[str]:
    """The argument list that runs hook ``value`` with ``args`` as separate arguments."""
    if needs_shell(value):
        return ["/bin/sh", "-c", value, SHELL_NAME, *args]
    return [*shlex.split(value), *args]


def _stdout() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        return None


def run(key: str, value: str, *args: str) -> int:
    """Run one hook to completion; its exit status (127: could not be started,
    negative: killed by that signal)."""
    argv = command(value, *args)
    if not argv:
        log.error("%s is empty", key)
        return 127
    log.info("running %s: %s", key, shlex.join(argv))
    try:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=_stdout(), check=False)
    except OSError as exc:
        log.error("%s: cannot run %s: %s", key, argv[0], exc.strerror or exc)
        return 127
    if result.returncode != 0:
        log.log(
            logs.INFO if key.startswith("pre-") else logs.WARNING,
            "%s exited with status %d",
            key,
            result.returncode,
        )
    return result.returncode


def _failure(key: str, status: int) -> str:
    if status < 0:
        return f"{key} was killed by signal {-status}"
    return f"{key} exited with status {status}"


@hookimpl
def dssframe_configure(config: Config) -> None:
    global _config
    _config = config


@hookimpl
def dssframe_pre_create(config: Config, destination: str) -> str | None:
    if not config.pre_create_hook:
        return None
    status = run("pre-create-hook", config.pre_create_hook)
    return None if status == 0 else _failure("pre-create-hook", status)


@hookimpl
def dssframe_pre_remove(config: Config, path: str) -> str | None:
    if not config.pre_remove_hook:
        return None
    status = run("pre-remove-hook", config.pre_remove_hook, path)
    return None if status == 0 else _failure("pre-remove-hook", status)


@hookimpl
def dssframe_event(event: Event) -> None:
    config = _config
    if config is None or event.dry_run:
        return
    if event.kind is EventKind.SNAPSHOT_CREATED and config.post_create_hook and event.path:
        run("post-create-hook", config.post_create_hook, event.path)
    elif event.kind is EventKind.SNAPSHOT_REMOVED and config.post_remove_hook and event.path:
        run("post-remove-hook", config.post_remove_hook, event.path)
    elif event.kind is EventKind.RUN_EXITING and config.exit_hook:
        run("exit-hook", config.exit_hook, event.reason or "")
