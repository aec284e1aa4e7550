"""The one event object every notification hook receives (pure).

Every plugin's ``dssframe_event`` hook hears every :class:`Event`; ``event.kind`` (an
:class:`EventKind`) says what happened, and the table in :class:`EventKind` says when each
kind is sent and which fields it fills.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

EVENT_API_VERSION = 1
"""Bumped when a field of :class:`Event` changes meaning or disappears; adding fields
or kinds does not bump it. A notifier may compare ``event.api_version`` with it and
stay silent on events it does not understand."""


class EventKind(enum.Enum):
    """What happened: the ``kind`` of an :class:`Event`, one member per row below.

    Every event carries ``kind``, ``time`` (epoch seconds), ``api_version``,
    ``destination`` (the ``dest-dir``) and ``source`` (how the transport shows the
    source, e.g. ``user@host:/data/``; the configured ``source-dir`` when no job could
    be set up; empty when none is configured). The table says
    when each kind is sent and which other fields it fills; the others keep their
    defaults (None, ``{}``, False). ``dry_run`` is False in every event dssframe sends:
    a dry run changes nothing and reports nothing. The kinds that are failures
    (:attr:`is_failure`) are marked *failure*.

    ===================== ====================================== ===================================
    kind                  sent when                              fields
    ===================== ====================================== ===================================
    ``create-started``    a copy starts: the incomplete          ``snapshot`` (the incomplete name),
                          directory is ready (new, resumed or    ``path``, ``stats`` (only
                          recycled) and the transport's process  ``checksum``: whether this copy
                          is about to start or running (``dss    compares file contents)
                          create``, ``dss run``, the safety
                          snapshot of ``dss restore``)
    ``snapshot-created``  a copy finished, passed the host's     ``snapshot`` (the complete name),
                          checks and the snapshot got its        ``path``, ``exit_status``,
                          complete name                          ``duration`` (creation to
                                                                 completion), ``stats`` (the copy's
                                                                 figures, e.g. ``files`` and
                                                                 ``total_size``; ``checksum``;
                                                                 ``source_error_lines``, and
                                                                 ``source_errors`` when source-side
                                                                 errors were tolerated)
    ``create-failed``     *failure*: a snapshot could not be     ``error`` (one line). After a copy
                          made. After a copy: the transport said also ``snapshot`` (the incomplete
                          ``RETRY`` or ``ERROR``, or the host    name), ``path``, ``exit_status``,
                          does not believe the copy (no          ``duration``, ``stats``. ``dss
                          statistics, the shrink guard); the     create`` finding the lock held:
                          incomplete directory stays for a       ``reason`` (``locked``)
                          resume. Before any copy: the source is
                          missing, not a directory or mount
                          point, or empty while the reference is
                          not; a layout switch; the destination
                          cannot be opened or (``dss run``) is
                          no longer a mount point; ``dss
                          create`` finds the lock held. Nothing
                          was touched then
    ``create-deferred``   a veto (a plugin's                     ``reason`` (the veto's message)
                          ``dssframe_pre_create``, the
                          ``pre-create-hook``) deferred a
                          creation; ``dss run`` reports a
                          lasting veto at most once an hour
    ``snapshot-removed``  a snapshot directory was removed       ``snapshot``, ``path``, ``reason``
                          (``dss prune``, ``dss delete``, the    (the removal's ``Reason``:
                          run loop's pruning and disk-space      ``outdated``, ``redundant``,
                          guard), or a complete snapshot was     ``orphaned``, ``low-space``; ``dss
                          recycled: renamed to become the        delete``: ``requested`` or
                          directory of a new copy                ``requested (descendant of
                                                                 NAME)``; recycling:
                                                                 ``recycled``), ``duration`` (of the
                                                                 removal; None when recycled)
    ``remove-failed``     *failure*: renaming a snapshot to its  ``snapshot``, ``path``, ``error``
                          ``.being_deleted`` name, or deleting
                          its tree, failed
    ``remove-skipped``    a veto (a plugin's                     ``snapshot``, ``path``, ``reason``
                          ``dssframe_pre_remove``, the           (the veto's message)
                          ``pre-remove-hook``) skipped a
                          removal; it is tried again later
    ``remove-refused``    the removal gate, looking again at a   ``snapshot``, ``path``, ``reason``
                          fresh listing right before a removal,  (why the gate kept it)
                          kept the snapshot (the newest complete
                          one, a pinned or busy one, the last
                          ``min-complete``)
    ``disk-space-low``    ``dss run``: free space or inodes of   ``reason`` (the shortages,
                          the destination fell below a threshold separated by ``; ``)
                          (once, and again only after space was
                          sufficient in between)
    ``no-space``          *failure*: ``dss run``: space is low   ``reason`` (the shortages),
                          and nothing is left that may be        ``error`` (the message)
                          removed (once per shortage)
    ``run-exiting``       ``dss run`` is exiting: a signal, a    ``reason`` (``caught signal
                          fatal error, ``max-rsync-errors``      SIGTERM``, ``error: ...``, ...)
                          consecutive failures
    ``snapshot-restored`` ``dss restore`` made its target        ``snapshot``, ``path``, ``reason``
                          identical to a snapshot                (``restored to TARGET``),
                                                                 ``duration``, ``exit_status``
    ``lock-refused``      *failure*: ``dss run`` or ``dss        ``error`` (who holds the lock)
                          prune`` found the destination's lock
                          held by another dss (``dss create``
                          sends ``create-failed``)
    ``hook-timeout``      *failure*: a shell hook ran longer     ``reason`` (the hook's option, e.g.
                          than ``hook-timeout`` and was killed   ``pre-create-hook``), ``error``;
                                                                 ``source`` and ``destination`` as
                                                                 configured
    ``snapshot-stale``    *failure*: ``dss run``: a job's newest ``reason`` and ``error`` (the same
                          complete snapshot (with none: the      text: ``no complete snapshot for
                          loop's start) became older than its    2d 3h (stale-after = 1d)``),
                          ``stale-after``; once, until a         ``snapshot`` (the newest complete
                          snapshot is complete again             name; None: there is none)
    ``corruption-found``  *failure*: ``dss verify`` found a      ``snapshot`` (the newest snapshot
                          stored file whose content no longer    holding it), ``path`` (the file's
                          matches its hash (``corrupt``), whose  absolute path in it), ``reason``
                          size, mtime or inode changed           (``corrupt``, ``modified``,
                          (``modified``), that is gone or cannot ``missing``, ``unreadable``),
                          be read; one event per inode (the      ``error`` (its relative path, what
                          paths hard links share are one)        is wrong, the snapshots sharing it)
    ===================== ====================================== ===================================

    A removal's ``reason`` is the value of its :class:`~dssframe.core.retention.Reason`.
    ``tests/test_docs.py`` checks that this table names every kind and that every kind
    is sent somewhere.
    """

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
    SNAPSHOT_STALE = "snapshot-stale"  # no complete snapshot within stale-after
    CORRUPTION_FOUND = "corruption-found"  # dss verify: a stored file no longer matches

    @property
    def is_failure(self) -> bool:
        """Whether this kind reports a failure (marked *failure* in the table)."""
        return self in _FAILURES


_FAILURES = {
    EventKind.CREATE_FAILED,
    EventKind.REMOVE_FAILED,
    EventKind.NO_SPACE,
    EventKind.LOCK_REFUSED,
    EventKind.HOOK_TIMEOUT,
    EventKind.SNAPSHOT_STALE,
    EventKind.CORRUPTION_FOUND,
}


class Event(NamedTuple):
    """A lifecycle event, passed to every plugin's ``dssframe_event`` hook.

    ``source`` and ``destination`` describe the job; ``snapshot``/``path`` name the
    snapshot concerned (if any); ``reason`` says why (a removal reason, the exit reason
    of the run loop, a veto message); ``duration`` is in seconds; ``stats`` holds rsync
    figures when known; ``error`` the error text of a failure; ``dry_run`` is true when
    nothing was really done. ``time`` is the epoch of the event. Which kind fills which
    field: the table in :class:`EventKind`.

    An immutable named tuple: ``event._asdict()`` gives its fields as a dict.
    """

    kind: EventKind
    """What happened (see the table in :class:`EventKind`)."""
    time: int
    """When it happened, in epoch seconds."""
    source: str = ""
    """The job's source as the transport shows it (``/data/``, ``user@host:/data/``);
    empty when no ``source-dir`` is configured."""
    destination: str = ""
    """The destination directory (``dest-dir``) of the job."""
    snapshot: str | None = None
    """The directory name of the snapshot concerned, if any."""
    path: str | None = None
    """The absolute path of that snapshot directory, if any (``corruption-found``: of
    the file in it)."""
    reason: str | None = None
    """Why: a removal reason, a veto's message, the run loop's exit reason, ..."""
    duration: float | None = None
    """Seconds: of the copy (creation to completion), of a removal, of a restore."""
    exit_status: int | None = None
    """The transport process's exit status, when one ran."""
    stats: Mapping[str, Any] = MappingProxyType({})
    """Figures of a copy (``files``, ``total_size``, ``checksum``, ...); read-only."""
    error: str | None = None
    """The one-line error text of a failure."""
    dry_run: bool = False
    """True when nothing was really done (dssframe itself sends no events in a dry
    run)."""
    api_version: int = EVENT_API_VERSION
    """The :data:`EVENT_API_VERSION` of the code that made the event."""
    job: str = ""
    """The name of the job (a ``[[job]]`` table's ``name``; "" for a config without
    jobs). One ``dss run`` may run many jobs: a notifier whose settings differ per job
    keeps what ``dssframe_configure`` gave it per ``config.name`` and looks it up by
    this."""

    def describe(self) -> str:
        """The event in one line, as dss logs it: the kind, the snapshot, the reason in
        parentheses (unless it is the error), the duration, then the error after a
        colon --
        ``create-failed 1700000000-incomplete in 2.0s: rsync exit 12: ...``."""
        parts = [self.kind.value]
        if self.snapshot:
            parts.append(self.snapshot)
        if self.reason and self.reason != self.error:
            parts.append(f"({self.reason})")
        if self.duration is not None:
            parts.append(f"in {self.duration:.1f}s")
        if self.dry_run:
            parts.append("[dry run]")
        text = " ".join(parts)
        return f"{text}: {self.error}" if self.error else text
