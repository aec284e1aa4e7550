"""dssframe plugin ``prometheus``: metrics for node_exporter's textfile collector.

After every event the file named by ``[plugins.prometheus] textfile`` is rewritten
atomically (temporary file in the same directory, fsync, rename) with the state of the
destination: snapshots per state, the newest snapshot's time, the last creation's
duration and exit status, consecutive failures and free space against dss's
thresholds. What must outlive the process (failure count, last creation) is kept in a
small JSON file next to the textfile. See README.md.
"""

from __future__ import annotations

import os
import time
from typing import Any, NamedTuple

from dssframe import hookimpl
from dssframe.api import (
    Config,
    ConfigError,
    Event,
    PluginSettings,
    Setting,
    SnapshotName,
    get_logger,
    list_snapshots,
    validate_section,
    write_atomically,
)

from .metrics import Space, Thresholds, render, update, usable_state

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


class Target(NamedTuple):
    """Where the metrics of one configuration go."""

    textfile: str
    dest: str | None
    thresholds: Thresholds

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
    return Target(textfile, dest, thresholds)


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


def scan(dest: str, now: int) -> list[SnapshotName] | None:
    try:
        return list_snapshots(dest, now)
    except OSError as exc:
        log.warning("cannot read %s: %s", dest, exc.strerror)
        return None


def record(target: Target, event: Event) -> None:
    """Fold ``event`` into the remembered state and rewrite the textfile."""
    dest = event.destination or target.dest
    if not dest:
        return
    now = int(time.time())
    state = update(usable_state(load_state(target.state_file), dest), event)
    text = render(dest, scan(dest, now), state, measure(dest), target.thresholds, now)
    import json

    # dss's atomic writer (temporary dot file beside it, fsync, rename, fsync of the
    # directory); 0644, not a temporary file's 0600, so that node_exporter can read it.
    state_text = json.dumps(state, indent=1, sort_keys=True) + "\n"
    write_atomically(target.state_file, state_text, mode=0o644, make_parents=False)
    write_atomically(target.textfile, text, mode=0o644, make_parents=False)


_target: Target | None = None


def configure(config: Config) -> Target | None:
    global _target
    _target = target_of(config)
    return _target


@hookimpl
def dssframe_configure(config: Config) -> None:
    configure(config)


@hookimpl
def dssframe_event(event: Event) -> None:
    target = _target
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
