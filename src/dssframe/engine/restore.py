"""Restoring a snapshot (the revert): ``rsync -aH --delete`` from the snapshot to a
target, locally or over ssh, behind the safety checks of
:meth:`dssframe.engine.lifecycle.Snapshot.restore`.

The target is the configured source by default. For a remote source the command is the
reverse of the transport's copy, built from its public parts: ``source_argument()``
(the escaped ``user@host:path/`` operand), ``ssh_command()`` (given to rsync as one
``-e`` value) and ``-s`` (the remote path travels inside the rsync protocol). The
user's ``rsync-option`` values apply as they do to snapshots, so an ``--exclude`` that
kept files out of the snapshots also keeps a restore from deleting them. ``-H`` keeps
hard links inside the tree (snapshots hold them only when created with ``-H``).

``--dry-run`` lists what rsync would do (``-n --out-format='%i %n'``): every path that
would be created, changed or deleted in the target.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dssframe.core.errors import DssError, SnapshotError, TransportError, UsageError
from dssframe.store import metadata
from dssframe.store.current import Current, write_current

if TYPE_CHECKING:
    from dssframe.engine.job import Job
    from dssframe.engine.lifecycle import Snapshot

#: At most this many changes are quoted when a restore refuses.
QUOTED_CHANGES = 5
_ESCAPE = re.compile(rb"\\#([0-7]{3})")


@dataclass(frozen=True)
class Endpoint:
    """Where a restore writes: the rsync operand and how to show it."""

    argument: str  # the rsync operand, ending in "/"
    display: str
    ssh: list[str] | None  # the ssh argument list for a remote target
    local: str | None  # the local directory, None when remote
    is_source: bool  # the configured source (safety snapshot, becomes current)



@dataclass(frozen=True)
class Change:
    """One path a restore creates, changes or deletes in the target."""

    kind: str  # "create", "change", "delete"
    path: str
    item: str  # rsync's itemize code, e.g. ">f.st......" or "*deleting"


@dataclass(frozen=True)
class RestoreResult:
    """What :meth:`Snapshot.restore` did (or, with ``dry_run``, would do)."""

    snapshot: str
    target: str
    dry_run: bool
    changes: tuple[Change, ...] = ()  # only computed for a dry run
    safety_snapshot: str | None = None
    current: bool = False  # the snapshot became current (the target is the source)
    notes: tuple[str, ...] = ()


def resolve_target(job: Job, target: str | None) -> Endpoint:
    """The configured source (local or over ssh), or the local directory ``target``."""
    config = job.config
    transport = job.transport
    local_source = transport.local_source() if config.source_dir else None
    if target is None:
        config.require("source-dir")
        if local_source is None:
            ssh_command = getattr(transport, "ssh_command", None)
            source_argument = getattr(transport, "source_argument", None)
            if ssh_command is None or source_argument is None:
                raise UsageError(
                    f"transport {transport.name!r} cannot restore a remote source; "
                    "restore into a local directory with --target"
                )
            return Endpoint(
                str(source_argument()), transport.source_display(), list(ssh_command()),
                None, True,
            )
        path = os.path.abspath(local_source)
        return Endpoint(os.path.join(path, ""), os.path.join(path, ""), None, path, True)
    path = os.path.abspath(os.path.expanduser(target))
    is_source = local_source is not None and os.path.realpath(path) == os.path.realpath(
        local_source
    )
    return Endpoint(os.path.join(path, ""), os.path.join(path, ""), None, path, is_source)


def content_root(job: Job, snap: Snapshot) -> str:
    """Where the source's own entries are in ``snap`` (ending in ``/``): the snapshot
    directory, or -- for a source copied without a trailing slash -- the one
    directory named like the source inside it."""
    from dssframe.engine.job import source_top

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


def _dest_filters(endpoint: Endpoint, dest_dir: str, rule: str) -> list[str]:
    """A filter keeping the destination dir out of a restore into a directory that
    contains it; refuse a target inside the destination dir."""
    if endpoint.local is None:
        return []
    target = os.path.realpath(endpoint.local)
    dest = os.path.realpath(dest_dir)
    if target == dest or target.startswith(dest.rstrip("/") + "/"):
        raise UsageError(f"refusing to restore into {endpoint.local}: it is inside dest-dir")
    if dest.startswith(target.rstrip("/") + "/"):
        return [f"--filter={rule} /{os.path.relpath(dest, target)}/"]
    return []


def rsync_argv(job: Job, endpoint: Endpoint, *extra: str) -> list[str]:
    """``rsync -aH --delete EXTRA [-s -e SSH] [rsync-option ...]`` without operands."""
    argv = [job.config.rsync_path, "-aH", "--delete", *extra]
    if endpoint.ssh is not None:
        argv += ["-s", "-e", shlex.join(endpoint.ssh)]
    return argv + list(job.config.rsync_option)


def parse_itemized(output: bytes) -> list[Change]:
    """rsync ``--out-format='%i %n'`` lines as changes (other lines are ignored)."""
    changes = []
    for raw in output.split(b"\n"):
        if len(raw) < 13 or raw[11:12] != b" ":
            continue
        code = raw[:11].decode("ascii", "replace")
        path = os.fsdecode(_ESCAPE.sub(lambda m: bytes([int(m[1], 8)]), raw[12:]))
        if code == "*deleting  ":
            changes.append(Change("delete", path, "*deleting"))
        elif code[0] in "<>ch." and code[1] in "fdLDS":
            kind = "create" if code[2:] == "+" * 9 else "change"
            changes.append(Change(kind, path, code))
    return changes


def itemize(argv: list[str]) -> list[Change]:
    """Run an ``rsync -n`` command and list its itemized changes."""
    try:
        result = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, check=False
        )
    except OSError as exc:
        raise TransportError(f"cannot run {argv[0]}: {exc.strerror}") from None
    if result.returncode != 0:
        lines = [x for x in result.stderr.decode(errors="replace").splitlines() if x.strip()]
        useful = [x for x in lines if not x.startswith("rsync error:")] or lines
        detail = useful[-1] if useful else "no message"
        raise TransportError(f"rsync -n exited with status {result.returncode}: {detail}")
    return parse_itemized(result.stdout)


def source_changes(job: Job, endpoint: Endpoint, against: Snapshot) -> list[Change]:
    """What changed in the source since ``against``: ``added``, ``deleted`` and
    ``changed`` paths. A directory whose only difference is its mtime (a consequence
    of entries added or deleted in it) is left out."""
    argv = [job.config.rsync_path, "-a", "--delete", "-n", "--out-format=%i %n"]
    if endpoint.ssh is not None:
        argv += ["-s", "-e", shlex.join(endpoint.ssh)]
    argv += list(job.config.rsync_option)
    argv += _dest_filters(endpoint, job.store.dest_dir, "-")
    changes = itemize([*argv, endpoint.argument, content_root(job, against)])
    # Compared in the copy direction: "create" in the snapshot is added in the source.
    words = {"create": "added", "delete": "deleted", "change": "changed"}
    return [
        Change(words[c.kind], c.path, c.item)
        for c in changes
        if not (c.item.startswith(".d") and set(c.item[2:]) <= {".", "t", "T"})
    ]


def _changes_or_refuse(job: Job, endpoint: Endpoint, against: Snapshot) -> list[Change]:
    try:
        return source_changes(job, endpoint, against)
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
) -> RestoreResult:
    """See :meth:`dssframe.engine.lifecycle.Snapshot.restore`."""
    store = snap.store
    job = store.job()
    if snap.snapshot_name.being_deleted:
        raise SnapshotError(f"{snap.name} is being deleted")
    if not snap.complete and not force:
        raise SnapshotError(
            f"{snap.name} is incomplete (a partial copy); --force restores it anyway"
        )
    endpoint = resolve_target(job, target)
    protect = _dest_filters(endpoint, store.dest_dir, "P")
    argv = rsync_argv(job, endpoint, *protect)
    operands = [content_root(job, snap), endpoint.argument]
    notes: list[str] = []
    if not endpoint.is_source:
        assert endpoint.local is not None
        if _non_empty(endpoint.local) and not force:
            raise SnapshotError(
                f"{endpoint.display} exists and is not empty; --force overwrites it "
                "(files not in the snapshot are deleted)"
            )
        if dry_run:
            changes = itemize([*argv, "-n", "--out-format=%i %n", *operands])
            return RestoreResult(snap.name, endpoint.display, True, tuple(changes))
        os.makedirs(os.path.dirname(endpoint.local.rstrip("/")) or "/", exist_ok=True)
        _run(job, snap, endpoint, argv, operands, progress, None)
        return RestoreResult(snap.name, endpoint.display, False)

    current = store.current()
    if dry_run:
        if safety_snapshot:
            notes.append(f"a safety snapshot of {endpoint.display} would be taken first")
        elif current is not None and not force:
            changed = _changes_or_refuse(job, endpoint, current)
            if changed:
                notes.append(
                    f"would refuse without --force: {endpoint.display} has "
                    f"{len(changed)} changes since {current.name} ({_quote(changed)})"
                )
        changes = itemize([*argv, "-n", "--out-format=%i %n", *operands])
        notes.append(f"{snap.name} would become current")
        return RestoreResult(snap.name, endpoint.display, True, tuple(changes), notes=tuple(notes))

    with _locked(store.dest_dir, True):
        safety_name = None
        if safety_snapshot:
            safety_name = _safety_snapshot(job, snap, progress)
            notes.append(f"safety snapshot {safety_name} holds the state before the restore")
        elif current is not None and not force:
            changed = _changes_or_refuse(job, endpoint, current)
            if changed:
                raise SnapshotError(
                    f"{endpoint.display} has {len(changed)} changes since {current.name} "
                    f"({_quote(changed)}); --force overwrites them, or keep the safety "
                    "snapshot on"
                )
        if endpoint.local is not None:
            os.makedirs(endpoint.local, exist_ok=True)
        _run(job, snap, endpoint, argv, operands, progress, safety_name)
        write_current(
            store.dest_dir,
            Current(snap.creation, snap.name, job.now(), endpoint.display),
        )
        _record_restore(store.dest_dir, snap, endpoint.display, safety_name, job.now())
    store.refresh()
    notes.append(f"{snap.name} is now current: the next snapshot links against it")
    return RestoreResult(
        snap.name, endpoint.display, False, (), safety_name, True, tuple(notes)
    )


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


def _run(
    job: Job,
    snap: Snapshot,
    endpoint: Endpoint,
    argv: list[str],
    operands: list[str],
    progress: bool,
    safety_name: str | None,
) -> None:
    from dssframe.core.events import EventKind
    from dssframe.engine import runner

    full = [*argv, *(["--info=progress2"] if progress else []), *operands]
    started = time.monotonic()
    try:
        process = runner.start(full, progress)
    except FileNotFoundError as exc:
        raise TransportError(str(exc)) from None
    status, stderr = runner.wait(process)
    if status != 0:
        message = job.transport.classify(status, stderr).message or f"rsync exit {status}"
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
    dest_dir: str, snap: Snapshot, target: str, safety_name: str | None, when: int
) -> None:
    loaded = metadata.load(dest_dir, snap.creation)
    if loaded.metadata is None:
        return
    record = {"time": when, "target": target, "safety_snapshot": safety_name}
    with contextlib.suppress(OSError):
        metadata.write(
            dest_dir,
            loaded.metadata._replace(restores=(*loaded.metadata.restores, record)),
        )
