"""Restoring a snapshot (the revert): the transport's restore command from the
snapshot to a target, locally or to a remote source, behind the safety checks of
:meth:`dssframe.engine.lifecycle.Snapshot.restore`.

The target is the configured source by default; the transport reaches it as it reaches
it for a copy (:class:`~dssframe.core.transport.RestoringTransport`, ``target=None``
for a remote source). ``--dry-run`` lists what the restore would do -- every path that
would be created, changed or deleted in the target -- and a restore of the source
without a safety snapshot first compares the source with the current snapshot; both
need a :class:`~dssframe.core.transport.PreviewingTransport`. A transport without these
capabilities is refused in one line naming the one it lacks.

``paths`` restores only chosen entries (files or directories, relative to the
snapshot's content root, :func:`content_root`) under the same rules: the safety
snapshot (of the whole source), the comparison (limited to the paths), ``--force`` for
a non-empty target. A path that is absolute, holds ``..``, goes through a symbolic
link or is not in the snapshot is refused (exit 2). A partial restore leaves the
current snapshot as it is: the source is not identical to the restored one.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dssframe.core.errors import DssError, SnapshotError, TransportError, UsageError
from dssframe.core.transport import Change as Change  # re-exported: restore's records
from dssframe.core.transport import (
    PreviewingTransport,
    ProgressSource,
    RestoreRequest,
    RestoringTransport,
    Transport,
    source_top,
)
from dssframe.store import metadata
from dssframe.store.current import Current, write_current

if TYPE_CHECKING:
    from dssframe.engine.job import Job
    from dssframe.engine.lifecycle import Snapshot

#: At most this many changes are quoted when a restore refuses.
QUOTED_CHANGES = 5
#: The kinds of :class:`Change` a restore makes, in the order they are counted.
CHANGE_KINDS = ("create", "change", "delete")


@dataclass(frozen=True)
class Endpoint:
    """Where a restore writes and how to show it."""

    target: str | None  # RestoreRequest.target: the local dir ("/" at the end), or None
    display: str
    local: str | None  # the local directory, None when remote
    is_source: bool  # the configured source (safety snapshot, becomes current)


@dataclass(frozen=True)
class RestoreResult:
    """What :meth:`Snapshot.restore` did (or, with ``dry_run``, would do)."""

    snapshot: str
    target: str
    dry_run: bool
    changes: tuple[Change, ...] = ()  # only computed for a dry run
    safety_snapshot: str | None = None
    current: bool = False  # the snapshot became (dry run: would become) current
    notes: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # the chosen paths (empty: the whole snapshot)
    safety_planned: bool = False  # dry run: a safety snapshot would be taken first

    def counts(self) -> dict[str, int]:
        """How many entries the dry run would create, change and delete."""
        return {kind: sum(c.kind == kind for c in self.changes) for kind in CHANGE_KINDS}

    def to_json(self) -> dict[str, object]:
        """``dss restore --json``: what was restored (or, dry run, what would be)."""
        return {
            "snapshot": self.snapshot,
            "target": self.target,
            "paths": list(self.paths),
            "dry_run": self.dry_run,
            "safety_snapshot": self.safety_snapshot,
            "safety_snapshot_planned": self.safety_planned,
            "current": self.current,
            "changes": (
                [{"kind": c.kind, "path": c.path, "item": c.item} for c in self.changes]
                if self.dry_run
                else None
            ),
            "counts": self.counts() if self.dry_run else None,
            "notes": list(self.notes),
        }


def check_paths(root: str, paths: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``paths`` normalized (no empty or ``.`` components, no slashes around), each
    checked against ``root``, the snapshot's content root; those inside another one
    are dropped. UsageError (exit 2) for an absolute path, a ``..`` component, the top
    itself, a path through a symbolic link in the snapshot, or one not in it."""
    chosen: list[str] = []
    for given in paths:
        if given.startswith("/"):
            raise UsageError(
                f"restore path {given!r} is absolute: paths are relative to the snapshot's top"
            )
        parts = [part for part in given.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise UsageError(f"restore path {given!r} contains '..'")
        if not parts:
            raise UsageError(
                f"restore path {given!r} is the snapshot's top: leave out PATH to restore it all"
            )
        for depth in range(1, len(parts)):
            leading = os.path.join(root, *parts[:depth])
            if os.path.islink(leading) or not os.path.isdir(leading):
                raise UsageError(
                    f"restore path {given!r} is not in the snapshot "
                    f"({'/'.join(parts[:depth])} is not a directory there)"
                )
        if not os.path.lexists(os.path.join(root, *parts)):
            raise UsageError(f"restore path {given!r} is not in the snapshot")
        chosen.append("/".join(parts))
    unique = sorted(set(chosen))
    return tuple(
        p for p in unique if not any(p.startswith(q + "/") for q in unique if q != p)
    )


def _check_leading(local: str, paths: tuple[str, ...]) -> None:
    """Refuse a local target where a directory leading to a path is a symbolic link
    or not a directory: rsync would write through the link, outside the target."""
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            leading = os.path.join(local, *parts[:depth])
            if os.path.islink(leading) or (
                os.path.lexists(leading) and not os.path.isdir(leading)
            ):
                raise UsageError(
                    f"cannot restore {path!r}: {leading} is a symbolic link or not a "
                    "directory in the target"
                )


def _make_leading(root: str, local: str, paths: tuple[str, ...]) -> list[tuple[str, str]]:
    """Create the missing directories leading to ``paths`` in the local target, private
    (0700) until :func:`_settle_leading` gives them the snapshot's attributes: rsync
    (``--no-implied-dirs``) would create them with default permissions. Returns the
    (created, snapshot) pairs, outermost first."""
    made: list[tuple[str, str]] = []
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            leading = os.path.join(local, *parts[:depth])
            if not os.path.lexists(leading):
                os.mkdir(leading, 0o700)
                made.append((leading, os.path.join(root, *parts[:depth])))
    return made


def _settle_leading(made: list[tuple[str, str]]) -> None:
    """The snapshot's owner (when allowed), mode and times on the directories
    :func:`_make_leading` created, innermost first (so no child changes them again)."""
    import shutil

    for created, original in reversed(made):
        with contextlib.suppress(OSError):
            st = os.lstat(original)
            if os.geteuid() == 0:
                os.lchown(created, st.st_uid, st.st_gid)
            shutil.copystat(original, created, follow_symlinks=False)


def _honours_paths(
    transport: Transport, restorer: RestoringTransport, request: RestoreRequest
) -> None:
    """Refuse a transport written before :attr:`RestoreRequest.paths`: its commands do
    not depend on the paths, so it would restore (and delete) the whole tree."""
    whole = request._replace(paths=())
    ignored = restorer.restore_command(request) == restorer.restore_command(whole)
    if not ignored and isinstance(transport, PreviewingTransport):
        ignored = transport.preview_command(request) == transport.preview_command(whole)
    if ignored:
        raise UsageError(
            f"transport {transport.name!r} cannot restore chosen paths (its restore "
            "command ignores RestoreRequest.paths); leave out PATH to restore it all"
        )


def _within(changes: list[Change], paths: tuple[str, ...]) -> list[Change]:
    """The changes at or below one of ``paths`` (all of them when ``paths`` is empty)."""
    if not paths:
        return changes
    return [
        c
        for c in changes
        if any(c.path.rstrip("/") == p or c.path.startswith(p + "/") for p in paths)
    ]


def resolve_target(job: Job, target: str | None) -> Endpoint:
    """The configured source (local or over ssh), or the local directory ``target``."""
    config = job.config
    transport = job.transport
    local_source = transport.local_source() if config.source_dir else None
    if target is None:
        config.require("source-dir")
        if local_source is None:  # only the transport reaches it
            return Endpoint(None, transport.source_display(), None, True)
        path = os.path.abspath(local_source)
        return Endpoint(os.path.join(path, ""), os.path.join(path, ""), path, True)
    path = os.path.abspath(os.path.expanduser(target))
    is_source = local_source is not None and os.path.realpath(path) == os.path.realpath(
        local_source
    )
    return Endpoint(os.path.join(path, ""), os.path.join(path, ""), path, is_source)


def restoring(transport: Transport) -> RestoringTransport:
    """``transport`` as a :class:`RestoringTransport`; UsageError when it is none."""
    if not isinstance(transport, RestoringTransport):
        raise UsageError(
            f"transport {transport.name!r} cannot restore: it has no restore_command "
            "(the RestoringTransport capability)"
        )
    return transport


def previewing(transport: Transport) -> PreviewingTransport:
    """``transport`` as a :class:`PreviewingTransport`; TransportError when it is none."""
    if not isinstance(transport, PreviewingTransport):
        raise TransportError(
            f"transport {transport.name!r} cannot list changes: it has no preview_command "
            "(the PreviewingTransport capability)"
        )
    return transport


def content_root(job: Job, snap: Snapshot) -> str:
    """Where the source's own entries are in ``snap`` (ending in ``/``): the snapshot
    directory, or -- for a source copied without a trailing slash -- the one
    directory named like the source inside it."""
    top = source_top(job.transport) if job.config.source_dir else None
    if top is not None:
        inner = os.path.join(snap.path, top)
        try:
            wrapped = os.listdir(snap.path) == [top] and os.path.isdir(inner)
        except OSError:
            wrapped = False
        if wrapped:
            return os.path.join(inner, "")
    return os.path.join(snap.path, "")


def _kept(endpoint: Endpoint, dest_dir: str) -> tuple[str, ...]:
    """The destination dir, relative to a target that contains it (kept out of the
    restore); refuse a target inside the destination dir."""
    if endpoint.local is None:
        return ()
    target = os.path.realpath(endpoint.local)
    dest = os.path.realpath(dest_dir)
    if target == dest or target.startswith(dest.rstrip("/") + "/"):
        raise UsageError(f"refusing to restore into {endpoint.local}: it is inside dest-dir")
    if dest.startswith(target.rstrip("/") + "/"):
        return (os.path.relpath(dest, target),)
    return ()


def list_changes(job: Job, argv: list[str]) -> list[Change]:
    """Run a dry run of the transport (a preview or a comparison) and list its changes."""
    try:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    except OSError as exc:
        raise TransportError(f"cannot run {argv[0]}: {exc.strerror}") from None
    stderr = result.stderr.decode(errors="replace")
    return previewing(job.transport).parse_changes(result.returncode, result.stdout, stderr)


def source_changes(job: Job, endpoint: Endpoint, against: Snapshot) -> list[Change]:
    """What changed in the source since ``against``: ``added``, ``deleted`` and
    ``changed`` paths. A directory whose only difference is its mtime (a consequence
    of entries added or deleted in it) is left out."""
    keep = _kept(endpoint, job.store.dest_dir)
    request = RestoreRequest(content_root(job, against), endpoint.target, keep)
    changes = list_changes(job, previewing(job.transport).compare_command(request))
    # Compared in the copy direction: "create" in the snapshot is added in the source.
    words = {"create": "added", "delete": "deleted", "change": "changed"}
    return [Change(words[c.kind], c.path, c.item) for c in changes if not c.times_only]


def _changes_or_refuse(
    job: Job, endpoint: Endpoint, against: Snapshot, paths: tuple[str, ...] = ()
) -> list[Change]:
    try:
        return _within(source_changes(job, endpoint, against), paths)
    except TransportError as exc:
        raise SnapshotError(
            f"cannot compare {endpoint.display} with {against.name} ({exc}); "
            "--force restores without comparing"
        ) from None


def _quote(changes: list[Change]) -> str:
    shown = ", ".join(f"{c.kind} {c.path}" for c in changes[:QUOTED_CHANGES])
    more = len(changes) - QUOTED_CHANGES
    return shown + (f", and {more} more" if more > 0 else "")


def _non_empty(path: str) -> bool:
    try:
        with os.scandir(path) as entries:
            return any(True for _ in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False


@contextlib.contextmanager
def _locked(dest_dir: str, take: bool) -> Iterator[None]:
    if not take:
        yield
        return
    from dssframe.store.lock import DestLock

    with DestLock(dest_dir):
        yield


def restore(
    snap: Snapshot,
    target: str | None,
    force: bool,
    dry_run: bool,
    safety_snapshot: bool,
    progress: bool,
    paths: tuple[str, ...] | list[str] = (),
) -> RestoreResult:
    """See :meth:`dssframe.engine.lifecycle.Snapshot.restore`; ``paths``: restore only
    these entries (see the module's documentation)."""
    store = snap.store
    job = store.job()
    if snap.snapshot_name.being_deleted:
        raise SnapshotError(f"{snap.name} is being deleted")
    if not snap.complete and not force:
        raise SnapshotError(
            f"{snap.name} is incomplete (a partial copy); --force restores it anyway"
        )
    restorer = restoring(job.transport)
    endpoint = resolve_target(job, target)
    keep = _kept(endpoint, store.dest_dir)
    progress = progress and isinstance(job.transport, ProgressSource)
    root = content_root(job, snap)
    chosen = check_paths(root, paths) if paths else ()
    if chosen and endpoint.local is not None:
        _check_leading(endpoint.local, chosen)
    request = RestoreRequest(root, endpoint.target, keep, progress, chosen)
    if chosen:
        _honours_paths(job.transport, restorer, request)
    if dry_run and not isinstance(job.transport, PreviewingTransport):
        raise UsageError(
            f"transport {job.transport.name!r} cannot preview a restore: it has no "
            "preview_command (the PreviewingTransport capability)"
        )
    notes: list[str] = []
    if not endpoint.is_source:
        assert endpoint.local is not None
        if _non_empty(endpoint.local) and not force:
            raise UsageError(
                f"{endpoint.display} exists and is not empty; --force overwrites it "
                "(files not in the snapshot are deleted)"
            )
        if dry_run:
            changes = _preview(job, request)
            return RestoreResult(
                snap.name, endpoint.display, True, tuple(changes), paths=chosen
            )
        made: list[tuple[str, str]] = []
        if chosen:
            os.makedirs(endpoint.local, exist_ok=True)
            made = _make_leading(root, endpoint.local, chosen)
        else:
            os.makedirs(os.path.dirname(endpoint.local.rstrip("/")) or "/", exist_ok=True)
        _run(job, snap, endpoint, restorer.restore_command(request), progress, None)
        _settle_leading(made)
        return RestoreResult(snap.name, endpoint.display, False, paths=chosen)

    current = store.current()
    if dry_run:
        if safety_snapshot:
            notes.append(f"a safety snapshot of {endpoint.display} would be taken first")
        elif current is not None and not force:
            changed = _changes_or_refuse(job, endpoint, current, chosen)
            if changed:
                notes.append(
                    f"would refuse without --force: {endpoint.display} has "
                    f"{len(changed)} changes since {current.name} ({_quote(changed)})"
                )
        changes = _preview(job, request)
        if chosen:
            notes.append(f"the current snapshot would stay as it is (a restore of {_few(chosen)})")
        else:
            notes.append(f"{snap.name} would become current")
        return RestoreResult(
            snap.name,
            endpoint.display,
            True,
            tuple(changes),
            current=not chosen,
            notes=tuple(notes),
            paths=chosen,
            safety_planned=safety_snapshot,
        )

    with _locked(store.dest_dir, True):
        safety_name = None
        if safety_snapshot:
            safety_name = _safety_snapshot(job, snap, progress)
            notes.append(f"safety snapshot {safety_name} holds the state before the restore")
        elif current is not None and not force:
            changed = _changes_or_refuse(job, endpoint, current, chosen)
            if changed:
                raise SnapshotError(
                    f"{endpoint.display} has {len(changed)} changes since {current.name} "
                    f"({_quote(changed)}); --force overwrites them, or keep the safety "
                    "snapshot on"
                )
        made = []
        if endpoint.local is not None:
            os.makedirs(endpoint.local, exist_ok=True)
            made = _make_leading(root, endpoint.local, chosen)
        _run(job, snap, endpoint, restorer.restore_command(request), progress, safety_name)
        _settle_leading(made)
        if not chosen:
            write_current(
                store.dest_dir,
                Current(snap.creation, snap.name, job.now(), endpoint.display),
            )
        _record_restore(store.dest_dir, snap, endpoint.display, safety_name, job.now(), chosen)
    store.refresh()
    if chosen:
        notes.append(f"restored {_few(chosen)}; the current snapshot is unchanged")
        return RestoreResult(
            snap.name, endpoint.display, False, (), safety_name, False, tuple(notes), chosen
        )
    notes.append(f"{snap.name} is now current: the next snapshot links against it")
    return RestoreResult(
        snap.name, endpoint.display, False, (), safety_name, True, tuple(notes)
    )


def _few(paths: tuple[str, ...]) -> str:
    shown = ", ".join(paths[:QUOTED_CHANGES])
    more = len(paths) - QUOTED_CHANGES
    return shown + (f", and {more} more" if more > 0 else "")


def _safety_snapshot(job: Job, snap: Snapshot, progress: bool) -> str:
    """A snapshot of the source through the normal create path, never recycling or
    resuming a directory (the snapshot being restored must stay as it is), pinned for
    ``safety-pin`` so that the next prune cannot take it as the first redundant one.
    It may be far smaller than its reference: a restore is often wanted because the
    source lost its files, and that state is what the safety snapshot keeps."""
    from dssframe.engine.job import CreateDeferred

    safe_job = job.with_config(job.config._replace(no_resume=True, allow_shrink=True))
    try:
        created = safe_job.create(progress=progress)
    except CreateDeferred as exc:
        raise SnapshotError(
            f"{exc}; nothing was restored (--no-safety-snapshot skips the safety snapshot)"
        ) from None
    except DssError as exc:
        raise SnapshotError(
            f"safety snapshot failed, nothing was restored: {exc} "
            "(--no-safety-snapshot restores without one)"
        ) from None
    loaded = metadata.load(job.store.dest_dir, created.creation)
    if loaded.metadata is not None:
        with contextlib.suppress(OSError):
            metadata.write(
                job.store.dest_dir,
                loaded.metadata._replace(
                    origin=metadata.ORIGIN_SAFETY,
                    note=f"safety snapshot before restoring {snap.name}",
                ),
            )
    if job.config.safety_pin:
        from dssframe.store import pins

        now = job.now()
        pin = pins.Pin(
            created.creation,
            created.name,
            now + job.config.safety_pin,
            f"safety snapshot before restoring {snap.name}",
            now,
            pins.who(),
        )
        try:
            pins.pin(job.store.dest_dir, pin)
        except (OSError, DssError) as exc:
            raise SnapshotError(
                f"cannot pin the safety snapshot {created.name}: {exc}; nothing was restored"
            ) from None
    return created.name


def _preview(job: Job, request: RestoreRequest) -> list[Change]:
    """What restoring ``request`` would create, change and delete."""
    return list_changes(job, previewing(job.transport).preview_command(request))


def _run(
    job: Job,
    snap: Snapshot,
    endpoint: Endpoint,
    argv: list[str],
    progress: bool,
    safety_name: str | None,
) -> None:
    """Run the transport's restore command ``argv`` (its progress drawn if asked)."""
    from dssframe.core.events import EventKind
    from dssframe.engine import runner

    started = time.monotonic()
    try:
        process = runner.start(argv, progress)
    except FileNotFoundError as exc:
        raise TransportError(str(exc)) from None
    status, stderr = runner.wait(process, job.progress_reader(progress))
    if status != 0:
        transport = job.transport
        message = transport.classify(status, stderr).message or f"{transport.name} exit {status}"
        kept = f"; the state before it is in {safety_name}" if safety_name else ""
        raise TransportError(
            f"restore of {snap.name} to {endpoint.display} failed ({message}){kept}"
        )
    job.event(
        EventKind.SNAPSHOT_RESTORED,
        snapshot=snap.name,
        path=snap.path,
        reason=f"restored to {endpoint.display}",
        duration=time.monotonic() - started,
        exit_status=status,
    )


def _record_restore(
    dest_dir: str,
    snap: Snapshot,
    target: str,
    safety_name: str | None,
    when: int,
    paths: tuple[str, ...] = (),
) -> None:
    loaded = metadata.load(dest_dir, snap.creation)
    if loaded.metadata is None:
        return
    record: dict[str, object] = {"time": when, "target": target, "safety_snapshot": safety_name}
    if paths:
        record["paths"] = list(paths)
    with contextlib.suppress(OSError):
        metadata.write(
            dest_dir,
            loaded.metadata._replace(restores=(*loaded.metadata.restores, record)),
        )
