"""The snapshot lifecycle commands: ``describe``, ``delete``, ``restore``, ``adopt``,
``diff`` and ``du`` (thin layers over :mod:`dssframe.engine.lifecycle`, :mod:`dssframe.engine.diff`
and :mod:`dssframe.engine.du`), and the filters of ``ls``.

Registered on :data:`dssframe.cli.app` when the CLI module is imported. Only typer is
imported here at module level; everything else inside the commands, so other commands
do not pay for them. ``diff`` and ``du`` read only the configuration (no plugins).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dssframe import hookimpl
from dssframe.cli.context import get_state

if TYPE_CHECKING:
    from dssframe.cli.invocation import Invocation
    from dssframe.engine.lifecycle import SnapshotStore


def _store(ctx: typer.Context) -> SnapshotStore:
    from dssframe.engine.lifecycle import SnapshotStore

    state = get_state(ctx)
    config = state.config()
    return SnapshotStore.from_config(config, state.host())


def _dest_dir(state: Invocation) -> str:
    """dest-dir from the configuration alone: no plugins, no logging set-up."""
    from dssframe.store.configfile import load

    return load(state.config_file, state.overrides).require("dest-dir")


def _write(text: str) -> None:
    import sys

    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stdout.buffer.flush()


def ls_lifecycle(
    dest_dir: str,
    tree: bool,
    roots: bool,
    leaves: bool,
    descendants: str | None,
    with_metadata: bool,
) -> set[int] | None:
    """``ls`` with tree options: draw the tree (None) or the creations to list."""
    from dssframe.core.errors import UsageError
    from dssframe.engine.lifecycle import SnapshotStore

    store = SnapshotStore.open(dest_dir)
    for problem in store.problems():
        typer.echo(f"dss: warning: corrupt metadata: {problem} (dss adopt rebuilds it)", err=True)
    if tree:
        if roots or leaves or with_metadata:
            raise UsageError("--tree combines only with --descendants NAME")
        top = store.get(descendants) if descendants is not None else None
        lines = store.tree_lines(top)
        _write("".join(line + "\n" for line in lines))
        return None
    return store.select(roots, leaves, descendants, with_metadata)


def describe_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="snapshot name or creation epoch")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="json or xml", metavar="FORMAT")
    ] = "json",
) -> None:
    """Print a snapshot's description document (metadata, parent, children, state)."""
    snap = _store(ctx).get(name)
    if snap.metadata_problem:
        typer.echo(f"dss: warning: {snap.metadata_problem} (dss adopt rebuilds it)", err=True)
    _write(snap.describe(format))


def delete_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="snapshot name or creation epoch")],
    children: Annotated[
        bool, typer.Option("--children", help="also delete all its descendants")
    ] = False,
    children_only: Annotated[
        bool, typer.Option("--children-only", help="delete only its descendants")
    ] = False,
    metadata_only: Annotated[
        bool, typer.Option("--metadata-only", help="delete only the metadata; data stays")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list the selection")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="also the newest complete snapshot, or below min-complete"
        ),
    ] = False,
) -> None:
    """Delete a snapshot through the normal removal path (removal gate, pre-remove
    hook, .being_deleted, rm -rf, events). Pinned snapshots are never deleted."""
    from dssframe.core.errors import SnapshotError

    state = get_state(ctx)
    snap = _store(ctx).get(name)
    dry = dry_run or state.dry_run
    result = snap.delete(children, children_only, metadata_only, dry, force)
    what = "metadata of " if metadata_only else ""
    if dry:
        for selected in result.selected:
            typer.echo(f"would delete {what}{selected}")
        if not result.selected:
            typer.echo("nothing selected", err=True)
        return
    for removed in result.removed:
        typer.echo(f"deleted {what}{removed}")
    if not result.selected:
        typer.echo("nothing selected", err=True)
    if result.skipped:
        vetoed = ", ".join(result.skipped)
        raise SnapshotError(f"not deleted (vetoed by a pre-remove hook): {vetoed}")


def pin_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="snapshot name or creation epoch")],
    for_: Annotated[
        str | None, typer.Option("--for", metavar="DURATION", help="e.g. 30d, 12h, 2w")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="DATE", help="YYYY-MM-DD[ HH:MM] (local) or an epoch"),
    ] = None,
    note: Annotated[
        str | None, typer.Option("--note", help="why it is kept", metavar="TEXT")
    ] = None,
) -> None:
    """Keep a snapshot whatever retention and the disk-space guard say (until unpinned,
    for a while, or until a date)."""
    import time

    from dssframe.core.errors import UsageError
    from dssframe.store import pins

    state = get_state(ctx)
    store = _store(ctx)
    snap = store.get(name)
    if snap.snapshot_name.being_deleted:
        raise UsageError(f"{snap.name} is being deleted; it cannot be pinned")
    now = int(time.time())
    if for_ is not None and until is not None:
        raise UsageError("--for and --until exclude each other")
    end = pins.parse_end(for_, until, now)
    pin = pins.Pin(snap.creation, snap.name, end, note, now, pins.who())
    if state.dry_run:
        typer.echo(f"would pin {snap.name} ({pins.describe(pin, now)})")
        return
    pins.pin(store.dest_dir, pin)
    typer.echo(f"{pins.describe(pin, now)}: {snap.name}")


def unpin_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="snapshot name or creation epoch")],
) -> None:
    """Remove a snapshot's pin (retention decides about it again)."""
    from dssframe.core.errors import UsageError
    from dssframe.store import pins
    from dssframe.store.destination import lookup

    state = get_state(ctx)
    dest_dir = _dest_dir(state)
    found = lookup(pins.read_pins(dest_dir).values(), name)
    if found is None:
        raise UsageError(f"{name!r} is not pinned in {dest_dir}")
    if state.dry_run:
        typer.echo(f"would unpin {found.name}")
        return
    pins.remove_pin(dest_dir, found.creation)
    typer.echo(f"unpinned {found.name}")


def restore_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="snapshot name or creation epoch")],
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="only these files or directories, relative to the snapshot's top", metavar="PATH"
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option(
            "--target", "-t", help="restore here (default: the source)", metavar="DIR"
        )
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list what would be created, changed, deleted")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="overwrite changes made since the last snapshot")
    ] = False,
    no_safety_snapshot: Annotated[
        bool, typer.Option("--no-safety-snapshot", help="do not snapshot the source first")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON document: what was (would be) restored")
    ] = False,
) -> None:
    """Make the source (or --target DIR) identical to a snapshot; it becomes current.
    With PATHs, only those files and directories (the current snapshot stays)."""
    import sys

    from dssframe.engine.restore import restore

    state = get_state(ctx)
    snap = _store(ctx).get(name)
    dry = dry_run or state.dry_run
    progress = not dry and sys.stderr.isatty()
    if paths:
        result = restore(snap, target, force, dry, not no_safety_snapshot, progress, paths)
    else:
        result = snap.restore(target, force, dry, not no_safety_snapshot, progress=progress)
    if as_json:
        import json

        _write(json.dumps(result.to_json(), indent=2) + "\n")
        return
    if dry:
        lines = [f"{change.kind} {change.path}" for change in result.changes]
        counts = result.counts()
        lines.append(
            f"# restoring {result.snapshot} to {result.target} would create "
            f"{counts['create']}, change {counts['change']} and delete {counts['delete']} entries"
        )
        lines += [f"# {note}" for note in result.notes]
        _write("".join(line + "\n" for line in lines))
        return
    typer.echo(f"restored {result.snapshot} to {result.target}")
    for note in result.notes:
        typer.echo(note)


def adopt_command(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(help="snapshots to (re)write (default: all without)", metavar="NAME"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list them")] = False,
) -> None:
    """Write metadata for existing snapshot directories (from the original dss, say),
    each parent inferred as the previous complete snapshot."""
    state = get_state(ctx)
    store = _store(ctx)
    dry = dry_run or state.dry_run
    result = store.adopt(names or (), dry)
    prefix = "would adopt" if dry else "adopted"
    for adopted in result.adopted:
        snap = store.get(adopted)
        parent = snap.parent.name if not dry and snap.parent else None
        typer.echo(f"{prefix} {adopted}" + (f" (parent {parent})" if parent else ""))
    for creation in result.stale_removed:
        typer.echo(f"{'would remove' if dry else 'removed'} stale metadata {creation}.json")
    if not result.adopted and not result.stale_removed:
        typer.echo("every snapshot has metadata", err=True)


def diff_command(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="the older snapshot (name or creation epoch)")],
    b: Annotated[str, typer.Argument(help="the newer snapshot")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Files added, removed and changed from snapshot A to snapshot B (hard-linked
    files are unchanged without a look inside)."""
    from dssframe.engine.diff import command

    _write(command(_dest_dir(get_state(ctx)), a, b, as_json))


def du_command(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="only these snapshots (default: all)", metavar="NAME")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    in_bytes: Annotated[bool, typer.Option("--bytes", "-b", help="sizes in bytes")] = False,
) -> None:
    """Each snapshot's unique size (what deleting it would free) and the total."""
    import os
    import time

    from dssframe.engine import du
    from dssframe.engine.diff import snapshot_dir
    from dssframe.store.destination import Destination

    dest_dir = os.path.abspath(_dest_dir(get_state(ctx)))
    if names:
        paths = [snapshot_dir(dest_dir, name) for name in names]
        chosen = [(os.path.basename(p), p) for p in paths]
    else:
        scanned = Destination(dest_dir).scan(int(time.time()))
        chosen = [(s.name, os.path.join(dest_dir, s.name)) for s in scanned]
    report = du.usage(chosen)
    if as_json:
        import json

        _write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        _write(du.format_text(report, human_readable=not in_bytes))


@hookimpl
def dssframe_cli_commands(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("describe")(describe_command)
    app.command("delete")(delete_command)
    app.command("pin")(pin_command)
    app.command("unpin")(unpin_command)
    app.command("restore")(restore_command)
    app.command("adopt")(adopt_command)
    app.command("diff")(diff_command)
    app.command("du")(du_command)
