"""The metrics: what is remembered between runs, and the text exposition format
(pure, no I/O)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from dssframe.api import Event, EventKind, SnapshotName, State

STATE_VERSION = 1
MIB = 1 << 20


def fresh_state(dest: str) -> dict[str, Any]:
    """What is remembered between processes, for one destination directory."""
    return {
        "version": STATE_VERSION,
        "dest": dest,
        "consecutive_failures": 0,
        "last_create": None,  # {"time", "duration", "exit_status", "success"}
        "last_event": {},  # event kind -> epoch
    }


def usable_state(state: Any, dest: str) -> dict[str, Any]:
    """``state`` if it is a state of this version for ``dest``, else a fresh one."""
    if (
        isinstance(state, dict)
        and state.get("version") == STATE_VERSION
        and state.get("dest") == dest
        and isinstance(state.get("consecutive_failures"), int)
        and isinstance(state.get("last_event"), dict)
        and (state.get("last_create") is None or isinstance(state.get("last_create"), dict))
    ):
        return state
    return fresh_state(dest)


def update(state: Mapping[str, Any], event: Event) -> dict[str, Any]:
    """The state after ``event``: creations reset the failure count, failures add one."""
    new = dict(state)
    new["last_event"] = {**state["last_event"], event.kind.value: event.time}
    if event.kind in (EventKind.SNAPSHOT_CREATED, EventKind.CREATE_FAILED):
        success = event.kind is EventKind.SNAPSHOT_CREATED
        new["last_create"] = {
            "time": event.time,
            "duration": event.duration,
            "exit_status": event.exit_status,
            "success": success,
        }
        new["consecutive_failures"] = 0 if success else state["consecutive_failures"] + 1
    return new


class Space(NamedTuple):
    """The destination file system, as an unprivileged user sees it."""

    size_bytes: int
    avail_bytes: int
    files: int
    files_avail: int

    @property
    def avail_ratio(self) -> float:
        return self.avail_bytes / self.size_bytes if self.size_bytes else 1.0

    @property
    def files_avail_ratio(self) -> float:
        return self.files_avail / self.files if self.files else 1.0


class Thresholds(NamedTuple):
    """dss's low-space thresholds; 0 turns a check off."""

    min_free_mb: int
    min_free_percent: int
    min_free_percent_inodes: int

    def low(self, space: Space) -> bool:
        return (
            (self.min_free_mb > 0 and space.avail_bytes < self.min_free_mb * MIB)
            or (self.min_free_percent > 0 and space.avail_ratio * 100 < self.min_free_percent)
            or (
                self.min_free_percent_inodes > 0
                and space.files_avail_ratio * 100 < self.min_free_percent_inodes
            )
        )


def escape(value: str) -> str:
    """A label value of the text format."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float | int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class _Writer:
    def __init__(self, dest: str) -> None:
        self.dest = escape(dest)
        self.lines: list[str] = []

    def family(
        self, name: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], float]]
    ) -> None:
        rows = list(samples)
        if not rows:
            return  # nothing known yet: leave the metric out rather than invent a value
        full = f"dssframe_{name}"
        self.lines.append(f"# HELP {full} {help_text}")
        self.lines.append(f"# TYPE {full} gauge")
        for labels, value in rows:
            extra = "".join(f',{key}="{escape(v)}"' for key, v in labels.items())
            self.lines.append(f'{full}{{dest="{self.dest}"{extra}}} {_number(value)}')

    def one(self, name: str, help_text: str, value: float | int | bool | None) -> None:
        self.family(name, help_text, [] if value is None else [({}, value)])


def render(
    dest: str,
    snapshots: Sequence[SnapshotName] | None,
    state: Mapping[str, Any],
    space: Space | None,
    thresholds: Thresholds,
    now: int,
) -> str:
    """The textfile: every metric with HELP and TYPE lines, labelled ``dest``.

    ``snapshots`` is None when the destination could not be read, ``space`` when
    statvfs failed: their metrics are left out then.
    """
    out = _Writer(dest)
    if snapshots is not None:
        counts = Counter(s.state for s in snapshots)
        out.family(
            "snapshots",
            "Snapshot directories in the destination, by state.",
            [({"state": state.value}, counts[state]) for state in State],
        )
        complete = [s for s in snapshots if s.complete]
        newest = complete[-1] if complete else None
        oldest = complete[0] if complete else None
        out.one(
            "newest_snapshot_timestamp_seconds",
            "Creation time of the newest complete snapshot (the point in time it shows).",
            newest.creation if newest else None,
        )
        out.one(
            "newest_snapshot_completion_timestamp_seconds",
            "Completion time of the newest complete snapshot.",
            newest.completion if newest else None,
        )
        out.one(
            "oldest_snapshot_timestamp_seconds",
            "Creation time of the oldest complete snapshot.",
            oldest.creation if oldest else None,
        )
    last = state.get("last_create")
    if last is not None:
        out.one("last_create_timestamp_seconds",
                "When the last snapshot creation ended (successfully or not).", last["time"])
        out.one("last_create_success",
                "1 if the last snapshot creation succeeded, 0 if it failed.", last["success"])
        out.one("last_create_duration_seconds",
                "How long the last snapshot creation took.", last["duration"])
        out.one("last_create_exit_status",
                "Exit status of the transport (rsync) in the last snapshot creation.",
                last["exit_status"])
    out.one(
        "consecutive_create_failures",
        "Failed snapshot creations since the last successful one.",
        state["consecutive_failures"],
    )
    out.family(
        "last_event_timestamp_seconds",
        "When an event of each kind last happened.",
        [({"kind": kind}, epoch) for kind, epoch in sorted(state["last_event"].items())],
    )
    if space is not None:
        out.one("filesystem_size_bytes", "Size of the destination file system.",
                space.size_bytes)
        out.one("filesystem_avail_bytes",
                "Bytes available to unprivileged users on the destination file system.",
                space.avail_bytes)
        out.one("filesystem_avail_ratio",
                "Fraction of the destination file system available (0..1).",
                space.avail_ratio)
        out.one("filesystem_files_avail_ratio",
                "Fraction of the destination file system's inodes available (0..1).",
                space.files_avail_ratio)
        out.one("min_free_bytes", "Threshold min-free-mb in bytes (0: off).",
                thresholds.min_free_mb * MIB)
        out.one("min_free_ratio", "Threshold min-free-percent as a fraction (0: off).",
                thresholds.min_free_percent / 100)
        out.one("min_free_files_ratio",
                "Threshold min-free-percent-inodes as a fraction (0: off).",
                thresholds.min_free_percent_inodes / 100)
        out.one("disk_space_low",
                "1 if free space or inodes are below a threshold, else 0.",
                thresholds.low(space))
    out.one("textfile_timestamp_seconds", "When dssframe wrote this file.", now)
    return "\n".join(out.lines) + "\n"
