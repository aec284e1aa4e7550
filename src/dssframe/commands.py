"""Command bodies that both the typer app and the lean start-up path run (no typer)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from .state import State


def create(state: State, echo: Callable[[str], object] = print) -> None:
    """``dss create``: one snapshot, or with ``--dry-run`` the exact command."""
    job = state.job()
    if state.dry_run:
        import shlex

        plan = job.plan_create()
        if plan.reuse is not None:
            echo(f"# {plan.reuse_reason}: {plan.reuse.name} -> {plan.name}")
        echo(shlex.join(plan.argv))
        return
    from .lock import DestLock

    with DestLock(job.store.dest_dir):
        snapshot = job.create(progress=sys.stderr.isatty())
    echo(job.store.path(snapshot.name))


def duration_hmm(seconds: int | None) -> str:
    """A creation duration as dss prints it: ``h:mm`` (``-:--`` while incomplete)."""
    if seconds is None:
        return "-:--"
    minutes = seconds // 60
    return f"{minutes // 60}:{minutes % 60:02d}"


def ls(
    state: State,
    as_json: bool = False,
    tree: bool = False,
    roots: bool = False,
    leaves: bool = False,
    descendants: str | None = None,
    with_metadata: bool = False,
) -> None:
    """``dss ls``: every snapshot, oldest first, with interval, name and duration."""
    import time

    from .naming import SnapshotName
    from .store import Store

    config = state.config()
    store = Store.open(config.require("dest-dir"))
    policy = state.host().retention(config)
    now = int(time.time())
    reference: str | None = None
    records: list[tuple[SnapshotName, int | None, str | None]] = []
    for s in store.scan(now):
        records.append((s, policy.interval(s, now), reference))
        if s.complete:
            reference = s.name
    if tree or roots or leaves or descendants is not None or with_metadata:
        from .commands_lifecycle import ls_lifecycle  # only then: ls stays lean

        keep = ls_lifecycle(store.dest_dir, tree, roots, leaves, descendants, with_metadata)
        if keep is None:
            return  # the tree is drawn
        records = [r for r in records if r[0].creation in keep]
    if as_json:
        import json

        out = [
            {
                "name": s.name,
                "state": s.state.value,
                "creation": s.creation,
                "completion": s.completion,
                "interval": interval,
                "reference": ref,
            }
            for s, interval, ref in records
        ]
        sys.stdout.write(json.dumps(out, indent=1) + "\n")
        return
    sys.stdout.write(
        "".join(
            f"{'-' if k is None else k}\t{s.name}\t{duration_hmm(s.duration)}\n"
            for s, k, _ in records
        )
    )
