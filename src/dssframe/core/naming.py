"""Snapshot directory names, exactly as the original dss writes them (pure, no I/O).

| state                         | name                                                   |
|-------------------------------|--------------------------------------------------------|
| being created, or aborted     | ``<creation>-incomplete``                              |
| complete                      | ``<creation>-<completion>.<start_human>-<end_human>``  |
| complete, being removed       | ``<creation>-<completion>.being_deleted``              |
| incomplete, being removed     | ``<creation>-incomplete.being_deleted``                |

Epochs are canonical non-negative decimal integers (no sign, no leading zeros), which is
what dss writes; anything else is not a snapshot and is never touched.
"""

from __future__ import annotations

import enum
import time
from typing import NamedTuple

INCOMPLETE = "incomplete"
BEING_DELETED = "being_deleted"
#: What the original dss writes (``snap.c``): weekday, month, day, year, hour, minute,
#: second in local time. Names without the seconds (written by dssframe before 0.2)
#: parse too: the suffix after the dot is never interpreted.
HUMAN_FORMAT = "%a_%b_%d_%Y_%H_%M_%S"


class State(enum.Enum):
    """The four states a snapshot directory name can express."""

    INCOMPLETE = "incomplete"
    COMPLETE = "complete"
    INCOMPLETE_BEING_DELETED = "incomplete-being-deleted"
    COMPLETE_BEING_DELETED = "complete-being-deleted"

    @property
    def being_deleted(self) -> bool:
        """Whether the name carries the ``.being_deleted`` suffix."""
        return self in (State.INCOMPLETE_BEING_DELETED, State.COMPLETE_BEING_DELETED)


class SnapshotName(NamedTuple):
    """A parsed snapshot directory name. ``creation`` is the snapshot's identity.

    Like the other value records plugins receive (``Removal``, ``CopyRequest``,
    ``CopyResult``, ``Event``), an immutable named tuple: on Python 3.11 a frozen
    dataclass costs every ``dss`` start-up half a millisecond."""

    name: str
    """The directory name, exactly as found (the suffix after the dot is kept)."""
    creation: int
    """Epoch the snapshot's copy started: its identity (metadata and pins use it)."""
    completion: int | None
    """Epoch the copy completed; None while incomplete."""
    state: State
    """Which of the four states the name expresses (:class:`State`)."""

    @property
    def complete(self) -> bool:
        """A finished snapshot (not being removed): the only state retention keeps."""
        return self.state is State.COMPLETE

    @property
    def incomplete(self) -> bool:
        """A copy in progress or aborted (not being removed)."""
        return self.state is State.INCOMPLETE

    @property
    def being_deleted(self) -> bool:
        """Renamed to ``.being_deleted``: its removal started (maybe interrupted)."""
        return self.state.being_deleted

    @property
    def duration(self) -> int | None:
        """Seconds from creation to completion, None while incomplete."""
        return None if self.completion is None else self.completion - self.creation


def _epoch(text: str) -> int | None:
    if not text or not text.isascii() or not text.isdigit():
        return None
    if len(text) > 1 and text[0] == "0":
        return None
    if len(text) > 18:  # beyond any plausible epoch; keeps int64 semantics of dss
        return None
    return int(text)


def parse(name: str, now: int | None = None) -> SnapshotName | None:
    """Parse a directory name; None if it is not a (usable) snapshot name.

    ``now`` rejects names whose creation *or completion* lies in the future (a clock
    that was wrong, a copy from another host); a completion before the creation is
    rejected too. The original dss ignores all of these: they are not snapshots, never
    listed, never touched.
    """
    creation_text, dash, rest = name.partition("-")
    if not dash:
        return None
    creation = _epoch(creation_text)
    if creation is None or (now is not None and creation > now):
        return None
    if rest == INCOMPLETE:
        return SnapshotName(name, creation, None, State.INCOMPLETE)
    if rest == INCOMPLETE + "." + BEING_DELETED:
        return SnapshotName(name, creation, None, State.INCOMPLETE_BEING_DELETED)
    completion_text, dot, suffix = rest.partition(".")
    if not dot or not suffix:
        return None
    completion = _epoch(completion_text)
    if completion is None or completion < creation:
        return None
    if now is not None and completion > now:
        return None
    state = State.COMPLETE_BEING_DELETED if suffix == BEING_DELETED else State.COMPLETE
    return SnapshotName(name, creation, completion, state)


def human_time(epoch: int) -> str:
    """The human-readable local-time part dss appends, e.g. ``Sun_Mar_02_2008_14_29_30``."""
    return time.strftime(HUMAN_FORMAT, time.localtime(epoch))


def incomplete_name(creation: int) -> str:
    """The name of a snapshot being created at ``creation``: ``<creation>-incomplete``."""
    return f"{creation}-{INCOMPLETE}"


def complete_name(creation: int, completion: int) -> str:
    """The name of a complete snapshot, as the original dss writes it: both epochs, then
    both times for people (local time, :func:`human_time`)."""
    return f"{creation}-{completion}.{human_time(creation)}-{human_time(completion)}"


def being_deleted_name(snapshot: SnapshotName) -> str:
    """The name a snapshot is renamed to before its tree is removed."""
    if snapshot.completion is None:
        return f"{snapshot.creation}-{INCOMPLETE}.{BEING_DELETED}"
    return f"{snapshot.creation}-{snapshot.completion}.{BEING_DELETED}"
