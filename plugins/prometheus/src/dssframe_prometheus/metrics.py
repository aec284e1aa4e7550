"""The metrics: what is remembered between runs, and the text exposition format
(pure, no I/O).

One textfile may hold the series of several jobs (every job of a config file writes
the same ``[plugins.prometheus] textfile`` unless a job names its own): each job's
series are computed as :class:`Family` values when an event of that job arrives
(:func:`families`), remembered in the state document beside the textfile, and the file
is rendered from the series of every job it holds (:func:`render`), each sample
labelled ``job`` and ``dest``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from dssframe.api import Event, EventKind, SnapshotName, State

#: The version of one job's state (an entry of the document's ``jobs``; version 1 was
#: the whole document of a textfile of one destination, read as its job's entry).
STATE_VERSION = 1
#: The version of the state document: ``{"version": 2, "jobs": {job: state}}``.
DOCUMENT_VERSION = 2
MIB = 1 << 20
#: The label every sample carries: the job's name (``default`` without ``[[job]]``).
JOB_LABEL = "job"


def fresh_state(dest: str) -> dict[str, Any]:
    """What is remembered between processes, for one job (one destination directory)."""
    return {
        "version": STATE_VERSION,
        "dest": dest,
        "consecutive_failures": 0,
        "last_create": None,  # {"time", "duration", "exit_status", "success"}
        "last_event": {},  # event kind -> epoch
        "stale": False,  # a snapshot-stale event since the last snapshot-created
        "families": [],  # the job's series as computed last (see Family.to_json)
    }


def usable_state(state: Any, dest: str) -> dict[str, Any]:
    """``state`` if it is a job's state of this version for ``dest``, else a fresh one
    (a state written before staleness or remembered series gets their defaults)."""
    if (
        isinstance(state, dict)
        and state.get("version") == STATE_VERSION
        and state.get("dest") == dest
        and isinstance(state.get("consecutive_failures"), int)
        and isinstance(state.get("last_event"), dict)
        and (state.get("last_create") is None or isinstance(state.get("last_create"), dict))
    ):
        return {"stale": False, **state, "families": _families_of(state.get("families"))}
    return fresh_state(dest)


def job_states(document: Any) -> dict[str, dict[str, Any]]:
    """The jobs' states of a state document, by job name (unusable entries left out).
    A version-1 document (one destination, no jobs) comes back under ``""``: the
    caller gives it to the job of that destination."""
    if isinstance(document, dict) and document.get("version") == STATE_VERSION:
        dest = document.get("dest")
        return {"": usable_state(document, dest)} if isinstance(dest, str) else {}
    if not isinstance(document, dict) or document.get("version") != DOCUMENT_VERSION:
        return {}
    jobs = document.get("jobs")
    if not isinstance(jobs, dict):
        return {}
    states = {}
    for job, state in jobs.items():
        dest = state.get("dest") if isinstance(state, dict) else None
        if isinstance(job, str) and job and isinstance(dest, str):
            states[job] = usable_state(state, dest)
    return states


def document(states: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The state document holding ``states`` (job name -> state)."""
    return {"version": DOCUMENT_VERSION, "jobs": {job: dict(states[job]) for job in states}}


def update(state: Mapping[str, Any], event: Event) -> dict[str, Any]:
    """The state after ``event``: creations reset the failure count, failures add one;
    ``snapshot-stale`` marks the job stale until the next ``snapshot-created``."""
    new = dict(state)
    new["last_event"] = {**state["last_event"], event.kind.value: event.time}
    if event.kind is EventKind.SNAPSHOT_STALE:
        new["stale"] = True
    elif event.kind is EventKind.SNAPSHOT_CREATED:
        new["stale"] = False
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


class Family(NamedTuple):
    """One metric of one job: its name (without ``dssframe_``), help text and samples
    (the labels beyond ``job`` and ``dest``, the value)."""

    name: str
    help: str
    samples: tuple[tuple[tuple[tuple[str, str], ...], float], ...]

    def to_json(self) -> list[Any]:
        return [self.name, self.help, [[dict(labels), value] for labels, value in self.samples]]


def _families_of(raw: Any) -> list[list[Any]]:
    """The remembered series of a state (JSON), the unreadable ones left out."""
    if not isinstance(raw, list):
        return []
    return [family for family in raw if _family(family) is not None]


def _family(raw: Any) -> Family | None:
    """A :class:`Family` from its JSON form, None when it is not one."""
    if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], str)
            and isinstance(raw[1], str) and isinstance(raw[2], list)):
        return None
    samples = []
    for sample in raw[2]:
        if not (isinstance(sample, list) and len(sample) == 2 and isinstance(sample[0], dict)
                and isinstance(sample[1], int | float)):
            return None
        labels = sample[0]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            return None
        samples.append((tuple(labels.items()), sample[1]))
    return Family(raw[0], raw[1], tuple(samples))


def escape(value: str) -> str:
    """A label value of the text format."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float | int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class _Families:
    """Collects one job's families in order; a metric without samples is left out."""

    def __init__(self) -> None:
        self.items: list[Family] = []

    def family(
        self, name: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], float]]
    ) -> None:
        rows = tuple((tuple(labels.items()), _value(value)) for labels, value in samples)
        if rows:  # nothing known yet: leave the metric out rather than invent a value
            self.items.append(Family(name, help_text, rows))

    def one(self, name: str, help_text: str, value: float | int | bool | None) -> None:
        self.family(name, help_text, [] if value is None else [({}, value)])


def _value(value: float | int | bool) -> float:
    """A sample's value as JSON keeps it: a bool as 0/1."""
    return int(value) if isinstance(value, bool) else value


def families(
    snapshots: Sequence[SnapshotName] | None,
    state: Mapping[str, Any],
    space: Space | None,
    thresholds: Thresholds,
    verify: Any = None,
) -> list[Family]:
    """One job's metrics, from its destination's snapshots, its remembered state and
    its file system; ``snapshots`` is None when the destination could not be read,
    ``space`` when statvfs failed: their metrics are left out then. ``verify`` is the
    summary of the last ``dss verify`` (``last-verify.json``), None when none ran."""
    out = _Families()
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
    out.one(
        "snapshot_stale",
        "1 after dss reported the job stale (no complete snapshot within stale-after) "
        "until its next snapshot was created, else 0.",
        bool(state.get("stale")),
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
    _verify_families(out, verify)
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
    return out.items


def _verify_families(out: _Families, verify: Any) -> None:
    """The last ``dss verify``'s findings (left out before the first one)."""
    if not isinstance(verify, dict):
        return
    counts: dict[str, int] = {}
    for key in ("time", "corrupt", "modified", "missing", "unreadable"):
        value = verify.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            return
        counts[key] = value
    out.one("verify_corrupt_files",
            "Files whose content no longer matched their stored hash in the last dss "
            "verify (hard links to one inode count once).", counts["corrupt"])
    out.one("verify_modified_files",
            "Stored files the last dss verify found modified (size, mtime or inode "
            "changed), missing or unreadable.",
            counts["modified"] + counts["missing"] + counts["unreadable"])
    out.one("last_verify_timestamp_seconds", "When the last dss verify ran.", counts["time"])


class JobSeries(NamedTuple):
    """What the textfile shows of one job: its name (the ``job`` label), destination
    (the ``dest`` label) and families."""

    job: str
    dest: str
    families: Sequence[Family]


def series_of(job: str, state: Mapping[str, Any]) -> JobSeries:
    """The series a job's remembered state holds (see :func:`usable_state`)."""
    found = [_family(raw) for raw in state.get("families", ())]
    return JobSeries(job, state["dest"], [f for f in found if f is not None])


def render(jobs: Sequence[JobSeries], now: int) -> str:
    """The textfile: every metric once, with its HELP and TYPE lines, then the samples
    of each job (in the order given), labelled ``job`` and ``dest``; last
    ``textfile_timestamp_seconds``, ``now``, for every job."""
    helps: dict[str, str] = {}
    rows: dict[str, list[str]] = {}
    for series in jobs:
        stamp = Family("textfile_timestamp_seconds", "When dssframe wrote this file.",
                       (((), now),))
        base = f'{JOB_LABEL}="{escape(series.job)}",dest="{escape(series.dest)}"'
        for family in (*series.families, stamp):
            helps.setdefault(family.name, family.help)
            lines = rows.setdefault(family.name, [])
            for labels, value in family.samples:
                extra = "".join(f',{key}="{escape(v)}"' for key, v in labels)
                lines.append(f"dssframe_{family.name}{{{base}{extra}}} {_number(value)}")
    out: list[str] = []
    for name, help_text in helps.items():
        full = f"dssframe_{name}"
        out += [f"# HELP {full} {help_text}", f"# TYPE {full} gauge", *rows[name]]
    return "\n".join(out) + "\n" if out else ""
