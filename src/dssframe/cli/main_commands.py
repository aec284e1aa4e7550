"""The everyday commands: ``ls``, ``create``, ``prune``, ``configtest``, ``config``
(``path``, ``show``, ``generate``, ``import-dssrc``) and ``demo``.

A builtin plugin: :func:`dssframe_cli_commands` adds them to the app, exactly as a
third-party plugin adds its own. Only typer is imported at module level.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dssframe import hookimpl
from dssframe.cli.context import get_state
from dssframe.cli.invocation import Invocation

if TYPE_CHECKING:
    from dssframe.core.config import Config
    from dssframe.core.retention import Removal
    from dssframe.engine.job import Job
    from dssframe.plugins.host import PluginHost


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
    in_bytes: Annotated[
        bool, typer.Option("--bytes", "-b", help="on a terminal: sizes in bytes")
    ] = False,
) -> None:
    """List every snapshot, oldest first: interval, name, creation duration (h:mm).

    On a terminal also a header and each snapshot's new data: the bytes its copy
    wrote instead of hard-linking (from its metadata; dss du measures what deleting
    it would free). Piped, the lines are the original dss's, tab-separated."""
    import sys

    from dssframe.cli import plain as commands

    state = get_state(ctx)
    if as_json or tree or not sys.stdout.isatty() or len(state.configs()) > 1:
        commands.ls(state, as_json, tree, roots, leaves, descendants, with_metadata)
        return
    import contextlib
    import io

    lines = io.StringIO()
    with contextlib.redirect_stdout(lines):  # the piped lines: the same rows, filtered alike
        commands.ls(state, False, False, roots, leaves, descendants, with_metadata)
    sys.stdout.write(ls_table(state.config().require("dest-dir"), lines.getvalue(), in_bytes))


def ls_table(dest_dir: str, piped: str, in_bytes: bool = False) -> str:
    """``dss ls`` on a terminal: the rows of the piped listing ``piped`` (interval,
    name, duration, pin) under a header, with each snapshot's new data -- the
    ``transferred_size`` its metadata records (the bytes the copy wrote rather than
    hard-linked), in IEC units or ``in_bytes``; ``-`` without metadata or statistics."""
    from dssframe.core.naming import parse
    from dssframe.core.sizes import iec_size
    from dssframe.store import metadata

    rows = [line.split("\t", 3) for line in piped.splitlines()]
    creations: dict[str, int] = {}
    for row in rows:
        parsed = parse(row[1])
        if parsed is not None:
            creations[row[1]] = parsed.creation
    documents = metadata.load_many(dest_dir, set(creations.values()))
    table = [["interval", "snapshot", "duration", "new"]]
    pinned = any(len(row) > 3 for row in rows)
    if pinned:
        table[0].append("pin")
    for row in rows:
        loaded = documents.get(creations.get(row[1], -1))
        doc = loaded.metadata if loaded is not None else None
        size = doc.stats.get("transferred_size") if doc is not None else None
        shown = "-" if size is None else str(size) if in_bytes else iec_size(size)
        table.append([row[0], row[1], row[2].strip(), shown, *row[3:]])
    widths = [max(len(cells[i]) for cells in table if i < len(cells)) for i in range(4)]
    out = []
    for cells in table:
        interval, snapshot, duration, new = cells[:4]
        line = (
            f"{interval:>{widths[0]}}  {snapshot:<{widths[1]}}  {duration:>{widths[2]}}  "
            f"{new:>{widths[3]}}"
        )
        if pinned:
            line += f"  {cells[4] if len(cells) > 4 else ''}"
        out.append(line.rstrip() + "\n")
    return "".join(out)


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
        int | None, typer.Option("--max", min=0, metavar="N", help="remove at most N snapshots")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON document: removals, kept, keep")
    ] = False,
) -> None:
    """Remove every outdated, redundant and orphaned snapshot (--dry-run: list them).

    Every removal passes the removal gate: the newest complete snapshot, pinned ones
    and the last min-complete complete snapshots are kept whatever retention says."""
    from dssframe.cli.plain import for_each_job

    state = get_state(ctx)
    documents: list[dict[str, object]] = []

    def prune_one(config: Config) -> None:
        from dssframe.core.errors import SnapshotError

        document, failures = _prune_job(state, state.job(config), max_removals, as_json)
        documents.append({"job": config.name, **document} if config.name else document)
        if failures:
            raise SnapshotError(f"{len(failures)} removal(s) failed; first: {failures[0]}")

    try:
        for_each_job(state, prune_one)
    finally:
        if as_json and documents:
            import json

            several = len(state.configs()) > 1
            typer.echo(json.dumps(documents if several else documents[0], indent=2))


def _prune_job(
    state: Invocation, job: Job, max_removals: int | None, as_json: bool
) -> tuple[dict[str, object], list[str]]:
    """One job's prune (its lines unless ``as_json``): its JSON document and the
    messages of the removals that failed (the rest of the plan ran)."""
    from dssframe.core import gate
    from dssframe.core.errors import SnapshotError
    from dssframe.core.retention import ExplainingPolicy
    from dssframe.engine.job import reason_text

    say = _silent if as_json else typer.echo
    records: list[dict[str, object]] = []
    # A dry run changes nothing: it never needs (or waits for) the lock.
    with contextlib.nullcontext() if state.dry_run else _locked(job):
        screened = job.prune(max_removals)
        if not screened.allowed:
            say("nothing to remove", err=True)
        failures = []
        for removal in screened.allowed:
            record = _removal_json(removal, reason_text(removal))
            records.append(record)
            if state.dry_run:
                say(f"would remove {removal.snapshot.name}: {reason_text(removal)}")
                continue
            try:
                removed = job.remove(removal)
            except SnapshotError as exc:  # the rest of the plan still runs
                if not exc.reported:  # else its remove-failed line said it
                    say(f"dss: error: {exc}", err=True)
                failures.append(str(exc))
                record["error"] = str(exc)
                continue
            record["removed"], record["vetoed"] = removed, not removed
            if removed:
                say(f"removed {removal.snapshot.name}: {reason_text(removal)}")
        kept = [r for r in screened.refused if r.why not in (gate.TWICE, gate.UNKNOWN)]
        for refusal in kept:
            say(f"kept {gate.refusal_text(refusal)} (removal gate)", err=True)
        keep: dict[str, list[str]] | None = None
        if state.dry_run and isinstance(job.retention, ExplainingPolicy):
            now = job.now()
            keep = job.retention.explain(job.store.scan(now), now)
            for name, rules in keep.items():
                if rules:
                    say(f"keep {name}: {', '.join(rules)}")
    document: dict[str, object] = {
        "dry_run": state.dry_run,
        "removals": records,
        "kept_by_gate": [
            {**_removal_json(r.removal, reason_text(r.removal), done=False), "why": r.why}
            for r in kept
        ],
        "keep": keep,
    }
    return document, failures


def _silent(message: str, err: bool = False) -> None:
    """``typer.echo``'s stand-in when the output is one JSON document."""


def _removal_json(removal: Removal, text: str, done: bool = True) -> dict[str, object]:
    """A removal (planned: ``removed`` false, no error yet) as ``prune --json`` shows it."""
    record: dict[str, object] = {
        "name": removal.snapshot.name,
        "reason": removal.reason.value,
        "interval": removal.interval,
        "detail": removal.detail,
        "text": text,
    }
    if done:
        record.update(removed=False, vetoed=False, error=None)
    return record


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
    state = get_state(ctx)
    host = state.host()
    host.warn_sections = False  # the plugin checks report those tables, once
    configs = state.configs()
    several = len(configs) > 1
    documents, failures = [], 0
    for config in configs:
        if several and not as_json:
            typer.echo(f"# job {config.name}", err=True)
        document, failed = _configtest_job(config, host, as_json)
        documents.append(document)
        failures += failed
    if as_json:
        import json

        result = {"jobs": documents, "ok": failures == 0} if several else documents[0]
        typer.echo(json.dumps(result, indent=2, default=str))
    if failures:
        typer.echo(f"# {failures} check(s) failed", err=True)
        raise typer.Exit(1)
    typer.echo("# configuration OK", err=True)


def _configtest_job(config: Config, host: PluginHost, as_json: bool) -> tuple[dict[str, Any], int]:
    """One job's configtest: its checks on stderr and, unless ``as_json``, its
    settings on stdout; its JSON document and how many checks failed."""
    from dssframe.core.config import plugins_to_toml, to_toml
    from dssframe.engine import checks
    from dssframe.engine.preflight import check_paths

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
    document = {
        "config": {**config.effective(), "plugins": config.plugins},
        "checks": [check.to_json() for check in found],
        "ok": failures == 0,
    }
    if config.name:
        document = {"job": config.name, **document}
    if not as_json:
        job = f" (job {config.name})" if config.name else ""
        typer.echo(f"# config file: {config.path or '(none)'}{job}")
        typer.echo(to_toml(config.effective()) + plugins_to_toml(config.plugins), nl=False)
    for check in found:
        typer.echo(check.line(), err=True)
    from dssframe.cli.plain import layout_note

    note = layout_note(transport) if config.source_dir else None
    if note:
        typer.echo(f"# {note}", err=True)
    return document, failures


def config_path_command(ctx: typer.Context) -> None:
    """Print the config file dss reads (whether it exists or not)."""
    from dssframe.store.configfile import resolve_path

    typer.echo(resolve_path(get_state(ctx).config_file)[0])


def config_show_command(ctx: typer.Context) -> None:
    """Print the effective configuration as TOML."""
    from dssframe.core.config import plugins_to_toml, to_toml

    config = get_state(ctx).config()
    typer.echo(to_toml(config.effective()) + plugins_to_toml(config.plugins), nl=False)


def config_generate_command(
    ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Argument(metavar="FILE", help="write the sample here (default: stdout)"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing FILE")] = False,
) -> None:
    """Print a commented sample config file (or write it to FILE).

    Every option is commented out at its default value, with what it means and
    accepts; also a commented [plugins.NAME] table for each installed plugin that declares
    settings. As written the file changes nothing; uncomment and edit what you need."""
    from dssframe.core.config import sample_toml
    from dssframe.store.configfile import write_config

    host = get_state(ctx).host()
    host.load_entry_points()  # every installed plugin: its declared settings
    text = sample_toml(host.settings_declarations())
    if file is None:
        typer.echo(text, nl=False)
        return
    write_config(file, text, force)
    typer.echo(f"wrote {file}", err=True)


def import_dssrc_command(
    dssrc: Annotated[
        str, typer.Argument(help="an original dss config file (~/.dssrc)", metavar="FILE")
    ],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="write here instead of stdout", metavar="FILE"),
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
        str | None,
        typer.Option("--dir", help="where the demo source and snapshots go", metavar="DIR"),
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
        help="Find, show, generate and import configuration files.", no_args_is_help=True
    )
    app.command("ls")(ls_command)
    app.command("create")(create_command)
    app.command("prune")(prune_command)
    app.command("configtest")(configtest_command)
    config_app.command("path")(config_path_command)
    config_app.command("show")(config_show_command)
    config_app.command("generate")(config_generate_command)
    config_app.command("import-dssrc")(import_dssrc_command)
    app.command("demo")(demo_command)
    app.add_typer(config_app, name="config")
