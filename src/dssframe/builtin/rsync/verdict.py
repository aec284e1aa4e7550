"""What a finished rsync means: its exit status and the lines of its standard error
become an :class:`~dssframe.core.transport.Outcome` and a one-line message naming the
real cause (loaded after rsync has run, never before it starts)."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence

from dssframe.core.transport import CopyResult, Outcome, ProcessReport

COMPLETE_STATUSES = {0: "", 23: "partial transfer", 24: "source files vanished"}
RETRY_STATUSES = {12: "error in rsync protocol data stream", 13: "errors with program diagnostics"}
SSH_FAILURE = 255
REMOTE_COMMAND_NOT_FOUND = 127
# rsync could not enter the top of the source: nothing was copied, yet rsync exits 23
# ("partial transfer"), which must not count as a complete snapshot.
_SOURCE_UNREADABLE = re.compile(r'rsync: (?:\[sender\] )?change_dir "(?P<dir>.*)" failed: ')
_EXEC_FAILED = re.compile(r"rsync: (?:\[\w+\] )?Failed to exec ")
# Nothing ever came back from the remote rsync: ssh (or the login) failed. rsync exits
# 255 or 12 for this depending on a race with ssh's exit, so the text decides.
_NEVER_CONNECTED = "connection unexpectedly closed (0 bytes received so far)"
_SSH_CHATTER = ("Warning: Permanently added ",)


def classify(exit_status: int, stderr: str, remote: bool) -> CopyResult:
    """The outcome of a finished rsync (``remote``: it ran over ssh): exit 0 is
    complete; 23 and 24 are complete only when every error line is about the source;
    12 and 13 are transient; everything else, and a failed ssh, is an error."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    message = _last_line(lines)
    if exit_status < 0:
        return CopyResult(Outcome.ERROR, exit_status, f"rsync killed by signal {-exit_status}")
    if remote and exit_status != 0:
        failure = _transport_failure(exit_status, lines)
        if failure is not None:
            return CopyResult(Outcome.ERROR, exit_status, failure)
    if exit_status == 0:
        return CopyResult(Outcome.COMPLETE, 0, "")
    if exit_status in COMPLETE_STATUSES:
        unreadable = _source_unreadable(lines)
        if unreadable is not None:
            return CopyResult(
                Outcome.ERROR, exit_status, f"cannot read the source directory: {unreadable}"
            )
        tolerated = tolerated_lines(lines)
        if tolerated is not None:
            note = COMPLETE_STATUSES[exit_status]
            return CopyResult(
                Outcome.COMPLETE,
                exit_status,
                f"{note}: {message}",
                tolerated_count=len(tolerated),
                tolerated=tuple(tolerated[:TOLERATED_KEPT]),
            )
    cause = failure_cause(lines)
    if cause is None and remote:
        # The remote side's own words (its shell, ssh) say more than rsync's
        # "connection unexpectedly closed".
        cause = _foreign_line(lines)
    message = cause or message
    if exit_status in RETRY_STATUSES:
        text = message or RETRY_STATUSES[exit_status]
        return CopyResult(Outcome.RETRY, exit_status, f"rsync exit {exit_status}: {text}")
    if exit_status == REMOTE_COMMAND_NOT_FOUND:
        text = f"rsync exit 127 (command not found): {message or 'rsync'}"
        return CopyResult(Outcome.ERROR, exit_status, text)
    return CopyResult(
        Outcome.ERROR, exit_status, f"rsync exit {exit_status}: {message or 'failed'}"
    )


_SEVERITY = {Outcome.COMPLETE: 0, Outcome.RETRY: 1, Outcome.ERROR: 2}


def classify_group(exit_status: int, reports: Sequence[ProcessReport], remote: bool) -> CopyResult:
    """The outcome of a parallel copy (a command group of rsync processes,
    ``exit_status`` being the group's): each rsync is judged by :func:`classify` on its
    own status and lines, one that never started is an ERROR, and the worst decides --
    ERROR over RETRY over COMPLETE, the first in command order among equals. A
    complete copy carries every rsync's tolerated source-side errors."""
    results = []
    for report in reports:
        if report.status is None:
            text = "rsync not started: the copy ended before its turn (see the other rsync)"
            results.append(CopyResult(Outcome.ERROR, exit_status, text))
        else:
            results.append(classify(report.status, report.stderr, remote))
    worst = max(_SEVERITY[result.outcome] for result in results)
    if worst:
        return next(r for r in results if _SEVERITY[r.outcome] == worst)
    tolerated = [line for result in results for line in result.tolerated]
    noted = [result for result in results if result.exit_status != 0]
    first = noted[0] if noted else results[0]
    return CopyResult(
        Outcome.COMPLETE,
        first.exit_status,
        "; ".join(result.message for result in noted if result.message),
        tolerated_count=sum(result.tolerated_count for result in results),
        tolerated=tuple(tolerated[:TOLERATED_KEPT]),
    )


def _transport_failure(exit_status: int, lines: list[str]) -> str | None:
    """The message of a failed ssh connection (or ssh not running), else None."""
    for line in lines:
        if _EXEC_FAILED.match(line):
            return f"transport failure: cannot run ssh-command: {line}"
    never_connected = any(_NEVER_CONNECTED in line for line in lines)
    if exit_status == SSH_FAILURE or (never_connected and exit_status != REMOTE_COMMAND_NOT_FOUND):
        text = _foreign_line(lines) or _last_line(lines) or "ssh exited with status 255"
        return f"transport failure (ssh): {text}"
    return None


def _last_line(lines: list[str]) -> str:
    useful = [line for line in lines if not line.startswith(("rsync error:", "rsync warning:"))]
    return (useful or lines or [""])[-1]


def _foreign_line(lines: list[str]) -> str | None:
    """The last line that rsync did not write: ssh's (or the remote shell's) message."""
    foreign = [
        line
        for line in lines
        if not line.startswith(("rsync:", "rsync error:", "rsync warning:"))
        and not line.startswith(_SSH_CHATTER)
    ]
    return foreign[-1] if foreign else None


def _source_unreadable(lines: list[str]) -> str | None:
    for line in lines:
        if _SOURCE_UNREADABLE.match(line):
            return line.removeprefix("rsync: ").removeprefix("[sender] ")
    return None


# --- what rsync's error lines say -------------------------------------------------
#
# Exit 23 ("partial transfer") and 24 ("vanished") mean a complete snapshot only when
# every error rsync printed is about the source: a file the sender could not read, or
# one that vanished while it was copied. rsync 3.x tags a line with the process that
# wrote it ("rsync: [sender] ...", "[receiver]", "[generator]"; "[Receiver]" before the
# receiver forks); the receiver and the generator work on the destination, so any line
# of theirs means a copy with holes (a full disk, an undeletable file, ...).


class Side(enum.Enum):
    """Whose failure one stderr line reports."""

    NONE = "none"  # not an error: summaries ("rsync error: ..."), ssh chatter, notices
    SOURCE = "source"  # the source could not be read (tolerated by a complete copy)
    DESTINATION = "destination"  # the destination (or a disk) failed: the copy has holes
    CONSEQUENCE = "consequence"  # the other process died (broken pipe): never the cause
    UNKNOWN = "unknown"  # an rsync error not understood: never tolerated


TOLERATED_KEPT = 5  # tolerated lines kept in a CopyResult (all are counted)

# errno values after which the destination cannot hold a faithful copy, by the text
# strerror gives them and by their Linux numbers (rsync prints both: "... (28)").
DEVICE_ERRORS = {
    "No space left on device": 28,  # ENOSPC (blocks or inodes)
    "Disk quota exceeded": 122,  # EDQUOT
    "Read-only file system": 30,  # EROFS
    "Input/output error": 5,  # EIO
}
_ERRNO_NAMES = {number: text for text, number in DEVICE_ERRORS.items()}
# The tail rsync puts on a failed system call: ": No space left on device (28)".
_ERRNO_TAIL = re.compile(r': (?P<text>[^:"]+?) \((?P<number>\d+)\)\Z')
_TAG = re.compile(r"rsync: \[(?P<who>\w+)\] ")
_DESTINATION_WORDS = ("delete_file:", "unlink")
# What a process prints when its peer has died; the peer's own line has the cause.
_PEER_DIED = re.compile(
    r"Broken pipe|connection unexpectedly closed|Connection reset by peer|\((?:32|104)\)\Z"
)
# Source errors as rsync before 3.2.4 wrote them (without a "[sender]" tag).
_UNTAGGED_SOURCE = re.compile(
    r"rsync: (?:send_files failed to open|opendir|readlink_stat|link_stat|readdir"
    r"|read errors mapping) "
)
_VANISHED = "file has vanished: "
# The receiver could not replace an entry by the source's one of another type (a
# directory it may not empty: its contents are excluded, so protected from deletion):
# the copy lacks the source's entry. rsync prints this without "rsync:" and exits 23.
_NO_WAY = "could not make way for "
_QUOTED = re.compile(r'"[^"]*"')


def _unquoted(line: str) -> str:
    """``line`` without its quoted file names (a file may be called "unlink")."""
    return _QUOTED.sub('""', line)


def device_error(line: str) -> str | None:
    """The strerror text of a disk-killing errno in ``line`` (ENOSPC, EDQUOT, EROFS,
    EIO), else None."""
    bare = _unquoted(line)
    for text in DEVICE_ERRORS:
        if text in bare:
            return text
    tail = _ERRNO_TAIL.search(bare)
    if tail is not None:
        return _ERRNO_NAMES.get(int(tail["number"]))
    return None


def line_side(line: str) -> Side:
    """Whose failure ``line`` (one stripped stderr line of rsync) reports.

    A device error (a full disk, EIO) counts as the destination's whoever reports it:
    the copy cannot be trusted either way."""
    if line.startswith(("rsync error:", "rsync warning:")):
        return Side.NONE
    if line.startswith(_VANISHED):
        return Side.SOURCE
    if line.startswith(_NO_WAY):
        return Side.DESTINATION
    bare = _unquoted(line)
    if _PEER_DIED.search(bare):
        return Side.CONSEQUENCE
    tag = _TAG.match(line)
    who = tag["who"].lower() if tag else None
    if (
        who in ("receiver", "generator")
        or any(word in bare for word in _DESTINATION_WORDS)
        or device_error(line) is not None
    ):
        return Side.DESTINATION
    if who == "sender" or _UNTAGGED_SOURCE.match(line):
        return Side.SOURCE
    if line.startswith("rsync:"):
        return Side.UNKNOWN
    return Side.NONE  # ssh's or the remote shell's words, rsync's notices


def tolerated_lines(lines: list[str]) -> list[str] | None:
    """The source-side error lines of a copy rsync called partial (exit 23 or 24), or
    None when some line is not source-side: then the copy is not complete."""
    tolerated = []
    for line in lines:
        side = line_side(line)
        if side is Side.SOURCE:
            tolerated.append(line)
        elif side is not Side.NONE:
            return None
    return tolerated


def failure_cause(lines: list[str]) -> str | None:
    """A one-line description of what failed on the destination (or a disk), or None.

    The first line with a device error (a full disk, ...) wins over the first other
    destination-side line; lines of a process that merely saw its peer die ("Broken
    pipe") never count. A device error the sender reports is labelled "source"."""
    candidates = [line for line in lines if line_side(line) is Side.DESTINATION]
    for line in candidates:
        text = device_error(line)
        if text is not None:
            side = "source" if line.startswith("rsync: [sender] ") else "destination"
            return f"{side}: {text}: {line}"
    if not candidates:
        return None
    first = candidates[0]
    tail = _ERRNO_TAIL.search(_unquoted(first))
    return f"destination: {tail['text']}: {first}" if tail else f"destination: {first}"
