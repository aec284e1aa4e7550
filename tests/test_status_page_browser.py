"""The status page of ``dss serve`` in a real browser: headless chromium renders it
(a screenshot that is not blank, kept in the test artifacts) and its DOM holds every
job, with the odd destination name as text, not markup."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsstest import RunDss, require_tool
from fleettest import JOBS, ODD_NAME, Child, children, make_fleet, start_serve

WIDTH, HEIGHT = 1200, 900


@pytest.fixture
def started() -> Iterator[list[Child]]:
    yield from children()


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless chromium with its own profile, no proxy, no sandbox (CI runs as root)."""
    browser = require_tool("chromium")
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-proxy-server",
         "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the decompressed image data (filter bytes included) of a PNG,
    read with zlib alone."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, width, height, idat = 8, 0, 0, []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        offset += 12 + length
    return width, height, zlib.decompress(b"".join(idat))


def test_the_page_renders_in_chromium(
    tmp_path: Path, run_dss: RunDss, rsync: str, started: list[Child]
) -> None:
    require_tool("chromium")
    fleet = make_fleet(tmp_path, run_dss)
    serve, url = start_serve(fleet.config)
    started.append(serve)

    shot = tmp_path / "status-page.png"
    result = chromium(tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", url)
    assert shot.is_file(), result.stderr
    data = shot.read_bytes()
    assert len(data) > 20_000, len(data)  # a blank page is a few hundred bytes
    width, height, pixels = png_pixels(data)
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(set(pixels)) > 64  # many colours: text, badges, the SVG timelines
    artifacts = Path(os.environ.get("DSS_TEST_ARTIFACTS", "build/test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    kept = shutil.copyfile(shot, artifacts / "status-page.png")
    print(f"status page screenshot: {kept.resolve()}")

    dom = chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr
    for name in JOBS:
        assert f'id="job-{name}"' in dom.stdout, name
    # the destination's odd name is text in the DOM: no <img> element was made of it
    assert ODD_NAME.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in dom.stdout
    assert "<img" not in dom.stdout
    assert dom.stdout.count("<svg") >= 3 * 3  # per job: timeline, space bar, retention
    assert serve.stop() == 0
