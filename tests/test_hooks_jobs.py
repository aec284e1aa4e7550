"""The builtin ``hooks`` plugin with several jobs in one process: each event runs the
hook of its own job (``event.job``), with that job's ``hook-timeout``, however the
configurations of the jobs interleave with the delivery of their events."""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dssframe.builtin import shell_hooks as hooks
from dssframe.core.config import Config
from dssframe.core.events import Event, EventKind
from dssframe.plugins import notify
from dssframe.plugins.host import load_host


@pytest.fixture(autouse=True)
def no_jobs() -> Iterator[None]:
    """No job's configuration, reporter or stop leaks into or out of a test."""
    hooks.forget_jobs()
    hooks.set_reporter(None)
    hooks.reset()
    yield
    hooks.forget_jobs()
    hooks.set_reporter(None)
    hooks.dssframe_configure(Config(), None)


def recorder(directory: Path, name: str, wait_for: Path | None = None) -> tuple[str, Path]:
    """A hook program of its own for job ``name``: appends its arguments (JSON) to
    ``<name>.jsonl``. With ``wait_for`` it first writes ``<name>.started`` and waits
    (10 s at most) until that file exists: a slow delivery."""
    out = directory / f"{name}.jsonl"
    script = directory / f"hook of {name}"
    wait = ""
    if wait_for is not None:
        started = directory / f"{name}.started"
        wait = (
            f"open({str(started)!r}, 'a').close()\n"
            "import time\n"
            "end = time.monotonic() + 10\n"
            f"while not os.path.exists({str(wait_for)!r}) and time.monotonic() < end:\n"
            "    time.sleep(0.02)\n"
        )
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"{wait}"
        f"with open({str(out)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    script.chmod(0o755)
    return shlex.quote(str(script)), out


def calls(out: Path) -> list[list[str]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines()]


def job(name: str, script: str, **options: object) -> Config:
    return Config(
        name=name,
        source_dir=f"/src/{name}",
        dest_dir=f"/dest/{name}",
        post_create_hook=f"{script} created",
        post_remove_hook=f"{script} removed",
        exit_hook=f"{script} exit",
        **options,  # type: ignore[arg-type]
    )


def test_each_event_runs_the_hooks_of_its_own_job(tmp_path: Path) -> None:
    script_a, out_a = recorder(tmp_path, "a")
    script_b, out_b = recorder(tmp_path, "b")
    hooks.dssframe_configure(job("a", script_a), None)
    hooks.dssframe_configure(job("b", script_b), None)  # configured last
    hooks.dssframe_event(Event(EventKind.SNAPSHOT_CREATED, 1, path="/dest/a/1", job="a"))
    hooks.dssframe_event(Event(EventKind.SNAPSHOT_CREATED, 2, path="/dest/b/2", job="b"))
    hooks.dssframe_event(Event(EventKind.SNAPSHOT_REMOVED, 3, path="/dest/a/0", job="a"))
    hooks.dssframe_event(Event(EventKind.RUN_EXITING, 4, reason="caught signal", job="a"))
    assert calls(out_a) == [
        ["created", "/dest/a/1"], ["removed", "/dest/a/0"], ["exit", "caught signal"],
    ]
    assert calls(out_b) == [["created", "/dest/b/2"]]

    # an event that names no job: the job configured last; a job never configured: none
    hooks.dssframe_event(Event(EventKind.SNAPSHOT_CREATED, 5, path="/old/style"))
    hooks.dssframe_event(Event(EventKind.SNAPSHOT_CREATED, 6, path="/x", job="unknown"))
    assert calls(out_b)[1:] == [["created", "/old/style"]]
    assert len(calls(out_a)) == 3

    # configuring a job again replaces its configuration, and only its own
    hooks.dssframe_configure(Config(name="a"), None)  # a reload that drops a's hooks
    hooks.dssframe_event(Event(EventKind.SNAPSHOT_CREATED, 7, path="/dest/a/7", job="a"))
    hooks.dssframe_event(Event(EventKind.SNAPSHOT_CREATED, 8, path="/dest/b/8", job="b"))
    assert len(calls(out_a)) == 3
    assert calls(out_b)[-1] == ["created", "/dest/b/8"]


def test_each_job_has_its_own_hook_timeout(tmp_path: Path) -> None:
    reported: list[Event] = []
    out = tmp_path / "finished"
    slow = f'sleep 2; echo "$1" >> {shlex.quote(str(out))}'  # finishes after 2 s
    short = Config(name="short", source_dir="/src/s", dest_dir="/dest/s",
                   post_create_hook=slow, hook_timeout=1)
    long = Config(name="long", source_dir="/src/l", dest_dir="/dest/l",
                  post_create_hook=slow, hook_timeout=60)
    hooks.dssframe_configure(short, reported.append)
    hooks.dssframe_configure(long, reported.append)  # configured last
    hooks.dssframe_event(Event(EventKind.SNAPSHOT_CREATED, 1, path="/dest/s/1", job="short"))
    [timeout] = reported  # short's own hook-timeout, 1 s, cut it off
    assert (timeout.kind, timeout.job, timeout.reason, timeout.error) == (
        EventKind.HOOK_TIMEOUT, "short", "post-create-hook",
        "post-create-hook timed out after 1s; killed")
    assert (timeout.source, timeout.destination) == ("/src/s", "/dest/s")
    assert not out.exists()
    hooks.dssframe_event(Event(EventKind.SNAPSHOT_CREATED, 2, path="/dest/l/2", job="long"))
    assert out.read_text() == "/dest/l/2\n", "long's hook-timeout (60 s) let it finish"
    assert len(reported) == 1


def test_a_veto_uses_the_config_it_is_given(tmp_path: Path) -> None:
    """pre-create and pre-remove hooks get their job's config as an argument: its hook,
    its timeout, and a time-out reported as that job's, whichever job was configured
    last."""
    reported: list[Event] = []
    script_a, out_a = recorder(tmp_path, "a")
    a = Config(name="a", dest_dir="/dest/a", pre_create_hook=f"{script_a} pre-create",
               pre_remove_hook="sleep 3; true", hook_timeout=1)
    b = Config(name="b", dest_dir="/dest/b", pre_create_hook="false")
    hooks.dssframe_configure(a, reported.append)
    hooks.dssframe_configure(b, reported.append)
    assert hooks.dssframe_pre_create(a, "/dest/a/1-incomplete") is None
    assert calls(out_a) == [["pre-create"]]
    assert hooks.dssframe_pre_create(b, "/dest/b/1-incomplete") == (
        "pre-create-hook exited with status 1")
    veto = hooks.dssframe_pre_remove(a, "/dest/a/0")
    assert veto == "pre-remove-hook timed out after 1s; killed"
    [timeout] = reported
    assert (timeout.job, timeout.destination) == ("a", "/dest/a")


def test_an_event_queued_before_the_next_job_is_configured_runs_its_own_jobs_hook(
    tmp_path: Path,
) -> None:
    """Delivery is asynchronous: job b is configured while job a's post-create hook still
    runs for a's first event, and a's second event waits in the queue. Both run a's
    hook, b's hook runs for b's event only."""
    release = tmp_path / "release"
    script_a, out_a = recorder(tmp_path, "a", wait_for=release)
    script_b, out_b = recorder(tmp_path, "b")
    host = load_host()
    with notify.background():  # as under the command line: notify returns at once
        host.configure(job("a", script_a))
        host.notify(Event(EventKind.SNAPSHOT_CREATED, 1, path="/dest/a/1", job="a"))
        host.notify(Event(EventKind.SNAPSHOT_CREATED, 2, path="/dest/a/2", job="a"))
        end = time.monotonic() + 10
        while not (tmp_path / "a.started").exists() and time.monotonic() < end:
            time.sleep(0.02)
        assert (tmp_path / "a.started").exists(), "a's first delivery is under way"
        host.configure(job("b", script_b))  # meanwhile the loop moves on to job b
        host.notify(Event(EventKind.SNAPSHOT_CREATED, 3, path="/dest/b/3", job="b"))
        assert calls(out_a) == []  # still delivering a's first event
        release.touch()
    assert host.flush()
    assert calls(out_a) == [["created", "/dest/a/1"], ["created", "/dest/a/2"]]
    assert calls(out_b) == [["created", "/dest/b/3"]]
