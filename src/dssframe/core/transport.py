"""The interfaces a transport plugin implements (pure types, no I/O).

A transport copies the source into a snapshot directory, but it never runs anything
itself: it turns a request into an argument list (never a shell string), the host runs
that process -- so that the host can draw progress, suspend the process when disk space
runs low and stop it cleanly -- and the transport then judges the finished process.

:class:`Transport` is all a transport must implement: it makes snapshots. Everything
more is an optional protocol, checked with ``isinstance`` (each is runtime-checkable,
:class:`Transport` too;
subclassing it explicitly is allowed and documents the intent), never by probing for
attributes:

============================ ==========================================================
:class:`RemoteTransport`     the source may be on another host (``remote``)
:class:`ProbingTransport`    checks a remote source before copying (``configtest``)
:class:`LayoutTransport`     snapshots may hold the source inside one directory
:class:`StatsSource`         reports the statistics of each copy (:class:`CopyStats`)
:class:`ProgressSource`      its output can be read as progress (:class:`Progress`)
:class:`RestoringTransport`  restores a snapshot (:class:`RestoreRequest`)
:class:`PreviewingTransport` lists what a restore would change, and what changed in
                             the source since a snapshot (:class:`Change`)
============================ ==========================================================

The builtin ``rsync`` transport implements all of them. A transport without
:class:`RestoringTransport` makes snapshots but ``dss restore`` refuses (one line naming
the missing capability); without :class:`PreviewingTransport`, ``dss restore --dry-run``
refuses and a restore of the source needs a safety snapshot or ``--force``.

Leaving out :class:`StatsSource` costs safety, not only figures: the host can then
neither refuse a "complete" copy that copied nothing (a program that only pretends to
copy) nor apply the shrink guard (``min-shrink-percent``) to it; only the transport's
own ``classify`` stands between a bad copy and a complete snapshot name. Implement it.

A transport written in Python runs its copier as a child process too, e.g.
``[sys.executable, "-m", "mypackage.copier", ...]``: the child inherits dss's
environment and working directory (configuration reaches it through the argument list
the transport builds, never through a shell string).

The contract of a copy
----------------------

``command(request)`` is the process that copies the source into
``request.destination``. It runs with standard input on ``/dev/null``, its standard
error is logged line by line and given to ``classify``, its standard output is
discarded (unless progress is drawn, see :class:`ProgressSource`). It dies with dss
(SIGTERM), and the run loop may stop it with SIGSTOP/SIGCONT while disk space is low.

- **The destination may be non-empty**: an interrupted copy that is resumed, or an
  older snapshot directory that the retention policy gave up and that is recycled.
  The copy must make it equal to the source -- delete what the source no longer has --
  and may keep what is already right (that is the point of resuming).
- **Never modify an inode in place that other snapshots share.** Snapshots share every
  unchanged file as a hard link: changing such a file's data, mode, owner or times in
  place changes it in every snapshot that holds it. Write a new file and rename it over
  the old name (or hard-link it from ``request.reference``). Before a resumed or
  recycled directory is handed over, the host removes every file in it that has other
  hard links, so only files the directory alone holds remain; the files the copy links
  from the reference are shared again, and are never to be written afterwards.
- A file unchanged since ``request.reference`` should become a hard link to the
  reference's file: that is what makes a snapshot cost only what changed.
- Nothing outside ``request.destination`` (and ``request.log_file``) may change, the
  source least of all.

``classify(exit_status, stderr)`` judges the finished process (:class:`Outcome`):

- ``COMPLETE``: the destination holds the source. The host still checks it before the
  snapshot gets its complete name: with a :class:`StatsSource`, a copy whose ``files``
  count is far below its reference's fails the shrink guard (``min-shrink-percent``).
  ``message`` is then an optional note (e.g. the source files that vanished), and
  ``tolerated``/``tolerated_count`` the source-side errors that were accepted.
- ``RETRY``: transient, the cause should go away by itself (the host is unreachable,
  the connection was lost): try again later.
- ``ERROR``: the copy failed (a full disk, a missing program, a killed process).

What the host does with the two failures today is the same: the incomplete directory
stays (the next create resumes it, unless ``no-resume``), a ``CREATE_FAILED`` event
carries the one-line ``message``, ``dss create`` exits with status 1 (its
:class:`~dssframe.core.errors.TransportError` carries the :class:`CopyResult`), and the
run loop (``dss run``) counts either as one failure towards ``max-rsync-errors``
consecutive failures -- after which it exits -- and tries again after ``retry-delay``
seconds. Return ``RETRY`` for transient causes all the same: the distinction is kept in
the result for the host and for future policies.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable


class Outcome(enum.Enum):
    """What a finished copy means for the snapshot (see the module docstring)."""

    COMPLETE = "complete"  # the snapshot may be renamed to its complete name
    RETRY = "retry"  # transient: try again later, keep the incomplete dir
    ERROR = "error"  # failed: keep the incomplete dir for resume, report


class CopyRequest(NamedTuple):
    """Copy the source into ``destination`` (absolute path of the incomplete dir),
    hard-linking unchanged files against ``reference`` (absolute path) if given.

    ``checksum``: compare file contents, not only sizes and times, this time (the
    ``checksum`` option's per-mille draw). ``progress``: the host draws a progress bar
    from the process's standard output (set only for a :class:`ProgressSource`).
    ``log_file``: a file private to this copy that the process may write its log into
    (set only for a :class:`StatsSource`, see there); None otherwise. ``fresh``: the
    copy starts in an empty ``destination`` (or one that does not exist yet); False
    (the default: not known) when it may hold an earlier copy, a resumed or recycled
    directory whose entries may differ from the reference's in any way."""

    destination: str
    reference: str | None = None
    checksum: bool = False
    progress: bool = False
    log_file: str | None = None
    fresh: bool = False


class CopyStats(NamedTuple):
    """The statistics of one copy, as the metadata document records them (``stats``)
    and the events carry them. Every figure is optional (None: not reported); sizes
    are in bytes.

    ``files`` counts every entry of the new snapshot, its top directory included (the
    shrink guard compares it with the reference's); ``created_files`` and
    ``deleted_files`` are entries created and deleted in the destination;
    ``regular_files_transferred`` the regular files whose data was copied (not
    linked); ``total_size`` is the size of all files, ``transferred_size`` of those
    copied; ``literal_data`` and ``matched_data`` the bytes sent as data and those
    reconstructed from what the destination held; ``bytes_sent`` and
    ``bytes_received`` what crossed the wire (or pipe)."""

    files: int | None = None
    created_files: int | None = None
    deleted_files: int | None = None
    regular_files_transferred: int | None = None
    total_size: int | None = None
    transferred_size: int | None = None
    literal_data: int | None = None
    matched_data: int | None = None
    bytes_sent: int | None = None
    bytes_received: int | None = None

    def as_dict(self) -> dict[str, int]:
        """The reported figures (the fields that are not None), in field order."""
        return {name: value for name, value in self._asdict().items() if value is not None}


class CopyResult(NamedTuple):
    """A finished copy: its outcome, the process's exit status, a one-line message
    naming the real cause of a failure, the source-side errors that were tolerated
    in a complete copy (``tolerated_count`` of them; ``tolerated`` holds the first few
    lines, e.g. ``rsync: [sender] send_files failed to open ...``), and the copy's
    statistics (filled in by a :class:`StatsSource`, else None)."""

    outcome: Outcome
    exit_status: int
    message: str
    tolerated_count: int = 0
    tolerated: tuple[str, ...] = ()
    stats: CopyStats | None = None


class Progress(NamedTuple):
    """One progress reading of a running copy (every figure optional): ``percent``
    done (0 to 100; the host's bar shows it), ``bytes_done`` so far, ``rate`` in bytes
    per second, ``eta`` in seconds still to go."""

    percent: int | None = None
    bytes_done: int | None = None
    rate: float | None = None
    eta: int | None = None


class RestoreRequest(NamedTuple):
    """Make ``target`` identical to the snapshot (see :class:`RestoringTransport`).

    ``snapshot``: the absolute path, ending in ``/``, of the directory in the snapshot
    that holds the source's own entries (the snapshot directory, or for a
    :class:`LayoutTransport` the one directory inside it). ``target``: a local
    directory (absolute, ending in ``/``), or None for the configured source as the
    transport reaches it -- only when ``local_source()`` is None (a remote source).
    ``keep``: directories, relative to the target's top and without slashes around,
    that a restore must neither change nor delete and that a comparison leaves out
    (the destination directory, when the target contains it). ``progress``: as in
    :class:`CopyRequest`. ``paths``: when not empty, restore (and preview) only these
    entries, files or directories, relative to ``snapshot`` and to the target's top
    (no slashes around, no ``.`` or ``..`` components, each present in the snapshot):
    each one is made identical to the snapshot's -- a directory with what is not in
    the snapshot deleted inside it -- and nothing outside them changes, not even the
    attributes of the directories that lead to them. A transport whose commands do
    not change with ``paths`` is refused for a restore of chosen paths."""

    snapshot: str
    target: str | None
    keep: tuple[str, ...] = ()
    progress: bool = False
    paths: tuple[str, ...] = ()


class Change(NamedTuple):
    """One path a restore creates, changes or deletes in its target (or, from a
    comparison, that was added to, changed in or deleted from the target).

    ``kind`` is ``create``, ``change`` or ``delete``; ``path`` is relative to the
    target's top; ``item`` the transport's own code for it (rsync's itemize code,
    e.g. ``>f.st......`` or ``*deleting``); ``times_only``: only the modification time
    of a directory differs, a consequence of entries created or deleted in it."""

    kind: str
    path: str
    item: str
    times_only: bool = False


@runtime_checkable
class Transport(Protocol):
    """How a snapshot is copied: the one protocol every transport implements."""

    name: str

    def source_display(self) -> str:
        """The source as the user would spell it (``/data/`` or ``user@host:/data/``)."""
        ...

    def local_source(self) -> str | None:
        """The source directory when it is on this host (checked before copying),
        None when only the transport can reach it."""
        ...

    def command(self, request: CopyRequest) -> list[str]:
        """The exact argument list to run (``argv[0]`` is the program). ``dss create
        --dry-run`` prints it, so it must be complete: nothing is added to it."""
        ...

    def classify(self, exit_status: int, stderr: str) -> CopyResult:
        """Map the process's exit status (negative: killed by that signal) and its
        standard error to an outcome and a one-line message."""
        ...


@runtime_checkable
class RemoteTransport(Protocol):
    """A transport whose source may be on another host.

    ``remote`` is True when the source is reached over the network (``local_source()``
    is then None): the metadata document names ``remote-host`` as the source's host.
    A remote source can be restored only through the transport
    (:class:`RestoringTransport` with ``target=None``)."""

    remote: bool


@runtime_checkable
class ProbingTransport(Protocol):
    """A transport that can check, before copying, that a source it reaches over the
    network is there (``dss configtest``)."""

    def probe_command(self) -> list[str] | None:
        """The exact argument list of a quick process that exits 0 when the source
        directory exists and is reachable (for ssh: ``BatchMode=yes`` and the connect
        timeout, so it never waits for a password); None for a local source, which the
        host checks itself."""
        ...


@runtime_checkable
class LayoutTransport(Protocol):
    """A transport whose snapshots may hold the source inside one directory."""

    def source_top(self) -> str | None:
        """The one directory each snapshot holds the source in (e.g. ``data`` for a
        local ``/data`` without a trailing slash, which rsync copies as the directory
        itself), or None when a snapshot holds the source's own entries. The host
        refuses a switch between the two layouts (nothing would be hard-linked) and a
        restore copies back from inside that directory."""
        ...


@runtime_checkable
class StatsSource(Protocol):
    """A transport that reports the statistics of its copies.

    Its :class:`CopyRequest` has a ``log_file``: a path in ``<dest>/.dssframe/``
    private to this copy, which the host creates empty before the process starts (the
    copy does not start when it cannot) and removes after :meth:`add_stats` -- or at
    the next create, after a crash. ``command()`` may have the process write into it."""

    def add_stats(self, request: CopyRequest, result: CopyResult) -> CopyResult:
        """``result`` (what ``classify`` said of the copy made for ``request``) with
        its ``stats`` filled in. Called for every finished copy, whatever its outcome
        (the statistics of a failed copy go into its ``CREATE_FAILED`` event). A
        transport that cannot trust a ``COMPLETE`` copy without its statistics (a
        process that only pretends to be the program, or was cut off) returns an
        ``ERROR`` result saying so."""
        ...


@runtime_checkable
class ProgressSource(Protocol):
    """A transport whose process reports progress on its standard output.

    When progress is wanted (``dss create`` or ``dss restore`` on a terminal), the
    request says ``progress=True``, the host pipes the process's standard output (and
    never shows it) and, at most every 0.1 s, gives the last 512 characters read to
    :meth:`parse_progress`; it draws one status line on the terminal from the reading
    (``percent``, ``bytes_done``, ``rate``, ``eta``), cleared when the copy ends."""

    def parse_progress(self, output: str) -> Progress | None:
        """The newest reading in ``output`` (the tail of the standard output, which may
        begin in the middle of a line), or None when it holds none."""
        ...


@runtime_checkable
class RestoringTransport(Protocol):
    """A transport that can restore a snapshot (``dss restore``)."""

    def restore_command(self, request: RestoreRequest) -> list[str]:
        """The exact argument list that makes ``request.target`` identical to
        ``request.snapshot``: create and change what differs, delete what the snapshot
        does not hold (except ``request.keep``), keep permissions, times, symbolic and
        hard links inside the tree. Exit status 0 means done; any other status is a
        failed restore, reported with ``classify(...).message``. The host has made
        sure that the target is the source or may be overwritten."""
        ...


@runtime_checkable
class PreviewingTransport(RestoringTransport, Protocol):
    """A :class:`RestoringTransport` that can also say what a restore would change
    (``dss restore --dry-run``) and what changed in the source since a snapshot (a
    restore of the source without a safety snapshot refuses to overwrite changes)."""

    def preview_command(self, request: RestoreRequest) -> list[str]:
        """A dry run of ``restore_command(request)``: changes nothing and lists on its
        standard output every path the restore would create, change or delete."""
        ...

    def compare_command(self, request: RestoreRequest) -> list[str]:
        """A dry run of the copy the other way, from ``request.target`` into
        ``request.snapshot``: changes nothing and lists what changed in the target
        since the snapshot (``create``: added to the target; ``delete``: deleted
        from it), leaving out ``request.keep``."""
        ...

    def parse_changes(self, exit_status: int, stdout: bytes, stderr: str) -> list[Change]:
        """The changes a finished :meth:`preview_command` or :meth:`compare_command`
        listed; raise :class:`~dssframe.core.errors.TransportError` with a one-line
        message when it failed."""
        ...


def is_remote(transport: Transport) -> bool:
    """Whether ``transport`` reaches its source over the network."""
    return isinstance(transport, RemoteTransport) and bool(transport.remote)


def source_top(transport: Transport) -> str | None:
    """The one directory a snapshot holds the source in (see
    :class:`LayoutTransport`), None when it holds the source's own entries."""
    return transport.source_top() if isinstance(transport, LayoutTransport) else None


# --- several processes as one copy ------------------------------------------------------
#
# A transport may copy with several processes at once (the builtin rsync with
# ``parallel`` > 1): ``command()`` then returns :func:`group_argv` of a
# :class:`CommandGroup`. That argument list is complete and runnable (``python -m
# dssframe.engine.runner --group ...`` runs the group and exits with its status), and
# the host, which recognizes it with :func:`parse_group`, runs the group's processes
# itself, so that they behave as one process: a signal (SIGSTOP, SIGCONT, SIGTERM)
# reaches every one of them, the group has ended when its last process has, and
# ``classify`` gets each process's exit status and standard error
# (:func:`split_group_stderr`).

#: The module whose ``python -m`` runs a :class:`CommandGroup`, and the word after it.
GROUP_MODULE = "dssframe.engine.runner"
GROUP_FLAG = "--group"
_STAGE = "--stage"
_PROCEED = "--proceed="
_COMMAND = "--command="


class CommandGroup(NamedTuple):
    """Processes that make one copy together. ``stages`` run one after the other, the
    commands of one stage all at once; a stage starts only when every process of the
    stage before it has exited with a status in ``proceed`` (otherwise the group ends
    there, and the processes not started are reported as such)."""

    stages: tuple[tuple[tuple[str, ...], ...], ...]
    proceed: tuple[int, ...] = (0,)

    def commands(self) -> list[tuple[str, ...]]:
        """Every command, in stage order (the order of :func:`split_group_stderr`)."""
        return [command for stage in self.stages for command in stage]


def group_argv(group: CommandGroup, python: str) -> list[str]:
    """The argument list that runs ``group`` (``python``: the interpreter's path):
    ``PYTHON -m dssframe.engine.runner --group --proceed=0,23 --stage --command=N
    WORD... --command=N WORD... --stage ...`` (each command's words counted, so that no
    word of a command can be mistaken for a separator)."""
    argv = [python, "-m", GROUP_MODULE, GROUP_FLAG]
    argv.append(_PROCEED + ",".join(str(status) for status in group.proceed))
    for stage in group.stages:
        argv.append(_STAGE)
        for command in stage:
            argv += [f"{_COMMAND}{len(command)}", *command]
    return argv


def parse_group(argv: Sequence[str]) -> CommandGroup | None:
    """The :class:`CommandGroup` that ``argv`` (made by :func:`group_argv`) runs, or None
    for any other argument list (a malformed group raises ValueError)."""
    if len(argv) < 4 or list(argv[1:4]) != ["-m", GROUP_MODULE, GROUP_FLAG]:
        return None
    words = list(argv[4:])
    proceed: tuple[int, ...] = (0,)
    if words and words[0].startswith(_PROCEED):
        text = words.pop(0).removeprefix(_PROCEED)
        proceed = tuple(int(status) for status in text.split(",") if status)
    stages: list[tuple[tuple[str, ...], ...]] = []
    while words:
        if words.pop(0) != _STAGE:
            raise ValueError("a command group's stages begin with --stage")
        commands = []
        while words and words[0].startswith(_COMMAND):
            count = int(words.pop(0).removeprefix(_COMMAND))
            if count < 1 or count > len(words):
                raise ValueError(f"a command group's command of {count} words is cut short")
            commands.append(tuple(words[:count]))
            del words[:count]
        if not commands:
            raise ValueError("a command group's stage has no command")
        stages.append(tuple(commands))
    if not stages:
        raise ValueError("a command group has no stage")
    return CommandGroup(tuple(stages), proceed)


class ProcessReport(NamedTuple):
    """One process of a :class:`CommandGroup` as it ended: its exit status (negative:
    killed by that signal; None: never started, because the group ended before its
    stage) and its standard error."""

    status: int | None
    stderr: str


#: What begins each process's part of a group's standard error as ``classify`` gets it.
GROUP_STDERR_MARK = "\x1edssframe-process "


def group_stderr(reports: Sequence[ProcessReport]) -> str:
    """The standard error ``classify`` gets for a :class:`CommandGroup`: for each
    process in command order, a line ``GROUP_STDERR_MARK`` + its status (``-`` when it
    never started), then its own lines."""
    parts = []
    for report in reports:
        status = "-" if report.status is None else str(report.status)
        parts.append(f"{GROUP_STDERR_MARK}{status}\n{report.stderr}")
    return "\n".join(parts)


def split_group_stderr(stderr: str) -> list[ProcessReport] | None:
    """The per-process reports in ``stderr`` when it is a group's
    (:func:`group_stderr`), else None (the standard error of one process)."""
    if not stderr.startswith(GROUP_STDERR_MARK):
        return None
    reports = []
    for chunk in stderr.split("\n" + GROUP_STDERR_MARK):
        head, _, text = chunk.removeprefix(GROUP_STDERR_MARK).partition("\n")
        reports.append(ProcessReport(None if head == "-" else int(head), text))
    return reports
