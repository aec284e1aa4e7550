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
