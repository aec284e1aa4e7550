"""The status page of ``dss serve`` (pure: the status document in, HTML out), and the
retention picture it shows for each job.

The page is one self-contained document: inline CSS, inline SVG, no script and no
external asset -- it works offline, and passes a ``Content-Security-Policy`` of
``default-src 'none'``. Everything that comes from the configuration, the snapshots
or the logs is HTML-escaped (:func:`esc`), so a path holding ``<script>`` or ``&``
is shown as written and does nothing. A ``<meta http-equiv="refresh">`` reloads it
every :data:`REFRESH` seconds.

For each job (an entry of :func:`dssframe.engine.status.fleet_status` with
``detail``): its state, source and destination, the run loop, the newest snapshot,
the counts, the next snapshot, staleness, a timeline of its snapshots
(:func:`timeline_svg`: x is time, one mark per snapshot), the destination's space
with the fill forecast, the last failure with the tail of the log, and the
retention picture (:func:`retention_svg`: ``dss simulate --svg`` of the job's
policy).
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from typing import Any

from dssframe.core import schedule
from dssframe.core.durations import humane
from dssframe.core.health import forecast_text
from dssframe.core.retention import RetentionPolicy
from dssframe.core.sizes import iec_size

#: Seconds between two reloads of the page.
REFRESH = 30
#: The retention picture simulates at most this many snapshot periods.
MAX_SIMULATED_PERIODS = 4000
MIB = 1 << 20

STATE_COLOURS = {
    "idle": "#2e7d32",
    "creating": "#1565c0",
    "removing": "#6a1b9a",
    "stale": "#e65100",
    "failing": "#c62828",
    "stopped": "#616161",
}
SNAPSHOT_COLOURS = {
    "complete": "#2e7d32",
    "incomplete": "#ef6c00",
    "complete-being-deleted": "#9e9e9e",
    "incomplete-being-deleted": "#9e9e9e",
}

CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem;
  color: #1d2329; background: #f4f5f7; line-height: 1.4; }
h1 { margin: 0 0 .2rem; font-size: 1.6rem; }
h2 { margin: 0 0 .3rem; font-size: 1.3rem; }
h3 { margin: 1rem 0 .3rem; font-size: 1rem; color: #38424c; }
.meta, .note { color: #5b6570; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .9em;
  background: #eef0f3; padding: 0 .25em; border-radius: 3px; overflow-wrap: anywhere; }
table.summary { border-collapse: collapse; background: #fff; width: 100%;
  border: 1px solid #dde1e6; margin-top: 1rem; }
table.summary th, table.summary td { padding: .4rem .6rem; text-align: left;
  border-bottom: 1px solid #e6e9ed; vertical-align: top; }
table.summary th { background: #eceff3; font-weight: 600; }
section.job { background: #fff; border: 1px solid #dde1e6; border-left: 6px solid #616161;
  border-radius: 6px; padding: 1rem 1.2rem; margin: 1.2rem 0; }
.badge { display: inline-block; padding: .05rem .55rem; border-radius: 1rem; color: #fff;
  font-size: .85rem; font-weight: 600; vertical-align: middle; background: #616161; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1.2rem;
  margin: .6rem 0; }
dl.facts dt { color: #5b6570; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.bad { color: #c62828; font-weight: 600; }
.good { color: #2e7d32; }
pre.log { background: #15191d; color: #e4e7ea; padding: .6rem .8rem; border-radius: 4px;
  overflow-x: auto; font-size: .8rem; max-height: 24rem; white-space: pre-wrap;
  overflow-wrap: anywhere; }
svg { max-width: 100%; height: auto; display: block; }
.picture { border: 1px solid #e6e9ed; border-radius: 4px; max-width: 900px; }
"""
STATE_CSS = "".join(
    f".state-{state} {{ border-left-color: {colour}; }}\n"
    f".badge.state-{state} {{ background: {colour}; }}\n"
    for state, colour in STATE_COLOURS.items()
)


def esc(value: object) -> str:
    """``value`` as text safe in an HTML element or a quoted attribute."""
    return html.escape(str(value), quote=True)


def stamp(epoch: object) -> str:
    """A local time for people, ``-`` when ``epoch`` is not one."""
    if not isinstance(epoch, int | float) or isinstance(epoch, bool):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(epoch))


def relative(epoch: object, now: int) -> str:
    """``in 5h 59m``, ``3m ago``, ``now``."""
    if not isinstance(epoch, int | float) or isinstance(epoch, bool):
        return "-"
    delta = int(epoch - now)
    if delta > 0:
        return f"in {humane(delta)}"
    return "now" if delta == 0 else f"{humane(-delta)} ago"


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def timeline_svg(
    rows: Sequence[Mapping[str, Any]],
    now: int,
    stale_after: int,
    *,
    width: int = 880,
    height: int = 86,
) -> str:
    """An inline SVG of the job's snapshots over time: x is time (the oldest
    snapshot, or the staleness limit, to now), one mark per snapshot from its creation
    to its completion (coloured by state, its name and age in a tooltip), a line at
    now and a dashed one where snapshots become stale."""
    left, right, top, band = 10, 10, 8, 34
    plot = width - left - right
    oldest = min((int(r["creation"]) for r in rows), default=now)
    span = max(now - oldest, stale_after, 60) * 1.04
    start = now - span

    def px(epoch: float) -> float:
        return left + plot * min(max((epoch - start) / span, 0.0), 1.0)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
        f'font-size="11" role="img" aria-label="{len(rows)} snapshots over time">',
        f'<rect x="{left}" y="{top}" width="{plot}" height="{band}" fill="#f1f3f5"/>',
    ]
    limit = now - stale_after
    if limit > start:
        x = _fmt(px(limit))
        out.append(
            f'<line x1="{x}" y1="{top - 4}" x2="{x}" y2="{top + band + 4}" stroke="#e65100" '
            f'stroke-dasharray="4 3"><title>stale beyond {esc(humane(stale_after))}</title></line>'
        )
    out.append(f'<g class="marks" data-count="{len(rows)}">')
    for row in rows:
        creation = int(row["creation"])
        completion = row.get("completion")
        x1 = px(creation)
        x2 = px(int(completion)) if isinstance(completion, int) else x1
        colour = SNAPSHOT_COLOURS.get(str(row.get("state")), "#9e9e9e")
        tip = f"{row['name']} ({row.get('state')}, created {humane(int(row['age']))} ago)"
        out.append(
            f'<rect x="{_fmt(x1 - 1)}" y="{top}" width="{_fmt(max(2.0, x2 - x1 + 2))}" '
            f'height="{band}" fill="{colour}"><title>{esc(tip)}</title></rect>'
        )
    out.append("</g>")
    now_x = _fmt(px(now))
    out.append(
        f'<line x1="{now_x}" y1="{top - 4}" x2="{now_x}" y2="{top + band + 4}" '
        'stroke="#1d2329" stroke-width="1.5"/>'
    )
    axis = top + band + 18
    for index in range(5):
        age = span * (1 - index / 4)
        label = "now" if index == 4 else f"{humane(int(age))} ago"
        anchor = "start" if index == 0 else "end" if index == 4 else "middle"
        out.append(
            f'<text x="{_fmt(px(now - age))}" y="{axis}" text-anchor="{anchor}" '
            f'fill="#5b6570">{esc(label)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def space_svg(disk: Mapping[str, Any], *, width: int = 880, height: int = 22) -> str:
    """A bar of the destination's file system: used (dark) and free, with a mark at the
    ``min-free-percent`` threshold; empty when the space is unknown."""
    total, free = disk.get("total_mb"), disk.get("free_mb")
    if not isinstance(total, int) or not isinstance(free, int) or total <= 0:
        return ""
    used = min(max(1.0 - free / total, 0.0), 1.0)
    colour = "#c62828" if disk.get("low") else "#1565c0"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="space" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{used * 100:.1f}% used">',
        f'<rect x="0" y="0" width="{width}" height="{height}" rx="3" fill="#e3e7eb"/>',
        f'<rect x="0" y="0" width="{_fmt(width * used)}" height="{height}" rx="3" '
        f'fill="{colour}"/>',
    ]
    threshold = disk.get("min_free_percent")
    if isinstance(threshold, int) and threshold > 0:
        x = _fmt(width * (1 - threshold / 100))
        out.append(
            f'<line x1="{x}" y1="0" x2="{x}" y2="{height}" stroke="#e65100" '
            f'stroke-width="2"><title>low below {threshold}% free</title></line>'
        )
    out.append("</svg>")
    return "\n".join(out)


def retention_svg(
    policy: RetentionPolicy, settings: schedule.Settings, period: int, now: int
) -> str:
    """``dss simulate --svg`` of the job's retention policy, from no snapshot, over the
    default span (twice the policy's horizon; at most :data:`MAX_SIMULATED_PERIODS`
    snapshot periods): the age of every snapshot held over simulated time, with the
    dyadic intervals as guides. Inline SVG (no XML declaration)."""
    from dssframe.core import simulate, svgplot

    span = min(simulate.default_span(policy, settings), MAX_SIMULATED_PERIODS * max(1, period))
    result = simulate.simulate(policy, settings, now, now + span)
    document = simulate.report(result, policy)
    guides: list[tuple[float, str]] = [
        (row["start"], f"interval {row['interval']}")
        for row in document["intervals"] or []
        if row["interval"]
    ]
    if document["horizon"]:
        guides.append((document["horizon"], "outdated"))
    points = [
        (frame.time - result.start, age, group)
        for frame in result.frames
        for age, group in zip(frame.ages, frame.groups, strict=True)
    ]
    title = f'retention "{policy.name}" over {humane(span)}'
    text = svgplot.render(points, span=span, title=title, guides=guides)
    return "\n".join(line for line in text.splitlines() if not line.startswith("<?xml"))


def _facts(entry: Mapping[str, Any], now: int) -> list[tuple[str, str]]:
    """The job's facts as (term, HTML) pairs."""
    facts: list[tuple[str, str]] = []
    if entry.get("running"):
        activity = entry.get("activity") or "?"
        loop = f"running, pid {esc(entry.get('running_pid') or '?')} ({esc(activity)})"
    else:
        loop = '<span class="bad">not running</span>'
        if entry.get("exit_reason"):
            loop += f"; the last one exited: {esc(entry['exit_reason'])}"
    facts.append(("run loop", loop))
    creating = entry.get("creating")
    if creating:
        facts.append(("creating", f"<code>{esc(creating.get('snapshot'))}</code>"))
    newest = entry.get("last_snapshot")
    if newest:
        facts.append(
            (
                "last snapshot",
                f"<code>{esc(newest['name'])}</code>, completed {esc(stamp(newest['completion']))}"
                f" ({esc(humane(newest['age']))} ago)",
            )
        )
    else:
        facts.append(("last snapshot", '<span class="bad">none</span>'))
    counts = entry.get("snapshots") or {}
    text = f"{counts.get('complete', 0)} complete, {counts.get('incomplete', 0)} incomplete"
    if counts.get("being_deleted"):
        text += f", {counts['being_deleted']} being deleted"
    facts.append(("snapshots", esc(text)))
    due_from = "the run loop" if entry.get("next_due_from") == "run-loop" else "the schedule"
    due = entry.get("next_due")
    facts.append(
        ("next snapshot", f"{esc(stamp(due))} ({esc(relative(due, now))}, by {due_from})")
    )
    limit = esc(humane(int(entry.get("stale_after") or 0)))
    if entry.get("stale"):
        fresh = f'<span class="bad">stale</span>: no complete snapshot in the last {limit}'
    else:
        fresh = f'<span class="good">fresh</span> (stale after {limit})'
    period = esc(humane(int(entry.get("period") or 0)))
    facts.append(("freshness", f"{fresh}; a snapshot every {period}"))
    if entry.get("dest_error"):
        facts.append(("destination", f'<span class="bad">{esc(entry["dest_error"])}</span>'))
    return facts


def _failures(entry: Mapping[str, Any], now: int) -> str:
    out = []
    failure = entry.get("last_failure")
    if failure:
        what = f" <code>{esc(failure['snapshot'])}</code>" if failure.get("snapshot") else ""
        out.append(
            f'<p class="bad">last failure{what}, {esc(stamp(failure.get("time")))} '
            f"({esc(relative(failure.get('time'), now))}): {esc(failure.get('message') or '')}</p>"
        )
    else:
        out.append('<p class="good">no failure in the last run</p>')
    log = entry.get("log") or {}
    lines = log.get("lines") or []
    if lines:
        out.append(f'<p class="note">the end of <code>{esc(log.get("path"))}</code>:</p>')
        out.append('<pre class="log">' + esc("\n".join(lines)) + "</pre>")
    elif log.get("note"):
        out.append(f'<p class="note">{esc(log["note"])}</p>')
    else:
        out.append(f'<p class="note">nothing logged for this job in {esc(log.get("path"))}</p>')
    return "\n".join(out)


def _space(entry: Mapping[str, Any]) -> str:
    disk = entry.get("disk") or {}
    if disk.get("error") or not isinstance(disk.get("free_mb"), int):
        why = esc(disk.get("error") or "unknown")
        return f'<p class="bad">the free space cannot be read: {why}</p>'
    total = int(disk.get("total_mb") or 0)
    free = int(disk["free_mb"])
    verdict = (
        '<span class="bad">LOW: ' + esc("; ".join(disk.get("shortages") or [])) + "</span>"
        if disk.get("low")
        else '<span class="good">ok</span>'
    )
    return "\n".join(
        [
            space_svg(disk),
            f"<p>{esc(iec_size(free * MIB))} free of {esc(iec_size(total * MIB))} "
            f"({esc(disk.get('percent_free'))}%; {esc(disk.get('percent_free_inodes'))}% "
            f"inodes free): {verdict}</p>",
            f"<p>fill forecast: {esc(forecast_text(entry.get('fill_forecast') or {}))}</p>",
        ]
    )


def job_section(entry: Mapping[str, Any], picture: str | None, now: int) -> str:
    """One job's ``<section>``. ``picture`` is its retention SVG (None: none)."""
    name, state = str(entry.get("name")), str(entry.get("state"))
    state_class = state if state in STATE_COLOURS else "stopped"
    facts = "\n".join(f"<dt>{esc(term)}</dt><dd>{text}</dd>" for term, text in _facts(entry, now))
    rows = entry.get("timeline") or []
    out = [
        f'<section class="job state-{state_class}" id="job-{esc(name)}">',
        f'<h2>{esc(name)} <span class="badge state-{state_class}">{esc(state)}</span></h2>',
        f'<p><code>{esc(entry.get("source") or "-")}</code> &rarr; '
        f'<code>{esc(entry.get("destination"))}</code></p>',
        f'<dl class="facts">\n{facts}\n</dl>',
        f"<h3>Snapshots over time ({len(rows)})</h3>",
        timeline_svg(rows, now, int(entry.get("stale_after") or 0)),
        "<h3>Space</h3>",
        _space(entry),
        "<h3>Recent failures</h3>",
        _failures(entry, now),
        "<h3>Retention</h3>",
    ]
    if picture:
        out.append(f'<div class="picture">{picture}</div>')
    else:
        out.append('<p class="note">no retention picture: the policy could not be made</p>')
    out.append("</section>")
    return "\n".join(out)


def _summary(jobs: Sequence[Mapping[str, Any]], now: int) -> str:
    out = [
        '<table class="summary">',
        "<tr><th>job</th><th>state</th><th>last snapshot</th><th>snapshots</th>"
        "<th>next snapshot</th><th>free</th><th>fill forecast</th></tr>",
    ]
    for entry in jobs:
        name, state = str(entry.get("name")), str(entry.get("state"))
        state_class = state if state in STATE_COLOURS else "stopped"
        newest = entry.get("last_snapshot")
        age = f"{humane(newest['age'])} ago" if newest else "none"
        counts = entry.get("snapshots") or {}
        disk = entry.get("disk") or {}
        free = (
            f"{iec_size(int(disk['free_mb']) * MIB)} ({disk.get('percent_free')}%)"
            if isinstance(disk.get("free_mb"), int)
            else "unknown"
        )
        forecast = entry.get("fill_forecast") or {}
        days = forecast.get("days_until_full")
        full = f"full in {days:g} days" if isinstance(days, int | float) else "-"
        out.append(
            f'<tr><td><a href="#job-{esc(name)}">{esc(name)}</a></td>'
            f'<td><span class="badge state-{state_class}">{esc(state)}</span></td>'
            f"<td>{esc(age)}</td><td>{esc(counts.get('complete', 0))}</td>"
            f"<td>{esc(relative(entry.get('next_due'), now))}</td>"
            f"<td>{esc(free)}</td><td>{esc(full)}</td></tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def render(
    document: Mapping[str, Any],
    pictures: Mapping[str, str | None],
    *,
    host: str = "",
    refresh: int = REFRESH,
) -> str:
    """The whole page for ``document`` (``{"jobs": [...], "generated": epoch}``, the
    entries with ``timeline`` and ``log``); ``pictures`` maps job names to their
    retention SVG; ``host`` names the machine in the title."""
    now = int(document.get("generated") or 0)
    jobs = list(document.get("jobs") or [])
    where = f" on {host}" if host else ""
    troubled = [e for e in jobs if e.get("state") in ("failing", "stopped", "stale")]
    headline = f"{len(jobs)} job(s), {len(troubled)} needing attention"
    sections = "\n".join(
        job_section(entry, pictures.get(str(entry.get("name"))), now) for entry in jobs
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{int(refresh)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dss status{esc(where)}</title>
<style>{CSS}{STATE_CSS}</style>
</head>
<body>
<header>
<h1>dss status{esc(where)}</h1>
<p class="meta">{esc(headline)}; generated {esc(stamp(now))}; reloads every {int(refresh)} s;
the same as JSON: <a href="api/status"><code>/api/status</code></a></p>
{_summary(jobs, now)}
</header>
<main>
{sections}
</main>
</body>
</html>
"""
