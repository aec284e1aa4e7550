"""Builtin retention ``dyadic``: the original dss thinning (see :mod:`dssframe.core.dyadic`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dssframe import hookimpl
from dssframe.core import dyadic
from dssframe.core.config import Config
from dssframe.core.naming import SnapshotName
from dssframe.core.retention import Removal, dss_spacing, evenly_spaced


class DyadicRetention:
    name = "dyadic"

    def __init__(self, config: Config) -> None:
        self.unit = config.unit_interval
        self.num_intervals = config.num_intervals
        self.keep_redundant = config.keep_redundant

    def interval(self, snapshot: SnapshotName, now: int) -> int | None:
        return dyadic.interval_of(snapshot.creation, now, self.unit)

    def plan(
        self, snapshots: Sequence[SnapshotName], now: int, protected: frozenset[int]
    ) -> list[Removal]:
        return dyadic.plan(
            snapshots, now, self.unit, self.num_intervals, protected, self.keep_redundant
        )

    def next_due(self, snapshots: Sequence[SnapshotName], now: int, average_duration: int) -> int:
        """The original dss's schedule: the newest completion + ``u / 2**(n-1)`` minus
        the average creation duration (now when creating takes longer than that)."""
        spacing = dss_spacing(self.unit, self.num_intervals)
        return evenly_spaced(snapshots, now, spacing, average_duration)

    def next_change(self, snapshots: Sequence[SnapshotName], now: int) -> int | None:
        """When a snapshot next moves into another interval."""
        return dyadic.next_change(snapshots, now, self.unit, self.num_intervals)

    def interval_rows(
        self, snapshots: Sequence[SnapshotName], now: int
    ) -> list[dyadic.IntervalRow]:
        """Each interval's age range, desired and held counts and carried deficit
        (:class:`dssframe.core.explain.IntervalPolicy`: ``dss simulate``, ``dss explain``)."""
        return dyadic.interval_rows(snapshots, now, self.unit, self.num_intervals)

    def horizon(self) -> int:
        """Snapshots ``num-intervals`` unit intervals old are outdated."""
        return self.unit * self.num_intervals


@hookimpl
def dssframe_register_retention(register: Callable[[str, Any], None]) -> None:
    register("dyadic", DyadicRetention)
