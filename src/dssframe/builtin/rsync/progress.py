"""rsync's ``--info=progress2`` output as :class:`~dssframe.core.transport.Progress`
readings. rsync rewrites one line (``\\r``) per update::

          425,984  45%  406.25kB/s    0:00:01 (xfr#1, to-chk=2/4)

bytes so far, percent of the whole transfer, rate (rsync's units are powers of 1024)
and the estimated time left."""

from __future__ import annotations

import re

from dssframe.core.transport import Progress

#: A percentage as rsync writes one: a word of its own (so that ``100%.txt`` in a file
#: list that an ``-v`` in rsync-option prints is not read as one).
_PERCENT = re.compile(r"(?<!\S)([0-9]+)%(?!\S)")
_BYTES = re.compile(r"(?<!\S)([0-9][0-9,]*)\s+\Z")
_AFTER = re.compile(
    r"\s+(?P<rate>[0-9]+(?:\.[0-9]+)?)(?P<unit>[kMGT]?)B/s"
    r"(?:\s+(?P<hours>[0-9]+):(?P<minutes>[0-9]{2}):(?P<seconds>[0-9]{2})(?![0-9]))?"
)
_RATE_UNITS = {"": 1, "k": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_progress(output: str) -> Progress | None:
    """The newest reading in ``output`` (the tail of rsync's standard output): the
    last percentage, with the figures around it on its line when they are there."""
    last = None
    for last in _PERCENT.finditer(output):  # noqa: B007 - the last one is wanted
        pass
    if last is None:
        return None
    begin = max(output.rfind("\r", 0, last.start()), output.rfind("\n", 0, last.start())) + 1
    ends = [i for i in (output.find("\r", last.end()), output.find("\n", last.end())) if i >= 0]
    done = _BYTES.search(output[begin : last.start()])
    after = _AFTER.match(output, last.end(), min(ends, default=len(output)))
    rate = eta = None
    if after is not None:
        rate = float(after["rate"]) * _RATE_UNITS[after["unit"]]
        if after["hours"] is not None:
            eta = int(after["hours"]) * 3600 + int(after["minutes"]) * 60 + int(after["seconds"])
    return Progress(
        percent=int(last[1]),
        bytes_done=int(done[1].replace(",", "")) if done is not None else None,
        rate=rate,
        eta=eta,
    )
