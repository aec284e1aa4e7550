"""The everyday commands: ``ls``, ``create``, ``prune``, ``configtest``, ``config``
(``path``, ``show``, ``import-dssrc``) and ``demo``.

A builtin plugin: :func:`dssframe_cli_commands` adds them to the app, exactly as a
third-party plugin adds its own. Only typer is imported at module level.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from dssframe import hookimpl
from dssframe.cli.context import get_state
from dssframe.cli.invocation import Invocation

if TYPE_CHECKING:
    from dssframe.engine.job import Job


def ls_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable records")] = False,
    tree: Annotated[bool, typer.Option("--tree", help="draw the tree of parent links")] = False,
    roots: Annotated[bool, typer.Option("--roots", help="only snapshots without a parent")] = False,
    leaves: Annotated[bool, typer.Option("--leaves", help="only snapshots with no child")] = False,
    descendants: Annotated[
        str | None, typer.Option("--descendants", metavar="NAME", help="only NAME's descendants")
    ] = None,
    with_metadata: Annotated[
        bool, typer.Option("--with-metadata", help="only snapshots with a metadata document")
    ] = False,
) -> None:
    """List every snapshot, oldest first: interval, name, creation duration (h:mm)."""
    from dssframe.cli import plain as commands

    commands.ls(get_state(ctx), as_json, tree, roots, leaves, descendants, with_metadata)


def create_command(
    ctx: typer.Context,
    allow_shrink: Annotated[
        bool,
        typer.Option(
            "--allow-shrink", help="accept a snapshot far smaller than its reference, once"
        ),
    ] = False,
    force_layout: Annotated[
        bool,
        typer.Option(
            "--force-layout", help="accept a source whose trailing slash changes the layout"
        ),
    ] = False,
) -> None:
    """Make one snapshot now (--dry-run: print the exact rsync command)."""
    from dssframe.cli import plain as commands

    commands.create(get_state(ctx), typer.echo, allow_shrink, force_layout)


def prune_command(
    ctx: typer.Context,
    max_removals: Annotated[
        int | None, typer.Option("--max", min=0, help="remove at most N snapshots")
    ] = None,
) -> None:
    """Remove every outdated, redundant and orphaned snapshot (--dry-run: list them).

    Every removal passes the removal gate: the newest complete snapshot, pinned ones
    and the last min-complete complete snapshots are kept whatever retention says."""
    from dssframe.core import gate
    from dssframe.core.errors import SnapshotError
    from dssframe.core.retention import ExplainingPolicy
    from dssframe.engine.job import reason_text

    state = get_state(ctx)
    job = state.job()
    # A dry run changes nothing: it never needs (or waits for) the lock.
    with contextlib.nullcontext() if state.dry_run else _locked(job):
        screened = job.prune(max_removals)
        if not screened.allowed:
            typer.echo("nothing to remove", err=True)
        failures = []
        for removal in screened.allowed:
            if state.dry_run:
                typer.echo(f"would remove {removal.snapshot.name}: {reason_text(removal)}")
                continue
            try:
                if job.remove(removal):
                    typer.echo(f"removed {removal.snapshot.name}: {reason_text(removal)}")
            except SnapshotError as exc:  # the rest of the plan still runs
                typer.echo(f"dss: error: {exc}", err=True)
                failures.append(str(exc))
        for refusal in screened.refused:
            if refusal.why not in (gate.TWICE, gate.UNKNOWN):
                typer.echo(f"kept {gate.refusal_text(refusal)} (removal gate)", err=True)
        if state.dry_run and isinstance(job.retention, ExplainingPolicy):
            now = job.now()
            for name, rules in job.retention.explain(job.store.scan(now), now).items():
                if rules:
                    typer.echo(f"keep {name}: {', '.join(rules)}")
    if failures:
        raise SnapshotError(f"{len(failures)} removal(s) failed; first: {failures[0]}")


@contextlib.contextmanager
def _locked(job: Job) -> Iterator[None]:
    """Hold the destination's lock for ``job``; a refusal is a LOCK_REFUSED event too."""
    from dssframe.core.events import EventKind
    from dssframe.store.lock import DestLock, LockedError

    lock = DestLock(job.store.dest_dir)
    try:
        lock.acquire()
    except LockedError as exc:
        job.event(EventKind.LOCK_REFUSED, error=str(exc))
        raise
    try:
        yield
    finally:
        lock.release()


def configtest_command(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON object: config, checks, ok")
    ] = False,
) -> None:
    """Run create's pre-flight checks and print the effective settings.

    Each check is a line on stderr (ok, FAIL, warn): source reachable (over ssh: a
    BatchMode probe), destination a writable directory (a mount point with
    mountpoint = true), every [plugins.*] table taken, every notifier enabled. Exit
    1 when a check fails, 2 for an invalid configuration."""
    from dssframe.core.config import plugins_to_toml, to_toml
    from dssframe.engine import checks
    from dssframe.engine.preflight import check_paths

    state = get_state(ctx)
    host = state.host()
    host.warn_sections = False  # the plugin checks report those tables, once
    config = state.config()
    transport = host.transport(config)
    host.retention(config)
    host.configure(config)
    local_source = transport.local_source() if config.source_dir else None
    warnings = check_paths(config, local_source)  # a guard refuses: exit 2, as create
    found = [
        *checks.source_checks(config, transport),
        *checks.dest_checks(config),
        checks.Check("guards", checks.OK, "source and destination apart, options safe"),
        *checks.exposure_checks(config, warnings),
        *checks.plugin_checks(config, host),
    ]
    failures = checks.failed(found)
    if as_json:
        import json

        document = {
            "config": {**config.effective(), "plugins": config.plugins},
            "checks": [check.to_json() for check in found],
            "ok": failures == 0,
        }
        typer.echo(json.dumps(document, indent=1, default=str))
    else:
        typer.echo(f"# config file: {config.path or '(none)'}")
        typer.echo(to_toml(config.effective()) + plugins_to_toml(config.plugins), nl=False)
    for check in found:
        typer.echo(check.line(), err=True)
    from dssframe.cli.plain import layout_note

    note = layout_note(transport) if config.source_dir else None
    if note:
        typer.echo(f"# {note}", err=True)
    if failures:
        typer.echo(f"# {failures} check(s) failed", err=True)
        raise typer.Exit(1)
    typer.echo("# configuration OK", err=True)


def config_path_command(ctx: typer.Context) -> None:
    """Print the config file dss reads (whether it exists or not)."""
    from dssframe.store.configfile import resolve_path

    typer.echo(resolve_path(get_state(ctx).config_file)[0])


def config_show_command(ctx: typer.Context) -> None:
    """Print the effective configuration as TOML."""
    from dssframe.core.config import plugins_to_toml, to_toml

    config = get_state(ctx).config()
    typer.echo(to_toml(config.effective()) + plugins_to_toml(config.plugins), nl=False)


def import_dssrc_command(
    dssrc: Annotated[str, typer.Argument(help="an original dss config file (~/.dssrc)")],
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
    force: Annotated[bool, typer.Option(help="overwrite an existing output file")] = False,
) -> None:
    """Turn an original .dssrc into a dssframe TOML config file."""
    from dssframe.store.configfile import convert_dssrc, write_config

    text = convert_dssrc(dssrc)
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_config(output, text, force)
        typer.echo(f"wrote {output}", err=True)


def demo_command(
    ctx: typer.Context,
    directory: Annotated[
        str | None, typer.Option("--dir", help="where the demo source and snapshots go")
    ] = None,
) -> None:
    """Snapshot a small demo tree twice (with a change between) and list the result."""
    from pathlib import Path

    from dssframe import logs
    from dssframe.engine import demo

    logs.setup("warning")
    base = Path(directory) if directory else demo.default_dir()
    state = get_state(ctx)
    demo.run(base, state.host(), typer.echo)
    ls_state = Invocation(overrides={"dest-dir": str(base / "snapshots")})
    ctx.obj = ls_state
    ls_command(ctx, as_json=False)


@hookimpl
def dssframe_cli_commands(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    config_app = typer.Typer(
        help="Find, show and import configuration files.", no_args_is_help=True
    )
    app.command("ls")(ls_command)
    app.command("create")(create_command)
    app.command("prune")(prune_command)
    app.command("configtest")(configtest_command)
    config_app.command("path")(config_path_command)
    config_app.command("show")(config_show_command)
    config_app.command("import-dssrc")(import_dssrc_command)
    app.command("demo")(demo_command)
    app.add_typer(config_app, name="config")
