"""dssframe plugin ``gfs``: grandfather-father-son retention with the calendar
semantics of ``borg prune`` (see :mod:`dssframe_gfs.rules`).

Select it with ``retention = "gfs"`` and configure it under ``[plugins.gfs]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dssframe import hookimpl
from dssframe.api import (
    Config,
    ConfigError,
    PluginSettings,
    Reason,
    Removal,
    Setting,
    SnapshotName,
    validate_section,
)

from .rules import CALENDAR_RULES, RULES, next_start, select

__version__ = "0.1.0"

SECTION = "gfs"
#: The retention name users select with ``retention = "gfs"``.
NAME = "gfs"
NOT_KEPT = "not kept by any rule"

_HELP = {
    "last": "keep this many most recent snapshots",
    "hourly": "keep the newest snapshot of this many hours",
    "daily": "keep the newest snapshot of this many days",
    "weekly": "keep the newest snapshot of this many ISO weeks (Monday to Sunday)",
    "monthly": "keep the newest snapshot of this many months",
    "yearly": "keep the newest snapshot of this many years",
}

SETTINGS = PluginSettings(
    section=SECTION,
    settings=[
        Setting(f"keep-{rule}", "int", 0, _HELP[rule] + " (0: off, negative: no limit)")
        for rule in RULES
    ],
)


def counts_from(raw: Mapping[str, Any] | None) -> dict[str, int]:
    """The rule counts of a ``[plugins.gfs]`` table (validated, defaults filled in).

    Raises :class:`ConfigError` for unknown keys, wrong types, and a table where every
    rule is off: that policy would remove every snapshot.
    """
    values = validate_section(SETTINGS, raw)
    counts = {rule: int(values[f"keep-{rule}"]) for rule in RULES}
    if not any(counts.values()):
        keys = ", ".join(f"keep-{rule}" for rule in RULES)
        raise ConfigError(
            f"[plugins.{SECTION}]: every rule is 0, so retention \"gfs\" would remove "
            f"every snapshot; set at least one of {keys}"
        )
    return counts


class GfsRetention:
    """Keep the newest snapshot of the last N hours/days/weeks/months/years."""

    name = NAME

    def __init__(self, config: Config) -> None:
        self.counts = counts_from(config.plugins.get(SECTION))
        # like the builtin dyadic policy: with keep-redundant the run loop removes
        # these only when disk space runs low
        self.keep_redundant = config.keep_redundant

    def interval(self, snapshot: SnapshotName, now: int) -> int | None:
        return None  # calendar periods overlap: there is no single bucket to show

    def plan(
        self, snapshots: Sequence[SnapshotName], now: int, protected: frozenset[int]
    ) -> list[Removal]:
        """Every complete, unprotected snapshot no rule keeps, oldest first."""
        if self.keep_redundant:
            return []
        kept = select(snapshots, self.counts)
        return [
            Removal(s, Reason.REDUNDANT, None, NOT_KEPT)
            for s in snapshots
            if s.complete and s.creation not in protected and s.name not in kept
        ]

    @property
    def finest_rule(self) -> str | None:
        """The shortest calendar rule in use (``keep-last`` has no period), or None."""
        return next((rule for rule in CALENDAR_RULES if self.counts[rule]), None)

    def next_due(
        self, snapshots: Sequence[SnapshotName], now: int, average_duration: int
    ) -> int | None:
        """The run loop's schedule: a snapshot for each period of the finest calendar
        rule in use, taken as the period starts. Due at the start of the period after
        the one the newest complete snapshot was created in (``keep-hourly``: the next
        full hour; ``keep-daily``: the next midnight, local time), at once after
        downtime. None with ``keep-last`` alone: the host's default schedule then."""
        rule = self.finest_rule
        complete = [s for s in snapshots if s.complete]
        if rule is None or not complete:
            return None
        return next_start(rule, max(s.creation for s in complete))

    def next_change(self, snapshots: Sequence[SnapshotName], now: int) -> int | None:
        """None: the rules look at creation times only, so the plan changes only when a
        snapshot comes or goes, never with the clock alone."""
        return None

    def explain(self, snapshots: Sequence[SnapshotName], now: int) -> dict[str, list[str]]:
        """Every complete snapshot's name with the rules that keep it, like
        ``["daily #2"]`` (borg semantics: one rule per kept snapshot), or ``[]``."""
        kept = select(snapshots, self.counts)
        return {
            s.name: [str(kept[s.name])] if s.name in kept else []
            for s in snapshots
            if s.complete
        }


@hookimpl
def dssframe_register_retention(register: Callable[[str, Any], None]) -> None:
    register(NAME, GfsRetention)


# optionalhook: a dssframe without the settings hook (before 0.2) still loads this
# plugin; the policy validates its table itself either way.
@hookimpl(optionalhook=True)
def dssframe_plugin_settings() -> PluginSettings:
    return SETTINGS
