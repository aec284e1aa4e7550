"""``dss simulate`` (what the configured retention does over simulated time, with no
file touched; :mod:`dssframe.core.simulate`, :mod:`dssframe.core.svgplot`) and ``dss
explain NAME`` (why a snapshot is kept or would be removed; :mod:`dssframe.core.explain`).

A builtin plugin: :func:`dssframe_cli_commands` adds them to the app. Only typer is
imported at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from dssframe import hookimpl
from dssframe.cli.context import get_state

if TYPE_CHECKING:
    from dssframe.core.naming import SnapshotName
    from dssframe.core.retention import RetentionPolicy
    from dssframe.core.simulate import Result

DAY = 86400


def _duration(option: str, value: str) -> int:
    """Seconds of a duration option; a unit is required (a plain number means days in
    the config file, which ``--duration 90`` should never mean by surprise)."""
    from dssframe.core.durations import parse_duration
    from dssframe.core.errors import UsageError

    if not value.strip()[-1:].isalpha():
        raise UsageError(f"{option} {value!r}: give a unit, like 90s, 30m, 6h, 1d or 2w")
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{option} {value!r}: {exc}") from None


def simulate_command(
    ctx: typer.Context,
    days: Annotated[
        float | None,
        typer.Option(
            "--days",
            help="days to simulate (default: twice the policy's horizon; dyadic: "
            "2 x num-intervals x unit-interval)",
        ),
    ] = None,
    every: Annotated[
        str | None,
        typer.Option(
            "--every",
            metavar="DURATION",
            help="a snapshot every DURATION (6h, 1d) instead of the policy's schedule",
        ),
    ] = None,
    duration: Annotated[
        str,
        typer.Option("--duration", metavar="DURATION", help="how long each copy takes"),
    ] = "60s",
    samples: Annotated[
        int, typer.Option("--samples", min=2, help="times the ages are sampled (--svg)")
    ] = 150,
    svg: Annotated[
        str | None, typer.Option("--svg", metavar="FILE", help="draw the ages over time")
    ] = None,
    log: Annotated[bool, typer.Option("--log", help="--svg with a logarithmic age axis")] = False,
    from_dest: Annotated[
        bool,
        typer.Option("--from-dest", help="start from the destination's snapshots, not none"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """Run the configured retention over simulated time (no file is touched).

    Every step does what dss run would: a snapshot when the schedule says one is due
    (the policy's, or --every), then the policy's removals through the removal gate
    (newest complete kept, min-complete, pins). Prints, at the end, each interval
    (dyadic: age range, desired and held counts) or each snapshot's age and rules,
    and the totals."""
    import time

    from dssframe.core import schedule
    from dssframe.core import simulate as sim
    from dssframe.core.errors import UsageError
    from dssframe.core.retention import SchedulingPolicy

    state = get_state(ctx)
    config = state.config()
    # As in dss run: the scheduler applies keep-redundant itself.
    policy = state.host().retention(config._replace(keep_redundant=False))
    settings = schedule.Settings.from_config(config)
    if days is not None and not 0 < days <= 100 * 366:
        raise UsageError(f"--days {days:g}: expected more than 0 and at most 100 years")
    span = round(days * DAY) if days is not None else sim.default_span(policy, settings)
    spacing = _duration("--every", every) if every is not None else None
    copy_time = _duration("--duration", duration)
    now = int(time.time())
    initial: list[SnapshotName] = []
    pinned: frozenset[int] = frozenset()
    if from_dest:
        from dssframe.store.destination import Destination
        from dssframe.store.pins import active_pins

        store = Destination.open(config.require("dest-dir"), config.mountpoint)
        initial = store.scan(now)
        pinned = active_pins(store.dest_dir, now)
    result = sim.simulate(
        policy,
        settings,
        now,
        now + span,
        duration=copy_time,
        every=spacing,
        samples=samples,
        initial=initial,
        pinned=pinned,
    )
    document = sim.report(result, policy)
    document["settings"] = {
        "retention": config.retention,
        "unit_interval": config.unit_interval,
        "num_intervals": config.num_intervals,
        "keep_redundant": config.keep_redundant,
        "min_complete": config.min_complete,
        "days": span / DAY,
        "every": spacing,
        "policy_schedule": isinstance(policy, SchedulingPolicy),
        "fallback_spacing": settings.spacing,
        "duration": copy_time,
        "from_dest": len(initial) if from_dest else None,
        "pinned": len(pinned),
    }
    if svg is not None:
        _write_svg(svg, result, policy, document, log)
    if as_json:
        import json

        typer.echo(json.dumps(document, indent=2))
        return
    for line in summary_lines(document):
        typer.echo(line)


def _write_svg(
    path: str, result: Result, policy: RetentionPolicy, document: dict[str, Any], log: bool
) -> None:
    from dssframe.core import svgplot
    from dssframe.core.durations import humane
    from dssframe.store.atomic import write_atomically

    guides: list[tuple[float, str]] = []
    for row in document["intervals"] or []:
        if row["interval"]:
            guides.append((row["start"], f"interval {row['interval']}"))
    if document["horizon"]:
        guides.append((document["horizon"], "outdated"))
    points = [
        (frame.time - result.start, age, group)
        for frame in result.frames
        for age, group in zip(frame.ages, frame.groups, strict=True)
    ]
    title = f'retention "{policy.name}" over {humane(result.end - result.start)}'
    settings = document["settings"]
    if document["intervals"] is not None:
        title += (
            f" (unit-interval {humane(settings['unit_interval'])},"
            f" num-intervals {settings['num_intervals']})"
        )
    span = result.end - result.start
    text = svgplot.render(points, span=span, title=title, guides=guides, log=log)
    write_atomically(path, text)
    typer.echo(f"wrote {path} ({len(points)} dots, {len(result.frames)} samples)", err=True)


def summary_lines(document: dict[str, Any]) -> list[str]:
    """``dss simulate``'s text: what was simulated, the totals, the end state."""
    from dssframe.core.durations import humane

    settings, totals = document["settings"], document["totals"]
    start = "from no snapshots"
    if settings["from_dest"] is not None:
        start = f"from the destination's {settings['from_dest']} snapshot(s)"
    dyadic = (
        f" (unit-interval {humane(settings['unit_interval'])}, "
        f"num-intervals {settings['num_intervals']})"
    )
    lines = [
        f'simulated {humane(round(settings["days"] * DAY))} of retention "{document["policy"]}" '
        f"{start}{dyadic if document['intervals'] is not None else ''}"
    ]
    if settings["every"] is not None:
        schedule = f"--every {humane(settings['every'])}"
    elif settings["policy_schedule"]:
        schedule = "the policy's, as in dss run"
    else:
        schedule = (
            f"unit-interval / 2^(num-intervals - 1) = {humane(settings['fallback_spacing'])}"
            f"{dyadic} (the policy has none)"
        )
    mean = totals["mean_spacing"]
    spacing = f", a snapshot every {humane(round(mean))} on average" if mean else ""
    lines.append(f"schedule: {schedule}{spacing}; each copy takes {humane(settings['duration'])}")
    reasons = ", ".join(f"{k} {v}" for k, v in totals["removed_by_reason"].items())
    lines.append(
        f"created {totals['created']}, removed {totals['removed']}"
        + (f" ({reasons})" if reasons else "")
        + f", held at most {totals['max_held']} at once, {totals['held']} at the end"
    )
    lines.append("")
    snapshots = document["snapshots"]
    if document["intervals"] is not None:
        lines.append("interval  ages              desired  held  carried  snapshot ages")
        for row in document["intervals"]:
            ages = [s["age"] for s in snapshots if s["bucket"] == row["interval"]]
            span = f"{humane(row['start'])} to {humane(row['end'])}"
            lines.append(
                f"{row['interval']:>8}  {span:<16}  {row['desired']:>7}  {row['held']:>4}  "
                f"{row['carried']:>7}  {', '.join(humane(a) for a in sorted(ages))}"
            )
        outdated = [s for s in snapshots if s["age"] >= (document["horizon"] or float("inf"))]
        if outdated:
            lines.append(f"older than {humane(document['horizon'])}: {len(outdated)} (outdated)")
    else:
        explained = any(s["rules"] is not None for s in snapshots)
        lines.append(
            "snapshots at the end, youngest first" + (" (age: rules)" if explained else "")
        )
        for s in reversed(snapshots):
            rules = s["rules"]
            bucket = f" (bucket {s['bucket']})" if s["bucket"] is not None else ""
            why = f": {', '.join(rules) if rules else 'no rule'}" if explained else ""
            lines.append(f"  {humane(s['age']):>8}{bucket}{why}")
    return lines


def explain_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="snapshot name or creation epoch")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """Why a snapshot is kept or would be removed: its interval (dyadic: age range,
    desired and held counts, carried deficit) or the policy's rules, the gaps to its
    neighbours, and what dss prune would do with it now (plan and removal gate)."""
    from dssframe.core import explain
    from dssframe.core.retention import ExplainingPolicy
    from dssframe.store.destination import SnapshotNotFound, lookup
    from dssframe.store.pins import active_pins

    state = get_state(ctx)
    job = state.job()
    now = job.now()
    snapshots = job.store.scan(now)
    target = lookup(snapshots, name)
    if target is None:
        raise SnapshotNotFound(f"no snapshot {name!r} in {job.store.dest_dir}")
    pinned = active_pins(job.store.dest_dir, now)
    screened = job.removal_plan(snapshots, now, {}, pinned=pinned)
    policy = job.retention
    rules = None
    if isinstance(policy, ExplainingPolicy) and target.complete:
        rules = list(policy.explain(snapshots, now).get(target.name, []))
    rows = None
    if isinstance(policy, explain.IntervalPolicy):
        rows = policy.interval_rows(snapshots, now)
    found = explain.explain(
        target,
        snapshots,
        now,
        screened,
        policy=policy.name,
        rules=rules,
        rows=rows,
        bucket=policy.interval(target, now),
        pinned=pinned,
        keep_redundant=job.config.keep_redundant,
    )
    if as_json:
        import json

        typer.echo(json.dumps(found.to_json(), indent=2))
        return
    for line in found.lines():
        typer.echo(line)


@hookimpl
def dssframe_cli_commands(app: typer.Typer) -> None:
    """Add ``simulate`` and ``explain`` to ``app``."""
    app.command("simulate")(simulate_command)
    app.command("explain")(explain_command)
