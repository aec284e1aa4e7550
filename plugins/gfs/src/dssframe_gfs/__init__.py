"""dssframe plugin ``gfs``: grandfather-father-son retention with the calendar
semantics of ``borg prune`` (see :mod:`dssframe_gfs.rules`).

Select it with ``retention = "gfs"`` and configure it under ``[plugins.gfs]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dssframe import hookimpl
from dssframe.core.config import Config
from dssframe.core.errors import ConfigError
from dssframe.core.naming import SnapshotName
from dssframe.core.retention import Reason, Removal
from dssframe.core.settings import PluginSettings, Setting, validate_section

from .rules import RULES, select

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
