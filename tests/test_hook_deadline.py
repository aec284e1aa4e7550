"""Hooks with a deadline: every hook runs in its own process group, ``hook-timeout``
kills it, and ``dss run`` exits within 10 s of SIGTERM whatever its hooks and
notifiers do; a one-shot command killed with SIGTERM takes its hook's group along.

Real processes throughout: a hook writes ``$$`` (its process group, since it leads
one) to a file, and a group is gone when ``os.killpg(pgid, 0)`` finds nobody."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dssframe.builtin import shell_hooks as hooks
from dssframe.core.config import Config
from dssframe.core.events import Event, EventKind
from dssframe.plugins.host import load_host
from dssframe.store import control
from dsstest import RunDss, require_tool

#: The contract: ``dss run`` exits within this many seconds of SIGTERM.
EXIT_WITHIN = 10.0

EVENT_RECORDER = """
import json
from dssframe import hookimpl

@hookimpl
def dssframe_event(event):
    with open({path!r}, "a") as out:
        out.write(json.dumps({{"kind": event.kind.value, "reason": event.reason,
                              "error": event.error, "source": event.source,
                              "destination": event.destination}}) + "\\n")
"""


@pytest.fixture(autouse=True)
def fresh_hooks_module() -> Iterator[None]:
    """In-process tests share the hooks module: no stop, configuration or reporter
    leaks out of a test."""
    hooks.reset()
    yield
    hooks.reset()
    hooks.dssframe_configure(Config(), None)


def hanging(pidfile: Path, ignore_term: bool = False) -> str:
    """A hook that records its pid (= its process group) and never ends; with
    ``ignore_term`` it survives SIGTERM and only SIGKILL ends it."""
    if ignore_term:
        return f"trap '' TERM; echo $$ > {pidfile}; while :; do sleep 1; done"
    return f"echo $$ > {pidfile}; exec sleep 100000"


def wait_for_pid(pidfile: Path, process: subprocess.Popen[bytes] | None = None) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if pidfile.exists() and pidfile.read_text().strip():
            return int(pidfile.read_text())
        if process is not None and process.poll() is not None:
            raise AssertionError(f"dss exited ({process.returncode}) before the hook started")
        time.sleep(0.05)
    raise AssertionError(f"the hook never wrote {pidfile}")


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def group_gone(pgid: int) -> bool:
    """True when nobody is left in process group ``pgid``. Allows init a few seconds:
    a hook's children killed together with it become init's zombies (members of the
    group still) until init reaps them, and some inits do that only now and then."""
    deadline = time.monotonic() + 3
    while group_exists(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def kill_group(pgid: int) -> None:
    """Cleanup: whatever the outcome, leave no hook behind."""
    if pgid and group_exists(pgid):
        os.killpg(pgid, signal.SIGKILL)


def write_config(path: Path, options: dict[str, Any]) -> Path:
    path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in options.items()))
    return path


@pytest.fixture
def options(source: Path, dest: Path) -> dict[str, Any]:
    return {
        "source-dir": f"{source}/",
        "dest-dir": str(dest),
        "unit-interval": "1h",
        "num-intervals": 3,
        "retry-delay": "1s",
        "min-free-mb": 0,
        "min-free-percent": 0,
        "loglevel": "notice",
    }


@pytest.fixture
def start_dss(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``dss [args] CMD`` with its standard error in a file (tmp_path/stderr.log)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(tmp_path / "stderr.log", "ab") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "dssframe", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def stderr_of(tmp_path: Path) -> str:
    return (tmp_path / "stderr.log").read_text()


def terminate_and_time(process: subprocess.Popen[bytes]) -> float:
    """SIGTERM, then the seconds until the process exited (it must, within 20 s)."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(20)
    elapsed = time.monotonic() - started
    print(f"exited {elapsed:.2f}s after SIGTERM")
    return elapsed


def assert_not_running(run_dss: RunDss, config: Path, source: Path, dest: Path) -> None:
    """The lock is free: status says not running, and a plain create is not refused."""
    assert run_dss("-c", str(config), "status").returncode == 3
    plain = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create")
    assert plain.returncode == 0, plain.stderr


# --- dss run: SIGTERM while a hook hangs ------------------------------------------------------


@pytest.mark.parametrize("ignore_term", [False, True], ids=["sleeping", "ignoring-sigterm"])
def test_run_exits_within_10s_of_sigterm_while_the_pre_create_hook_hangs(
    start_dss: Callable[..., subprocess.Popen[bytes]],
    run_dss: RunDss,
    tmp_path: Path,
    options: dict[str, Any],
    source: Path,
    dest: Path,
    ignore_term: bool,
) -> None:
    require_tool("rsync")
    pidfile = tmp_path / "pre.pid"
    options["pre-create-hook"] = hanging(pidfile, ignore_term)
    config = write_config(tmp_path / "dss.toml", options)
    dss = start_dss("-c", str(config), "run")
    pgid = wait_for_pid(pidfile, dss)
    try:
        elapsed = terminate_and_time(dss)
        assert elapsed < EXIT_WITHIN, stderr_of(tmp_path)
        assert dss.returncode == 0, stderr_of(tmp_path)
        assert group_gone(pgid)
        log = stderr_of(tmp_path)
        assert "pre-create-hook killed: dss is stopping" in log
        state = control.read_state(str(dest))
        assert state is not None and state["exit_reason"] == "caught signal SIGTERM"
        assert_not_running(run_dss, config, source, dest)
    finally:
        kill_group(pgid)


def test_run_exits_within_10s_of_sigterm_while_the_post_create_hook_hangs(
    start_dss: Callable[..., subprocess.Popen[bytes]],
    run_dss: RunDss,
    tmp_path: Path,
    options: dict[str, Any],
    source: Path,
    dest: Path,
) -> None:
    require_tool("rsync")
    pidfile = tmp_path / "post.pid"
    options["post-create-hook"] = hanging(pidfile)
    config = write_config(tmp_path / "dss.toml", options)
    dss = start_dss("-c", str(config), "run")
    pgid = wait_for_pid(pidfile, dss)
    try:
        elapsed = terminate_and_time(dss)
        assert elapsed < EXIT_WITHIN, stderr_of(tmp_path)
        assert dss.returncode == 0, stderr_of(tmp_path)
        assert group_gone(pgid)
        assert_not_running(run_dss, config, source, dest)
    finally:
        kill_group(pgid)


@pytest.mark.parametrize("ignore_term", [False, True], ids=["sleeping", "ignoring-sigterm"])
def test_the_exit_hook_runs_but_is_killed_in_time(
    start_dss: Callable[..., subprocess.Popen[bytes]],
    run_dss: RunDss,
    tmp_path: Path,
    options: dict[str, Any],
    source: Path,
    dest: Path,
    ignore_term: bool,
) -> None:
    require_tool("rsync")
    pidfile = tmp_path / "exit.pid"
    options["exit-hook"] = hanging(pidfile, ignore_term)
    config = write_config(tmp_path / "dss.toml", options)
    dss = start_dss("-c", str(config), "run")

    def created() -> bool:
        state = control.read_state(str(dest))
        last = state and state["last_result"]
        return bool(last and last["result"] == "created")

    deadline = time.monotonic() + 20
    while not created():
        assert time.monotonic() < deadline and dss.poll() is None, stderr_of(tmp_path)
        time.sleep(0.05)
    pgid = 0
    try:
        elapsed = terminate_and_time(dss)
        assert elapsed < EXIT_WITHIN, stderr_of(tmp_path)
        assert dss.returncode == 0, stderr_of(tmp_path)
        pgid = wait_for_pid(pidfile)  # it did run
        assert group_gone(pgid)
        assert "exit-hook timed out" in stderr_of(tmp_path)
        assert_not_running(run_dss, config, source, dest)
    finally:
        kill_group(pgid)


def test_sigterm_ignoring_pre_create_and_exit_hooks_still_fit_into_10s(
    start_dss: Callable[..., subprocess.Popen[bytes]],
    run_dss: RunDss,
    tmp_path: Path,
    options: dict[str, Any],
    source: Path,
    dest: Path,
) -> None:
    """The worst case the budget is made for: both hooks need SIGKILL."""
    require_tool("rsync")
    pre, exit_pid = tmp_path / "pre.pid", tmp_path / "exit.pid"
    options["pre-create-hook"] = hanging(pre, ignore_term=True)
    options["exit-hook"] = hanging(exit_pid, ignore_term=True)
    config = write_config(tmp_path / "dss.toml", options)
    dss = start_dss("-c", str(config), "run")
    pgids = [wait_for_pid(pre, dss)]
    try:
        elapsed = terminate_and_time(dss)
        assert elapsed < EXIT_WITHIN, stderr_of(tmp_path)
        assert dss.returncode == 0, stderr_of(tmp_path)
        pgids.append(wait_for_pid(exit_pid))
        assert all(group_gone(pgid) for pgid in pgids)
        options.pop("pre-create-hook")
        options.pop("exit-hook")
        assert_not_running(run_dss, write_config(config, options), source, dest)
    finally:
        for pgid in pgids:
            kill_group(pgid)


def test_a_hung_notifier_does_not_hold_the_exiting_run_loop(
    start_dss: Callable[..., subprocess.Popen[bytes]],
    run_dss: RunDss,
    tmp_path: Path,
    options: dict[str, Any],
    source: Path,
    dest: Path,
) -> None:
    """A -p notifier that never returns from RUN_EXITING; the exit hook still runs."""
    require_tool("rsync")
    site = tmp_path / "site"
    site.mkdir()
    (site / "hung_notifier.py").write_text(
        "import time\nfrom dssframe import hookimpl\n\n@hookimpl\n"
        "def dssframe_event(event):\n"
        "    if event.kind.value == 'run-exiting':\n        time.sleep(100000)\n"
    )
    calls = tmp_path / "exit-calls"
    options["exit-hook"] = f'echo "$1" >> {calls}'
    config = write_config(tmp_path / "dss.toml", options)
    env = {**os.environ, "PYTHONPATH": str(site)}
    dss = start_dss("-p", "hung_notifier", "-c", str(config), "run", env=env)
    deadline = time.monotonic() + 20
    while control.read_state(str(dest)) is None:
        assert time.monotonic() < deadline and dss.poll() is None, stderr_of(tmp_path)
        time.sleep(0.05)
    elapsed = terminate_and_time(dss)
    assert elapsed < EXIT_WITHIN, stderr_of(tmp_path)
    assert dss.returncode == 0, stderr_of(tmp_path)
    assert calls.read_text() == "caught signal SIGTERM\n"
    assert "notifier 'hung_notifier' did not finish run-exiting" in stderr_of(tmp_path)
    assert run_dss("-c", str(config), "status").returncode == 3


# --- one-shot commands ----------------------------------------------------------------------------


def test_hook_timeout_defers_a_one_shot_create_and_kills_the_hook(
    run_dss: RunDss, tmp_path: Path, options: dict[str, Any], dest: Path
) -> None:
    pidfile = tmp_path / "pre.pid"
    options.update({"pre-create-hook": hanging(pidfile), "hook-timeout": 2})
    config = write_config(tmp_path / "dss.toml", options)
    pgid = 0
    try:
        result = run_dss("-c", str(config), "create", timeout=30)
        pgid = wait_for_pid(pidfile)
        assert result.returncode != 0
        assert "pre-create-hook timed out after 2s; killed" in result.stderr
        assert group_gone(pgid)
        assert not [p for p in os.listdir(dest) if not p.startswith(".")]  # no snapshot
    finally:
        kill_group(pgid)


@pytest.mark.parametrize("hook", ["pre-create-hook", "post-create-hook"])
def test_sigterm_to_a_one_shot_create_takes_the_hooks_group_along(
    start_dss: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
    options: dict[str, Any],
    hook: str,
) -> None:
    require_tool("rsync")
    pidfile = tmp_path / "hook.pid"
    options[hook] = hanging(pidfile)
    config = write_config(tmp_path / "dss.toml", options)
    dss = start_dss("-c", str(config), "create")
    pgid = wait_for_pid(pidfile, dss)
    try:
        elapsed = terminate_and_time(dss)
        assert elapsed < EXIT_WITHIN, stderr_of(tmp_path)
        assert dss.returncode == 143, stderr_of(tmp_path)
        assert stderr_of(tmp_path).endswith("dss: terminated\n")
        assert group_gone(pgid)
    finally:
        kill_group(pgid)


def test_sigterm_to_a_one_shot_prune_takes_the_pre_remove_hooks_group_along(
    start_dss: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
    options: dict[str, Any],
    dest: Path,
) -> None:
    (dest / "100-incomplete.being_deleted").mkdir()  # an orphan: prune removes it
    pidfile = tmp_path / "hook.pid"
    options["pre-remove-hook"] = hanging(pidfile)
    config = write_config(tmp_path / "dss.toml", options)
    dss = start_dss("-c", str(config), "prune")  # through the typer command line
    pgid = wait_for_pid(pidfile, dss)
    try:
        terminate_and_time(dss)
        assert dss.returncode == 143, stderr_of(tmp_path)
        assert group_gone(pgid)
        assert (dest / "100-incomplete.being_deleted").is_dir()
    finally:
        kill_group(pgid)


# --- the hook-timeout event ---------------------------------------------------------------------


def test_a_timed_out_hook_reaches_the_notifiers_as_a_hook_timeout_event(
    run_dss: RunDss, tmp_path: Path, options: dict[str, Any], source: Path, dest: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    events = tmp_path / "events.jsonl"
    (site / "event_recorder.py").write_text(EVENT_RECORDER.format(path=str(events)))
    pidfile = tmp_path / "pre.pid"
    options.update({"pre-create-hook": hanging(pidfile), "hook-timeout": 1})
    config = write_config(tmp_path / "dss.toml", options)
    env = {**os.environ, "PYTHONPATH": str(site)}
    pgid = 0
    try:
        result = run_dss("-p", "event_recorder", "-c", str(config), "create", env=env, timeout=30)
        pgid = wait_for_pid(pidfile)
        assert result.returncode != 0
        assert group_gone(pgid)
        recorded = [json.loads(line) for line in events.read_text().splitlines()]
        timeouts = [e for e in recorded if e["kind"] == "hook-timeout"]
        assert timeouts == [
            {
                "kind": "hook-timeout",
                "reason": "pre-create-hook",
                "error": "pre-create-hook timed out after 1s; killed",
                "source": f"{source}/",
                "destination": str(dest),
            }
        ]
        deferred = [e for e in recorded if e["kind"] == "create-deferred"]
        assert [e["reason"] for e in deferred] == ["pre-create-hook timed out after 1s; killed"]
    finally:
        kill_group(pgid)


# --- the hooks module in-process -------------------------------------------------------------


def test_run_kills_the_group_on_timeout_and_reports_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    reported: list[Event] = []
    # the host hands its notify over with the configuration
    hooks.dssframe_configure(Config(source_dir="/src", dest_dir="/dst"), reported.append)
    # A group whose leader exits on SIGTERM but whose member ignores it.
    value = f"echo $$ > {pidfile}; (trap '' TERM; exec sleep 100000) & wait"
    assert hooks.run("post-remove-hook", value, "/d/x", timeout=0.5) == hooks.TIMED_OUT
    pgid = int(pidfile.read_text())
    assert group_gone(pgid)
    [event] = reported
    assert event.kind is EventKind.HOOK_TIMEOUT
    assert (event.reason, event.error) == (
        "post-remove-hook",
        "post-remove-hook timed out after 0.5s; killed",
    )
    assert (event.source, event.destination) == ("/src", "/dst")


def test_a_timed_out_pre_hook_vetoes(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    config = Config(pre_remove_hook=hanging(pidfile), hook_timeout=1)
    assert hooks.dssframe_pre_remove(config, "/d/p") == "pre-remove-hook timed out after 1s; killed"
    assert group_gone(int(pidfile.read_text()))


def test_stop_all_cuts_off_a_running_hook_and_bounds_later_ones(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    statuses: list[int] = []
    waiter = threading.Thread(
        target=lambda: statuses.append(hooks.run("post-create-hook", hanging(pidfile), "/p"))
    )
    waiter.start()
    pgid = wait_for_pid(pidfile)
    hooks.stop_all(within=5)
    waiter.join(10)
    assert not waiter.is_alive() and statuses == [hooks.TIMED_OUT]
    assert group_gone(pgid)
    assert hooks.wait_stopped(0)
    # A hook started while stopping still runs (the exit hook), but only briefly.
    later = tmp_path / "later"
    assert hooks.run("exit-hook", f"touch {later}; exec sleep 100000", "why") == hooks.TIMED_OUT
    assert later.exists()
    assert hooks.stopping()
    hooks.reset()
    assert hooks.run("exit-hook", "true") == 0


def test_an_exception_in_the_waiting_thread_terminates_the_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with pytest.raises(KeyboardInterrupt):
            hooks.run("pre-create-hook", hanging(pidfile))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert group_gone(int(pidfile.read_text()))


def test_notify_waits_for_no_notifier_beyond_the_stop_deadline() -> None:
    from dssframe import hookimpl

    heard: list[str] = []
    release = threading.Event()

    def hung(event: Event) -> None:
        release.wait(60)

    def quick(event: Event) -> None:
        heard.append(event.kind.value)

    host = load_host()
    for name, function in (("hung", hung), ("quick", quick)):
        plugin = types.ModuleType(name)
        plugin.dssframe_event = hookimpl(function)  # type: ignore[attr-defined]
        host.register_module(plugin, name, "test", None, None)
    host.configure(Config(notify_timeout=60))
    try:
        host.stop_by(time.monotonic() + 0.5)
        started = time.monotonic()
        host.notify(Event(EventKind.RUN_EXITING, 1, reason="stop"))
        assert time.monotonic() - started < EXIT_WITHIN  # not notify-timeout
        assert heard == ["run-exiting"]  # the quick one heard it all the same
    finally:
        release.set()


def test_the_host_stops_every_plugin_through_its_hooks() -> None:
    """``dss`` reaches the shell hooks (and any plugin that starts processes) only
    through the hooks ``dssframe_stop`` and ``dssframe_wait_stopped``."""
    from dssframe import hookimpl

    class Worker:
        """A plugin with a process of its own, still running."""

        def __init__(self) -> None:
            self.stops: list[float | None] = []
            self.deadlines: list[float] = []

        @hookimpl
        def dssframe_stop(self, within: float | None) -> None:
            self.stops.append(within)

        @hookimpl
        def dssframe_wait_stopped(self, deadline: float) -> bool:
            self.deadlines.append(deadline)
            return False

    worker = Worker()
    host = load_host()
    host.register_module(worker, "worker", "test", None, None)
    before = time.monotonic()
    host.stop(2)
    assert worker.stops == [2] and hooks.stopping()  # the shell hooks were told too
    assert host.wait_stopped(0.2) is False  # the worker's process still runs
    assert worker.deadlines and worker.deadlines[0] >= before + 0.2
    assert host._stop_by is not None and host._stop_by <= before + 2.5  # notifiers too
    host.stop(None)  # a new run in this process
    assert worker.stops == [2, None] and not hooks.stopping() and host._stop_by is None
