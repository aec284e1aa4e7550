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
}


def level(event: Event) -> int:
    """The level of ``event``'s line: a failure is an error; a run that ends is a
    notice, or an error when it ends because of one (the event has an ``error``)."""
    if event.kind is EventKind.RUN_EXITING:
        return logs.ERROR if event.error else logs.NOTICE
    return _LEVELS.get(event.kind, logs.ERROR)


@hookimpl
def dssframe_event(event: Event) -> None:
    log.log(level(event), "%s", event.describe(), job=event.job or None)
