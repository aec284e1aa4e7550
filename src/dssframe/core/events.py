"""The one event object every notification hook receives."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

#: Bumped when a field of :class:`Event` changes meaning or disappears (adding
#: fields or kinds does not bump it). Notifiers may check it.
EVENT_API_VERSION = 1


class EventKind(enum.Enum):
    """What happened."""

    CREATE_STARTED = "create-started"
    SNAPSHOT_CREATED = "snapshot-created"
    CREATE_FAILED = "create-failed"
    CREATE_DEFERRED = "create-deferred"
    SNAPSHOT_REMOVED = "snapshot-removed"
    REMOVE_FAILED = "remove-failed"
    REMOVE_SKIPPED = "remove-skipped"
    DISK_SPACE_LOW = "disk-space-low"
    NO_SPACE = "no-space"
    RUN_EXITING = "run-exiting"
    SNAPSHOT_RESTORED = "snapshot-restored"  # ``reason``: "restored to <target>"
    LOCK_REFUSED = "lock-refused"  # another dss holds the destination's lock
    HOOK_TIMEOUT = "hook-timeout"  # ``reason``: the hook; it was killed
    REMOVE_REFUSED = "remove-refused"  # the removal gate kept a snapshot a plan named

    @property
    def is_failure(self) -> bool:
        return self in _FAILURES


_FAILURES = {
    EventKind.CREATE_FAILED,
    EventKind.REMOVE_FAILED,
    EventKind.NO_SPACE,
    EventKind.LOCK_REFUSED,
    EventKind.HOOK_TIMEOUT,
}


class Event(NamedTuple):
    """A lifecycle event, passed to every plugin's ``dssframe_event`` hook.

    ``source`` and ``destination`` describe the job; ``snapshot``/``path`` name the
    snapshot concerned (if any); ``reason`` says why (a removal reason, the exit reason
    of the run loop, a veto message); ``duration`` is in seconds; ``stats`` holds rsync
    figures when known; ``error`` the error text of a failure; ``dry_run`` is true when
    nothing was really done. ``time`` is the epoch of the event.

    An immutable named tuple: ``event._asdict()`` gives its fields as a dict.
    """

    kind: EventKind
    time: int
    source: str = ""
    destination: str = ""
    snapshot: str | None = None
    path: str | None = None
    reason: str | None = None
    duration: float | None = None
    exit_status: int | None = None
    stats: Mapping[str, Any] = MappingProxyType({})
    error: str | None = None
    dry_run: bool = False
    api_version: int = EVENT_API_VERSION
