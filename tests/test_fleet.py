"""Many jobs, one ``dss run``: a config with ``[[job]]`` tables, real ``dss`` processes,
real rsync, a real sshd for one job, real signals. One failing job never disturbs the
others; ``max-parallel`` holds; SIGHUP adds and removes jobs; every job has its own lock;
the log names the job on every line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dssframe.core.config import toml_value
from dssframe.store import control
from dsstest import RunDss, complete, make_tree, require_tool
from sshd import SshServer
from test_daemon import STOP_TIMEOUT, script, wait_until

pytestmark = pytest.mark.usefixtures("rsync")

FAST = {
    "unit-interval": "8s",  # u / 2**(n-1): a snapshot every 2 s per job
    "num-intervals": 3,
    "retry-delay": "1s",
    "min-free-mb": 0,
    "min-free-percent": 0,
    "loglevel": "notice",
}


def fleet_toml(defaults: dict[str, Any], jobs: list[dict[str, Any]]) -> str:
    lines = [f"{key} = {toml_value(value)}" for key, value in defaults.items()]
    for job in jobs:
        lines.append("\n[[job]]")
        lines += [f"{key} = {toml_value(value)}" for key, value in job.items()]
    return "\n".join(lines) + "\n"


class Fleet:
    """One ``dss run`` over a config with jobs."""

    def __init__(self, tmp_path: Path, defaults: dict[str, Any], jobs: list[dict[str, Any]]):
        self.config = tmp_path / "fleet.toml"
        self.write(defaults, jobs)
        self.stderr = tmp_path / f"fleet-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def write(self, defaults: dict[str, Any], jobs: list[dict[str, Any]]) -> None:
        self.config.write_text(fleet_toml(defaults, jobs))

    def start(self) -> Fleet:
        with open(self.stderr, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dssframe", "-c", str(self.config), "run"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        return self

    def log(self) -> str:
        return self.stderr.read_text()

    def lines(self, job: str) -> list[str]:
        return [line.split(" ", 2)[2][len(job) + 3:] for line in self.log().splitlines()
                if line.split(" ", 2)[2].startswith(f"[{job}] ")]  # fmt: skip

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_TIMEOUT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)


@pytest.fixture
def fleets() -> Iterator[list[Fleet]]:
    started: list[Fleet] = []
    yield started
    for fleet in started:
        fleet.kill()


def job(tmp_path: Path, name: str, **extra: Any) -> dict[str, Any]:
    """A local job ``name``: a small source tree and a private destination."""
    source = make_tree(tmp_path / f"src-{name}")
    dest = tmp_path / f"dest-{name}"
    dest.mkdir(mode=0o700)
    return {"name": name, "source-dir": f"{source}/", "dest-dir": str(dest),
            **{key.replace("_", "-"): value for key, value in extra.items()}}  # fmt: skip


def ssh_job(tmp_path: Path, server: SshServer, name: str) -> dict[str, Any]:
    source = make_tree(tmp_path / f"src-{name}")
    dest = tmp_path / f"dest-{name}"
    dest.mkdir(mode=0o700)
    return {
        "name": name, "source-dir": f"{source}/", "dest-dir": str(dest),
        "remote-host": server.host, "remote-user": server.user, "use-ssh": "always",
        "ssh-port": server.port, "ssh-identity": str(server.client_key),
        "ssh-option": server.ssh_options(), "ssh-connect-timeout": 5,
    }  # fmt: skip


def state_of(job: dict[str, Any]) -> dict[str, Any] | None:
    return control.read_state(job["dest-dir"])


def test_three_jobs_one_failing_the_others_go_on(
    tmp_path: Path, sshd: SshServer, fleets: list[Fleet], run_dss: RunDss
) -> None:
    """Two local jobs and one over ssh; the second local one's source is missing. The
    failing job fails (one line each time, named), reaches max-rsync-errors and is
    paused; the other two keep making snapshots; SIGTERM stops everything, exit 0."""
    alpha, remote = job(tmp_path, "alpha"), ssh_job(tmp_path, sshd, "remote")
    broken = job(tmp_path, "broken")
    broken["source-dir"] = str(tmp_path / "not-mounted") + "/"
    fleet = Fleet(tmp_path, {**FAST, "max-rsync-errors": 2}, [alpha, broken, remote]).start()
    fleets.append(fleet)
    wait_until(lambda: len(complete(Path(alpha["dest-dir"]))) >= 3, 30, "alpha's snapshots")
    wait_until(lambda: len(complete(Path(remote["dest-dir"]))) >= 3, 30, "remote's snapshots")
    assert fleet.process is not None and fleet.process.poll() is None
    broken_state = wait_until(lambda: (s := state_of(broken)) and not s["running"] and s, 10,
                              "the broken job paused")  # fmt: skip
    assert "2 consecutive snapshot failures" in broken_state["exit_reason"]
    status = json.loads(run_dss("-c", str(fleet.config), "status", "--json").stdout)
    states = {entry["name"]: entry["state"] for entry in status["jobs"]}
    assert states["broken"] == "paused" and states["alpha"] != "stopped", states
    assert complete(Path(broken["dest-dir"])) == []
    for name in ("alpha", "remote"):
        state = state_of(alpha if name == "alpha" else remote)
        assert state is not None and state["job"] == name and state["running"]
        assert state["pid"] == fleet.process.pid
    assert fleet.stop() == 0
    failures = [line for line in fleet.lines("broken") if line.startswith("create-failed")]
    assert failures == [f"create-failed: source-dir {tmp_path / 'not-mounted'} does not exist"] * 2
    assert not any("create-failed" in line for line in fleet.lines("alpha") + fleet.lines("remote"))
    for line in fleet.log().splitlines()[1:]:  # after the start line, every line names its job
        assert line.split(" ", 2)[2].startswith(("[alpha] ", "[broken] ", "[remote] ")), line
    assert fleet.lines("alpha")[-1] == "run-exiting (caught signal SIGTERM)"


def test_max_parallel_limits_the_copies_running_at_once(
    tmp_path: Path, fleets: list[Fleet]
) -> None:
    """Each copy takes a second (a wrapper records its start and end); with
    max-parallel 1 no two overlap, with 2 some do and never three."""
    intervals = tmp_path / "intervals"
    wrapper = script(
        tmp_path / "slow-rsync",
        f'start=$(date +%s.%N); sleep 1; rsync "$@"; status=$?\n'
        f'echo "$start $(date +%s.%N)" >> "{intervals}"; exit $status\n',
    )

    def overlaps() -> int:
        spans = [tuple(map(float, line.split())) for line in intervals.read_text().splitlines()]
        return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)

    for limit in (1, 2):
        jobs = [job(tmp_path / f"p{limit}", name, rsync_path=wrapper) for name in "abc"]
        intervals.write_text("")
        fleet = Fleet(tmp_path, {**FAST, "unit-interval": "4s", "max-parallel": limit}, jobs)
        fleets.append(fleet.start())
        wait_until(lambda: len(intervals.read_text().splitlines()) >= 6, 40, "six copies")
        assert fleet.stop() == 0
        assert overlaps() == limit, intervals.read_text()


def test_sighup_adds_and_removes_jobs_without_disturbing_the_others(
    tmp_path: Path, fleets: list[Fleet], run_dss: RunDss
) -> None:
    keep, drop, new = job(tmp_path, "keep"), job(tmp_path, "drop"), job(tmp_path, "new")
    fleet = Fleet(tmp_path, FAST, [keep, drop])
    fleets.append(fleet.start())
    wait_until(lambda: complete(Path(drop["dest-dir"])), 20, "a snapshot of drop")
    wait_until(lambda: complete(Path(keep["dest-dir"])), 20, "a snapshot of keep")
    assert fleet.process is not None
    started = (state_of(keep) or {})["started"]
    fleet.write(FAST, [keep, new])
    fleet.process.send_signal(signal.SIGHUP)
    wait_until(lambda: complete(Path(new["dest-dir"])), 20, "a snapshot of the new job")
    dropped = wait_until(lambda: (s := state_of(drop)) and not s["running"] and s, 10, "drop")
    assert dropped["exit_reason"] == "removed from the configuration"
    # its lock is free again: a one-shot create there works while the fleet runs
    free = run_dss("--source-dir", drop["source-dir"], "--dest-dir", drop["dest-dir"], "create")
    assert free.returncode == 0, free.stderr
    kept = state_of(keep)
    assert kept is not None and kept["running"] and kept["started"] == started  # not restarted
    assert "job new added" in fleet.log()
    assert "job drop removed from the configuration" in fleet.log()
    assert fleet.stop() == 0


def test_each_job_has_its_own_lock(
    tmp_path: Path, fleets: list[Fleet], run_dss: RunDss
) -> None:
    """While the fleet runs, a one-shot create on one job's destination is refused; a
    second fleet over the same config has nothing to do and exits 1; a config whose
    jobs share a destination is refused (exit 2)."""
    one, two = job(tmp_path, "one"), job(tmp_path, "two")
    fleet = Fleet(tmp_path, FAST, [one, two])
    fleets.append(fleet.start())
    wait_until(lambda: state_of(one) and state_of(two), 20, "both jobs running")
    assert fleet.process is not None
    refused = run_dss("-c", str(fleet.config), "--job", "one", "create")
    assert refused.returncode == 1 and f"another dss (pid {fleet.process.pid}, " in refused.stderr
    second = run_dss("-c", str(fleet.config), "run", timeout=30)
    assert second.returncode == 1, second.stderr
    assert second.stderr.count("lock-refused") == 2, second.stderr
    assert fleet.process.poll() is None  # the first one is not disturbed
    shared = tmp_path / "shared.toml"
    shared.write_text(fleet_toml(FAST, [one, {**two, "dest-dir": one["dest-dir"] + "/"}]))
    clash = run_dss("-c", str(shared), "configtest")
    assert clash.returncode == 2
    assert "jobs 'one' and 'two' share dest-dir" in clash.stderr
    assert fleet.stop() == 0


def test_sigterm_stops_every_running_copy_within_ten_seconds(
    tmp_path: Path, fleets: list[Fleet]
) -> None:
    wrapper = script(tmp_path / "stuck-rsync", 'rsync "$@"; exec sleep 600\n')
    jobs = [job(tmp_path, name, rsync_path=wrapper) for name in ("x", "y")]
    fleet = Fleet(tmp_path, {**FAST, "max-parallel": 2}, jobs)
    fleets.append(fleet.start())
    wait_until(lambda: all((state_of(j) or {}).get("creating") for j in jobs), 20, "copies")
    began = time.monotonic()
    assert fleet.stop() == 0
    assert time.monotonic() - began < 10
    for j in jobs:
        names = [p.name for p in Path(j["dest-dir"]).iterdir() if not p.name.startswith(".")]
        assert len(names) == 1 and names[0].endswith("-incomplete")  # kept for a resume


def test_commands_choose_jobs(tmp_path: Path, run_dss: RunDss) -> None:
    """ls and configtest cover every job (or the --job ones); a command that works on
    one snapshot asks which job; an unknown job lists the known ones."""
    require_tool("rsync")
    one, two = job(tmp_path, "one"), job(tmp_path, "two")
    config = tmp_path / "jobs.toml"
    config.write_text(fleet_toml(FAST, [one, two]))
    created = run_dss("-c", str(config), "--job", "two", "create")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith(two["dest-dir"] + "/")
    ask = run_dss("-c", str(config), "restore", "1", "--dry-run")
    assert ask.returncode == 2
    assert "has 2 jobs (one, two); this command works on one: choose it with --job NAME" in (
        ask.stderr
    )
    unknown = run_dss("-c", str(config), "--job", "three", "ls")
    assert unknown.returncode == 2 and "unknown job 'three'; jobs: one, two" in unknown.stderr
    listed = run_dss("-c", str(config), "ls", "--json", check=True)
    documents = json.loads(listed.stdout)
    assert [entry["job"] for entry in documents] == ["one", "two"]
    assert [len(entry["snapshots"]) for entry in documents] == [0, 1]


def test_a_job_without_a_fresh_snapshot_is_stale_once(
    tmp_path: Path, fleets: list[Fleet]
) -> None:
    """stale-after 3 s on a job whose source is gone: one snapshot-stale line (and the
    state file says so) while the healthy job, with its default (twice its 2 s
    period... here an hour, set at the top), is not stale."""
    good, gone = job(tmp_path, "good"), job(tmp_path, "gone", stale_after="3s")
    gone["source-dir"] = str(tmp_path / "nothing-here") + "/"
    defaults = {**FAST, "max-rsync-errors": 1000, "stale-after": "1h"}
    fleet = Fleet(tmp_path, defaults, [good, gone])
    fleets.append(fleet.start())
    wait_until(lambda: (state_of(gone) or {}).get("stale"), 20, "the gone job stale")
    time.sleep(2)  # more failures, no second alert
    assert fleet.stop() == 0
    stale = [line for line in fleet.lines("gone") if line.startswith("snapshot-stale")]
    assert len(stale) == 1, fleet.log()
    assert stale[0].startswith("snapshot-stale: no complete snapshot since dss run started ")
    assert stale[0].endswith("(stale-after = 3s)")
    assert not any("snapshot-stale" in line for line in fleet.lines("good"))
    assert (state_of(good) or {}).get("stale") is False
    assert (state_of(gone) or {}).get("stale_after") == 3


def test_systemd_units_for_a_config_with_jobs(tmp_path: Path, run_dss: RunDss) -> None:
    """The service runs one dss run for every job (no one job's mount or paths in its
    hardening); the timer runs create and prune, which cover every job too."""
    one, two = job(tmp_path, "one"), job(tmp_path, "two")
    config = tmp_path / "jobs.toml"
    config.write_text(fleet_toml(FAST, [one, two]))
    service = run_dss("-c", str(config), "systemd", "--service", check=True).stdout
    assert f"--config {config}" in service and " run" in service
    assert "RequiresMountsFor=" not in service and "ProtectSystem" not in service
    timer = run_dss("-c", str(config), "systemd", "--timer", check=True).stdout
    assert f"--config {config} create" in timer and f"--config {config} prune" in timer
    chosen = run_dss("-c", str(config), "--job", "two", "systemd", "--timer", check=True).stdout
    assert "--job two" in chosen


def test_create_and_prune_cover_every_job_and_go_on_past_a_failing_one(
    tmp_path: Path, run_dss: RunDss
) -> None:
    one, gone, three = job(tmp_path, "one"), job(tmp_path, "gone"), job(tmp_path, "three")
    gone["source-dir"] = str(tmp_path / "unmounted") + "/"
    config = tmp_path / "jobs.toml"
    config.write_text(fleet_toml(FAST, [one, gone, three]))
    created = run_dss("-c", str(config), "create")
    assert created.returncode == 1
    assert [line.rsplit("/", 1)[0] for line in created.stdout.splitlines()] == [
        one["dest-dir"], three["dest-dir"]]
    assert created.stderr.splitlines() == [
        f"dss: error: [gone] create-failed: source-dir {tmp_path / 'unmounted'} does not exist",
        "dss: error: 1 of 3 jobs failed: gone",
    ]
    pruned = run_dss("-c", str(config), "--job", "one", "--job", "three", "prune", "--json")
    assert pruned.returncode == 0, pruned.stderr
    assert [document["job"] for document in json.loads(pruned.stdout)] == ["one", "three"]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("with_jobs", [False, True], ids=["one-job", "fleet"])
def test_the_loop_sleeps_while_a_copy_runs(
    tmp_path: Path, fleets: list[Fleet], with_jobs: bool
) -> None:
    """No busy loop while rsync copies: over 2 s of a slow copy, dss itself uses a
    small fraction of a CPU second (a loop that never sleeps would use about 2)."""
    wrapper = script(tmp_path / "slow-rsync", 'sleep 4; exec rsync "$@"\n')
    first = job(tmp_path, "only", rsync_path=wrapper)
    fleet = Fleet(tmp_path, FAST, [first])
    if not with_jobs:
        fleet.config.write_text(fleet_toml({**FAST, **{k: v for k, v in first.items()
                                                       if k != "name"}}, []))  # fmt: skip
    fleets.append(fleet.start())
    wait_until(lambda: (state_of(first) or {}).get("creating"), 20, "the copy")
    assert fleet.process is not None
    before = cpu_seconds(fleet.process.pid)
    time.sleep(2)
    assert cpu_seconds(fleet.process.pid) - before < 0.5
    assert fleet.stop() == 0
