"""runner.start: the transport's process dies with dss (PR_SET_PDEATHSIG), through
util-linux's setpriv where it can and a preexec prctl where it cannot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dssframe.engine import runner

HOLDER = """
import sys, time
from dssframe.engine import runner
if sys.argv[1] == "prctl":
    runner.SETPRIV_PATHS = ()  # as on a system without a usable setpriv
process = runner.start(["sleep", "60"], False)
print(process.pid, flush=True)
time.sleep(60)
"""


def _state(pid: int) -> str | None:
    """The process state letter of ``pid`` (Z: zombie), None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def test_this_system_has_a_setpriv_that_knows_pdeathsig() -> None:
    """Debian and Ubuntu ship util-linux >= 2.33: the fast path must be the one used."""
    assert runner._setpriv() in runner.SETPRIV_PATHS


@pytest.mark.parametrize("mode", ["setpriv", "prctl"])
def test_the_child_dies_when_dss_is_killed(mode: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, mode], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    pid = int(holder.stdout.readline())
    try:
        deadline = time.monotonic() + 5
        while _cmdline(pid)[:1] in ([], [runner.SETPRIV_PATHS[0]]) and time.monotonic() < deadline:
            time.sleep(0.01)  # until setpriv has exec'd the program
        argv = _cmdline(pid)
        assert argv[1:] == ["60"]
        if mode == "setpriv":
            assert os.path.isabs(argv[0]) and argv[0].endswith("/sleep")
        else:
            assert argv[0] == "sleep"
        holder.send_signal(signal.SIGKILL)  # no handler, no cleanup: only the kernel acts
        holder.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _state(pid) not in (None, "Z") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _state(pid) in (None, "Z"), f"sleep {pid} outlived its parent"
    finally:
        holder.kill()
        holder.wait()
        if _state(pid) not in (None, "Z"):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("program", ["no-such-program-dss", "/nonexistent/rsync"])
def test_a_program_that_cannot_run_is_one_clear_error(program: str) -> None:
    with pytest.raises(FileNotFoundError, match=f"cannot run {program}: No such file"):
        runner.start([program, "-a"], False)


def test_a_non_executable_program_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "rsync"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    with pytest.raises(FileNotFoundError, match="cannot run .*: Permission denied"):
        runner.start([str(script)], False)


def test_the_arguments_reach_the_program_unchanged(tmp_path: Path) -> None:
    weird = ["a b", "$(touch x)", "--", "-e", "ssh -p 22", "x;y", "new\nline", "*"]
    out = tmp_path / "argv"
    script = 'printf "%s\\0" "$@" > "$0"'  # a fixed script; the values are only data
    process = runner.start(["sh", "-c", script, str(out), *weird], False)
    status, stderr = runner.wait(process)
    assert status == 0, stderr
    assert out.read_bytes().split(b"\0")[:-1] == [w.encode() for w in weird]
