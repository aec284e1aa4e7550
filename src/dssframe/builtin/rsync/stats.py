"""rsync's ``--stats``: the figures it logs into the copy's log file
(:attr:`~dssframe.core.transport.CopyRequest.log_file`, written with ``--log-file``),
read back as :class:`~dssframe.core.transport.CopyStats` once the copy has ended.

They are also the proof that rsync really copied: a copy rsync calls complete but
without its statistics (a program that only pretends to be rsync, or one cut off
before its report) is not believed."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence

from dssframe.core.transport import CopyRequest, CopyResult, CopyStats, Outcome

#: rsync's labels, by the :class:`CopyStats` field each fills.
_STATS_LINES = {
    "Number of files": "files",
    "Number of created files": "created_files",
    "Number of deleted files": "deleted_files",
    "Number of regular files transferred": "regular_files_transferred",
    "Total file size": "total_size",
    "Total transferred file size": "transferred_size",
    "Literal data": "literal_data",
    "Matched data": "matched_data",
    "Total bytes sent": "bytes_sent",
    "Total bytes received": "bytes_received",
}
_STAT_LINE = re.compile(r"(?:^|\] )(?P<label>[A-Z][A-Za-z ]+): (?P<value>[0-9][0-9,.]*[KMGTP]?)")
_UNITS = {"K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4, "P": 1000**5}


def _number(text: str) -> int | None:
    unit = 1
    if text[-1] in _UNITS:
        unit = _UNITS[text[-1]]
        text = text[:-1]
    text = text.replace(",", "")
    try:
        return int(float(text) * unit) if "." in text or unit != 1 else int(text)
    except ValueError:
        return None


def parse_rsync_stats(text: str) -> dict[str, int]:
    """The ``--stats`` figures of the last run in an rsync log (``--log-file``) or its
    standard output, by :class:`CopyStats` field; absent when not reported."""
    stats: dict[str, int] = {}
    for line in text.splitlines():
        match = _STAT_LINE.search(line)
        if match is None:
            continue
        key = _STATS_LINES.get(match["label"])
        if key is None:
            continue
        if key == "files":
            stats = {}  # a new report starts: keep only the last one
        value = _number(match["value"])
        if value is not None:
            stats[key] = value
    return stats


def _read_stats(log_file: str) -> dict[str, int]:
    try:
        with open(log_file, encoding="utf-8", errors="replace") as handle:
            return parse_rsync_stats(handle.read())
    except OSError:
        return {}


def add_stats(
    request: CopyRequest,
    result: CopyResult,
    rsync_path: str,
    parts: Sequence[str] = (),
    overlap: int = 0,
) -> CopyResult:
    """``result`` with the statistics rsync logged for ``request``; an ERROR when rsync
    called the copy complete without reporting them. (The host removes the log.)

    A parallel copy's other rsync processes logged theirs into ``parts`` (removed
    here): every figure is summed, and ``files`` less the ``overlap`` of entries that
    more than one of them counted (the top directory, split directories, units)."""
    if request.log_file is None:
        return result  # no statistics were asked for
    figures = _read_stats(request.log_file)
    complete = "files" in figures
    for part in parts:
        more = _read_stats(part)
        with contextlib.suppress(OSError):
            os.unlink(part)
        complete = complete and "files" in more
        for key, value in more.items():
            figures[key] = figures.get(key, 0) + value
    if parts and "files" in figures:
        figures["files"] = max(1, figures["files"] - overlap)
    if not complete:
        figures.pop("files", None)
    stats = CopyStats(**figures) if figures else None
    if result.outcome is Outcome.COMPLETE and "files" not in figures:
        problem = (
            f"{rsync_path} reported no transfer statistics, so the copy cannot "
            "be verified (is rsync-path really rsync?); not complete"
        )
        return CopyResult(Outcome.ERROR, result.exit_status, problem, stats=stats)
    return result._replace(stats=stats)
