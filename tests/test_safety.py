"""The safety core, tried the way an unlucky administrator would: all snapshots
outdated, leftovers everywhere, an emptied or unmounted source, a shrunken source, an
rsync that is not rsync, pins, two HOMEs on one destination, deleting the newest.

Each failure must leave no complete-named partial, lose no good snapshot, say why in
one line, exit non-zero and reach notifiers as an event. The removal gate itself has
property tests at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dssframe.core import gate, naming
from dssframe.core.naming import SnapshotName
from dssframe.core.retention import Reason, Removal, RetentionPolicy
from dssframe.core.schedule import Action, Activity, Settings, decide
from dsstest import IN_CI, RunDss, complete, snapshots, tree_state

DAY = 86400

RECORDER = '''
import json, os
from dssframe import hookimpl

@hookimpl
def dssframe_event(event):
    with open(os.environ["DSS_EVENTS"], "a") as handle:
        record = {"kind": event.kind.value, "error": event.error, "reason": event.reason,
                  "snapshot": event.snapshot, "stats": dict(event.stats)}
        handle.write(json.dumps(record, default=str) + "\\n")
'''


@pytest.fixture
def events(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment that loads a notifier writing every event to a file (``-p``)."""
    (tmp_path / "recorder.py").write_text(RECORDER)
    log = tmp_path / "events.jsonl"
    pythonpath = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": pythonpath, "DSS_EVENTS": str(log)}, log


def kinds(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def fabricate(dest: Path, creation: int, completion: int | None = None) -> str:
    name = naming.complete_name(creation, completion or creation + 60)
    (dest / name).mkdir()
    (dest / name / "file").write_text(name)
    return name


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("dss: error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


# --- retention can never take the last good copy ----------------------------------


@pytest.mark.parametrize("min_complete, kept", [(1, 1), (2, 2), (5, 3)])
def test_all_outdated_prune_keeps_the_newest_and_min_complete(
    run_dss: RunDss, dest: Path, min_complete: int, kept: int
) -> None:
    """A machine off for weeks: every snapshot older than n*u."""
    now = int(time.time())
    names = [fabricate(dest, now - age * DAY) for age in (40, 35, 33)]
    opts = ["--dest-dir", str(dest), "--unit-interval", "1d", "--num-intervals", "5"]
    config = dest.parent / "c.toml"
    config.write_text(f"min-complete = {min_complete}\n")
    result = run_dss("-c", str(config), *opts, "prune", check=True)
    left = sorted(s.name for s in snapshots(dest))
    assert left == names[-kept:]
    # The newest is never even proposed; min-complete refusals are said.
    assert ("removal gate" in result.stderr) == (min_complete > 1)
    dry = run_dss("-c", str(config), *opts, "--dry-run", "prune", check=True)
    assert dry.stdout == ""  # nothing more would go


def test_prune_with_mixed_leftovers_runs_the_whole_plan_once(
    run_dss: RunDss, dest: Path
) -> None:
    """An outdated incomplete dir that is not the newest is outdated *and* orphaned:
    planned once, removed once, and the rest of the plan still runs."""
    now = int(time.time())
    old_incomplete = f"{now - 30 * DAY}-incomplete"
    (dest / old_incomplete).mkdir()
    deleting = f"{now - 31 * DAY}-{now - 31 * DAY + 5}.being_deleted"
    (dest / deleting).mkdir()
    keep = [fabricate(dest, now - h * 3600) for h in (30, 20, 10)]
    (dest / f"{now - 5 * 3600}-incomplete").mkdir()  # newest: resumable, kept
    result = run_dss("--dest-dir", str(dest), "prune", check=True)
    assert result.stdout.count(old_incomplete) == 1
    assert result.stdout.count(deleting) == 1
    left = {s.name for s in snapshots(dest)}
    assert left == {*keep, f"{now - 5 * 3600}-incomplete"}


def test_prune_goes_on_after_a_failed_removal(run_dss: RunDss, dest: Path) -> None:
    """One removal that fails (its name is taken) must not skip the rest of the plan."""
    now = int(time.time())
    stuck = fabricate(dest, now - 40 * DAY)
    blocked = naming.being_deleted_name(naming.parse(stuck))  # type: ignore[arg-type]
    (dest / blocked).write_text("a file where the rename must go")  # not a snapshot dir
    other = f"{now - 39 * DAY}-incomplete"
    (dest / other).mkdir()
    fabricate(dest, now - 3600)
    result = run_dss("--dest-dir", str(dest), "prune")
    assert result.returncode == 1
    assert not (dest / other).exists()  # the plan went on
    assert (dest / stuck).exists()
    assert "1 removal(s) failed" in result.stderr


# --- the newest, min-complete and --force ----------------------------------------


def test_delete_the_newest_needs_force_and_says_why(run_dss: RunDss, dest: Path) -> None:
    now = int(time.time())
    older, newest = fabricate(dest, now - 7200), fabricate(dest, now - 3600)
    refused = run_dss("--dest-dir", str(dest), "delete", newest)
    assert refused.returncode == 1
    line = error_line(refused.stderr)
    assert "it is the newest complete snapshot" in line and "--force" in line
    assert (dest / newest).is_dir()
    run_dss("--dest-dir", str(dest), "delete", newest, "--force", check=True)
    assert not (dest / newest).exists()
    refused = run_dss("--dest-dir", str(dest), "delete", older)  # now the newest
    assert refused.returncode == 1 and (dest / older).is_dir()


def test_delete_below_min_complete_needs_force(run_dss: RunDss, dest: Path) -> None:
    now = int(time.time())
    names = [fabricate(dest, now - h * 3600) for h in (3, 2, 1)]
    config = dest.parent / "c.toml"
    config.write_text(f'dest-dir = "{dest}"\nmin-complete = 3\n')
    refused = run_dss("-c", str(config), "delete", names[0])
    assert refused.returncode == 1
    assert "min-complete = 3" in error_line(refused.stderr)
    run_dss("-c", str(config), "delete", names[0], "--force", check=True)
    assert [s.name for s in snapshots(dest)] == names[1:]


# --- pins -----------------------------------------------------------------------------


def test_pins_are_shown_and_never_removed(run_dss: RunDss, dest: Path) -> None:
    now = int(time.time())
    old = fabricate(dest, now - 40 * DAY)
    fabricate(dest, now - 3600)
    opts = ["--dest-dir", str(dest)]
    pinned = run_dss(*opts, "pin", old, "--for", "30d", "--note", "audit 2026", check=True)
    assert "pinned until" in pinned.stdout and old in pinned.stdout
    line = next(x for x in run_dss(*opts, "ls", check=True).stdout.splitlines() if old in x)
    fields = line.split("\t")
    assert len(fields) == 4 and fields[3].startswith("pinned until") and "audit 2026" in fields[3]
    record = next(r for r in json.loads(run_dss(*opts, "ls", "--json", check=True).stdout)
                  if r["name"] == old)
    assert record["pin"]["note"] == "audit 2026" and record["pin"]["until"] > now + 29 * DAY
    described = json.loads(run_dss(*opts, "describe", old, check=True).stdout)
    assert described["pin"]["note"] == "audit 2026"
    assert "<pin " in run_dss(*opts, "describe", old, "--format", "xml", check=True).stdout

    run_dss(*opts, "prune", check=True)  # outdated, but pinned
    assert (dest / old).is_dir()
    refused = run_dss(*opts, "delete", old, "--force")
    assert refused.returncode == 1 and "pinned" in error_line(refused.stderr)
    assert (dest / old).is_dir()

    run_dss(*opts, "unpin", old, check=True)
    assert run_dss(*opts, "unpin", old).returncode == 2  # not pinned any more
    run_dss(*opts, "prune", check=True)
    assert not (dest / old).exists()


def test_pin_until_a_date_and_bad_dates(run_dss: RunDss, dest: Path) -> None:
    now = int(time.time())
    name = fabricate(dest, now - 3600)
    opts = ["--dest-dir", str(dest)]
    run_dss(*opts, "pin", name, "--until", "2099-01-01", check=True)
    record = json.loads(run_dss(*opts, "ls", "--json", check=True).stdout)[0]
    assert record["pin"]["until"] == int(time.mktime(time.strptime("2099-01-01", "%Y-%m-%d")))
    for bad in (["--until", "yesterday"], ["--until", "2001-01-01"], ["--for", "soon"],
                ["--for", "1d", "--until", "2099-01-01"]):
        result = run_dss(*opts, "pin", name, *bad)
        assert result.returncode == 2, bad
        assert len(result.stderr.strip().splitlines()) == 1
    assert run_dss(*opts, "pin", "12345").returncode == 2  # no such snapshot: usage error


def test_low_space_with_everything_pinned_is_no_space_not_a_removal() -> None:
    now = 10 * DAY
    snaps = [naming.parse(naming.complete_name(now - h * 3600, now - h * 3600 + 60))
             for h in (5, 4, 3, 2, 1)]
    listing = [s for s in snaps if s is not None]
    settings_ = Settings(unit=DAY, num_intervals=5)
    pinned = frozenset(s.creation for s in listing[:-1])
    activity = Activity(low_space=True, pinned=pinned)
    decision = decide(now, listing, _dyadic(settings_), settings_, activity)
    assert decision.action is Action.NO_SPACE
    unpinned = decide(now, listing, _dyadic(settings_), settings_, Activity(low_space=True))
    assert unpinned.action is Action.REMOVE
    assert unpinned.removal is not None and unpinned.removal.snapshot != listing[-1]


def _dyadic(s: Settings) -> RetentionPolicy:
    from dssframe.builtin.dyadic_retention import DyadicRetention
    from dssframe.core.config import Config

    return DyadicRetention(Config(unit_interval=s.unit, num_intervals=s.num_intervals))


# --- an emptied, unmounted or shrunken source -------------------------------------


def _many_files(root: Path, count: int) -> Path:
    root.mkdir(exist_ok=True)
    for i in range(count):
        (root / f"f{i:03d}").write_text(f"file {i}\n")
    return root


@pytest.mark.usefixtures("rsync")
def test_an_emptied_source_never_becomes_a_snapshot(
    run_dss: RunDss, tmp_path: Path, dest: Path, events: tuple[dict[str, str], Path]
) -> None:
    env, log = events
    source = _many_files(tmp_path / "src", 20)
    opts = ["-p", "recorder", "--source-dir", f"{source}/", "--dest-dir", str(dest)]
    run_dss(*opts, "create", env=env, check=True)
    (good,) = complete(dest)
    state = tree_state(good)
    for entry in source.iterdir():
        entry.unlink()
    for _ in range(5):  # again and again: nothing recycled, nothing emptied
        result = run_dss(*opts, "create", env=env)
        assert result.returncode == 1
        assert "empty" in error_line(result.stderr)
        time.sleep(1.05)
    assert complete(dest) == [good] and tree_state(good) == state
    assert [s for s in snapshots(dest) if not s.complete] == []  # refused before any mkdir
    failed = [e for e in kinds(log) if e["kind"] == "create-failed"]
    assert len(failed) == 5 and "empty" in str(failed[0]["error"])
    assert [e["kind"] for e in kinds(log)].count("snapshot-created") == 1
    # A deliberate shrink is accepted once, on request.
    run_dss(*opts, "create", "--allow-shrink", env=env, check=True)
    assert len(complete(dest)) == 2


@pytest.mark.usefixtures("rsync")
def test_a_shrunken_source_fails_loudly_unless_allowed(
    run_dss: RunDss, tmp_path: Path, dest: Path, events: tuple[dict[str, str], Path]
) -> None:
    env, log = events
    source = _many_files(tmp_path / "src", 40)
    opts = ["-p", "recorder", "--source-dir", f"{source}/", "--dest-dir", str(dest)]
    run_dss(*opts, "create", env=env, check=True)
    (good,) = complete(dest)
    for i in range(30):  # 11 of 41 entries left: 27 % < 50 %
        (source / f"f{i:03d}").unlink()
    result = run_dss(*opts, "create", env=env)
    assert result.returncode == 1
    line = error_line(result.stderr)
    assert "holds 11 entries" in line and "41" in line and "--allow-shrink" in line
    assert complete(dest) == [good]
    (incomplete,) = [s for s in snapshots(dest) if s.incomplete]  # resumable, not complete
    failed = [e for e in kinds(log) if e["kind"] == "create-failed"][-1]
    assert failed["stats"]["files"] == 11  # type: ignore[index]
    config = tmp_path / "c.toml"
    config.write_text("min-shrink-percent = 20\n")
    run_dss("-c", str(config), *opts, "create", env=env, check=True)
    assert len(complete(dest)) == 2 and tree_state(complete(dest)[-1]) == tree_state(source)


@pytest.mark.usefixtures("rsync")
def test_an_unmounted_source_fails_before_rsync(
    run_dss: RunDss, tmp_path: Path, dest: Path, events: tuple[dict[str, str], Path]
) -> None:
    env, log = events
    source = _many_files(tmp_path / "mnt", 3)
    config = tmp_path / "c.toml"
    config.write_text(
        f'source-dir = "{source}/"\ndest-dir = "{dest}"\nsource-mountpoint = true\n'
    )
    result = run_dss("-p", "recorder", "-c", str(config), "create", env=env)
    assert result.returncode == 1
    assert "is not a mount point (option source-mountpoint)" in error_line(result.stderr)
    assert snapshots(dest) == []
    assert [e["kind"] for e in kinds(log)] == ["create-failed"]
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI runs as root: mounting a tmpfs is part of this test")
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(source)], check=True)
    try:
        (source / "on-the-mount").write_text("x")
        run_dss("-p", "recorder", "-c", str(config), "create", env=env, check=True)
        (snap,) = complete(dest)
        assert (snap / "on-the-mount").exists()
    finally:
        subprocess.run(["umount", "-l", str(source)], check=False)


@pytest.mark.usefixtures("rsync")
def test_a_missing_source_is_an_event_and_touches_nothing(
    run_dss: RunDss, tmp_path: Path, dest: Path, events: tuple[dict[str, str], Path]
) -> None:
    env, log = events
    opts = ["-p", "recorder", "--source-dir", str(tmp_path / "gone"), "--dest-dir", str(dest)]
    result = run_dss(*opts, "create", env=env)
    assert result.returncode == 1 and "does not exist" in error_line(result.stderr)
    assert [e["kind"] for e in kinds(log)] == ["create-failed"]
    assert snapshots(dest) == []


@pytest.mark.usefixtures("rsync")
def test_an_rsync_that_is_not_rsync_is_never_complete(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('rsync-path = "/bin/true"\n')
    result = run_dss("-c", str(config), "--source-dir", f"{source}/", "--dest-dir", str(dest),
                     "create")
    assert result.returncode == 1
    assert "no transfer statistics" in error_line(result.stderr)
    assert complete(dest) == []


# --- one writer per destination, whoever runs it ----------------------------------


@pytest.mark.usefixtures("rsync")
def test_two_homes_cannot_write_one_destination(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    slow = tmp_path / "slow-rsync"
    slow.write_text('#!/bin/sh\nsleep 3\nexec rsync "$@"\n')
    slow.chmod(0o755)
    homes = []
    for name in ("alice", "bob"):
        home = tmp_path / name
        home.mkdir()
        homes.append({**os.environ, "HOME": str(home), "XDG_STATE_HOME": str(home / "state"),
                      "XDG_CONFIG_HOME": str(home / "config")})
    config = tmp_path / "c.toml"
    config.write_text(f'source-dir = "{source}/"\ndest-dir = "{dest}"\nrsync-path = "{slow}"\n')
    first = subprocess.Popen(
        [sys.executable, "-m", "dssframe", "-c", str(config), "create"],
        env=homes[0], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not [s for s in snapshots(dest) if s.incomplete] and time.monotonic() < deadline:
            time.sleep(0.05)
        (copying,) = [s for s in snapshots(dest) if s.incomplete]
        second = run_dss("-c", str(config), "create", env=homes[1])
        assert second.returncode == 1
        assert f"another dss (pid {first.pid}, " in error_line(second.stderr)
        assert (dest / copying.name).is_dir()  # not renamed away from under the first
    finally:
        out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    (made,) = complete(dest)
    assert made.name.startswith(f"{copying.creation}-")


# --- the removal gate, by properties -----------------------------------------------


@st.composite
def destinations(draw: st.DrawFn) -> tuple[list[SnapshotName], list[Removal]]:
    count = draw(st.integers(0, 12))
    creations = sorted(draw(st.sets(st.integers(1, 10_000), min_size=count, max_size=count)))
    listing = []
    for creation in creations:
        kind = draw(st.sampled_from(["complete", "complete", "incomplete", "deleting"]))
        if kind == "complete":
            name = naming.complete_name(creation, creation + 1)
        elif kind == "incomplete":
            name = naming.incomplete_name(creation)
        else:
            name = f"{creation}-{creation + 1}.being_deleted"
        parsed = naming.parse(name)
        assert parsed is not None
        listing.append(parsed)
    stranger = naming.parse(naming.complete_name(20_000, 20_001))
    assert stranger is not None
    pool = listing + [stranger]
    picks = draw(st.lists(st.sampled_from(pool), max_size=20)) if pool else []
    reasons = st.sampled_from(list(Reason))
    plan = [Removal(s, draw(reasons), None) for s in picks]
    return listing, plan


@settings(max_examples=400, deadline=None)
@given(
    destinations(),
    st.integers(0, 5),
    st.booleans(),
    st.data(),
)
def test_the_gate_never_lets_the_last_good_copy_go(
    case: tuple[list[SnapshotName], list[Removal]], minimum: int, force: bool, data: st.DataObject
) -> None:
    listing, plan = case
    creations = [s.creation for s in listing]
    protected = {c: "busy" for c in data.draw(st.sets(st.sampled_from(creations)))} \
        if creations else {}
    pinned = data.draw(st.sets(st.sampled_from(creations))) if creations else set()
    result = gate.screen(plan, listing, protected=protected, pinned=pinned,
                         min_complete=minimum, force=force)
    allowed = [r.snapshot.name for r in result.allowed]
    assert len(allowed) == len(set(allowed))  # never the same directory twice
    assert len(result.allowed) + len(result.refused) == len(plan)
    remaining = iter(plan)  # the allowed ones are a subsequence of the plan: its order
    assert all(any(r is p for p in remaining) for r in result.allowed)
    names = {s.name for s in listing}
    for removal in result.allowed:
        assert removal.snapshot.name in names  # only the destination's snapshots
        assert removal.snapshot.creation not in protected
        assert removal.snapshot.creation not in pinned
    complete_before = [s for s in listing if s.complete]
    left = [s for s in complete_before if s.name not in set(allowed)]
    if not force and complete_before:
        assert max(complete_before, key=lambda s: s.creation) in left  # the newest stays
        assert len(left) >= min(len(complete_before), max(1, minimum))
    for refusal in result.refused:
        if refusal.forceable:
            assert not force


# --- a full disk under the run loop ------------------------------------------------


def test_the_disk_guard_never_removes_the_last_good_copy_for_a_failing_copy(
    tmp_path: Path,
) -> None:
    """A destination too small for the grown source: rsync fails with ENOSPC, space is
    low, and the guard may remove nothing -- the only good snapshot is the newest."""
    import faultfs
    from dsstest import require_tool
    from test_daemon import Dss, wait_until

    require_tool("rsync")
    source = tmp_path / "source"
    faultfs.write_files(source, 20, 20_000)
    with faultfs.tmpfs(tmp_path / "disk", size="3m") as disk:
        dest = disk / "dest"
        dest.mkdir()
        now = int(time.time())
        good = dest / naming.complete_name(now - 7200, now - 7190)
        subprocess.run(["cp", "-a", f"{source}/.", str(good)], check=True)
        state = tree_state(good)
        faultfs.write_files(source, 300, 20_000, prefix="grown")
        dss = Dss(tmp_path, {
            "source-dir": f"{source}/", "dest-dir": str(dest), "unit-interval": "1h",
            "num-intervals": 3, "retry-delay": "1s", "min-free-mb": 1,
            "min-free-percent": 0, "loglevel": "notice",
        }).start()
        try:
            wait_until(lambda: "no-space" in dss.log(), timeout=60, what="the no-space report")
            log = dss.log()
            # rsync is suspended as space runs out (it may not have met ENOSPC yet)
            assert "nothing removable" in log
            assert complete(dest) == [good] and tree_state(good) == state
            assert dss.stop() == 0
        finally:
            dss.kill()
        assert complete(dest) == [good] and tree_state(good) == state


# --- a source-side error is tolerated, and recorded ---------------------------------


@pytest.mark.usefixtures("rsync")
def test_an_unreadable_source_file_is_tolerated_counted_and_reported(
    run_dss: RunDss, tmp_path: Path, dest: Path, events: tuple[dict[str, str], Path]
) -> None:
    """A write-only sysfs file bind-mounted into the source: rsync's sender cannot open
    it (even as root) and exits 23 with only a ``[sender]`` line. That snapshot is as
    complete as the source allows: complete, with the error counted and kept."""
    env, log = events
    source = _many_files(tmp_path / "src", 5)
    unreadable = source / "probe"
    unreadable.touch()
    if os.geteuid() != 0 or not Path("/sys/bus/pci/drivers_probe").exists():
        if IN_CI:
            pytest.fail("CI runs as root with sysfs: bind-mounting a sysfs file is this test")
        pytest.skip("needs root and /sys/bus/pci/drivers_probe")
    subprocess.run(["mount", "--bind", "/sys/bus/pci/drivers_probe", str(unreadable)],
                   check=True)
    try:
        result = run_dss("-p", "recorder", "--source-dir", f"{source}/", "--dest-dir", str(dest),
                         "create", env=env)
    finally:
        subprocess.run(["umount", "-l", str(unreadable)], check=False)
    assert result.returncode == 0, result.stderr
    (snap,) = complete(dest)
    assert (snap / "f000").exists()
    creation = naming.parse(snap.name).creation  # type: ignore[union-attr]
    doc = json.loads((dest / ".dssframe" / "meta" / f"{creation}.json").read_text())
    assert doc["stats"]["source_errors"] == 1 and doc["exit_status"] == 23
    assert "send_files failed to open" in doc["source_errors"][0]
    created = next(e for e in kinds(log) if e["kind"] == "snapshot-created")
    stats = created["stats"]
    assert stats["source_errors"] == 1  # type: ignore[index]
    assert "[sender]" in stats["source_error_lines"][0]  # type: ignore[index]


def test_a_destination_that_cannot_be_locked_is_an_event(
    run_dss: RunDss, source: Path, tmp_path: Path, events: tuple[dict[str, str], Path]
) -> None:
    """A read-only destination: the lock cannot be created; one line, exit 1, event."""
    import faultfs

    env, log = events
    with faultfs.tmpfs(tmp_path / "ro", size="1m") as mount:
        (mount / "dest").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        result = run_dss("-p", "recorder", "--source-dir", f"{source}/", "--dest-dir",
                         str(mount / "dest"), "create", env=env)
        assert result.returncode == 1
        assert "Read-only file system" in error_line(result.stderr)
        assert [e["kind"] for e in kinds(log)] == ["create-failed"]
        listing = run_dss("--dest-dir", str(mount / "dest"), "ls", check=True)  # no lock
        assert listing.stdout == ""


@pytest.mark.usefixtures("rsync")
def test_a_shrunken_source_never_costs_a_recycled_complete_snapshot(
    run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    """With an outdated complete snapshot that create would recycle, a source shrunk
    below min-shrink-percent fails without touching it; a healthy source recycles it."""
    source = _many_files(tmp_path / "src", 40)
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    run_dss(*opts, "create", check=True)
    (good,) = complete(dest)
    now = int(time.time())
    outdated = dest / naming.complete_name(now - 40 * DAY, now - 40 * DAY + 60)
    subprocess.run(["cp", "-al", str(good), str(outdated)], check=True)
    dry = run_dss(*opts, "--dry-run", "create", check=True).stdout
    assert f"# recycle outdated: {outdated.name}" in dry  # healthy: it would be reused
    for i in range(30):
        (source / f"f{i:03d}").unlink()
    dry = run_dss(*opts, "--dry-run", "create", check=True).stdout
    assert "recycle" not in dry
    result = run_dss(*opts, "create")
    assert result.returncode == 1 and "min-shrink-percent" in result.stderr
    assert outdated.is_dir() and good.is_dir()
    assert tree_state(outdated) == tree_state(good)  # untouched


# --- a reused directory never changes another snapshot --------------------------------


@pytest.mark.usefixtures("rsync")
@pytest.mark.parametrize("how", ["resume", "recycle"])
def test_an_attribute_change_never_reaches_older_snapshots_through_a_reused_dir(
    run_dss: RunDss, source: Path, dest: Path, how: str
) -> None:
    """Found by test_safety_model: rsync changes a kept file's mode in place, so a
    reused directory whose files are hard links to older snapshots would change those
    snapshots too. The reused directory's shared files are removed first."""
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    run_dss(*opts, "create", check=True)
    (first,) = complete(dest)
    before = tree_state(first)
    time.sleep(1.05)
    now = int(time.time())
    if how == "resume":  # an interrupted copy, made against the first snapshot
        reused = dest / f"{now}-incomplete"
    else:  # an outdated snapshot, all hard links to the first one
        reused = dest / naming.complete_name(now - 40 * DAY, now - 40 * DAY + 60)
    subprocess.run(["cp", "-al", str(first), str(reused)], check=True)
    (source / "a.txt").chmod(0o600)
    os.chown(source / "sub" / "b.bin", 1234, 1234)
    time.sleep(1.05)
    dry = run_dss(*opts, "--dry-run", "create", check=True).stdout
    assert reused.name in dry  # it really is reused
    run_dss(*opts, "create", check=True)
    assert tree_state(first) == before
    assert (first / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (first / "sub" / "b.bin").stat().st_uid != 1234
    newest = complete(dest)[-1]
    assert tree_state(newest) == tree_state(source)
    assert (newest / "empty").stat().st_ino == (first / "empty").stat().st_ino  # still linked


@pytest.mark.usefixtures("rsync")
def test_an_entry_rsync_could_not_make_way_for_is_never_complete(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    """A resumed directory holds a directory whose contents are now excluded, where
    the source has a file: rsync cannot empty it (excluded files are protected from
    deletion), leaves the file out and exits 23 with "could not make way for new
    regular file" -- a line without "rsync:" in front. Not a complete snapshot."""
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest),
            "--rsync-option=--exclude=*.tmp"]  # fmt: skip
    leftover = dest / f"{int(time.time())}-incomplete"
    (leftover / "now-a-file").mkdir(parents=True)
    (leftover / "now-a-file" / "old.tmp").write_text("excluded now")
    (source / "now-a-file").write_text("the source's file")
    result = run_dss(*opts, "create")
    assert result.returncode == 1, result.stderr
    assert complete(dest) == []
    assert error_line(result.stderr).endswith(
        "destination: could not make way for new regular file: now-a-file"
    ), result.stderr


PINNING_HOOK = '''
import os
from dssframe import hookimpl
from dssframe.core import naming
from dssframe.store import pins

@hookimpl
def dssframe_pre_create(config, destination):
    """Pin the snapshot this create is about to recycle, while create waits for us."""
    victim = os.environ["DSS_VICTIM"]
    parsed = naming.parse(victim)
    pins.pin(config.dest_dir, pins.Pin(parsed.creation, victim, None, "pinned meanwhile"))
    return None
'''


@pytest.mark.usefixtures("rsync")
def test_a_pin_taken_while_create_waits_for_its_hook_is_honoured(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    """Found by test_safety_model: the directory to recycle is chosen before the
    pre-create hook runs; the gate looks again, under the removal lock, before the
    rename."""
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    run_dss(*opts, "create", check=True)
    (first,) = complete(dest)
    now = int(time.time())
    victim = dest / naming.complete_name(now - 40 * DAY, now - 40 * DAY + 60)
    subprocess.run(["cp", "-al", str(first), str(victim)], check=True)
    assert f"# recycle outdated: {victim.name}" in run_dss(*opts, "--dry-run", "create",
                                                            check=True).stdout
    (tmp_path / "pinner.py").write_text(PINNING_HOOK)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "DSS_VICTIM": victim.name}
    time.sleep(1.05)
    result = run_dss("-p", "pinner", *opts, "create", env=env, check=True)
    assert "not reusing" in result.stderr and "pinned" in result.stderr
    assert victim.is_dir() and tree_state(victim) == tree_state(first)
    assert len(complete(dest)) == 3


@pytest.mark.usefixtures("rsync")
def test_no_two_snapshots_share_a_creation_second(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    """With no-resume, an aborted copy of this very second must not block the next."""
    config = tmp_path / "c.toml"
    config.write_text("no-resume = true\n")
    now = int(time.time())
    for creation in (now, now + 1, now + 2):
        (dest / f"{creation}-incomplete").mkdir()
    time.sleep(max(0.0, now + 2 - time.time()))
    run_dss("-c", str(config), "--source-dir", f"{source}/", "--dest-dir", str(dest), "create",
            check=True)
    creations = [s.creation for s in snapshots(dest)]
    assert len(creations) == len(set(creations)) == 4
