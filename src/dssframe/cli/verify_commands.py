"""``dss verify``: build the content hashes of the snapshots (``--build``), re-read them
to find silent corruption, ``--repair`` what it found. The command's options; its work
is :func:`dssframe.cli.verifying.run`, which the lean start-up path calls without typer.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dssframe import hookimpl


def verify_command(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="snapshots (default: every one with hashes; with --build every complete one)",
            metavar="NAME",
        ),
    ] = None,
    build: Annotated[
        bool, typer.Option("--build", help="hash the snapshots that have no hashes yet")
    ] = False,
    repair: Annotated[
        bool, typer.Option("--repair", help="restore what is corrupt from a healthy copy")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", min=1, metavar="N", help="hashing processes (default: CPUs)"),
    ] = None,
    max_rate: Annotated[
        str | None,
        typer.Option(
            "--max-rate", metavar="RATE", help="read at most RATE bytes/s: 50M, 200MB (0: any)"
        ),
    ] = None,
) -> None:
    """Find silent corruption: re-read every file stored in the snapshots' hashes.

    --build computes and stores those hashes instead (each inode once, whatever the
    hard links; resumable). Exit status 1 when a file is corrupt, modified, missing or
    unreadable (after --repair: when one could not be repaired)."""
    from dssframe.cli.context import get_state
    from dssframe.cli.verifying import run

    run(get_state(ctx), names or [], build=build, repair=repair, as_json=as_json, jobs=jobs,
        max_rate=max_rate)  # fmt: skip


@hookimpl
def dssframe_cli_commands(app: typer.Typer) -> None:
    """Add ``verify`` to ``app``."""
    app.command("verify")(verify_command)
