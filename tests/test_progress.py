"""The progress bar of ``dss create``: a real ``dss`` under a pseudo-terminal with real
rsync draws one line, in place, from rsync's ``--info=progress2`` output and clears it;
piped, nothing is drawn and rsync runs exactly as before (``-aq``). Also the pieces:
the throttle, the line that gives way to an error message, the parser."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from dssframe.builtin.rsync.progress import parse_progress
from dssframe.core.transport import Progress
from dssframe.engine import runner
from dsstest import complete, snapshots, tree_state

#: One drawn bar: ``[####......]  42%  1.2 MiB  45.6 MiB/s  0:00:12``.
BAR = re.compile(
    r"\[[#.]{20}\]  +(?P<percent>[0-9]{1,3})%  [0-9.]+ (?:B|KiB|MiB|GiB)"
    r"  [0-9.]+ (?:B|KiB|MiB|GiB)/s  [0-9]+:[0-9]{2}:[0-9]{2}"
)
FILES = 300
FILE_SIZE = 20_000
#: rsync's --bwlimit in KiB/s: the 6 MB source takes about two seconds.
BWLIMIT = 3000


@pytest.fixture
def big_source(tmp_path: Path) -> Path:
    root = tmp_path / "big"
    for d in range(3):
        (root / f"d{d}").mkdir(parents=True)
        for i in range(FILES // 3):
            (root / f"d{d}" / f"f{i:03d}").write_bytes(os.urandom(FILE_SIZE))
    (root / "100%.txt").write_text("not a progress reading\n")
    return root


@pytest.fixture
def dest(dest: Path) -> Path:
    dest.chmod(0o700)  # no warning about a destination others can read
    return dest


def _dss(*args: str) -> list[str]:
    return [sys.executable, "-m", "dssframe", *args]


def _create_args(source: Path, dest: Path, *extra: str) -> list[str]:
    return _dss(
        "--source-dir", f"{source}/", "--dest-dir", str(dest),
        f"--rsync-option=--bwlimit={BWLIMIT}", *extra, "create",
    )  # fmt: skip


def _run_on_pty(argv: list[str], columns: int = 100) -> tuple[int, str, bytes, float]:
    """Run ``argv`` with its standard error on a pseudo-terminal ``columns`` wide (stdin
    /dev/null, stdout piped): exit status, stdout, everything the terminal got, seconds."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    began = time.monotonic()
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, close_fds=True
    )
    os.close(slave)
    received = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer of the slave side has closed it
                return
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    stdout, _ = process.communicate(timeout=120)
    elapsed = time.monotonic() - began
    reader.join(10)
    os.close(master)
    return process.returncode, stdout.decode(), bytes(received), elapsed


@pytest.mark.usefixtures("rsync")
def test_a_real_create_on_a_terminal_draws_one_line_and_clears_it(
    big_source: Path, dest: Path
) -> None:
    status, stdout, terminal, elapsed = _run_on_pty(_create_args(big_source, dest))
    text = terminal.decode()
    assert status == 0, text
    (snapshot,) = complete(dest)
    assert stdout.strip() == str(snapshot)
    assert tree_state(snapshot) == tree_state(big_source)
    assert len(snapshots(dest)) == 1

    draws = [segment for segment in text.split("\r") if segment.strip()]
    assert draws, f"no progress drawn in {elapsed:.1f} s: {text!r}"
    percents = []
    for segment in draws:
        match = BAR.fullmatch(segment.rstrip(" "))
        assert match is not None, f"not a bar: {segment!r} (terminal: {text!r})"
        percents.append(int(match["percent"]))
    assert min(percents) >= 0 and max(percents) <= 100
    assert len(set(percents)) > 1  # it moves
    assert "\n" not in text  # one line, rewritten in place: nothing else (no stats)
    assert text.endswith("\r") and text.rsplit("\r", 2)[-2].strip() == ""  # cleared
    # at most 10 updates a second (and a first one at once)
    assert len(draws) <= elapsed * 10 + 2, (len(draws), elapsed)


@pytest.mark.usefixtures("rsync")
def test_a_narrow_terminal_gets_the_figures_without_the_bar(big_source: Path, dest: Path) -> None:
    status, _, terminal, _ = _run_on_pty(_create_args(big_source, dest), columns=50)
    text = terminal.decode()
    assert status == 0, text
    draws = [segment.rstrip(" ") for segment in text.split("\r") if segment.strip()]
    assert draws, text
    assert all(len(segment) < 50 and "[" not in segment and "%" in segment for segment in draws)
    (snapshot,) = complete(dest)
    assert tree_state(snapshot) == tree_state(big_source)


@pytest.mark.usefixtures("rsync")
def test_piped_there_is_no_progress_and_rsync_stays_quiet(big_source: Path, dest: Path) -> None:
    result = subprocess.run(
        _create_args(big_source, dest), stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    (snapshot,) = complete(dest)
    assert result.stdout.strip() == str(snapshot)
    assert tree_state(snapshot) == tree_state(big_source)
    dry = subprocess.run(
        _create_args(big_source, dest, "--dry-run"), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert " -aq " in dry.stdout and "progress2" not in dry.stdout


@pytest.mark.usefixtures("rsync")
def test_rsyncs_error_lines_get_a_line_of_their_own(
    big_source: Path, dest: Path, rsync: str, tmp_path: Path
) -> None:
    """An error line while the bar is shown: the bar is cleared first, the message is
    kept on its own line, the bar comes back after it; the verdict is rsync's."""
    wrapper = tmp_path / "noisy-rsync"
    wrapper.write_text(
        "#!/bin/sh\n"
        "printf '        100,000  10%%    1.00MB/s    0:00:05\\r'\n"
        "sleep 0.5\n"
        "echo 'rsync: a warning on standard error' >&2\n"
        "sleep 0.3\n"
        f'exec {rsync} "$@"\n'
    )
    wrapper.chmod(0o755)
    config = tmp_path / "config.toml"
    # rsync's own lines are shown at info (a failure's one line names the cause)
    config.write_text(f'rsync-path = "{wrapper}"\nloglevel = "info"\n')
    argv = _create_args(big_source, dest, "--config", str(config))
    status, _, terminal, _ = _run_on_pty(argv)
    text = terminal.decode()
    assert status == 0, text
    before, message, after = text.partition("dss: rsync: a warning on standard error")
    assert message, text
    assert BAR.search(before) and BAR.search(after), text
    assert before.endswith("\r") and before.rsplit("\r", 2)[-2].strip() == ""
    assert after.startswith("\r\n")  # the terminal's newline: the message stays
    (snapshot,) = complete(dest)
    assert tree_state(snapshot) == tree_state(big_source)


# --- the pieces -------------------------------------------------------------------------


def _reading(percent: int) -> bytes:
    return f"\r      {percent * 1000:>9,} {percent:3d}%    1.00MB/s    0:00:01".encode()


def _draw_from(chunks: list[tuple[float, bytes]], interval: float = 0.1) -> list[str]:
    """What the drawer writes for ``chunks`` (a pause in seconds, then the bytes)."""
    read, write = os.pipe()
    written: list[str] = []
    line = runner.StatusLine(written.append)

    def feed() -> None:
        for pause, chunk in chunks:
            time.sleep(pause)
            os.write(write, chunk)
        os.close(write)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        runner._draw_progress(read, line, parse_progress, interval=interval)
    finally:
        feeder.join()
        os.close(read)
    return written


def _percents(written: list[str]) -> list[int]:
    found = [re.search(r"([0-9]+)%", text) for text in written]
    return [int(match[1]) for match in found if match]


def test_readings_are_throttled_and_the_newest_one_is_drawn_late() -> None:
    burst = [(0.0, _reading(p)) for p in range(3, 60)]
    written = _draw_from([(0.0, _reading(1)), (0.1, _reading(2)), *burst, (0.5, b"")], 0.3)
    # the first reading at once, then the newest one when the interval is over
    assert _percents(written)[:2] == [1, 59]
    assert len(written) == 3 and written[-1].strip() == ""


def test_the_line_is_padded_over_a_longer_one_and_cleared() -> None:
    written = _draw_from([(0.0, _reading(5)), (0.2, b"\r  7%\r"), (0.2, b"")], interval=0.05)
    first, second, cleared = written
    short = runner.progress_text(Progress(7))
    assert short is not None and len(short) < len(first) - 1
    assert second == "\r" + short + " " * (len(first) - 1 - len(short))  # padded over
    assert cleared == "\r" + " " * len(short) + "\r"


def test_nothing_is_drawn_without_a_reading_or_a_parser() -> None:
    assert _draw_from([(0.0, b"Number of files: 3\nTotal file size: 7 bytes\n")]) == []
    read, write = os.pipe()
    os.write(write, _reading(50))
    os.close(write)
    written: list[str] = []
    runner._draw_progress(read, runner.StatusLine(written.append), None)
    os.close(read)
    assert written == []


def test_progress_text() -> None:
    reading = Progress(percent=42, bytes_done=1_300_000_000, rate=45.6 * 2**20, eta=3723)
    text = runner.progress_text(reading)
    assert text == "[########............]   42%  1.2 GiB  45.6 MiB/s  1:02:03"
    assert runner.progress_text(reading, 40) == " 42%  1.2 GiB  45.6 MiB/s  1:02:03"
    assert runner.progress_text(reading, 10) == " 42%  1.2"
    assert runner.progress_text(Progress(percent=150)) == "[####################]  100%"
    assert runner.progress_text(Progress(bytes_done=5)) is None


def test_rsync_progress_lines_are_parsed_and_file_names_are_not() -> None:
    line = "        425,984  45%  406.25kB/s    0:00:01 (xfr#1, to-chk=2/4)"
    assert parse_progress("\r" + line) == Progress(45, 425_984, 406.25 * 1024, 1)
    assert parse_progress(line[line.index("45%") :]) == Progress(45, None, 406.25 * 1024, 1)
    assert parse_progress("\r" + line + "\n100%.txt\nsub/50%\n") == parse_progress(line)
    assert parse_progress("Number of files: 3\nsent 10 bytes\n") is None
