"""A scatter plot of snapshot ages over time as SVG text (pure; no dependencies, no
external assets): ``dss simulate --svg``.

x is the simulated time since the start, y the age of each snapshot held -- linear by
default (the dyadic intervals are equally long, so each is an equally tall band holding
half the dots of the one below: the thinning is what the eye sees), logarithmic on
request (young snapshots spread out) -- one dot per snapshot per sampled time, coloured
by the policy's bucket (dyadic: the interval).
Axes are labelled in humane units (``6h``, ``4d``, ``2w``); optional guides draw
horizontal lines at chosen ages (dyadic: where each interval begins).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from dssframe.core.durations import format_duration

MINUTE, HOUR, DAY = 60, 3600, 86400
YEAR = 365 * DAY
#: Candidate tick values (seconds) for both axes.
NICE = (
    1, 10, 30, MINUTE, 10 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 6 * HOUR, 12 * HOUR,
    DAY, 2 * DAY, 4 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 60 * DAY, 90 * DAY, 180 * DAY,
    YEAR, 2 * YEAR, 5 * YEAR, 10 * YEAR, 20 * YEAR, 50 * YEAR, 100 * YEAR,
)  # fmt: skip
#: Dot colours, given to the groups in the order they first appear.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
RADIUS = 2.5


def escape(text: str) -> str:
    """``text`` safe inside an XML element or a double-quoted attribute."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _attr(text: str) -> str:
    return f'"{escape(text)}"'


def tick_label(seconds: float, step: int | None = None) -> str:
    """A short humane label: ``0``, ``90s``, ``6h``, ``4d``, ``2w``, ``1y``; with the
    axis' ``step``, in the step's unit (``28d`` rather than ``4w`` between ``24d`` and
    ``32d``)."""
    value = int(round(seconds))
    if value == 0:
        return "0"
    if value % YEAR == 0 and (step is None or step % YEAR == 0):
        return f"{value // YEAR}y"
    if step is not None:
        for size, unit in ((DAY, "d"), (HOUR, "h"), (MINUTE, "m")):
            if step % size == 0 and value % size == 0:
                return f"{value // size}{unit}"
    return format_duration(value)


def linear_step(span: float, most: int = 10) -> int:
    """The smallest nice step that divides ``span`` into at most ``most`` parts."""
    step = next((n for n in NICE if span / n <= most), None)
    return step if step is not None else max(1, int(math.ceil(span / most)))


def linear_ticks(span: float, most: int = 10) -> list[int]:
    """Ticks from 0 to ``span`` at the smallest nice step giving at most ``most``."""
    if span <= 0:
        return [0]
    step = linear_step(span, most)
    return [i * step for i in range(int(span // step) + 1)]


def log_ticks(low: float, high: float, most: int = 10) -> list[int]:
    """The nice values from ``low`` to ``high`` (both included), thinned evenly to at
    most ``most``."""
    ticks = [n for n in NICE if low <= n <= high]
    if len(ticks) > most:
        keep = math.ceil(len(ticks) / most)
        ticks = ticks[::keep]
    return ticks


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def render(
    points: Iterable[tuple[float, float, str | None]],
    *,
    span: float,
    title: str,
    guides: Sequence[tuple[float, str]] = (),
    log: bool = False,
    width: int = 900,
    height: int = 600,
    x_label: str = "simulated time since the start",
    y_label: str | None = None,
) -> str:
    """The SVG document: ``points`` are ``(time since the start, age, group)``
    (seconds; the group names the dot's colour in the legend, None: no group), drawn
    as one circle each; ``span`` is the x axis' length (seconds);
    ``guides`` are ``(age, label)`` horizontal lines. The age axis is linear (dyadic
    intervals are equally tall bands, each holding half the dots of the one below),
    or logarithmic with ``log`` (young snapshots spread out)."""
    dots = [(float(x), max(0.0, float(y)), b) for x, y, b in points]
    left, right, top, bottom = 80, 110, 56, 60
    colours: dict[str | None, str] = {}
    for _, _, group in dots:
        if group not in colours:
            colours[group] = PALETTE[len(colours) % len(PALETTE)]
    plot_w, plot_h = width - left - right, height - top - bottom
    ages = [y for _, y, _ in dots] + [float(a) for a, _ in guides]
    span = max(float(span), 1.0)
    if y_label is None:
        y_label = "age of each snapshot held" + (" (log scale)" if log else "")
    if log:
        low = max(1.0, min(ages, default=1.0))
        high = max(ages, default=float(DAY))
        low = max((n for n in NICE if n <= low), default=1)
        high = min((n for n in NICE if n >= high), default=high)
        if high <= low:
            high = low * 10
        log_low, log_range = math.log10(low), math.log10(high) - math.log10(low)
        y_ticks = log_ticks(low, high)
        y_step = None
    else:
        log_low = log_range = 0.0
        top_age = max(ages, default=float(DAY)) or float(DAY)
        y_step = linear_step(top_age, 8)
        high = math.ceil(top_age / y_step) * y_step
        y_ticks = linear_ticks(high, 8)

    def px(x: float) -> float:
        return left + plot_w * min(max(x / span, 0.0), 1.0)

    def py(age: float) -> float:
        fraction = (math.log10(max(age, low)) - log_low) / log_range if log else age / high
        return top + plot_h * (1.0 - min(max(fraction, 0.0), 1.0))

    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width / 2:.0f}" y="22" text-anchor="middle" font-size="15">'
        f"{escape(title)}</text>",
        '<g class="grid" stroke="#dddddd" stroke-width="1">',
    ]
    x_ticks = linear_ticks(span)
    x_step = linear_step(span)
    for tick in y_ticks:
        at = _fmt(py(tick))
        out.append(f'<line x1="{left}" y1="{at}" x2="{left + plot_w}" y2="{at}"/>')
    for tick in x_ticks:
        at = _fmt(px(tick))
        out.append(f'<line x1="{at}" y1="{top}" x2="{at}" y2="{top + plot_h}"/>')
    out.append("</g>")
    out.append('<g class="guides" stroke="#999999" stroke-dasharray="4 3" fill="#555555">')
    for age, label in guides:
        y = py(float(age))
        out.append(f'<line x1="{left}" y1="{_fmt(y)}" x2="{left + plot_w}" y2="{_fmt(y)}"/>')
        out.append(
            f'<text x="{left + plot_w + 6}" y="{_fmt(y - 3)}" stroke="none">{escape(label)}</text>'
        )
    out.append("</g>")
    out.append('<g class="axes" stroke="#000000" stroke-width="1">')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"/>')
    out.append("</g>")
    out.append('<g class="y-ticks" text-anchor="end" fill="#000000">')
    for tick in y_ticks:
        out.append(
            f'<text x="{left - 6}" y="{_fmt(py(tick) + 4)}">{tick_label(tick, y_step)}</text>'
        )
    out.append("</g>")
    out.append('<g class="x-ticks" text-anchor="middle" fill="#000000">')
    for tick in x_ticks:
        out.append(
            f'<text x="{_fmt(px(tick))}" y="{top + plot_h + 18}">{tick_label(tick, x_step)}</text>'
        )
    out.append("</g>")
    out.append(
        f'<text class="x-label" x="{left + plot_w / 2:.0f}" y="{height - 15}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    out.append(
        f'<text class="y-label" x="18" y="{top + plot_h / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 18 {top + plot_h / 2:.0f})">{escape(y_label)}</text>'
    )
    out.append(f'<g class="dots" stroke="none" data-count="{len(dots)}">')
    for group, colour in colours.items():  # one group per colour: no fill per circle
        label = "" if group is None else f" data-group={_attr(group)}"
        out.append(f'<g fill="{colour}"{label}>')
        out.extend(
            f'<circle cx="{_fmt(px(x))}" cy="{_fmt(py(y))}" r="{RADIUS}"/>'
            for x, y, dot_group in dots
            if dot_group == group
        )
        out.append("</g>")
    out.append("</g>")
    named = [(group, colour) for group, colour in colours.items() if group is not None]
    if named:
        out.append('<g class="legend" fill="#000000">')
        at_x = float(left)
        for group, colour in named:
            out.append(f'<rect x="{_fmt(at_x)}" y="34" width="10" height="10" fill="{colour}"/>')
            out.append(f'<text x="{_fmt(at_x + 14)}" y="43">{escape(group)}</text>')
            at_x += 24 + 7 * len(group)
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
