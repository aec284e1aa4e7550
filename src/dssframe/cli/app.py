"""The ``dss`` command: thin typer commands over the core and the plugin host.

Imports stay inside the commands, so ``dss ls`` loads nothing it does not use.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from dssframe import __version__
from dssframe.cli.invocation import State

if TYPE_CHECKING:
    from dssframe.engine.job import Job

app = typer.Typer(
    name="dss",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Dyadic hard-link snapshots of a directory with rsync --link-dest.",
)
config_app = typer.Typer(help="Find, show and import configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def _state(ctx: typer.Context) -> State:
    state = ctx.obj
    assert isinstance(state, State)
    return state


#: For commands that plugins add: ``get_state(ctx).config()``, ``.host()``, ``.job()``.
get_state = _state


def _version(value: bool) -> None:
    if not value:
        return
    from dssframe.plugins.host import load_host

    typer.echo(f"dss (dssframe) {__version__}")
    host = load_host()
    host.load_entry_points()
    for info in host.infos:
        where = info.distribution or info.origin
        typer.echo(f"  plugin {info.name} {info.version or '?'} ({where})")
    raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[str | None, typer.Option("--config", "-c", help="TOML config file")] = None,
    source_dir: Annotated[str | None, typer.Option(help="directory to snapshot")] = None,
    dest_dir: Annotated[str | None, typer.Option(help="where the snapshots live")] = None,
    remote_host: Annotated[str | None, typer.Option(help="host of the source")] = None,
    remote_user: Annotated[str | None, typer.Option(help="user on the remote host")] = None,
    rsync_option: Annotated[
        list[str] | None, typer.Option(help="extra rsync argument (repeatable)")
    ] = None,
    unit_interval: Annotated[
        str | None, typer.Option(help="days, or a duration like 6h, 30m, 2w")
    ] = None,
    num_intervals: Annotated[str | None, typer.Option(help="number of intervals, 1..30")] = None,
    retention: Annotated[str | None, typer.Option(help="retention policy name")] = None,
    transport: Annotated[str | None, typer.Option(help="transport name")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="only show what would be done")
    ] = False,
    loglevel: Annotated[str | None, typer.Option(help="0..6 or debug..emerg")] = None,
    plugin: Annotated[
        list[str] | None, typer.Option("--plugin", "-p", help="load a plugin module")
    ] = None,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="show versions"),
    ] = None,
) -> None:
    """Dyadic hard-link snapshots of a directory with rsync --link-dest."""
    given = {
        "source-dir": source_dir,
        "dest-dir": dest_dir,
        "remote-host": remote_host,
        "remote-user": remote_user,
        "rsync-option": rsync_option or None,
        "unit-interval": unit_interval,
        "num-intervals": num_intervals,
        "retention": retention,
        "transport": transport,
        "loglevel": loglevel,
    }
    overrides = {key: value for key, value in given.items() if value is not None}
    # A State handed in (the original's option-style command line) keeps what it holds.
    state = ctx.obj if isinstance(ctx.obj, State) else State()
    state.config_file = config or state.config_file
    state.overrides = {**state.overrides, **overrides}
    state.dry_run = dry_run or state.dry_run
    state.plugin_modules = state.plugin_modules + list(plugin or [])
    ctx.obj = state


@app.command("ls")
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

    commands.ls(_state(ctx), as_json, tree, roots, leaves, descendants, with_metadata)


@app.command("create")
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

    commands.create(_state(ctx), typer.echo, allow_shrink, force_layout)


@app.command("prune")
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
    from dssframe.engine.job import reason_text

    state = _state(ctx)
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
        explain = getattr(job.retention, "explain", None)
        if state.dry_run and explain is not None:
            now = job.now()
            for name, rules in explain(job.store.scan(now), now).items():
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


@app.command("configtest")
def configtest_command(ctx: typer.Context) -> None:
    """Validate the configuration and print the effective settings."""
    from dssframe.core.config import plugins_to_toml, to_toml
    from dssframe.engine.preflight import check_paths

    state = _state(ctx)
    config = state.config()
    host = state.host()
    transport = host.transport(config)
    host.retention(config)
    host.configure(config)
    local_source = transport.local_source() if config.source_dir else None
    warnings = check_paths(config, local_source)
    typer.echo(f"# config file: {config.path or '(none)'}")
    typer.echo(to_toml(config.effective()) + plugins_to_toml(config.plugins), nl=False)
    for warning in warnings:
        typer.echo(f"dss: warning: {warning}", err=True)
    from dssframe.cli.plain import layout_note

    note = layout_note(transport) if config.source_dir else None
    if note:
        typer.echo(f"# {note}", err=True)
    typer.echo("# configuration OK", err=True)


@config_app.command("path")
def config_path_command(ctx: typer.Context) -> None:
    """Print the config file dss reads (whether it exists or not)."""
    from dssframe.store.configfile import resolve_path

    typer.echo(resolve_path(_state(ctx).config_file)[0])


@config_app.command("show")
def config_show_command(ctx: typer.Context) -> None:
    """Print the effective configuration as TOML."""
    from dssframe.core.config import plugins_to_toml, to_toml

    config = _state(ctx).config()
    typer.echo(to_toml(config.effective()) + plugins_to_toml(config.plugins), nl=False)


@config_app.command("import-dssrc")
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


@app.command("demo")
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
    state = _state(ctx)
    demo.run(base, state.host(), typer.echo)
    ls_state = State(overrides={"dest-dir": str(base / "snapshots")})
    ctx.obj = ls_state
    ls_command(ctx, as_json=False)


# Commands defined in their own modules register themselves on ``app``.
from dssframe.cli import daemon_commands, plugin_commands, snapshot_commands  # noqa: E402,F401

#: Global options that take a value (the pre-parser must skip their values).
VALUE_OPTIONS = frozenset(
    {
        "-c", "--config", "--source-dir", "--dest-dir", "--remote-host", "--remote-user",
        "--rsync-option", "--unit-interval", "--num-intervals", "--retention",
        "--transport", "--loglevel", "-p", "--plugin",
    }
)  # fmt: skip


def preparse(argv: list[str]) -> tuple[list[str], str | None]:
    """The ``-p`` plugin modules and the command word, read before typer builds the
    commands, so that a plugin can add commands and options."""
    modules: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            break
        if token in ("-p", "--plugin"):
            modules.append(next(tokens, ""))
        elif token.startswith("--plugin="):
            modules.append(token.split("=", 1)[1])
        elif token.startswith("-p") and not token.startswith("--"):
            modules.append(token[2:])
        elif token in VALUE_OPTIONS:
            next(tokens, None)
        elif not token.startswith("-"):
            return modules, token
    return modules, None


def builtin_command_names() -> set[str]:
    names = {info.name or "" for info in app.registered_commands}
    return names | {group.name or "" for group in app.registered_groups}


def main(argv: list[str] | None = None, state: State | None = None) -> int:
    """Entry point of the full command line: errors become one line and an exit status.
    ``state`` pre-sets global options (the original's command line is translated into
    one, see :mod:`dssframe.cli.original`)."""
    from dssframe.cli.entry import reporting_errors

    args = sys.argv[1:] if argv is None else list(argv)
    state = state or State()

    def run() -> int:
        modules, command = preparse(args)
        if modules or command not in builtin_command_names():
            # -p modules, help, or a command a plugin may provide: load plugins first.
            from dssframe.plugins.host import load_host

            host = load_host([m for m in modules if m])
            if command not in builtin_command_names():
                host.load_entry_points()
            host.add_commands(app)
            state._host = host
        try:
            # Without standalone mode click returns a command's typer.Exit code
            # instead of raising it.
            result = app(args=args, prog_name="dss", standalone_mode=False, obj=state)
        except typer.Exit as exc:
            return int(exc.exit_code or 0)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                print(exc.format_message(), file=sys.stderr)
                return 2
            print(f"dss: error: {exc.format_message()}", file=sys.stderr)
            return int(exc.exit_code)
        except typer.Abort:
            print("dss: interrupted", file=sys.stderr)
            return 130
        return result if isinstance(result, int) else 0

    return reporting_errors(run)


if __name__ == "__main__":
    raise SystemExit(main())
