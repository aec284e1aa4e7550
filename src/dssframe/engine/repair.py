"""``dss verify --repair``: put back the content a snapshot file had when it was hashed.

For each corrupt or modified inode a verify found, a healthy copy is looked for, in
this order, and its content checked against the stored hash before anything changes:

1. a path that still holds the stored inode unchanged (a modified path's hard-link
   twin): the bad paths are linked to it again;
2. another inode with the same stored hash and size, in any snapshot;
3. the source, when the file there still has the recorded size and mtime.

A copy goes to a temporary file in the directory of a bad path (``.dss-repair-...``,
named in ``<dest>/.dssframe/hashes/repair.json`` first, so that a crash cannot leave
one for good), with the mode, owner, access time of the bad file and the recorded
mtime; it is hashed while it is written and kept only when it matches. Every other
path that shared the bad inode gets a hard link to it under a temporary name in its own
directory; then each temporary name is renamed over its bad path, so every path that
shared the bad inode ends up sharing the repaired one. The directories keep their
mtimes. Every change is made through directory descriptors opened one component at a
time from the destination's real path with ``O_NOFOLLOW``: a symbolic link inside a
snapshot is never followed, and nothing outside the destination is written. The
snapshots' hash files get the repaired inode's number.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from dssframe import logs
from dssframe.core import verify as fmt
from dssframe.core.verify import Finding, Member, Record
from dssframe.engine.verify import CHUNK, Limiter, VerifyReport, open_file
from dssframe.store import hashes

log = logs.get("dssframe")

TEMP_PREFIX = ".dss-repair-"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: What a repair can fix: the path still holds a file (another one, or the same inode
#: with other content). A missing path is reported, never made up.
REPAIRABLE = (fmt.CORRUPT, fmt.MODIFIED)


class Source(NamedTuple):
    """Where a snapshot's files came from on this machine: ``root`` holds what the
    snapshot holds, or, with ``top``, the snapshot holds ``root`` as the directory
    ``top`` (a source without a trailing slash)."""

    root: str
    top: str | None = None

    def path_of(self, rel: str) -> str | None:
        if self.top is None:
            return os.path.join(self.root, rel)
        prefix = self.top + "/"
        return os.path.join(self.root, rel[len(prefix) :]) if rel.startswith(prefix) else None


def source_of_spelling(source: str | None) -> Source | None:
    """The :class:`Source` of a local source as the metadata records it (``/data/``,
    ``/data``); None for a remote one (``user@host:/data/``) or none."""
    if not source or not source.startswith("/"):
        return None
    if source.endswith("/"):
        return Source(source.rstrip("/") or "/")
    return Source(source, os.path.basename(source))


class Repaired(NamedTuple):
    """What became of one finding."""

    finding: Finding
    done: bool
    donor: str | None
    """Where the content came from: ``link to NAME/PATH``, ``copy of NAME/PATH``,
    ``source PATH``; None when nothing could be used."""
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.finding.record.path,
            "kind": self.finding.kind,
            "snapshots": self.finding.snapshots,
            "repaired": self.done,
            "donor": self.donor,
            "detail": self.detail,
        }

    def line(self, dry_run: bool = False) -> str:
        path = fmt.escape_path(self.finding.record.path)
        names = ", ".join(self.finding.snapshots)
        if self.done:
            verb = "would repair" if dry_run else "repaired"
            return f"{verb} {path} in {names} from {self.donor}"
        return f"not repaired {path} in {names}: {self.detail}"


class _Refused(Exception):
    """This donor or this repair cannot be used (the message says why)."""


# --- descriptors, confined to the destination --------------------------------------------


class _Dest:
    """The destination's real path, open, and directories below it opened without
    following any symbolic link."""

    def __init__(self, dest_dir: str) -> None:
        self.real = os.path.realpath(dest_dir)
        self.fd = os.open(self.real, _DIR)

    def close(self) -> None:
        os.close(self.fd)

    def parent(self, snapshot: str, rel: str) -> tuple[int, str]:
        """An open descriptor of the directory holding ``snapshot/rel`` and the file's
        name in it; raises _Refused for a path that leaves the destination."""
        parts = [snapshot, *rel.split("/")]
        if any(part in ("", ".", "..") for part in parts):
            raise _Refused(f"{snapshot}/{rel}: not a plain relative path")
        fd = os.dup(self.fd)
        try:
            for part in parts[:-1]:
                try:
                    child = os.open(part, _DIR, dir_fd=fd)
                except OSError as exc:
                    raise _Refused(
                        f"{snapshot}/{rel}: {part}: {exc.strerror} (a symbolic link?)"
                    ) from None
                os.close(fd)
                fd = child
            where = _fd_path(fd)
            if where is not None and not where.startswith(self.real + os.sep):
                raise _Refused(f"{snapshot}/{rel}: leads out of the destination ({where})")
        except BaseException:
            os.close(fd)
            raise
        return fd, parts[-1]


def _fd_path(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


class _Target(NamedTuple):
    member: Member
    dir_fd: int
    name: str
    st: os.stat_result


# --- copying with the check ---------------------------------------------------------------


def _digest_of(fd: int, limiter: Limiter | None) -> str:
    h = hashlib.blake2b(digest_size=fmt.DIGEST_SIZE)
    while data := os.read(fd, CHUNK):
        h.update(data)
        if limiter is not None:
            limiter.charge(len(data))
    return h.hexdigest()


def _copy_checked(src: int, dst: int, digest: str, limiter: Limiter | None) -> None:
    """Copy ``src`` to ``dst`` hashing what passes; raises _Refused when it does not
    hash to ``digest``."""
    h = hashlib.blake2b(digest_size=fmt.DIGEST_SIZE)
    while data := os.read(src, CHUNK):
        h.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(dst, view) :]
        if limiter is not None:
            limiter.charge(len(data))
    if h.hexdigest() != digest:
        raise _Refused("its content does not match the stored hash either")


# --- repairing -----------------------------------------------------------------------------


class _Repairer:
    def __init__(
        self,
        dest_dir: str,
        report: VerifyReport,
        source_of: Callable[[str], Source | None],
        dry_run: bool,
        limiter: Limiter | None,
    ) -> None:
        self.dest_dir = dest_dir
        self.dest = _Dest(dest_dir)
        self.report = report
        self.source_of = source_of
        self.dry_run = dry_run
        self.limiter = limiter
        self.counter = 0
        # every stored inode by digest: the copies a repair may take
        self.by_digest: dict[str, list[tuple[Member, Record]]] = {}
        for snapshot, records in report.records.items():
            for record in records:
                self.by_digest.setdefault(record.digest, []).append(
                    (Member(snapshot, record.path), record)
                )
        self.new_inodes: dict[Member, int] = {}

    def close(self) -> None:
        self.dest.close()

    def repair(self, finding: Finding) -> Repaired:
        if finding.kind not in REPAIRABLE:
            return Repaired(finding, False, None, f"{finding.kind}: nothing to put back into")
        targets: list[_Target] = []
        try:
            for member in finding.members:
                targets.append(self._target(finding, member))
            attempts = []
            for donor, describe in self._donors(finding):
                try:
                    with donor() as (fd, twin):
                        inode = self._place(finding, targets, fd, twin)
                except _Refused as exc:
                    attempts.append(f"{describe}: {exc}")
                    continue
                except OSError as exc:
                    attempts.append(f"{describe}: {exc.strerror or exc}")
                    continue
                if inode is not None:
                    for target in targets:
                        self.new_inodes[target.member] = inode
                return Repaired(finding, True, describe, "")
            why = "; ".join(attempts) if attempts else "no other copy with its hash, no source"
            return Repaired(finding, False, None, f"no healthy copy ({why})")
        except _Refused as exc:
            return Repaired(finding, False, None, str(exc))
        finally:
            for target in targets:
                os.close(target.dir_fd)

    def _target(self, finding: Finding, member: Member) -> _Target:
        fd, name = self.dest.parent(member.snapshot, member.path)
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError as exc:
            os.close(fd)
            raise _Refused(f"{member.snapshot}/{member.path}: {exc.strerror}") from None
        record = finding.record
        if stat.S_ISDIR(st.st_mode):
            os.close(fd)
            raise _Refused(f"{member.snapshot}/{member.path} is a directory now")
        if finding.kind == fmt.CORRUPT and st.st_ino != record.ino:
            os.close(fd)
            raise _Refused(f"{member.snapshot}/{member.path} changed since it was verified")
        return _Target(member, fd, name, st)

    # donors: each a context manager giving (readable fd, is it the stored inode itself)

    def _donors(self, finding: Finding) -> Iterator[tuple[Callable[[], Any], str]]:
        record = finding.record
        for twin in finding.intact:
            yield (functools.partial(self._open_in_dest, twin, record, True),
                   f"link to {twin.snapshot}/{fmt.escape_path(twin.path)}")  # fmt: skip
        seen = {record.ino}
        bad = set(finding.members)
        for member, other in self.by_digest.get(record.digest, ()):
            if other.ino in seen or other.size != record.size or member in bad:
                continue
            seen.add(other.ino)
            yield (functools.partial(self._open_in_dest, member, other, False),
                   f"copy of {member.snapshot}/{fmt.escape_path(member.path)}")  # fmt: skip
        tried = set()
        for member in finding.members:
            source = self.source_of(member.snapshot)
            path = source.path_of(member.path) if source is not None else None
            if path is None or path in tried:
                continue
            tried.add(path)
            described = f"source {fmt.escape_path(path)}"
            yield functools.partial(self._open_source, path, record), described

    @contextlib.contextmanager
    def _open_in_dest(self, member: Member, record: Record, twin: bool) -> Iterator[
        tuple[int, tuple[int, str] | None]
    ]:
        dir_fd, name = self.dest.parent(member.snapshot, member.path)
        try:
            fd = open_file(name, dir_fd)
            try:
                st = os.fstat(fd)
                if (st.st_ino, st.st_size, st.st_mtime_ns) != record.key:
                    raise _Refused("changed since it was hashed")
                if twin:
                    # linked, not copied: its content must match before anything changes
                    if _digest_of(fd, self.limiter) != record.digest:
                        raise _Refused("its content does not match the stored hash either")
                    yield fd, (dir_fd, name)
                else:
                    yield fd, None
            finally:
                os.close(fd)
        finally:
            os.close(dir_fd)

    @contextlib.contextmanager
    def _open_source(self, path: str, record: Record) -> Iterator[tuple[int, None]]:
        try:
            fd = open_file(path)
        except OSError as exc:
            raise _Refused(exc.strerror or str(exc)) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size != record.size:
                raise _Refused("another size now")
            if not _same_mtime(st.st_mtime_ns, record.mtime_ns):
                raise _Refused("another mtime now")
            yield fd, None
        finally:
            os.close(fd)

    # placing the content

    def _temp_name(self) -> str:
        self.counter += 1
        return f"{TEMP_PREFIX}{os.getpid()}-{self.counter}"

    def _place(
        self,
        finding: Finding,
        targets: list[_Target],
        fd: int,
        twin: tuple[int, str] | None,
    ) -> int | None:
        """Make every target path the healthy content; the repaired inode (None in a
        dry run). Nothing changes unless the content checked out."""
        record = finding.record
        if self.dry_run:
            if twin is None and _digest_of(fd, self.limiter) != record.digest:
                raise _Refused("its content does not match the stored hash either")
            return None
        first = targets[0]
        names = [self._temp_name() for _ in targets]
        relative = [
            os.path.join(t.member.snapshot, os.path.dirname(t.member.path), n)
            for t, n in zip(targets, names, strict=True)
        ]
        hashes.write_journal(self.dest_dir, relative)
        times = {id(t): os.fstat(t.dir_fd) for t in targets}
        created: list[tuple[int, str]] = []
        try:
            if twin is not None:
                src_dir, src_name = twin
                for target, name in zip(targets, names, strict=True):
                    os.link(src_name, name, src_dir_fd=src_dir, dst_dir_fd=target.dir_fd,
                            follow_symlinks=False)  # fmt: skip
                    created.append((target.dir_fd, name))
                inode = os.fstat(fd).st_ino
            else:
                inode = self._write_copy(fd, first, names[0], record, created)
                for target, name in zip(targets[1:], names[1:], strict=True):
                    os.link(names[0], name, src_dir_fd=first.dir_fd, dst_dir_fd=target.dir_fd,
                            follow_symlinks=False)  # fmt: skip
                    created.append((target.dir_fd, name))
            # every temporary is in place: now the renames (a rename never half happens)
            for target, name in zip(targets, names, strict=True):
                os.rename(name, target.name, src_dir_fd=target.dir_fd, dst_dir_fd=target.dir_fd)
            created = []
        finally:
            for dir_fd, name in created:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=dir_fd)
            for target in targets:
                before = times[id(target)]
                with contextlib.suppress(OSError):
                    os.utime(target.dir_fd, ns=(before.st_atime_ns, before.st_mtime_ns))
                with contextlib.suppress(OSError):
                    os.fsync(target.dir_fd)
            hashes.clear_journal(self.dest_dir)
        return inode

    def _write_copy(
        self,
        src: int,
        target: _Target,
        name: str,
        record: Record,
        created: list[tuple[int, str]],
    ) -> int:
        """The checked copy of ``src`` as ``name`` beside ``target``, with its mode,
        owner and access time and the recorded mtime; its inode."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        dst = _create(name, flags, target.dir_fd)
        created.append((target.dir_fd, name))
        try:
            _copy_checked(src, dst, record.digest, self.limiter)
            mine = os.fstat(dst)
            # the bad file's mode and owner; the donor's when the path holds no file now
            want = target.st if stat.S_ISREG(target.st.st_mode) else os.fstat(src)
            if (mine.st_uid, mine.st_gid) != (want.st_uid, want.st_gid):
                try:
                    os.fchown(dst, want.st_uid, want.st_gid)
                except PermissionError:
                    raise _Refused(
                        f"cannot give the copy the owner {want.st_uid}:{want.st_gid} "
                        "(repair as root)"
                    ) from None
            os.fchmod(dst, stat.S_IMODE(want.st_mode))
            os.fsync(dst)
            os.utime(dst, ns=(want.st_atime_ns, record.mtime_ns))
            return os.fstat(dst).st_ino
        finally:
            os.close(dst)


def _create(name: str, flags: int, dir_fd: int) -> int:
    """Create ``name`` in ``dir_fd``; in a directory its owner made read-only (rsync
    keeps the source's modes), the directory is made writable for the moment."""
    try:
        return os.open(name, flags, 0o600, dir_fd=dir_fd)
    except PermissionError:
        st = os.fstat(dir_fd)
        if st.st_uid != os.geteuid() or st.st_mode & stat.S_IWUSR:
            raise
    os.fchmod(dir_fd, stat.S_IMODE(st.st_mode) | stat.S_IWUSR)
    try:
        return os.open(name, flags, 0o600, dir_fd=dir_fd)
    finally:
        os.fchmod(dir_fd, stat.S_IMODE(st.st_mode))


def _same_mtime(now: int, recorded: int) -> bool:
    """The source's mtime is the recorded one (to the second when the snapshot kept
    only seconds)."""
    if now == recorded:
        return True
    return recorded % 10**9 == 0 and now // 10**9 == recorded // 10**9


def repair(
    dest_dir: str,
    report: VerifyReport,
    source_of: Callable[[str], Source | None],
    *,
    dry_run: bool = False,
    max_rate: int = 0,
) -> list[Repaired]:
    """Repair what ``report`` found (see the module docstring); the caller holds the
    destination's lock. The hash files of the snapshots repaired get the new inodes."""
    if not dry_run:
        remove_temporaries(dest_dir)
    limiter = Limiter(max_rate) if max_rate else None
    repairer = _Repairer(dest_dir, report, source_of, dry_run, limiter)
    try:
        results = [repairer.repair(finding) for finding in report.findings]
    finally:
        repairer.close()
    if repairer.new_inodes:
        _rewrite_records(dest_dir, report.records, repairer.new_inodes)
    return results


def _rewrite_records(
    dest_dir: str, records: Mapping[str, list[Record]], new_inodes: Mapping[Member, int]
) -> None:
    from dssframe.core.naming import parse

    by_snapshot: dict[str, dict[str, int]] = {}
    for member, inode in new_inodes.items():
        by_snapshot.setdefault(member.snapshot, {})[member.path] = inode
    for snapshot, changed in by_snapshot.items():
        parsed = parse(snapshot)
        if parsed is None:  # pragma: no cover - only snapshots have records
            continue
        updated = [
            r._replace(ino=changed[r.path]) if r.path in changed else r
            for r in records.get(snapshot, ())
        ]
        try:
            hashes.write(dest_dir, parsed.creation, snapshot, updated)
        except OSError as exc:
            log.warning("cannot update the hashes of %s: %s", snapshot, exc.strerror or exc)


def remove_temporaries(dest_dir: str) -> list[str]:
    """Remove the temporary files an interrupted repair left: the ones its journal
    names, with the repair's temporary names, never through a symbolic link."""
    leftovers = hashes.read_journal(dest_dir)
    removed = []
    if leftovers:
        dest = _Dest(dest_dir)
        try:
            for rel in leftovers:
                snapshot, _, inner = rel.partition("/")
                if not os.path.basename(rel).startswith(TEMP_PREFIX) or not inner:
                    continue
                try:
                    fd, name = dest.parent(snapshot, inner)
                except _Refused:
                    continue
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode):
                        os.unlink(name, dir_fd=fd)
                        removed.append(rel)
                except OSError:
                    pass
                finally:
                    os.close(fd)
        finally:
            dest.close()
    hashes.clear_journal(dest_dir)
    return removed
