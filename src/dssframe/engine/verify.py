"""``dss verify``: hash the snapshots' files once (``--build``, ``verify-on-create``) and
later re-read them to find silent corruption.

Every regular file of a snapshot gets a record (:class:`dssframe.core.verify.Record`:
path, inode, size, mtime_ns, BLAKE2b-256) in the snapshot's hash file
(:mod:`dssframe.store.hashes`). Files are hashed per inode: an inode that hard links
share between snapshots, or that another snapshot's hash file already holds with the
same size and mtime, is read once, whatever the number of snapshots. Hashing runs on
``jobs`` forked worker processes fed through pipes (:class:`Hasher`); with
``--max-rate`` on threads sharing one token bucket, at most ``max_rate`` bytes per
second in all. Files are read in 1 MiB chunks into one buffer per worker. With worker
processes a file first met is not stat'ed by the walk: its worker ``fstat``s it once
open (:func:`hash_unstated`), which keeps the single walking process from being the
bottleneck on a tree of small files.

A build writes its progress as part files (every half second, atomically), so a build
that is killed resumes where it stopped. A verify re-reads every stored inode of the
chosen snapshots once and compares: size, mtime or inode changed is *modified*, the
same inode with other content is *corrupt*. What it found is written to
``last-verify.json`` and sent as ``corruption-found`` events, one per inode.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from dssframe import logs
from dssframe.core import verify as fmt
from dssframe.core.events import EventKind
from dssframe.core.naming import SnapshotName
from dssframe.core.verify import Finding, Member, Record
from dssframe.store import hashes
from dssframe.store.destination import Destination

if TYPE_CHECKING:
    from dssframe.engine.job import Job

log = logs.get("dssframe")

#: Bytes read at a time (and the largest file read in one piece).
CHUNK = 1 << 20
#: A part file is written when this many seconds passed since the last one.
PART_INTERVAL = 0.5
#: Part files of one snapshot before they are merged into one.
MAX_PARTS = 64
#: A batch for one thread: this many files or bytes, whichever comes first.
BATCH_FILES = 256
BATCH_BYTES = 16 << 20
#: What a file of unknown size counts as in a batch (at most 64 of them in one: the
#: batches of a tree of large files stay small enough to keep every worker busy).
UNSTATED_BYTES = BATCH_BYTES // 64

_NOATIME = getattr(os, "O_NOATIME", 0)
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


class Limiter:
    """At most ``rate`` bytes per second over every thread (0: no limit): each read is
    charged after it happened, and the reader sleeps until the bytes read so far are
    due at that rate."""

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self._lock = threading.Lock()
        self._due = 0.0

    def charge(self, size: int) -> None:
        if not self.rate or not size:
            return
        with self._lock:
            now = self.clock()
            self._due = max(self._due, now) + size / self.rate
            delay = self._due - now
        if delay > 0:
            time.sleep(delay)


class Changed(OSError):
    """The file is not the one the caller expected (another inode, a non-file)."""


_local = threading.local()
_noatime = [_NOATIME]  # dropped after the first EPERM (not the owner, not root)


def _buffer() -> tuple[bytearray, memoryview]:
    found: tuple[bytearray, memoryview] | None = getattr(_local, "buffer", None)
    if found is None:
        buf = bytearray(CHUNK)
        found = _local.buffer = (buf, memoryview(buf))
    return found


def open_file(path: str, dir_fd: int | None = None) -> int:
    """Open ``path`` for reading, never through a symbolic link, without changing its
    access time when allowed."""
    if _noatime[0]:
        try:
            return os.open(path, _READ | _noatime[0], dir_fd=dir_fd)
        except PermissionError:
            _noatime[0] = 0
    return os.open(path, _READ, dir_fd=dir_fd)


def digest_fd(fd: int, size: int, limiter: Limiter | None) -> tuple[str, int]:
    """The hex BLAKE2b-256 of what ``fd`` holds from its offset to its end, and the
    bytes read. Reads go into one 1 MiB buffer per thread: a fresh ``bytes`` per read
    would cost an ``mmap``/``munmap`` for every large file, and every ``munmap`` stops
    the other threads' CPUs (a TLB shootdown)."""
    h = hashlib.blake2b(digest_size=fmt.DIGEST_SIZE)
    buf, view = _buffer()
    total = 0
    while True:
        n = os.readv(fd, [buf])
        if not n:
            break
        h.update(view[:n])
        total += n
        if limiter is not None:
            limiter.charge(n)
        if total >= size:  # the size fstat gave: no read to see the end (it costs
            break  # more than the hashing of a small file; a file that grew has a new mtime)
    return h.hexdigest(), total


def hash_file(path: str, key: tuple[int, int, int], limiter: Limiter | None) -> str:
    """The digest of the file at ``path``, which was inode ``key[0]`` with size and
    mtime ``key[1:]`` when it was listed. (No ``fstat`` here: with several threads each
    system call costs a hand-over of the GIL, and an ``fstat`` per file made hashing a
    tree of small files a fifth slower. A file of another size fails; a verify looks
    again at a file whose content does not match, see :func:`still_same`.)"""
    fd = open_file(path)
    try:
        digest, total = digest_fd(fd, key[1], limiter)
    finally:
        os.close(fd)
    if total != key[1]:
        raise Changed(0, f"read {total} bytes, listed with {key[1]}")
    return digest


def still_same(path: str, key: tuple[int, int, int]) -> bool:
    """Whether ``path`` is still inode ``key[0]`` with that size and mtime."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and (st.st_ino, st.st_size, st.st_mtime_ns) == key


class Task(NamedTuple):
    key: tuple[int, int, int]
    """(inode, size, mtime_ns) as listed; or (inode, :data:`UNSTATED`, device): the
    directory named the inode, nobody looked at the file yet (:func:`hash_unstated`)."""
    path: str


#: A task as the hasher takes it: a :class:`Task` or a plain tuple (faster to make).
TaskTuple = tuple[tuple[int, int, int], str]
#: What hashing a task gave: its key, the digest (None: not read) and the error.
Result = tuple[tuple[int, int, int], str | None, str | None]

#: The size in the key of a task whose file was not stat'ed when it was listed.
UNSTATED = -1
#: The error of an unstated task whose file is not what the directory said (or cannot
#: be opened): the builder looks at it again, as at any file (:func:`iter_walk`).
RELIST = "relist"
#: The error of an unstated task whose file is larger than :data:`UNSTATED_BYTES`: not
#: read, the builder makes it a task of that size (its batch stays within
#: :data:`BATCH_BYTES`, so that no worker gets far more to read than the others).
LARGE = "large"


def hash_unstated(path: str, ino: int, device: int, limiter: Limiter | None) -> Result:
    """Hash the file at ``path``, which its directory listed as inode ``ino`` (nothing
    stat'ed it yet): the key is what ``fstat`` of the open file says. Anything unusual
    (not a regular file, another inode or file system, an error) is :data:`RELIST`,
    not an error: the caller lists the file again and hashes it as usual, so that it
    ends as the walk would have it (skipped, an error, or hashed).

    (Listing with ``lstat`` cost the single listing process more than hashing the small
    files of a tree; ``fstat`` of a file that is open anyway is cheap, and it runs on
    the workers.) A file larger than :data:`UNSTATED_BYTES` is not read: it is
    :data:`LARGE`, with its key."""
    unread: Result = ((ino, UNSTATED, device), None, RELIST)
    try:
        fd = open_file(path)
    except OSError:
        return unread
    try:
        st = os.fstat(fd)
        if st.st_ino != ino or st.st_dev != device or not stat.S_ISREG(st.st_mode):
            return unread
        if st.st_size > UNSTATED_BYTES:
            return ((ino, st.st_size, st.st_mtime_ns), None, LARGE)
        digest, total = digest_fd(fd, st.st_size, limiter)
    except OSError:
        return unread
    finally:
        os.close(fd)
    if total != st.st_size:
        return unread
    return ((ino, st.st_size, st.st_mtime_ns), digest, None)


def _run_one(key: tuple[int, int, int], path: str, limiter: Limiter | None) -> Result:
    if key[1] == UNSTATED:
        return hash_unstated(path, key[0], key[2], limiter)
    try:
        return (key, hash_file(path, key, limiter), None)
    except OSError as exc:
        return (key, None, exc.strerror or str(exc))


def _run_batch(
    batch: list[TaskTuple], limiter: Limiter | None, counter: list[int]
) -> list[Result]:
    out = [_run_one(key, path, limiter) for key, path in batch]
    counter[0] += len(batch)  # files opened for hashing: one per inode
    return out


class Progress(NamedTuple):
    """Where a build or a verify is, for a progress line."""

    phase: str  # "hashing" (build) or "verifying"
    snapshot: str  # the snapshot being built; "" for a verify
    number: int  # 1-based number of the snapshot being built (1 for a verify)
    of: int  # snapshots in all
    files: int  # inodes read so far in this snapshot (or verify)
    files_total: int
    bytes: int
    bytes_total: int
    elapsed: float


def _batches(tasks: Iterable[TaskTuple], most: int = BATCH_BYTES) -> Iterator[list[TaskTuple]]:
    batch: list[TaskTuple] = []
    size = 0
    for task in tasks:
        batch.append(task)
        size += task[0][1] if task[0][1] >= 0 else UNSTATED_BYTES
        if len(batch) >= BATCH_FILES or size >= most:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class Hasher:
    """Hashes tasks on ``jobs`` workers, yielding results as batches finish (at most
    two batches in flight per worker). Without a rate limit the workers are forked
    processes (:class:`_Workers`): a thread holds the GIL between the system calls of
    each small file, so two threads hash a tree of small files no faster than one;
    with ``--max-rate`` they are threads sharing the one token bucket."""

    def __init__(self, jobs: int, rate: int) -> None:
        self.jobs = max(1, jobs)
        self.limiter = Limiter(rate) if rate else None
        self.opened = [0]  # files opened for hashing, over every call
        # A batch is done in a quarter of a second at the rate: results (and the part
        # files a killed build resumes from) keep coming.
        self.most = min(BATCH_BYTES, max(CHUNK, rate // 4)) if rate else BATCH_BYTES

    @property
    def takes_unstated(self) -> bool:
        """Whether tasks may be unstated (:func:`hash_unstated`): when the workers are
        processes, which the listing process then no longer keeps waiting. (Threads,
        and one worker, are as fast with the stat in the listing, and their batches
        stay within :data:`BATCH_BYTES`, or the rate's quarter of a second.)"""
        return self.jobs > 1 and self.limiter is None

    def run(self, tasks: Iterable[TaskTuple]) -> Iterator[Result]:
        for results in self.run_batches(tasks):
            yield from results

    def run_batches(self, tasks: Iterable[TaskTuple]) -> Iterator[list[Result]]:
        """:meth:`run`, a list of results at a time (as they come back)."""
        if self.jobs == 1:
            for batch in _batches(tasks, self.most):
                yield _run_batch(batch, self.limiter, self.opened)
        elif self.limiter is not None:
            yield from self._threads(tasks)
        else:
            with _Workers(self.jobs) as workers:
                for batch in _batches(tasks, self.most):
                    self.opened[0] += len(batch)
                    yield from workers.submit(batch)
                yield from workers.drain()

    def _threads(self, tasks: Iterable[TaskTuple]) -> Iterator[list[Result]]:
        from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

        with ThreadPoolExecutor(self.jobs, thread_name_prefix="dss-hash") as pool:
            pending: set[Future[list[Result]]] = set()
            for batch in _batches(tasks, self.most):
                pending.add(pool.submit(_run_batch, batch, self.limiter, self.opened))
                if len(pending) >= 2 * self.jobs:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()


# --- the worker processes ------------------------------------------------------------
#
# A worker is forked (it starts at once, with this process's imports) and talks to dss
# through two pipes: batches of tasks come in, lists of results go out, each message a
# 4-byte length and a marshal document (tuples, strings, integers: marshal is built in,
# faster than pickle and safe here, both ends being this very interpreter). dss never
# blocks writing a batch (its ends are non-blocking, what does not fit waits in a
# buffer), so a worker that writes results while dss writes to it cannot deadlock them.

_HEADER = 4


def _read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes from ``fd``; None at its end (before the first byte)."""
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            if chunks:
                raise EOFError("cut message")
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _frame(value: list[Any] | tuple[Any, ...]) -> bytes:
    import marshal

    data = marshal.dumps(value)
    return len(data).to_bytes(_HEADER, "little") + data


def _worker_main(tasks_fd: int, results_fd: int) -> None:
    """A worker's life: hash each batch that comes in, until the pipe ends. SIGINT is
    dss's (it stops the workers, one line); SIGTERM kills without a word."""
    import gc
    import marshal
    import signal

    gc.disable()  # nothing cyclic is made here; no collection walks the parent's objects
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        header = _read_exactly(tasks_fd, _HEADER)
        if header is None:
            return
        data = _read_exactly(tasks_fd, int.from_bytes(header, "little"))
        if data is None:
            raise EOFError("cut message")
        batch: list[TaskTuple] = marshal.loads(data)
        results: list[Result] = []
        read = 0
        for key, path in batch:
            result = _run_one(key, path, None)
            results.append(result)
            read += max(result[0][1], 0)
            if read >= BATCH_BYTES:  # large files: their results go at once (part files)
                _send(results_fd, (False, results))
                results, read = [], 0
        _send(results_fd, (True, results))  # True: the batch is done


def _send(fd: int, message: tuple[bool, list[Result]]) -> None:
    view = memoryview(_frame(message))
    while view:
        view = view[os.write(fd, view) :]


class _Worker:
    def __init__(self, pid: int, tasks_fd: int, results_fd: int) -> None:
        self.pid, self.tasks_fd, self.results_fd = pid, tasks_fd, results_fd
        self.out = bytearray()  # framed batches not written yet
        self.inbox = bytearray()  # what came from the worker, not a whole message yet
        self.busy = 0  # batches sent, results not received


class _Workers:
    """``jobs`` forked hashing processes (a context manager: they are gone after it)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.workers: list[_Worker] = []

    def __enter__(self) -> _Workers:
        try:
            for _ in range(self.jobs):
                self.workers.append(self._fork())
        except BaseException:
            self._end(kill=True)
            raise
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        self._end(kill=kind is not None)

    def _fork(self) -> _Worker:
        tasks_r, tasks_w = os.pipe()
        results_r, results_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: never back into dss's code, not even on an error
            status = 0
            try:
                for worker in self.workers:  # the other workers' ends
                    os.close(worker.tasks_fd)
                    os.close(worker.results_fd)
                os.close(tasks_w)
                os.close(results_r)
                _worker_main(tasks_r, results_w)
            except BaseException:  # noqa: BLE001 - dss sees the pipe end and says so
                status = 1
            finally:
                os._exit(status)
        os.close(tasks_r)
        os.close(results_w)
        os.set_blocking(tasks_w, False)
        return _Worker(pid, tasks_w, results_r)

    def submit(self, batch: list[TaskTuple]) -> Iterator[list[Result]]:
        """Send ``batch`` to the least busy worker, first waiting (and yielding what
        comes back) while every worker has two batches."""
        yield from self._wait(0.0)  # what is back already: a worker may be idle
        while min(w.busy for w in self.workers) >= 2:
            yield from self._wait(None)
        worker = min(self.workers, key=lambda w: w.busy)
        worker.busy += 1
        try:
            worker.out += _frame(batch)
        except ValueError:  # Task named tuples: marshal takes plain ones only
            worker.out += _frame([(key, path) for key, path in batch])
        self._flush(worker)

    def drain(self) -> Iterator[list[Result]]:
        """What is still on its way."""
        while any(w.busy for w in self.workers):
            yield from self._wait(None)

    def _flush(self, worker: _Worker) -> None:
        try:
            written = os.write(worker.tasks_fd, worker.out)
        except BlockingIOError:
            return
        del worker.out[:written]

    def _wait(self, timeout: float | None) -> Iterator[list[Result]]:
        """What comes back within ``timeout`` seconds (None: until something does),
        writing what waits for a worker that can take it."""
        import select

        readers = [w.results_fd for w in self.workers if w.busy]
        writers = [w.tasks_fd for w in self.workers if w.out]
        if not readers and not writers:
            return
        readable, writable, _ = select.select(readers, writers, [], timeout)
        for worker in self.workers:
            if worker.tasks_fd in writable:
                self._flush(worker)
            if worker.results_fd in readable:
                yield from self._receive(worker)

    def _receive(self, worker: _Worker) -> Iterator[list[Result]]:
        import marshal

        chunk = os.read(worker.results_fd, 1 << 20)
        if not chunk:
            from dssframe.core.errors import SnapshotError

            raise SnapshotError(f"a hashing process ({worker.pid}) ended unexpectedly")
        inbox = worker.inbox
        inbox += chunk
        while len(inbox) >= _HEADER:
            size = int.from_bytes(inbox[:_HEADER], "little")
            if len(inbox) < _HEADER + size:
                break
            final, results = marshal.loads(inbox[_HEADER : _HEADER + size])
            del inbox[: _HEADER + size]
            if final:
                worker.busy -= 1
            if results:
                yield results

    def _end(self, kill: bool) -> None:
        """Close the pipes (a worker then ends) and reap every worker; ``kill``: at
        once (dss is stopping), not after the batches it holds."""
        import contextlib
        import signal

        for worker in self.workers:
            if kill:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGTERM)
            os.close(worker.tasks_fd)
            os.close(worker.results_fd)
        for worker in self.workers:
            while True:
                try:
                    os.waitpid(worker.pid, 0)
                    break
                except ChildProcessError:
                    break
                except InterruptedError:
                    continue
        self.workers = []


# --- walking a snapshot -----------------------------------------------------------------


class Entry(NamedTuple):
    path: str  # relative to the snapshot's top
    key: tuple[int, int, int]


def walk(top: str) -> tuple[list[Entry], list[str]]:
    """Every regular file below ``top`` (symbolic links are not followed, other file
    systems not entered), and the directories that could not be read."""
    problems: list[str] = []
    return list(iter_walk(top, problems)), problems


def iter_walk(
    top: str, problems: list[str], unstated: Callable[[int], bool] | None = None
) -> Iterator[Entry]:
    """:func:`walk`, as the files are found (what cannot be read goes to ``problems``),
    so that hashing starts before the listing ends. A file whose inode number (from its
    directory entry) ``unstated`` accepts is not stat'ed: its key is ``(inode,
    UNSTATED, device)`` (see :func:`hash_unstated`)."""
    try:
        device = os.lstat(top).st_dev
    except OSError as exc:
        problems.append(f"{top}: {exc.strerror}")
        return
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(os.path.join(top, rel) if rel else top) as found:
                for entry in found:
                    path = f"{rel}/{entry.name}" if rel else entry.name
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if entry.stat(follow_symlinks=False).st_dev == device:
                                stack.append(path)
                            continue
                        if not entry.is_file(follow_symlinks=False):
                            continue
                        ino = entry.inode()
                        if unstated is not None and unstated(ino):
                            st = None
                        else:
                            st = entry.stat(follow_symlinks=False)
                    except OSError as exc:
                        problems.append(f"{path}: {exc.strerror}")
                        continue
                    if st is None:
                        yield Entry(path, (ino, UNSTATED, device))
                    elif st.st_dev == device:
                        yield Entry(path, (st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError as exc:
            problems.append(f"{rel or '.'}: {exc.strerror}")


# --- building ------------------------------------------------------------------------------


class Built(NamedTuple):
    """One snapshot's build."""

    snapshot: str
    files: int  # records written
    hashed: int  # inodes read for it
    hashed_bytes: int
    reused: int  # files whose inode was hashed already (another snapshot, a hard link)
    resumed: int  # inodes a killed build had hashed (from its part files)
    errors: tuple[str, ...]  # files that could not be read (not in the hash file)

    def to_json(self) -> dict[str, Any]:
        return {**self._asdict(), "errors": list(self.errors)}


class BuildReport(NamedTuple):
    built: list[Built]
    skipped: list[str]  # already had hashes
    stale_removed: list[str]
    hashed: int  # files opened for hashing, in all
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "built": [b.to_json() for b in self.built],
            "skipped": self.skipped,
            "stale_removed": self.stale_removed,
            "hashed_inodes": self.hashed,
            "hashed_bytes": sum(b.hashed_bytes for b in self.built),
            "seconds": round(self.seconds, 3),
            "errors": sum(len(b.errors) for b in self.built),
        }


def complete_snapshots(dest_dir: str) -> list[SnapshotName]:
    return [s for s in Destination(os.path.abspath(dest_dir)).scan(int(time.time())) if s.complete]


def choose(snapshots: Sequence[SnapshotName], names: Sequence[str]) -> list[SnapshotName]:
    """The snapshots ``names`` mean (directory names or creation epochs), oldest first;
    raises SnapshotNotFound."""
    from dssframe.store.destination import SnapshotNotFound, lookup

    chosen = {}
    for key in names:
        found = lookup(snapshots, key)
        if found is None:
            raise SnapshotNotFound(f"no complete snapshot {key!r}")
        chosen[found.creation] = found
    return [chosen[c] for c in sorted(chosen)]


def load_all(dest_dir: str, snapshots: Iterable[SnapshotName]) -> tuple[
    dict[str, list[Record]], list[str]
]:
    """The records of every snapshot of ``snapshots`` that has a readable hash file
    (by name), and the problems of the unreadable ones."""
    present = hashes.keys(dest_dir)
    loaded: dict[str, list[Record]] = {}
    problems = []
    for snapshot in snapshots:
        if snapshot.creation not in present:
            continue
        found = hashes.load(dest_dir, snapshot.creation, snapshot.name)
        if found.records is not None:
            loaded[snapshot.name] = found.records
        elif found.status == "corrupt" and found.problem:
            problems.append(found.problem)
    return loaded, problems


def known_digests(loaded: Mapping[str, list[Record]]) -> dict[tuple[int, int, int], str]:
    known: dict[tuple[int, int, int], str] = {}
    for records in loaded.values():
        for record in records:
            known[record.key] = record.digest
    return known


def build(
    dest_dir: str,
    names: Sequence[str] = (),
    *,
    jobs: int | None = None,
    max_rate: int = 0,
    progress: Callable[[Progress], None] | None = None,
    dry_run: bool = False,
) -> BuildReport:
    """Hash every complete snapshot of ``names`` (default: all) that has no hash file
    yet; remove stale hash files. The caller holds the destination's lock."""
    started = time.monotonic()
    snapshots = complete_snapshots(dest_dir)
    chosen = choose(snapshots, names) if names else snapshots
    loaded, problems = load_all(dest_dir, snapshots)
    for problem in problems:
        log.warning("unreadable hash file, hashing again: %s", problem)
    todo = [s for s in chosen if s.name not in loaded]
    skipped = [s.name for s in chosen if s.name in loaded]
    stale = hashes.stale(dest_dir, {s.creation: s.name for s in snapshots})
    if dry_run:
        return BuildReport([Built(s.name, 0, 0, 0, 0, 0, ()) for s in todo], skipped,
                           stale, 0, 0.0)  # fmt: skip
    hashes.discard(stale)
    known = known_digests(loaded)
    hasher = Hasher(jobs or os.cpu_count() or 1, max_rate)
    built = []
    for index, snapshot in enumerate(todo, 1):
        built.append(
            build_one(dest_dir, snapshot, known, hasher, progress, index, len(todo), started)
        )
    names_removed = [os.path.basename(p) for p in stale]
    return BuildReport(built, skipped, names_removed, hasher.opened[0],
                       time.monotonic() - started)  # fmt: skip


def build_one(
    dest_dir: str,
    snapshot: SnapshotName,
    known: dict[tuple[int, int, int], str],
    hasher: Hasher,
    progress: Callable[[Progress], None] | None = None,
    index: int = 1,
    count: int = 1,
    started: float | None = None,
) -> Built:
    """Hash one snapshot (the inodes ``known`` lacks), resuming its part files, and
    write its hash file. ``known`` gains what was hashed."""
    started = time.monotonic() if started is None else started
    top = os.path.join(os.path.abspath(dest_dir), snapshot.name)
    resumed_records, problems = hashes.read_parts(dest_dir, snapshot.creation, snapshot.name)
    for problem in problems:
        log.warning("unreadable part file, hashing its files again: %s", problem)
    resumed = 0
    for record in resumed_records:
        if record.key not in known:
            known[record.key] = record.digest
            resumed += 1
    records: list[Record] = []
    need: dict[tuple[int, int, int], list[str]] = {}
    errors: list[str] = []
    listing, queued_bytes = True, 0
    prefix = top + os.sep
    # With worker processes, a file whose inode no hash file knows, met for the first
    # time, is not stat'ed while listing: its worker fstats it (hash_unstated). Until
    # its result is back, the other paths of that inode (hard links, stat'ed as usual)
    # wait in ``waiting``.
    known_inodes = {key[0] for key in known}
    seen: set[int] = set()
    waiting: dict[int, list[tuple[str, tuple[int, int, int]]]] = {}  # the first: unstated
    backlog: list[TaskTuple] = []  # tasks made while results came in

    def unstated(ino: int) -> bool:
        if ino in known_inodes or ino in seen:
            return False
        seen.add(ino)
        return True

    def place(path: str, key: tuple[int, int, int]) -> TaskTuple | None:
        """A listed file: a record when its inode is hashed already, a path of an inode
        on its way, or a new task."""
        nonlocal queued_bytes
        digest = known.get(key)
        if digest is not None:  # hashed already: another snapshot, a hard link
            records.append(Record(path, *key, digest))
            return None
        paths = need.get(key)
        if paths is not None:  # a hard link to an inode on its way
            paths.append(path)
            return None
        others = waiting.get(key[0])
        if others is not None:  # a hard link to an inode on its way, not stat'ed
            others.append((path, key))
            return None
        need[key] = [path]
        queued_bytes += key[1]
        return (key, prefix + path)

    def tasks() -> Iterator[TaskTuple]:
        nonlocal listing
        for path, key in iter_walk(top, errors, unstated if hasher.takes_unstated else None):
            while backlog:
                yield backlog.pop()
            if key[1] == UNSTATED:
                waiting[key[0]] = [(path, key)]
                yield (key, prefix + path)
                continue
            task = place(path, key)
            if task is not None:
                yield task
        listing = False

    def relist(path: str, device: int) -> None:
        """An unstated file that was not what its directory said: as the walk sees it."""
        try:
            st = os.lstat(prefix + path)
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror}")
            return
        if stat.S_ISREG(st.st_mode) and st.st_dev == device:
            _place_all(place, [(path, (st.st_ino, st.st_size, st.st_mtime_ns))], backlog)

    def paths_of(key: tuple[int, int, int], error: str | None) -> list[str] | None:
        """The paths a result is for (None: an unstated file to look at again)."""
        nonlocal queued_bytes
        listed = waiting.pop(key[0], None)
        if listed is None:
            return need.pop(key)
        if error == RELIST:  # an unstated task whose file was not what it seemed
            hasher.opened[0] -= 1  # not read: it is looked at again
            relist(listed[0][0], key[2])
            _place_all(place, listed[1:], backlog)
            return None
        queued_bytes += key[1]
        paths = [listed[0][0]]
        if len(listed) > 1:
            # the hard links that waited; one that changed since (or another file
            # after all) goes on its own
            paths += [p for p, other in listed[1:] if other == key]
            _place_all(place, [(p, other) for p, other in listed[1:] if other != key],
                       backlog)  # fmt: skip
        if error == LARGE:  # not read: a task of its size now
            hasher.opened[0] -= 1
            need[key] = paths
            backlog.append((key, prefix + paths[0]))
            return None
        return paths

    fresh: list[Record] = []
    last_part = time.monotonic()
    done = done_bytes = from_hashing = 0
    shown = 0.0
    work: Iterator[TaskTuple] = tasks()
    while True:
        for results in hasher.run_batches(work):
            for key, digest, error in results:
                paths = paths_of(key, error)
                if paths is None:
                    continue
                done += 1
                done_bytes += key[1]
                if digest is None:
                    errors += [f"{path}: {error}" for path in paths]
                    continue
                known[key] = digest
                if len(paths) == 1:
                    record = Record(paths[0], *key, digest)
                    records.append(record)
                    fresh.append(record)
                    from_hashing += 1
                else:
                    new = [Record(path, *key, digest) for path in paths]
                    records += new
                    fresh += new
                    from_hashing += len(new)
            now = time.monotonic()
            if fresh and now - last_part >= PART_INTERVAL:
                _save_part(dest_dir, snapshot, fresh)
                fresh, last_part = [], now
            if progress is not None and now - shown >= 0.1:
                shown = now
                queued = 0 if listing else done + len(need) + len(waiting)  # 0: not known yet
                progress(Progress("hashing", snapshot.name, index, count, done, queued,
                                  done_bytes, 0 if listing else queued_bytes,
                                  now - started))  # fmt: skip
        if not backlog:
            break
        work = iter(backlog[:])  # what came back after the listing ended: once more
        backlog.clear()
    total_bytes = queued_bytes
    hashes.write(dest_dir, snapshot.creation, snapshot.name, records)
    hashes.discard_parts(dest_dir, snapshot.creation)
    if progress is not None:
        progress(Progress("hashing", snapshot.name, index, count, done, done, done_bytes,
                          total_bytes, time.monotonic() - started))  # fmt: skip
    reused = len(records) - from_hashing
    return Built(snapshot.name, len(records), done, total_bytes, reused, resumed,
                 tuple(errors))  # fmt: skip


def _place_all(
    place: Callable[[str, tuple[int, int, int]], TaskTuple | None],
    listed: Iterable[tuple[str, tuple[int, int, int]]],
    backlog: list[TaskTuple],
) -> None:
    for path, key in listed:
        task = place(path, key)
        if task is not None:
            backlog.append(task)


def _save_part(dest_dir: str, snapshot: SnapshotName, records: list[Record]) -> None:
    hashes.write_part(dest_dir, snapshot.creation, snapshot.name, records)
    if len(hashes.part_files(dest_dir, snapshot.creation)) > MAX_PARTS:
        hashes.merge_parts(dest_dir, snapshot.creation, snapshot.name)


def hash_created(dest_dir: str, snapshot: SnapshotName, reference: SnapshotName | None) -> None:
    """``verify-on-create``: hash the snapshot ``create`` just made, reading only its
    new inodes -- those the reference's hash file does not hold (rsync hard-links
    every unchanged file to the reference). Never raises: a failure is logged, the
    snapshot stays good. Runs under create's lock."""
    try:
        started = time.monotonic()
        loaded: dict[str, list[Record]] = {}
        if reference is not None:
            found = hashes.load(dest_dir, reference.creation, reference.name)
            if found.records is not None:
                loaded[reference.name] = found.records
        if not loaded:  # no hashes of the reference: what any other snapshot holds
            loaded, _ = load_all(dest_dir, complete_snapshots(dest_dir))
        hasher = Hasher(os.cpu_count() or 1, 0)
        built = build_one(dest_dir, snapshot, known_digests(loaded), hasher)
        log.info(
            "verify-on-create: hashed %d new inodes (%d bytes) of %s, %d files known "
            "already, in %.1fs",
            built.hashed, built.hashed_bytes, snapshot.name, built.reused,
            time.monotonic() - started,
        )  # fmt: skip
        for error in built.errors[:5]:
            log.warning("verify-on-create: cannot hash %s", error)
    except Exception as exc:  # noqa: BLE001 - the snapshot is made; hashing is extra
        log.warning("verify-on-create: cannot hash %s: %s", snapshot.name, exc)


# --- verifying -----------------------------------------------------------------------


class VerifyReport(NamedTuple):
    snapshots: list[str]  # the snapshots verified
    findings: list[Finding]
    files: int  # paths looked at (every path of every inode checked)
    inodes: int  # inodes read
    bytes: int
    seconds: float
    problems: list[str]  # unreadable hash files
    records: dict[str, list[Record]]  # every snapshot's records (for a repair)
    unhashed: list[str]  # complete snapshots without hashes (not verified)

    def counts(self) -> dict[str, int]:
        return fmt.counts(self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshots": self.snapshots,
            "files": self.files,
            "inodes": self.inodes,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "counts": self.counts(),
            "findings": [finding.to_json() for finding in self.findings],
            "problems": self.problems,
            "unhashed": self.unhashed,
            "clean": not self.findings and not self.problems,
        }


def groups_of(
    records: Mapping[str, list[Record]], order: Sequence[str]
) -> dict[tuple[int, int, int, str], list[Member]]:
    """Each stored inode (its key and digest) with every path that held it, oldest
    snapshot first."""
    groups: dict[tuple[int, int, int, str], list[Member]] = {}
    for name in order:
        for record in records.get(name, ()):
            groups.setdefault((*record.key, record.digest), []).append(Member(name, record.path))
    return groups


def _look(
    dest: str, record: Record, members: list[Member]
) -> tuple[list[Member], dict[tuple[str, str], list[Member]]]:
    """``lstat`` each path that held ``record``'s inode: those still holding it
    unchanged, and the others by (kind, detail) of what happened to them."""
    good: list[Member] = []
    bad: dict[tuple[str, str], list[Member]] = {}
    for member in members:
        path = os.path.join(dest, member.snapshot, member.path)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            bad.setdefault((fmt.MISSING, "no longer exists"), []).append(member)
            continue
        except OSError as exc:
            bad.setdefault((fmt.UNREADABLE, exc.strerror or str(exc)), []).append(member)
            continue
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            bad.setdefault((fmt.MODIFIED, f"replaced by {kind}"), []).append(member)
            continue
        change = fmt.stat_difference(record, st.st_ino, st.st_size, st.st_mtime_ns)
        if change is not None:
            bad.setdefault((fmt.MODIFIED, change), []).append(member)
        else:
            good.append(member)
    return good, bad


def verify(
    dest_dir: str,
    names: Sequence[str] = (),
    *,
    jobs: int | None = None,
    max_rate: int = 0,
    progress: Callable[[Progress], None] | None = None,
) -> VerifyReport:
    """Re-read every stored inode of the snapshots ``names`` (default: every snapshot
    with hashes) and report what no longer matches. Changes nothing."""
    from dssframe.core.errors import UsageError

    started = time.monotonic()
    dest = os.path.abspath(dest_dir)
    snapshots = complete_snapshots(dest)
    records, problems = load_all(dest, snapshots)
    order = [s.name for s in snapshots if s.name in records]
    if names:
        chosen = [s.name for s in choose(snapshots, names)]
        lacking = [name for name in chosen if name not in records]
        if lacking:
            raise UsageError(
                f"no hashes of {', '.join(lacking)} (dss verify --build {' '.join(lacking)})"
            )
    else:
        chosen = order
    wanted = set(chosen)
    groups = {
        key: members
        for key, members in groups_of(records, order).items()
        if any(member.snapshot in wanted for member in members)
    }
    findings: list[Finding] = []
    intact: dict[tuple[int, int, int, str], list[Member]] = {}
    troubled: dict[tuple[int, int, int, str], tuple[Record, dict[tuple[str, str], list[Member]]]]
    troubled = {}
    expected: dict[tuple[int, int, int], list[tuple[int, int, int, str]]] = {}
    files = 0
    listing, total_bytes = True, 0

    def tasks() -> Iterator[TaskTuple]:
        """lstat every path of every stored inode; the intact inodes to read, once."""
        nonlocal files, listing, total_bytes
        for key, members in groups.items():
            record = Record(members[0].path, key[0], key[1], key[2], key[3])
            good, bad = _look(dest, record, members)
            files += len(members)
            if bad:
                troubled[key] = (record, bad)
            if not good:
                continue
            intact[key] = good
            first = expected.setdefault(key[:3], [])
            first.append(key)
            if len(first) == 1:  # one read per inode, whatever its records say
                total_bytes += key[1]
                yield (key[:3], os.path.join(dest, good[0].snapshot, good[0].path))
        listing = False

    hasher = Hasher(jobs or os.cpu_count() or 1, max_rate)
    done = done_bytes = 0
    shown = 0.0
    for inode, digest, error in hasher.run(tasks()):
        done += 1
        done_bytes += inode[1]
        for key in expected[inode]:
            members = intact[key]
            record = Record(members[0].path, *inode, key[3])
            first_path = os.path.join(dest, members[0].snapshot, members[0].path)
            if digest == key[3]:
                continue
            del intact[key]
            if not still_same(first_path, inode):  # changed while it was read
                findings.append(Finding(fmt.MODIFIED, record, tuple(members),
                                        "changed while it was verified"))  # fmt: skip
            elif digest is None:
                findings.append(Finding(fmt.UNREADABLE, record, tuple(members), error or "?"))
            else:
                findings.append(
                    Finding(fmt.CORRUPT, record, tuple(members),
                            "content no longer matches its hash", digest)
                )  # fmt: skip
        now = time.monotonic()
        if progress is not None and now - shown >= 0.1:
            shown = now
            progress(Progress("verifying", "", 1, 1, done, 0 if listing else len(expected),
                              done_bytes, 0 if listing else total_bytes,
                              now - started))  # fmt: skip
    if progress is not None:
        progress(Progress("verifying", "", 1, 1, done, done, done_bytes, total_bytes,
                          time.monotonic() - started))  # fmt: skip
    for key, (record, bad) in troubled.items():
        healthy = tuple(intact.get(key, ()))  # verified just now: a repair links to them
        for (kind, detail), which in bad.items():
            findings.append(Finding(kind, record, tuple(which), detail, None, healthy))
    rank = {kind: i for i, kind in enumerate(fmt.KINDS)}
    findings.sort(key=lambda f: (rank[f.kind], f.members[0].snapshot, f.record.path))
    unhashed = [s.name for s in snapshots if s.name not in records]
    return VerifyReport(chosen, findings, files, hasher.opened[0], done_bytes,
                        time.monotonic() - started, problems, records, unhashed)  # fmt: skip


def conclude(
    job: Job,
    report: VerifyReport,
    repaired: int | None = None,
    unrepaired: int | None = None,
) -> None:
    """Write ``last-verify.json`` (what the prometheus plugin shows) and send one
    ``corruption-found`` event per finding, in that order (a notifier that reads the
    summary when it hears an event sees this verify's)."""
    dest = job.store.dest_dir
    summary: dict[str, Any] = {
        "time": job.now(),
        "snapshots": report.snapshots,
        "files": report.files,
        "inodes": report.inodes,
        "bytes": report.bytes,
        "seconds": round(report.seconds, 3),
        **{kind: n for kind, n in report.counts().items()},
        "problems": len(report.problems),
        "repaired": repaired,
        "unrepaired": unrepaired,
    }
    try:
        hashes.write_summary(dest, summary)
    except OSError as exc:
        log.warning("cannot write %s: %s", hashes.SUMMARY, exc.strerror or exc)
    for finding in report.findings:
        member = finding.members[-1]  # the newest snapshot holding it
        job.event(
            EventKind.CORRUPTION_FOUND,
            snapshot=member.snapshot,
            path=os.path.join(dest, member.snapshot, member.path),
            reason=finding.kind,
            error=event_error(finding),
        )


def event_error(finding: Finding) -> str:
    """The ``error`` of a finding's event: what is wrong, and every snapshot sharing
    the inode."""
    names = finding.snapshots
    shared = names[0] if len(names) == 1 else f"{len(names)} snapshots: {', '.join(names)}"
    what = {
        fmt.CORRUPT: "corrupt: content no longer matches its hash",
        fmt.MODIFIED: f"modified: {finding.detail}",
        fmt.MISSING: "missing: no longer exists",
        fmt.UNREADABLE: f"unreadable: {finding.detail}",
    }[finding.kind]
    return f"{fmt.escape_path(finding.record.path)} {what} (in {shared})"
