"""Helpers of the fleet status tests (``dss status``, ``dss serve``, the page in a real
browser): a config with three jobs and real snapshots, a ``dss run`` and a ``dss serve``
in child processes, HTTP requests with urllib (no proxy)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from dsstest import RunDss, complete, make_tree

#: A destination name that HTML must not take for markup.
ODD_NAME = "dest beta & <img src=x onerror=alert(1)>"
JOBS = ("alpha", "beta", "gamma")


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of printable text is a TOML basic string


class Fleet(NamedTuple):
    """Three jobs: ``alpha`` with three real snapshots (changes between them),
    ``beta`` with one (stale after 1 s; its destination has an odd name), ``gamma``
    whose source is missing (no snapshot; every create fails)."""

    config: Path
    dests: dict[str, Path]
    logfile: Path

    def newest(self, job: str) -> Path:
        return complete(self.dests[job])[-1]


def make_fleet(tmp_path: Path, run_dss: RunDss, *, extra: str = "") -> Fleet:
    """Build the :class:`Fleet` (``extra``: more top-level TOML lines)."""
    source_a = make_tree(tmp_path / "source-a")
    source_b = make_tree(tmp_path / "source b")
    dests = {"alpha": tmp_path / "dest-alpha", "beta": tmp_path / ODD_NAME,
             "gamma": tmp_path / "dest-gamma"}  # fmt: skip
    for dest in dests.values():
        dest.mkdir()
        dest.chmod(0o700)  # no root-exposure warning
    logfile = tmp_path / "fleet.log"
    config = tmp_path / "fleet.toml"
    config.write_text(
        'unit-interval = "1d"\nnum-intervals = 3\nretry-delay = "1s"\n'
        "min-free-mb = 0\nmin-free-percent = 0\nloglevel = \"notice\"\n"
        f"logfile = {toml_string(str(logfile))}\n{extra}"
        f'[[job]]\nname = "alpha"\nsource-dir = {toml_string(f"{source_a}/")}\n'
        f"dest-dir = {toml_string(str(dests['alpha']))}\n"
        f'[[job]]\nname = "beta"\nsource-dir = {toml_string(f"{source_b}/")}\n'
        f"dest-dir = {toml_string(str(dests['beta']))}\nstale-after = 1\n"
        f'[[job]]\nname = "gamma"\nsource-dir = {toml_string(str(tmp_path / "unmounted") + "/")}\n'
        f"dest-dir = {toml_string(str(dests['gamma']))}\nmax-rsync-errors = 100000\n"
    )
    for round_ in range(3):
        (source_a / f"grown-{round_}.bin").write_bytes(os.urandom(200_000))
        run_dss("-c", str(config), "--job", "alpha", "create", check=True)
        time.sleep(1.05 - time.time() % 1)  # the next creation in a new second
    run_dss("-c", str(config), "--job", "beta", "create", check=True)
    return Fleet(config, dests, logfile)


def status_json(run_dss: RunDss, fleet: Fleet, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_dss("-c", str(fleet.config), *args, "status", "--json")
    assert result.returncode in (0, 3), result.stderr
    return result.returncode, json.loads(result.stdout)


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in document["jobs"]}


class Child:
    """A ``dss`` child process (``run`` or ``serve``), stopped at the end."""

    def __init__(self, args: list[str], stderr: Any = subprocess.PIPE) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dssframe", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )

    def read_line(self, containing: str, timeout: float = 30.0) -> str:
        """The first line of its stderr that holds ``containing``."""
        stream = self.process.stderr
        assert stream is not None
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = stream.readline()
            if not line:
                break
            seen.append(line)
            if containing in line:
                return line
        raise AssertionError(f"no line with {containing!r} on stderr: {''.join(seen)!r}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def start_serve(config: Path, *args: str) -> tuple[Child, str]:
    """``dss serve --bind 127.0.0.1:0`` (or ``args``): the process and its URL."""
    bind = list(args) or ["--bind", "127.0.0.1:0"]
    child = Child(["-c", str(config), "serve", *bind])
    line = child.read_line("listening on")
    url = line.split("listening on ", 1)[1].split()[0]
    return child, url


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> Answer:
    """One real HTTP request (no proxy, whatever the environment says)."""
    data = b"x=1" if method in ("POST", "PUT") else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with OPENER.open(request, timeout=30) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), error.read())


def children() -> Iterator[list[Child]]:
    """A list to put children in; they are killed at the end (a fixture's body)."""
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()
