"""The status of each job of a fleet, read from the world: its destination's snapshots
and their metadata documents, its run loop's state file and lock
(:mod:`dssframe.store.control`), the free space (:mod:`dssframe.store.diskspace`) and
its log file. What ``dss status`` prints and ``dss serve`` shows; the computations
are pure, in :mod:`dssframe.core.health`.

One job's entry (:func:`job_status`) holds everything ``dss status --json`` showed
before fleets (the state file's fields as :func:`dssframe.store.control.status` gives
them: ``running``, ``pid``, ``dest_dir``, ``activity``, ``next_snapshot``,
``last_result``, ... and ``disk``), and:

================ ====================================================================
name             the job's name (``default`` for a config without jobs)
source           the source as the user spells it (``/data/``, ``user@host:/data/``)
destination      the destination directory (absolute)
running_pid      pid of the run loop holding the destination, null when none does
state            ``stopped``, ``failing``, ``creating``, ``removing``, ``stale`` or
                 ``idle`` (:func:`dssframe.core.health.job_state`)
last_snapshot    the newest complete snapshot: ``name``, ``creation``, ``completion``,
                 ``age`` (seconds since its completion); null when none
snapshots        counts: ``complete``, ``incomplete``, ``being_deleted``
last_failure     ``time``, ``message``, ``snapshot``, ``exit_status`` of the run
                 loop's last result when it failed, else null
next_due         epoch the next snapshot is due: the run loop's decision while one
                 runs, else computed with the retention policy's schedule
next_due_from    ``run-loop`` or ``schedule``
period           seconds between two snapshots on the schedule
stale            no complete snapshot completed within ``stale_after`` seconds
stale_after      ``stale-after``, or twice ``period``
fill_forecast    :func:`dssframe.core.health.fill_forecast`
dest_error       why the destination could not be read, else null
================ ====================================================================
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dssframe.core import health
from dssframe.core.config import job_label
from dssframe.core.errors import DssError
from dssframe.store import control, diskspace
from dssframe.store import metadata as documents

if TYPE_CHECKING:
    from dssframe.core.config import Config
    from dssframe.core.naming import SnapshotName
    from dssframe.core.retention import RetentionPolicy
    from dssframe.plugins.host import PluginHost

#: Lines of the log file :func:`log_tail` returns by default.
LOG_LINES = 30
#: At most this many bytes are read from the end of the log file.
LOG_BYTES = 64 * 1024


def _scan(dest_dir: str, now: int) -> tuple[list[SnapshotName], str | None]:
    """The destination's snapshots, oldest first, and why they could not be listed."""
    from dssframe.store.destination import Destination

    try:
        return Destination(os.path.abspath(dest_dir)).scan(now), None
    except OSError as exc:
        return [], f"cannot list {dest_dir}: {exc.strerror or exc}"


def _samples(dest_dir: str, snapshots: Sequence[SnapshotName]) -> list[health.Sample]:
    """The fill forecast's samples: each complete snapshot whose metadata records the
    bytes its copy wrote (``stats.transferred_size``)."""
    complete = [s for s in snapshots if s.complete and s.completion is not None]
    loaded = documents.load_many(dest_dir, [s.creation for s in complete])
    samples = []
    for snapshot in complete:
        doc = loaded[snapshot.creation].metadata
        added = doc.stats.get("transferred_size") if doc is not None else None
        if doc is None or added is None or snapshot.completion is None:
            continue
        samples.append(
            health.Sample(snapshot.creation, snapshot.completion, added, doc.reference is not None)
        )
    return samples


def _disk(config: Config, dest_dir: str) -> tuple[dict[str, Any], diskspace.DiskSpace | None]:
    """The ``disk`` record of the destination (null values and ``error`` when it
    cannot be read) and the space itself."""
    limits = diskspace.Thresholds.from_config(config)
    try:
        space = diskspace.measure(dest_dir)
    except OSError as exc:
        return diskspace.record(None, limits, error=str(exc.strerror or exc)), None
    return diskspace.record(space, limits), space


def _forecast(
    config: Config,
    dest_dir: str,
    snapshots: Sequence[SnapshotName],
    space: diskspace.DiskSpace | None,
    now: int,
) -> dict[str, Any]:
    free = None if space is None else space.free_mb * diskspace.MIB
    low = health.low_bytes(
        None if space is None else space.total_mb, config.min_free_mb, config.min_free_percent
    )
    return health.fill_forecast(_samples(dest_dir, snapshots), free, low, now)


def fill_forecast(config: Config, now: int) -> dict[str, Any]:
    """Days until ``config``'s destination is full (:func:`dssframe.core.health.fill_forecast`:
    linear on the ``stats.transferred_size`` of the last 30 days' snapshots, against
    the free space now)."""
    dest_dir = config.require("dest-dir")
    snapshots, _ = _scan(dest_dir, now)
    return _forecast(config, dest_dir, snapshots, _disk(config, dest_dir)[1], now)


def timeline(config: Config, now: int) -> list[dict[str, Any]]:
    """Every snapshot of ``config``'s destination, oldest first: name, creation,
    completion, state, age (seconds since creation), duration, and the bytes its copy
    wrote when its metadata says (:func:`dssframe.core.health.timeline_rows`)."""
    dest_dir = config.require("dest-dir")
    snapshots, _ = _scan(dest_dir, now)
    added = {s.creation: s.added for s in _samples(dest_dir, snapshots)}
    return health.timeline_rows(snapshots, now, added)


def policy_for(config: Config, host: PluginHost) -> RetentionPolicy | None:
    """The job's retention policy as the run loop builds it, None when it cannot be
    made (the schedule falls back to the original dss's spacing)."""
    try:
        return host.retention(config._replace(keep_redundant=False))
    except DssError:
        return None


def _source(config: Config, host: PluginHost) -> str | None:
    if not config.source_dir:
        return None
    try:
        return host.transport(config).source_display()
    except (DssError, ValueError, AttributeError):
        return config.source_dir


def job_status(config: Config, host: PluginHost, now: int) -> dict[str, Any]:
    """One job's entry of ``dss status --json`` (see the module docstring)."""
    from dssframe.core import schedule

    dest_dir = config.require("dest-dir")
    info = control.status(dest_dir)
    disk, space = _disk(config, dest_dir)
    info["disk"] = disk
    snapshots, problem = _scan(dest_dir, now)
    policy = policy_for(config, host)
    period = health.snapshot_period(policy, config.unit_interval, config.num_intervals, now)
    limit = health.stale_limit(config.stale_after, period)
    stale = health.is_stale(snapshots, now, limit)
    running = bool(info["running"])
    pid = info.get("pid")
    newest = health.last_complete(snapshots)
    if running and isinstance(info.get("next_snapshot"), int):
        next_due, due_from = info["next_snapshot"], "run-loop"
    else:
        settings = schedule.Settings.from_config(config)
        next_due = schedule.next_snapshot_time(now, snapshots, settings, policy)
        due_from = "schedule"
    name = job_label(config)
    info.update(
        {
            "name": name,
            "job": name,
            "source": _source(config, host),
            "destination": os.path.abspath(dest_dir),
            "running_pid": pid if running and isinstance(pid, int) and pid > 0 else None,
            "state": health.job_state(running, info, stale, _paused(info, now)),
            "last_snapshot": None
            if newest is None or newest.completion is None
            else {
                "name": newest.name,
                "creation": newest.creation,
                "completion": newest.completion,
                "age": now - newest.completion,
            },
            "snapshots": health.counts(snapshots),
            "last_failure": health.last_failure(info),
            "next_due": next_due,
            "next_due_from": due_from,
            "period": period,
            "stale": stale,
            "stale_after": limit,
            "fill_forecast": _forecast(config, dest_dir, snapshots, space, now),
            "dest_error": problem,
        }
    )
    return info


def logfile(config: Config) -> str:
    """The job's log file: ``logfile``, else the default one of ``dss run --daemon``:
    one per destination for a config without jobs, one per config file for a fleet
    (:func:`dssframe.engine.fleet.default_logfile`)."""
    from dssframe.engine import daemon, fleet

    if config.logfile:
        return config.logfile
    if config.name:
        return fleet.default_logfile(config.path or "config")
    return daemon.default_logfile(config.require("dest-dir"))


def log_tail(config: Config, lines: int = LOG_LINES) -> dict[str, Any]:
    """The last ``lines`` lines of the job's log file (:func:`logfile`; at most
    :data:`LOG_BYTES` read; in a fleet's shared log only the lines naming the job,
    ``[name] ...``): ``path``, ``exists``, ``lines`` and a ``note`` when there is no
    file (``dss run`` in the foreground, under systemd, logs to the journal)."""
    path = logfile(config)
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - LOG_BYTES))
            data = handle.read(LOG_BYTES)
    except FileNotFoundError:
        return {
            "path": path,
            "exists": False,
            "lines": [],
            "note": f"no log file {path}: under systemd the log is in the journal "
            "(journalctl -u dss)",
        }
    except OSError as exc:
        return {"path": path, "exists": True, "lines": [], "note": f"cannot read {path}: {exc}"}
    text = data.decode("utf-8", errors="replace").splitlines()
    if size > LOG_BYTES and text:
        text = text[1:]  # the first line was cut
    if config.name:
        text = [line for line in text if f"[{config.name}] " in line]
    return {"path": path, "exists": True, "lines": text[-lines:], "note": None}


def fleet_status(
    configs: Sequence[Config], host: PluginHost, now: int, *, detail: bool = False
) -> dict[str, Any]:
    """``{"jobs": [...], "generated": now}``: :func:`job_status` of each job, in config
    order; with ``detail`` (``dss serve``) each entry also holds its ``timeline``
    (:func:`timeline`) and ``log`` (:func:`log_tail`), and not the effective
    configuration the state file holds (the page may be read by others than the user
    whose state file it is)."""
    jobs = []
    for config in configs:
        entry = job_status(config, host, now)
        if detail:
            entry.pop("config", None)
            entry["timeline"] = timeline(config, now)
            entry["log"] = log_tail(config)
        jobs.append(entry)
    return {"jobs": jobs, "generated": now}


def _paused(info: dict[str, Any], now: int) -> bool:
    """Whether the state file says a fleet paused the job, and that fleet still runs."""
    until, pid = info.get("paused_until"), info.get("pid")
    if not isinstance(until, int) or until <= now or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
