"""Builtin notifier ``log_notify``: every event becomes a log line."""

from __future__ import annotations

import logging

from dssframe import hookimpl
from dssframe.events import Event, EventKind

log = logging.getLogger("dssframe.events")

_LEVELS = {
    EventKind.CREATE_STARTED: logging.INFO,
    EventKind.SNAPSHOT_CREATED: logging.INFO,
    EventKind.SNAPSHOT_REMOVED: logging.INFO,
    EventKind.SNAPSHOT_RESTORED: logging.INFO,
    EventKind.CREATE_DEFERRED: logging.WARNING,
    EventKind.REMOVE_SKIPPED: logging.WARNING,
    EventKind.DISK_SPACE_LOW: logging.WARNING,
    EventKind.RUN_EXITING: logging.WARNING,
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
    log.log(_LEVELS.get(event.kind, logging.ERROR), "%s", describe(event))
