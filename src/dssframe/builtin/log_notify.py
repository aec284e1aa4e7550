"""Builtin notifier ``log_notify``: every event becomes a log line."""

from __future__ import annotations

from dssframe import hookimpl, logs
from dssframe.core.events import Event, EventKind

log = logs.get("dssframe.core.events")

_LEVELS = {
    EventKind.CREATE_STARTED: logs.INFO,
    EventKind.SNAPSHOT_CREATED: logs.INFO,
    EventKind.SNAPSHOT_REMOVED: logs.INFO,
    EventKind.SNAPSHOT_RESTORED: logs.INFO,
    EventKind.CREATE_DEFERRED: logs.WARNING,
    EventKind.REMOVE_SKIPPED: logs.WARNING,
    EventKind.DISK_SPACE_LOW: logs.WARNING,
    EventKind.RUN_EXITING: logs.WARNING,
}


def describe(event: Event) -> str:
    parts = [event.kind.value]
    if event.snapshot:
        parts.append(event.snapshot)
    if event.reason:
        parts.append(f"({event.reason})")
    if event.duration is not None:
        parts.append(f"in {event.duration:.1f}s")
    if event.error:
        parts.append(f": {event.error}")
    if event.dry_run:
        parts.append("[dry run]")
    return " ".join(parts)


@hookimpl
def dssframe_event(event: Event) -> None:
    log.log(_LEVELS.get(event.kind, logs.ERROR), "%s", describe(event))
