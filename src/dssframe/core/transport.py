"""The interface a transport plugin implements (pure types, no I/O).

A transport turns a copy request into an argument list (never a shell string) and
classifies the finished process. The host runs the process, so it can show progress,
suspend it when disk space runs low, and stop it cleanly.
"""

from __future__ import annotations

import enum
from typing import NamedTuple, Protocol


class Outcome(enum.Enum):
    """What a finished copy means for the snapshot."""

    COMPLETE = "complete"  # the snapshot may be renamed to its complete name
    RETRY = "retry"  # transient: try again later, keep the incomplete dir
    ERROR = "error"  # failed: keep the incomplete dir for resume, report


class CopyRequest(NamedTuple):
    """Copy the source into ``destination`` (absolute path of the incomplete dir),
    hard-linking unchanged files against ``reference`` (absolute path) if given."""

    destination: str
    reference: str | None = None
    checksum: bool = False
    progress: bool = False


class CopyResult(NamedTuple):
    """A finished copy: its outcome, the process's exit status, a one-line message
    naming the real cause of a failure, and the source-side errors that were tolerated
    in a complete copy (``tolerated_count`` of them; ``tolerated`` holds the first few
    lines, e.g. ``rsync: [sender] send_files failed to open ...``)."""

    outcome: Outcome
    exit_status: int
    message: str
    tolerated_count: int = 0
    tolerated: tuple[str, ...] = ()


class Transport(Protocol):
    """How a snapshot is copied."""

    name: str

    def source_display(self) -> str:
        """The source as the user would spell it (``/data/`` or ``user@host:/data/``)."""
        ...

    def local_source(self) -> str | None:
        """The source directory when it is on this host (checked before copying),
        None when only the transport can reach it."""
        ...

    def command(self, request: CopyRequest) -> list[str]:
        """The exact argument list to run (``argv[0]`` is the program)."""
        ...

    def classify(self, exit_status: int, stderr: str) -> CopyResult:
        """Map the process's exit status (negative: killed by that signal) and its
        standard error to an outcome and a one-line message."""
        ...
