"""``dss serve``: the read-only status page and ``/api/status`` of every job
(:mod:`dssframe.engine.serve`).

A builtin plugin: :func:`dssframe_cli_commands` adds the command to the app. Only typer
is imported at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dssframe import hookimpl
from dssframe.cli.context import get_state

if TYPE_CHECKING:
    from dssframe.core.config import Config


def serve_command(
    ctx: typer.Context,
    bind: Annotated[
        str | None,
        typer.Option(
            "--bind",
            metavar="ADDRESS",
            help="HOST:PORT to listen on (default: serve-bind, else 127.0.0.1:8470; port 0: any "
            "free one, printed on stderr)",
        ),
    ] = None,
) -> None:
    """Serve every job's status over HTTP, read-only: / a page (refreshed every 30 s),
    /api/status the same as JSON.

    Only GET and HEAD. Beyond loopback, serve-token must be set in the config file:
    every request then needs "Authorization: Bearer TOKEN" or basic auth with the
    token as the password. SIGHUP re-reads the config file's jobs (the address and
    the token stay until a restart). SIGTERM/SIGINT stop it (exit 0)."""
    import sys

    from dssframe.engine.serve import serve

    state = get_state(ctx)
    configs = state.configs()

    def announce(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def reload() -> list[Config]:
        from dssframe.store import configfile

        jobs = configfile.load_jobs(state.config_file, state.overrides)
        chosen = configfile.select_jobs(jobs, state.job_names)
        return [state.host().apply_settings(config) for config in chosen]

    raise typer.Exit(serve(configs, state.host(), bind, announce, reload))


@hookimpl
def dssframe_cli_commands(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve_command)
