"""Command bodies that both the typer app and the lean start-up path run (no typer)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from dssframe.cli.invocation import Invocation

if TYPE_CHECKING:
    from dssframe.core.config import Config
    from dssframe.core.transport import Transport
    from dssframe.engine.job import Job


def create(
    state: Invocation,
    echo: Callable[[str], object] = print,
    allow_shrink: bool = False,
    force_layout: bool = False,
) -> None:
    """``dss create``: one snapshot, or with ``--dry-run`` the exact command (every
    argument, shell-quoted, so that it can be pasted). ``allow_shrink`` accepts one
    deliberate shrink (the shrink guard of :meth:`dssframe.engine.job.Job.finish_create`),
    ``force_layout`` a switch of the source's trailing slash."""
    if allow_shrink:
        state.overrides["allow-shrink"] = True
    if force_layout:
        state.overrides["force-layout"] = True
    for_each_job(state, lambda config: _create_job(state, config, echo))


def for_each_job(state: Invocation, action: Callable[[Config], object]) -> None:
    """``action`` for every chosen job, in config order. With one job its error ends
    the command as usual; with several, each job's lines name it, a failing job does
    not stop the others, and the command then fails with one line naming the failed
    jobs (the highest exit status of theirs)."""
    configs = state.configs()
    if len(configs) == 1:
        action(configs[0])
        return
    from dssframe import logs
    from dssframe.core.errors import DssError

    failed: list[tuple[str, DssError]] = []
    for config in configs:
        with logs.job_named(config.name):
            try:
                action(config)
            except DssError as exc:
                if not exc.reported:
                    sys.stderr.write(f"dss: error: [{config.name}] {exc}\n")
                failed.append((config.name, exc))
    if failed:
        error = DssError(
            f"{len(failed)} of {len(configs)} jobs failed: "
            + ", ".join(name for name, _ in failed)
        )
        error.exit_code = max(exc.exit_code for _, exc in failed)
        raise error


def _create_job(state: Invocation, config: Config, echo: Callable[[str], object]) -> None:
    """One job's ``dss create``."""
    job = _job_or_event(state, config)
    for warning in job.warnings:
        named = f"[{config.name}] " if config.name else ""
        sys.stderr.write(f"dss: warning: {named}{warning}\n")
    if state.dry_run:
        import shlex

        plan = job.plan_create(progress=sys.stderr.isatty())  # what a real run would use
        note = layout_note(job.transport)
        if note:
            echo(f"# {note}")
        if plan.reuse is not None:
            echo(f"# {plan.reuse_reason}: {plan.reuse.name} -> {plan.name}")
        echo(shlex.join(plan.argv))
        return
    from dssframe.core.errors import DssError
    from dssframe.core.events import EventKind
    from dssframe.store.lock import DestLock, LockedError

    lock = DestLock(job.store.dest_dir)
    try:
        lock.acquire()
    except DssError as exc:  # held by another dss, or a destination we cannot write
        reason = "locked" if isinstance(exc, LockedError) else None
        job.event(EventKind.CREATE_FAILED, error=str(exc), reason=reason)
        exc.told()
        raise
    try:
        snapshot = job.create(progress=sys.stderr.isatty())
    finally:
        lock.release()
    echo(job.store.path(snapshot.name))


def layout_note(transport: Transport) -> str | None:
    """One line saying what each snapshot holds when the source has no trailing slash."""
    from dssframe.engine.job import source_top

    top = source_top(transport)
    if top is None:
        return None
    source = transport.source_display()
    return (
        f"source-dir {source} has no trailing slash: each snapshot holds the directory "
        f"itself, {top}/... (write {source}/ for its contents)"
    )


def _job_or_event(state: Invocation, config: Config) -> Job:
    """``state.job(config)``; an operational failure to open the destination
    (missing, not a mount point) is a CREATE_FAILED event as well as an error."""
    from dssframe.core.errors import ConfigError, DssError, PluginError

    try:
        return state.job(config)
    except (ConfigError, PluginError):
        raise
    except DssError as exc:
        import time

        from dssframe.core.events import Event, EventKind

        state.host().notify(
            Event(
                EventKind.CREATE_FAILED,
                int(time.time()),
                source=config.source_dir or "",
                destination=config.dest_dir or "",
                error=str(exc),
                job=config.name,
            )
        )
        exc.told()
        raise


def duration_hmm(seconds: int | None) -> str:
    """A creation duration exactly as the original's ``ls`` prints it
    (``printf("%3d:%02d", hours, minutes)``): hours padded to three characters, and
    ``  0:00`` for a snapshot that is not complete."""
    minutes = 0 if seconds is None else seconds // 60
    return f"{minutes // 60:3d}:{minutes % 60:02d}"


def ls_line(interval: int | None, name: str, seconds: int | None) -> str:
    """One line of ``dss ls``: the original's ``"%u\t%s\t%3d:%02d\n"``. (A policy
    without intervals shows ``-`` where dss prints the interval.)"""
    return f"{'-' if interval is None else interval}\t{name}\t{duration_hmm(seconds)}"


def ls(
    state: Invocation,
    as_json: bool = False,
    tree: bool = False,
    roots: bool = False,
    leaves: bool = False,
    descendants: str | None = None,
    with_metadata: bool = False,
) -> None:
    """``dss ls``: every snapshot, oldest first, with interval, name and duration. For
    several jobs (a config with ``[[job]]`` tables, no single ``--job``): each job's
    listing after a ``# job NAME: DEST`` line; ``--json``: one document per job,
    ``{"job", "dest_dir", "snapshots"}``."""
    configs = state.configs()
    if len(configs) == 1:
        out = _ls_job(state, configs[0], as_json, tree, roots, leaves, descendants, with_metadata)
        if as_json:
            import json

            sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    documents = []
    for config in configs:
        if not as_json:
            sys.stdout.write(f"# job {config.name}: {config.dest_dir}\n")
            sys.stdout.flush()
        out = _ls_job(state, config, as_json, tree, roots, leaves, descendants, with_metadata)
        documents.append({"job": config.name, "dest_dir": config.dest_dir, "snapshots": out})
    if as_json:
        import json

        sys.stdout.write(json.dumps(documents, indent=2) + "\n")


def _ls_job(
    state: Invocation,
    config: Config,
    as_json: bool,
    tree: bool,
    roots: bool,
    leaves: bool,
    descendants: str | None,
    with_metadata: bool,
) -> list[dict[str, object]] | None:
    """One job's ``dss ls``, written to stdout; with ``as_json`` the records are
    returned instead."""
    import time

    from dssframe.core.naming import SnapshotName
    from dssframe.store.destination import Destination
    from dssframe.store.pins import describe as pin_text
    from dssframe.store.pins import for_creations, read_pins

    store = Destination.open(config.require("dest-dir"))
    policy = state.host().retention(config)
    now = int(time.time())
    reference: str | None = None
    records: list[tuple[SnapshotName, int | None, str | None]] = []
    for s in store.scan(now):
        records.append((s, policy.interval(s, now), reference))
        if s.complete:
            reference = s.name
    if tree or roots or leaves or descendants is not None or with_metadata:
        from dssframe.cli.snapshot_commands import ls_lifecycle  # only then: ls stays lean

        keep = ls_lifecycle(store.dest_dir, tree, roots, leaves, descendants, with_metadata)
        if keep is None:
            return None  # the tree is drawn
        records = [r for r in records if r[0].creation in keep]
    pins = for_creations(read_pins(store.dest_dir), (r[0].creation for r in records), now)
    if as_json:
        return [
            {
                "name": s.name,
                "state": s.state.value,
                "creation": s.creation,
                "completion": s.completion,
                "interval": interval,
                "reference": ref,
                "pin": pins[s.creation].to_json() if s.creation in pins else None,
            }
            for s, interval, ref in records
        ]
    # A pinned snapshot's line has a fourth column; the others are as dss prints them.
    sys.stdout.write(
        "".join(
            ls_line(k, s.name, s.duration)
            + (f"\t{pin_text(pins[s.creation], now)}" if s.creation in pins else "")
            + "\n"
            for s, k, _ in records
        )
    )
    return None

