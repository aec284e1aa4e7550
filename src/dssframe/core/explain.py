"""Why a snapshot is kept or would be removed (pure): ``dss explain NAME``.

The verdict is the one ``dss prune`` would reach now: the policy's plan and the orphans,
through the removal gate (:mod:`dssframe.core.gate`) -- the caller hands in that
screened plan. Around it come the policy's own reasons, when it can give them:

- an :class:`~dssframe.core.retention.ExplainingPolicy` names the rules that keep each
  complete snapshot (gfs: ``daily #2``);
- an :class:`IntervalPolicy` (the builtin ``dyadic``) shows the snapshot's interval:
  its age range, how many snapshots it wants and holds, and the deficit carried into
  it from the older intervals;

and, whatever the policy, the gaps to the neighbouring complete snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from dssframe.core import gate
from dssframe.core.durations import humane
from dssframe.core.dyadic import IntervalRow
from dssframe.core.naming import SnapshotName
from dssframe.core.retention import Removal


@runtime_checkable
class IntervalPolicy(Protocol):
    """A retention policy whose buckets are age ranges with a wanted number of
    snapshots each (the builtin ``dyadic``). Optional, like the other capabilities:
    ``dss simulate`` tables the intervals and takes its default span from the
    horizon, ``dss explain`` shows the interval of a snapshot."""

    def interval_rows(self, snapshots: Sequence[SnapshotName], now: int) -> list[IntervalRow]:
        """Every interval the policy keeps snapshots in, youngest first, as it counts
        them at ``now`` (``snapshots``: oldest first, all states)."""
        ...

    def horizon(self) -> int | None:
        """The age (seconds) from which on a snapshot is outdated, or None."""
        ...


def removal_text(removal: Removal) -> str:
    """``redundant (interval 2): detail``, as ``dss prune`` prints a removal."""
    text = removal.reason.value
    if removal.interval is not None:
        text += f" (interval {removal.interval})"
    if removal.detail:
        text += f": {removal.detail}"
    return text


def describe_row(row: IntervalRow) -> str:
    """``interval 1 (age 4d to 8d): wants 8, holds 9, carried deficit 0 (may keep 8)``."""
    return (
        f"interval {row.interval} (age {humane(row.start)} to {humane(row.end)}): "
        f"wants {row.desired}, holds {row.held}, carried deficit {row.carried} "
        f"(may keep {row.allowed})"
    )


class Neighbour(NamedTuple):
    """The next complete snapshot on one side, and the time between the creations."""

    name: str
    gap: int


class Explanation(NamedTuple):
    """Everything ``dss explain`` says about one snapshot."""

    name: str
    state: str
    age: int
    duration: int | None
    policy: str
    rules: list[str] | None
    """The policy's rules that keep it (ExplainingPolicy), None when it has none."""
    interval: IntervalRow | None
    """Its interval (IntervalPolicy), None otherwise or when outdated."""
    intervals: bool
    """Whether the policy has intervals (IntervalPolicy)."""
    bucket: int | None
    """The policy's bucket (``interval()``), as ``dss ls`` shows it."""
    older: Neighbour | None
    newer: Neighbour | None
    verdict: str
    """``keep``, ``remove`` or ``gate-keeps`` (the plan removes it, the gate does not)."""
    reason: str | None
    """The removal's reason text (``outdated (interval 6)``), None when kept by plan."""
    why: str
    """One sentence: why it stays or goes."""
    pinned: bool
    newest: bool

    def lines(self) -> list[str]:
        """The few lines ``dss explain`` prints."""
        out = [f"{self.name}"]
        took = f", took {humane(self.duration)}" if self.duration is not None else ""
        out.append(f"  state: {self.state}, created {humane(self.age)} ago{took}")
        if self.state == "complete":
            out.extend(self._policy_lines())
        sides = []
        if self.older is not None:
            sides.append(f"{humane(self.older.gap)} after the older {self.older.name}")
        if self.newer is not None:
            sides.append(f"{humane(self.newer.gap)} before the newer {self.newer.name}")
        if sides:
            out.append("  gaps: " + "; ".join(sides))
        elif self.state == "complete":
            out.append("  gaps: the only complete snapshot")
        out.append(f"  verdict: {self.why}")
        return out

    def _policy_lines(self) -> list[str]:
        out = []
        if self.interval is not None:
            out.append(f"  {self.policy}: {describe_row(self.interval)}")
        elif self.intervals:
            where = f"interval {self.bucket}, " if self.bucket is not None else ""
            out.append(f"  {self.policy}: {where}older than every interval it keeps")
        elif self.bucket is not None:
            out.append(f"  {self.policy}: bucket {self.bucket}")
        if self.rules is None:
            if not self.intervals:
                out.append(f"  retention {self.policy!r} does not explain its choices")
        elif self.rules:
            out.append(f"  {self.policy} rules: {', '.join(self.rules)}")
        else:
            out.append(f"  {self.policy} rules: none keeps it")
        return out

    def to_json(self) -> dict[str, Any]:
        row = self.interval
        return {
            "name": self.name,
            "state": self.state,
            "age": self.age,
            "duration": self.duration,
            "policy": self.policy,
            "rules": self.rules,
            "bucket": self.bucket,
            "intervals": self.intervals,
            "interval": None
            if row is None
            else {**row._asdict(), "allowed": row.allowed, "excess": row.excess},
            "older": None if self.older is None else self.older._asdict(),
            "newer": None if self.newer is None else self.newer._asdict(),
            "verdict": self.verdict,
            "reason": self.reason,
            "why": self.why,
            "pinned": self.pinned,
            "newest": self.newest,
        }


def neighbours(
    snapshots: Sequence[SnapshotName], target: SnapshotName
) -> tuple[Neighbour | None, Neighbour | None]:
    """The complete snapshots created right before and right after ``target``."""
    older = newer = None
    for s in snapshots:
        if not s.complete or s.name == target.name:
            continue
        if s.creation <= target.creation:
            if older is None or s.creation >= older.creation:
                older = s
        elif newer is None or s.creation < newer.creation:
            newer = s
    return (
        None if older is None else Neighbour(older.name, target.creation - older.creation),
        None if newer is None else Neighbour(newer.name, newer.creation - target.creation),
    )


def explain(
    target: SnapshotName,
    snapshots: Sequence[SnapshotName],
    now: int,
    screened: gate.Screened,
    *,
    policy: str,
    rules: list[str] | None = None,
    rows: Sequence[IntervalRow] | None = None,
    bucket: int | None = None,
    pinned: frozenset[int] = frozenset(),
    keep_redundant: bool = False,
) -> Explanation:
    """Why ``target`` (one of ``snapshots``) stays or goes, given the screened plan
    ``dss prune`` would carry out now (``screened``: the policy's plan and the orphans
    through the removal gate), the policy's ``rules`` for it (ExplainingPolicy) and its
    interval ``rows`` (IntervalPolicy); ``keep_redundant`` as configured (the policy then
    plans no redundant removal)."""
    complete = [s for s in snapshots if s.complete]
    newest = bool(complete) and max(complete, key=lambda s: s.creation).name == target.name
    row = None
    if rows is not None and target.complete:
        age = now - target.creation
        row = next((r for r in rows if r.start <= age < r.end), None)
    allowed = next((r for r in screened.allowed if r.snapshot.name == target.name), None)
    refused = next((r for r in screened.refused if r.removal.snapshot.name == target.name), None)
    if allowed is not None:
        verdict, reason = "remove", removal_text(allowed)
        why = f"dss prune would remove it: {reason}"
    elif refused is not None:
        verdict, reason = "gate-keeps", removal_text(refused.removal)
        why = f"the plan removes it ({reason}), but the removal gate keeps it: {refused.why}"
    else:
        verdict, reason = "keep", None
        why = _kept_because(target, newest, target.creation in pinned, row, rules, keep_redundant)
    older, newer = neighbours(snapshots, target) if target.complete else (None, None)
    return Explanation(
        name=target.name,
        state=target.state.value,
        age=now - target.creation,
        duration=target.duration,
        policy=policy,
        rules=rules,
        interval=row,
        intervals=rows is not None,
        bucket=bucket,
        older=older,
        newer=newer,
        verdict=verdict,
        reason=reason,
        why=why,
        pinned=target.creation in pinned,
        newest=newest,
    )


def _kept_because(
    target: SnapshotName,
    newest: bool,
    pinned: bool,
    row: IntervalRow | None,
    rules: list[str] | None,
    keep_redundant: bool,
) -> str:
    if not target.complete:
        if target.incomplete:
            return "kept: the next create resumes it (or it is being created)"
        return "kept"
    if newest:
        return "kept: it is the newest complete snapshot (never removed)"
    if pinned:
        return "kept: it is pinned"
    if row is not None:
        if row.excess and keep_redundant:
            return (
                f"kept: interval {row.interval} holds {row.excess} more than it may keep, "
                "but keep-redundant is on (removed only when disk space runs low)"
            )
        if row.excess:
            return (
                f"kept: interval {row.interval} holds {row.excess} more than it may keep, "
                "but others go first (the smallest gaps, or protected ones are spared)"
            )
        return f"kept: interval {row.interval} holds no more than it may keep"
    if rules:
        return f"kept: the policy's rules keep it ({', '.join(rules)})"
    return "kept: the plan does not remove it"
