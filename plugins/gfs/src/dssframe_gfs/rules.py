"""Which snapshots the grandfather-father-son rules keep (pure, no I/O).

The semantics are those of ``borg prune`` (its ``prune_split``), applied rule after rule
in the order of :data:`RULES`:

* a rule walks the complete snapshots from newest to oldest and keeps the newest
  snapshot of each calendar period (local time) it meets, until it has kept ``count``
  snapshots; periods without a snapshot do not count;
* a period whose newest snapshot was already kept by an earlier rule is *used up*
  (the rule moves on to the next period and keeps nothing older from that one) but
  does not count towards this rule's ``count``: later rules keep *additional*
  snapshots;
* when a rule runs out of snapshots before reaching ``count``, it also keeps the
  oldest snapshot (if nothing kept it yet), so the first snapshot can age into the
  longer periods (borg >= 1.2);
* a negative count means no limit.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Hashable, Iterable, Mapping
from typing import NamedTuple

from dssframe.api import SnapshotName

#: The rules, in the order they are applied (borg's order: shortest period first).
RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


def period(rule: str, epoch: int) -> Hashable:
    """The calendar period of ``rule`` that contains ``epoch``, in local time.

    ``last`` is the second itself (every snapshot is its own period, as with borg's
    ``--keep-last``, which is ``--keep-secondly``); ``weekly`` is the ISO 8601 week
    (Monday to Sunday, numbered within its ISO year, so 31 Dec can be in week 1 of the
    next year and 1 Jan in week 52 or 53 of the previous one).
    """
    if rule == "last":
        return epoch
    t = time.localtime(epoch)
    if rule == "hourly":
        return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour)
    if rule == "daily":
        return (t.tm_year, t.tm_mon, t.tm_mday)
    if rule == "weekly":
        iso = datetime.date(t.tm_year, t.tm_mon, t.tm_mday).isocalendar()
        return (iso.year, iso.week)
    if rule == "monthly":
        return (t.tm_year, t.tm_mon)
    if rule == "yearly":
        return t.tm_year
    raise ValueError(f"unknown rule {rule!r}")


#: The calendar rules from the shortest period to the longest: the finest one in use
#: sets the schedule (``last`` has no period, so it sets none).
CALENDAR_RULES = RULES[1:]


def next_start(rule: str, epoch: int) -> int:
    """The first second after ``epoch`` that lies in a later calendar period of
    ``rule`` than ``epoch`` does (local time): the next full hour, the next midnight,
    the next Monday's, the 1st of the next month or 1 January's midnight.

    Daylight saving time is the calendar's business: after the repeated hour the next
    hourly period starts two hours later, and a period whose first local time does not
    exist starts at its first second that does.
    """
    if rule not in CALENDAR_RULES:
        raise ValueError(f"rule {rule!r} has no calendar period")
    t = time.localtime(epoch)
    year, month, day, hour = t.tm_year, t.tm_mon, t.tm_mday, 0
    if rule == "hourly":
        hour = t.tm_hour + 1
    elif rule == "daily":
        day += 1
    elif rule == "weekly":
        day += 7 - t.tm_wday  # tm_wday: Monday is 0, as in ISO weeks
    elif rule == "monthly":
        year, month, day = year + month // 12, month % 12 + 1, 1
    else:
        year, month, day = year + 1, 1, 1
    # mktime normalises an hour 24 or a day past the month's end; isdst -1: as it falls
    start = int(time.mktime((year, month, day, hour, 0, 0, 0, 0, -1)))
    current = period(rule, epoch)
    for _ in range(48):  # a non-existent local midnight resolves to an hour before it
        if start > epoch and period(rule, start) != current:
            break
        start += 3600
    return start


class Kept(NamedTuple):
    """Why a snapshot is kept: the ``number``-th snapshot ``rule`` kept; ``oldest``
    when it was kept only because the rule ran out of snapshots."""

    rule: str
    number: int
    oldest: bool = False

    def __str__(self) -> str:
        return f"{self.rule} #{self.number}" + (" (oldest)" if self.oldest else "")


def newest_first(snapshots: Iterable[SnapshotName]) -> list[SnapshotName]:
    """The complete snapshots, newest first."""
    complete = [s for s in snapshots if s.complete]
    complete.sort(key=lambda s: (s.creation, s.name), reverse=True)
    return complete


def select(snapshots: Iterable[SnapshotName], counts: Mapping[str, int]) -> dict[str, Kept]:
    """Every kept complete snapshot (by name) with the rule that keeps it.

    ``counts`` maps rule names of :data:`RULES` to how many periods each keeps (0 or
    missing: the rule is off; negative: no limit). Other states than complete are
    ignored: they are not the rules' business.
    """
    ordered = newest_first(snapshots)
    kept: dict[str, Kept] = {}
    for rule in RULES:
        count = counts.get(rule, 0)
        if count == 0 or not ordered:
            continue
        number = 0
        last: Hashable = None
        for snapshot in ordered:
            current = period(rule, snapshot.creation)
            if current == last:
                continue
            last = current
            if snapshot.name in kept:
                continue  # the period is used up, but it does not count for this rule
            number += 1
            kept[snapshot.name] = Kept(rule, number)
            if number == count:
                break
        oldest = ordered[-1]
        if count > 0 and number < count and oldest.name not in kept:
            # ran out of snapshots: keep the first one, so it can age into this rule
            kept[oldest.name] = Kept(rule, number + 1, oldest=True)
    return kept
