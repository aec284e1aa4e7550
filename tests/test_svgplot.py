"""The SVG scatter plot of ``dss simulate --svg``: well-formed XML, one circle per
(sample, snapshot), labelled axes -- and what a real browser (headless chromium) draws
from it is a picture, not a blank page."""

from __future__ import annotations

import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

from dssframe.builtin.dyadic_retention import DyadicRetention
from dssframe.core import schedule, svgplot
from dssframe.core.config import Config
from dssframe.core.simulate import simulate
from dsstest import require_tool

SVG = "{http://www.w3.org/2000/svg}"
DAY = 86400
T0 = 1_700_000_000


def dyadic_points() -> tuple[list[tuple[float, float, str | None]], int]:
    config = Config(unit_interval=DAY, num_intervals=4)
    result = simulate(
        DyadicRetention(config), schedule.Settings.from_config(config), T0, T0 + 8 * DAY,
        samples=40,
    )  # fmt: skip
    points: list[tuple[float, float, str | None]] = [
        (frame.time - T0, age, group)
        for frame in result.frames
        for age, group in zip(frame.ages, frame.groups, strict=True)
    ]
    return points, sum(len(frame.ages) for frame in result.frames)


def plot(log: bool = False) -> str:
    points, _ = dyadic_points()
    guides = [(k * DAY, f"interval {k}") for k in range(1, 4)] + [(4 * DAY, "outdated")]
    return svgplot.render(points, span=8 * DAY, title="dyadic <u=1d>", guides=guides, log=log)


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_one_circle_per_sample_and_snapshot() -> None:
    points, expected = dyadic_points()
    assert expected > 100
    for log in (False, True):
        root = ET.fromstring(plot(log).split("\n", 1)[1])  # after the XML declaration
        circles = list(root.iter(f"{SVG}circle"))
        assert len(circles) == expected == len(points)
        for circle in circles:
            assert 80 <= float(circle.get("cx", "-1")) <= 790
            assert 56 <= float(circle.get("cy", "-1")) <= 540


def test_axes_are_labelled_in_humane_units() -> None:
    root = ET.fromstring(plot())
    labels = texts(root)
    assert "simulated time since the start" in labels
    assert "age of each snapshot held" in labels
    assert {"0", "1d", "2d", "4d", "8d"} <= set(labels)  # both axes count days here
    assert "dyadic <u=1d>" in labels  # escaped in the source, text again when parsed
    assert {"interval 1", "interval 3", "outdated"} <= set(labels)
    assert {"interval 0", "interval 1", "interval 2"} <= set(labels)  # the legend
    log_labels = texts(ET.fromstring(plot(log=True)))
    assert "age of each snapshot held (log scale)" in log_labels
    assert {"1m", "1h", "1d"} <= set(log_labels)


def test_dots_are_coloured_by_group_in_order_of_appearance() -> None:
    svg = svgplot.render(
        [(0, 10, "hourly"), (60, 20, "daily"), (120, 30, "hourly"), (180, 40, None)],
        span=200,
        title="t",
    )
    (dots,) = [g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "dots"]
    groups = [(g.get("data-group"), g.get("fill"), len(list(g))) for g in dots]
    assert groups == [
        ("hourly", svgplot.PALETTE[0], 2),
        ("daily", svgplot.PALETTE[1], 1),
        (None, svgplot.PALETTE[2], 1),
    ]


def test_an_empty_plot_is_still_a_document() -> None:
    root = ET.fromstring(svgplot.render([], span=0, title="nothing"))
    assert list(root.iter(f"{SVG}circle")) == []
    assert "nothing" in texts(root)


def test_tick_labels() -> None:
    assert [svgplot.tick_label(v) for v in (0, 90, 6 * 3600, 4 * DAY, 14 * DAY, 365 * DAY)] == [
        "0", "90s", "6h", "4d", "2w", "1y",
    ]  # fmt: skip
    assert svgplot.tick_label(28 * DAY, 4 * DAY) == "28d"  # in the axis' unit
    assert svgplot.linear_ticks(40 * DAY) == [i * 4 * DAY for i in range(11)]


# --- what chromium draws --------------------------------------------------------------


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        method, row = line[0], bytearray(line[1:])
        for i in range(stride):
            left = row[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if method == 1:
                row[i] = (row[i] + left) & 255
            elif method == 2:
                row[i] = (row[i] + up) & 255
            elif method == 3:
                row[i] = (row[i] + (left + up) // 2) & 255
            elif method == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[i] = (row[i] + pred) & 255
        rows.append(bytes(row))
        previous = row
    return width, height, [bytes(r[i : i + 3]) for r in rows for i in range(0, stride, bpp)]


def test_chromium_draws_the_plot(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    svg = tmp_path / "plot.svg"
    svg.write_text(plot())
    png = tmp_path / "plot.png"
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
         "--window-size=900,600", svg.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert png.is_file(), result.stderr
    width, height, pixels = png_pixels(png.read_bytes())
    assert (width, height) == (900, 600)
    colours = set(pixels)
    assert len(colours) > 20  # not a blank page: text, grid, dots, anti-aliasing
    # the dots of the first three intervals are there in their own colours
    for hex_colour in svgplot.PALETTE[:3]:
        rgb = bytes.fromhex(hex_colour[1:])
        assert rgb in colours, hex_colour
    white = pixels.count(b"\xff\xff\xff")
    assert 0.3 * len(pixels) < white < 0.95 * len(pixels)
