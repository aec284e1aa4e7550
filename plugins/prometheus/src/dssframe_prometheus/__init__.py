"""dssframe plugin ``prometheus``: metrics for node_exporter's textfile collector.

After every event the file named by ``[plugins.prometheus] textfile`` is rewritten
atomically (temporary file in the same directory, fsync, rename) with the state of the
destination: snapshots per state, the newest snapshot's time, the last creation's
duration and exit status, consecutive failures, staleness and free space against dss's
thresholds. What must outlive the process (failure count, last creation, staleness,
each job's series) is kept in a small JSON file next to the textfile. See README.md.

Several jobs: ``dssframe_configure`` is called once per job of a ``dss run``; the
target is kept per ``config.name`` and an event updates the series of ``event.job``
(:func:`target_for`). Jobs that share a textfile share its state file, which holds
every job's series: each write renders them all, labelled ``job`` and ``dest``, so the
file never loses the jobs that did not write last (nor those of another ``dss``
process, such as ``dss create --job NAME``).
"""

from __future__ import annotations

import _thread
import os
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from dssframe import hookimpl
from dssframe.api import (
    Config,
    ConfigError,
    Event,
    JobTable,
    PluginSettings,
    Setting,
    SnapshotName,
    get_logger,
    list_snapshots,
    validate_section,
    write_atomically,
)

from .metrics import (
    Space,
    Thresholds,
    document,
    families,
    job_states,
    render,
    series_of,
    update,
    usable_state,
)

__version__ = "0.1.0"

SECTION = "prometheus"
log = get_logger("dssframe.prometheus")  # imports logging only when it logs

SETTINGS = PluginSettings(
    section=SECTION,
    settings=[
        Setting("textfile", "str", "",
                "metrics file for node_exporter's textfile collector, ending in .prom "
                "(empty: off)"),
    ],
)


#: The ``job`` label of a configuration without ``[[job]]`` tables (dss's job_label).
DEFAULT_JOB = "default"


class Target(NamedTuple):
    """Where the metrics of one configuration (one job) go."""

    textfile: str
    dest: str | None
    thresholds: Thresholds
    job: str = DEFAULT_JOB
    """The ``job`` label: the job's name, :data:`DEFAULT_JOB` for a config without jobs."""

    @property
    def state_file(self) -> str:
        """Hidden, and not ``*.prom``: node_exporter ignores it."""
        directory, base = os.path.split(self.textfile)
        return os.path.join(directory, f".{base}.state.json")


def target_of(config: Config) -> Target | None:
    """The validated ``[plugins.prometheus]`` table of ``config``; None when off."""
    values = validate_section(SETTINGS, config.plugins.get(SECTION))
    textfile = values["textfile"]
    if not textfile:
        return None
    textfile = os.path.abspath(os.path.expanduser(textfile))
    directory = os.path.dirname(textfile)
    if not os.path.isdir(directory):
        raise ConfigError(
            f"[plugins.{SECTION}] textfile: directory {directory} does not exist"
        )
    if not textfile.endswith(".prom"):
        log.warning("%s: node_exporter reads only files ending in .prom", textfile)
    dest = os.path.abspath(config.dest_dir) if config.dest_dir else None
    thresholds = Thresholds(
        config.min_free_mb, config.min_free_percent, config.min_free_percent_inodes
    )
    return Target(textfile, dest, thresholds, config.name or DEFAULT_JOB)


def load_state(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            import json

            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable, starting afresh: %s", path, exc)
        return None


def measure(path: str) -> Space | None:
    try:
        st = os.statvfs(path)
    except OSError as exc:
        log.warning("cannot statvfs %s: %s", path, exc.strerror)
        return None
    block = st.f_frsize or st.f_bsize
    return Space(st.f_blocks * block, st.f_bavail * block, st.f_files, st.f_favail)


#: What the last ``dss verify`` of a destination found, relative to it (dss writes it
#: before it sends the ``corruption-found`` events).
VERIFY_SUMMARY = os.path.join(".dssframe", "hashes", "last-verify.json")


def last_verify(dest: str) -> Any:
    """The summary of the last ``dss verify`` of ``dest``; None when there was none."""
    return load_state(os.path.join(dest, VERIFY_SUMMARY))


def scan(dest: str, now: int) -> list[SnapshotName] | None:
    try:
        return list_snapshots(dest, now)
    except OSError as exc:
        log.warning("cannot read %s: %s", dest, exc.strerror)
        return None


def record(target: Target, event: Event) -> None:
    """Fold ``event`` into its job's remembered state, compute the job's series and
    rewrite the textfile with the series of every job it holds."""
    dest = event.destination or target.dest
    if not dest:
        return
    now = int(time.time())
    with _lock:  # one read-modify-write of the state file at a time in this process
        directory = _lock_directory(os.path.dirname(target.textfile))  # and across them
        try:
            states = job_states(load_state(target.state_file))
            old = states.pop("", None)  # a version-1 file: its destination's job's state
            if old is not None:
                owner = target.job if old["dest"] == dest else _job_of_dest(old["dest"], target)
                if owner is not None and owner not in states:
                    states[owner] = old
            state = update(usable_state(states.get(target.job), dest), event)
            found = families(scan(dest, now), state, measure(dest), target.thresholds,
                             last_verify(dest))
            state["families"] = [family.to_json() for family in found]
            states[target.job] = state
            for job in _moved_away(target.textfile, states):
                del states[job]
            jobs = sorted(states)
            text = render([series_of(job, states[job]) for job in jobs], now)
            import json

            # dss's atomic writer (temporary dot file beside it, fsync, rename, fsync of
            # the directory); 0644, not a temporary file's 0600, so that node_exporter
            # can read it.
            state_text = json.dumps(document(states), indent=1, sort_keys=True) + "\n"
            write_atomically(target.state_file, state_text, mode=0o644, make_parents=False)
            write_atomically(target.textfile, text, mode=0o644, make_parents=False)
        finally:
            if directory is not None:
                os.close(directory)  # releases the flock


def _lock_directory(directory: str) -> int | None:
    """An open descriptor of ``directory`` holding an exclusive ``flock``: another dss
    process writing a textfile there waits (None when it cannot be locked: the write
    goes ahead regardless)."""
    import fcntl

    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        os.close(fd)
        return None
    return fd


def _moved_away(textfile: str, states: Mapping[str, Any]) -> list[str]:
    """The jobs of ``states`` that this process configured with another textfile (or
    with none): their series leave this file."""
    return [
        name or DEFAULT_JOB
        for name, target in _jobs.by_name.items()
        if (name or DEFAULT_JOB) in states and (target is None or target.textfile != textfile)
    ]


def _job_of_dest(dest: str, writer: Target) -> str | None:
    """The ``job`` label of the job configured with destination ``dest`` and the
    ``writer``'s textfile; None when there is none."""
    for target in _jobs.by_name.values():
        if target is not None and target.dest == dest and target.textfile == writer.textfile:
            return target.job
    return None


#: What dssframe_configure gave, per job (None: off for that job; none yet: nothing
#: is written).
_jobs: JobTable[Target | None] = JobTable()
#: Held while a textfile and its state are rewritten (``_thread``: no threading import).
_lock = _thread.allocate_lock()


def configure(config: Config) -> Target | None:
    """Validate ``config``'s ``[plugins.prometheus]`` table and keep its target as the
    one of its job (``config.name``), replacing an earlier one of that name."""
    target = target_of(config)
    _jobs.keep(config.name, target)
    return target


def forget_jobs() -> None:
    """Forget every configured job (tests; a new process in all but name)."""
    _jobs.clear()


def target_for(job: str) -> Target | None:
    """The target of ``job``; for ``""`` (an event that names no job) the one
    configured last; None for a job that is off or never configured (its events write
    nothing rather than another job's series)."""
    found = _jobs.lookup(job)
    return found[1] if found else None


@hookimpl
def dssframe_configure(config: Config) -> None:
    configure(config)


@hookimpl
def dssframe_event(event: Event) -> None:
    target = target_for(event.job)  # the event's job, whatever was configured since
    if target is None or event.dry_run:
        return
    try:
        record(target, event)
    except OSError as exc:
        log.error("cannot write %s: %s", target.textfile, exc.strerror or exc)


# optionalhook: a dssframe without the settings hook (before 0.2) still loads this
# plugin; configure() validates the table itself either way.
@hookimpl(optionalhook=True)
def dssframe_plugin_settings() -> PluginSettings:
    return SETTINGS
