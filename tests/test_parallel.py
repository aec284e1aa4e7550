"""``parallel`` = N: one snapshot copied by several rsync processes must be exactly the
snapshot one rsync makes -- content, attributes and hard links -- whatever the
destination held before (a resumed or recycled directory), and the processes must
behave as one for the host (signals, verdict, statistics, progress, a crash).

The comparisons are made by rsync itself: ``rsync -anic --delete A/ B/`` prints
nothing when A and B hold the same names, types, contents (checksums), modes, owners,
times and link targets. The hard-link structure is compared as the set of paths whose
inode is the reference snapshot's.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dssframe.builtin.rsync import RsyncTransport, parallel
from dssframe.builtin.rsync.verdict import classify_group
from dssframe.core.config import Config
from dssframe.core.errors import ConfigError, TransportError
from dssframe.core.guards import check_config, parallel_problem
from dssframe.core.transport import (
    CommandGroup,
    CopyRequest,
    Outcome,
    ProcessReport,
    Progress,
    group_argv,
    group_stderr,
    parse_group,
    split_group_stderr,
)
from dssframe.engine import runner
from dssframe.engine.job import Job
from dssframe.plugins.host import load_host
from dssframe.store import configfile
from dssframe.store.lock import stale_copy_logs
from dsstest import RunDss, complete, require_tool, snapshots
from test_daemon import Dss, process_state, script, wait_until

# --- a random tree, its mutations, and the comparisons ------------------------------------

NAMES = ["a", "b b", "[x]", "st*r", "q?m", "back\\slash", "new\nline", "-dash", "+ plus", "é"]


def _name(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = rng.choice(NAMES) + str(rng.randrange(1000))
        if name not in taken:
            taken.add(name)
            return name


def _file(path: Path, rng: random.Random, when: int) -> None:
    path.write_bytes(rng.randbytes(rng.randrange(0, 3000)))
    path.chmod(rng.choice([0o644, 0o600, 0o755, 0o444]))
    os.utime(path, (when, when))


def _fill(root: Path, rng: random.Random, depth: int, when: int) -> None:
    taken: set[str] = set()
    for _ in range(rng.randrange(0, 5)):
        _file(root / _name(rng, taken), rng, when - rng.randrange(10**6))
    if rng.random() < 0.5:
        os.symlink(rng.choice(["../x", "nowhere", "."]), root / _name(rng, taken))
    for _ in range(rng.randrange(0, 4) if depth < 3 else 0):
        sub = root / _name(rng, taken)
        sub.mkdir()
        _fill(sub, rng, depth + 1, when)
    root.chmod(rng.choice([0o755, 0o700, 0o750]))
    os.utime(root, (when - rng.randrange(10**6),) * 2)


def build_tree(root: Path, rng: random.Random) -> None:
    """Top-level files and symbolic links, empty and nested directories, odd names,
    and one directory that dominates (many subdirectories: it is split)."""
    when = int(time.time()) - 1000
    root.mkdir(parents=True)
    taken: set[str] = set()
    for _ in range(rng.randrange(1, 4)):
        _file(root / _name(rng, taken), rng, when)
    os.symlink("nowhere", root / _name(rng, taken))
    (root / _name(rng, taken)).mkdir()  # empty
    for _ in range(rng.randrange(2, 6)):
        sub = root / _name(rng, taken)
        sub.mkdir()
        _fill(sub, rng, 1, when)
    big = root / _name(rng, taken)
    big.mkdir()
    for _ in range(rng.randrange(8, 14)):
        sub = big / _name(rng, set())
        if sub.exists():
            continue
        sub.mkdir()
        for number in range(rng.randrange(5, 15)):
            _file(sub / f"f{number}", rng, when)
        _fill(sub, rng, 2, when)
    _file(big / "file-in-big", rng, when)
    os.utime(big, (when - 5, when - 5))
    os.utime(root, (when - 7, when - 7))


def _entries(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        found += [Path(dirpath, n) for n in dirnames + filenames]
    return sorted(found)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def mutate(root: Path, rng: random.Random) -> None:
    """Changes, additions, deletions and type changes, at the top level too."""
    when = int(time.time()) - 100
    entries = _entries(root)
    for path in rng.sample(entries, min(len(entries), 12)):
        if not os.path.lexists(path):
            continue  # inside something removed already
        what = rng.choice(["change", "delete", "retype", "chmod", "touch"])
        if what == "change" and path.is_file() and not path.is_symlink():
            path.chmod(0o644)
            _file(path, rng, when + rng.randrange(50))
        elif what == "delete":
            _remove(path)
        elif what == "retype":
            kind = "dir" if path.is_dir() and not path.is_symlink() else "other"
            _remove(path)
            if kind == "dir":
                choice = rng.choice(["file", "link"])
                if choice == "file":
                    _file(path, rng, when)
                else:
                    os.symlink("elsewhere", path)
            else:
                path.mkdir()
                _file(path / "inside", rng, when)
        elif what == "chmod" and not path.is_symlink():
            path.chmod(rng.choice([0o700, 0o755, 0o640]))
        elif what == "touch" and not path.is_symlink():
            os.utime(path, (when - rng.randrange(1000),) * 2)
    tops = sorted(p for p in root.iterdir())
    files = [p for p in tops if p.is_file() and not p.is_symlink()]
    dirs = [p for p in tops if p.is_dir() and not p.is_symlink()]
    if files:  # a top-level file becomes a directory
        victim = rng.choice(files)
        victim.unlink()
        victim.mkdir()
        _fill(victim, rng, 2, when)
    if len(dirs) > 2:  # a top-level directory becomes a file
        victim = rng.choice(dirs[:-1])
        shutil.rmtree(victim)
        _file(victim, rng, when)
    added = root / f"added{rng.randrange(100)}"
    if not os.path.lexists(added):
        added.mkdir()
        _fill(added, rng, 1, when)
    _file(root / f"new-top-file{rng.randrange(100)}", rng, when)
    os.utime(root, (when - 3, when - 3))


def differences(a: Path, b: Path, top_time: bool = True) -> str:
    """What ``rsync -anic --delete`` would change to make ``b`` like ``a`` ("" if nothing);
    without ``top_time``, the time of the top directories themselves is left out."""
    result = subprocess.run(
        ["rsync", "-anic", "--delete", f"{a}/", f"{b}/"], capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode(errors="replace")
    return text if top_time else text.replace(".d..t...... ./\n", "")


def linked(snapshot: Path, reference: Path) -> set[str]:
    """The paths in ``snapshot`` that are the reference's own inode (hard links)."""
    same = set()
    for path in _entries(snapshot):
        if path.is_dir() and not path.is_symlink():
            continue
        rel = path.relative_to(snapshot)
        try:
            if (reference / rel).lstat().st_ino == path.lstat().st_ino:
                same.add(str(rel))
        except OSError:  # not in the reference (or a file there where a directory is here)
            pass
    return same


def write_config(path: Path, **values: Any) -> Path:
    path.write_text(
        "".join(f"{k.replace('_', '-')} = {json.dumps(v)}\n" for k, v in values.items())
    )
    return path


def newest(dest: Path) -> Path:
    return complete(dest)[-1]


# --- the argument lists (no rsync run) ----------------------------------------------------


def transport(**values: Any) -> RsyncTransport:
    raw = {"source-dir": "/data/", "dest-dir": "/snap", **values}
    return RsyncTransport(configfile.build(raw, {}, None))


REQUEST = CopyRequest(
    destination="/snap/1700000000-incomplete",
    reference="/snap/1699990000-1699990100.x",
    log_file="/snap/.dssframe/rsync-1700000000.log",
)


def test_parallel_1_is_the_one_rsync_of_before_word_for_word(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = transport(**{"source-dir": f"{tmp_path}/", "rsync-option": ["--exclude=x"]})
    assert one.command(REQUEST) == [
        "rsync", "-aq", "--delete", "--exclude=x",
        "--link-dest=/snap/1699990000-1699990100.x",
        "--stats", "--log-file=/snap/.dssframe/rsync-1700000000.log", "--log-file-format=",
        f"{tmp_path}/", "/snap/1700000000-incomplete/",
    ]  # fmt: skip


def test_nothing_to_share_out_is_the_one_rsync(tmp_path: Path) -> None:
    """An empty source, a source of files only, one directory: one rsync, as before."""
    (tmp_path / "only-files").mkdir()
    (tmp_path / "only-files" / "f").write_text("x")
    (tmp_path / "one-dir" / "d").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    for name in ("only-files", "one-dir", "empty", "missing"):
        source = f"{tmp_path}/{name}/"
        four = transport(**{"source-dir": source, "parallel": 4})
        one = transport(**{"source-dir": source})
        assert four.command(REQUEST) == one.command(REQUEST), name


def test_a_group_is_a_top_pass_then_the_parts(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for name in ("a", "b", "c[1]"):
        (source / name).mkdir(parents=True)
    (source / "top-file").write_text("x")
    argv = transport(**{"source-dir": f"{source}/", "parallel": 2}).command(REQUEST)
    group = parse_group(argv)
    assert group is not None and group.proceed == (0, 23, 24)
    ((top,), parts) = group.stages
    assert argv[:4] == [sys.executable, "-m", "dssframe.engine.runner", "--group"]
    assert [w for w in top if w.startswith("--exclude=")] == [
        "--exclude=/a/*", "--exclude=/b/*", r"--exclude=/c\[1\]/*",
    ]  # fmt: skip
    rules = [[w for w in part if w.startswith(("--include=", "--exclude="))] for part in parts]
    assert rules == [
        ["--include=/a/", r"--include=/c\[1\]/", "--include=/*/**", "--exclude=/*"],
        ["--include=/b/", "--include=/*/**", "--exclude=/*"],
    ]
    assert [w for w in top if w.startswith("--include=")] == ["--include=/*/*/*/**"]
    logs = [w for command in group.commands() for w in command if w.startswith("--log-file=")]
    assert logs == [
        "--log-file=/snap/.dssframe/rsync-1700000000.log",
        "--log-file=/snap/.dssframe/rsync.part1-1700000000.log",
        "--log-file=/snap/.dssframe/rsync.part2-1700000000.log",
    ]
    for command in group.commands():  # the same rsync but for the rules and the log
        assert command[-2:] == (f"{source}/", "/snap/1700000000-incomplete/")
        assert "--link-dest=/snap/1699990000-1699990100.x" in command


def test_the_part_logs_are_copy_logs_the_next_create_cleans_up(tmp_path: Path) -> None:
    state = tmp_path / ".dssframe"
    state.mkdir()
    main = state / "rsync-1700000000.log"
    part = Path(parallel.part_log(str(main), 3))
    assert part.name == "rsync.part3-1700000000.log"
    part.write_text("")
    assert stale_copy_logs(str(tmp_path), str(state / "rsync-1700000001.log")) == [str(part)]


def test_a_dominating_directory_is_split_one_level_deeper(tmp_path: Path) -> None:
    for name in ("small1", "small2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text("x")
    for number in range(12):
        (tmp_path / "big" / f"sub{number:02d}").mkdir(parents=True)
        for f in range(10):
            (tmp_path / "big" / f"sub{number:02d}" / f"f{f}").write_text("x")
    (tmp_path / "big" / "loose-file").write_text("x")
    partition = parallel.plan(str(tmp_path), 4)
    assert partition is not None and len(partition.parts) == 4
    units = partition.units()
    assert "big" not in units and sorted(u for u in units if u.startswith("big/")) == [
        f"big/sub{n:02d}" for n in range(12)
    ]
    assert {"small1", "small2"} <= set(units)
    sizes = sorted(len(part.units) for part in partition.parts)
    assert sizes[-1] - sizes[0] <= 2  # balanced
    for part in partition.parts:
        assert part.parents == (("big",) if any("/" in u for u in part.units) else ())
    split = next(part for part in partition.parts if part.parents)
    rules = parallel.part_rules("top", split)
    assert rules[0] == "--include=/top/big/*/**"
    assert rules[-4:] == [
        "--include=/top/big/", "--exclude=/top/big/*", "--include=/top/*/**", "--exclude=/top/*",
    ]  # fmt: skip


def test_at_most_32_units_a_part_the_rest_go_with_the_top_pass(tmp_path: Path) -> None:
    for number in range(80):
        (tmp_path / f"d{number:02d}").mkdir()
        for f in range(number % 7):
            (tmp_path / f"d{number:02d}" / f"f{f}").write_text("x")
    partition = parallel.plan(str(tmp_path), 2)
    assert partition is not None and len(partition.units()) == 64


def test_patterns_escape_wildcards_only_when_rsync_reads_wildcards() -> None:
    assert parallel.pattern(None, "plain") == "/plain"
    assert parallel.pattern(None, "back\\slash") == "/back\\slash"  # literal: as is
    assert parallel.pattern(None, "back\\slash", "/*") == "/back\\\\slash/*"
    assert parallel.pattern(None, "a[1]*") == "/a\\[1\\]\\*"
    assert parallel.pattern("top dir", "x", "/") == "/top dir/x/"
    assert parallel.pattern("t*p", "x", "/") == "/t\\*p/x/"


@given(
    st.lists(
        st.lists(st.lists(st.text(min_size=0, max_size=8), min_size=1, max_size=4), min_size=1),
        min_size=1,
        max_size=3,
    ),
    st.lists(st.integers(0, 255), max_size=3),
)
def test_a_group_argv_reads_back_whatever_its_words(
    stages: list[list[list[str]]], proceed: list[int]
) -> None:
    group = CommandGroup(
        tuple(tuple(tuple(c) for c in stage) for stage in stages), tuple(proceed) or (0,)
    )
    assert parse_group(group_argv(group, "/usr/bin/python3")) == group
    assert parse_group(["rsync", "-a", "--group"]) is None


@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(-64, 255)), st.text()), min_size=1))
def test_group_stderr_reads_back(reports: list[tuple[int | None, str]]) -> None:
    made = [ProcessReport(s, t.replace("\x1e", "")) for s, t in reports]
    assert split_group_stderr(group_stderr(made)) == made
    assert split_group_stderr("rsync: some error") is None


# --- the verdict and the statistics --------------------------------------------------------

DEST_FULL = (
    'rsync: [receiver] write failed on "/snap/x/f": No space left on device (28)\n'
    "rsync error: error in file IO (code 11) at receiver.c(381) [receiver=3.2.7]"
)
VANISHED = 'file has vanished: "/data/gone"\nrsync warning: some files vanished (code 24)'
PARTIAL_DEST = "rsync: [generator] delete_file: unlink(x) failed: Permission denied (13)"


def test_the_worst_part_decides() -> None:
    ok, vanished = ProcessReport(0, ""), ProcessReport(24, VANISHED)
    complete_ = classify_group(24, [ok, vanished, ok], remote=False)
    assert complete_.outcome is Outcome.COMPLETE and complete_.exit_status == 24
    assert complete_.tolerated_count == 1 and "vanished" in complete_.message
    retry = classify_group(12, [ok, vanished, ProcessReport(12, "")], remote=False)
    assert retry.outcome is Outcome.RETRY
    error = classify_group(
        12, [ProcessReport(12, ""), ProcessReport(23, PARTIAL_DEST), ok], remote=False
    )
    assert error.outcome is Outcome.ERROR and "Permission denied" in error.message
    full = classify_group(11, [ok, ProcessReport(11, DEST_FULL)], remote=False)
    assert full.outcome is Outcome.ERROR and "No space left" in full.message
    stopped = classify_group(-15, [ok, ProcessReport(-15, ""), ProcessReport(None, "")], False)
    assert stopped.outcome is Outcome.ERROR and "signal 15" in stopped.message
    not_started = classify_group(
        1, [ProcessReport(1, "rsync: boom"), ProcessReport(None, "")], False
    )
    assert not_started.outcome is Outcome.ERROR and not_started.exit_status == 1


def test_the_transport_judges_a_group_by_its_parts() -> None:
    one = transport()
    text = group_stderr([ProcessReport(0, ""), ProcessReport(23, PARTIAL_DEST)])
    assert one.classify(23, text).outcome is Outcome.ERROR
    assert one.classify(0, group_stderr([ProcessReport(0, "")] * 3)).outcome is Outcome.COMPLETE


def test_progress_of_the_parts_is_one_reading() -> None:
    half = Progress(50, 1000, 100.0, 10)
    quarter = Progress(25, 1000, 50.0, 30)
    combined = runner.combine_progress([half, quarter], [False, False])
    assert combined == Progress(percent=33, bytes_done=2000, rate=150.0, eta=30)
    # one part has not started: the mean of the percentages (it counts 0 %)
    assert runner.combine_progress([half, None], [False, False]) == Progress(25, 1000, 100.0, 10)
    assert runner.combine_progress([None, None], [False, False]) is None
    done = runner.combine_progress([Progress(100, 10), half], [True, False])
    assert done is not None and done.percent == 50  # (10 + 1000) / (10 + 2000)


# --- refusals ---------------------------------------------------------------------------

REFUSED = [
    (["-aH"], "-H (--hard-links, in -aH)"),
    (["--hard-links"], "--hard-links"),
    (["--include=*.c"], "--include=*.c"),
    (["--filter=- x"], "--filter=- x"),
    (["-f", "- x"], "-f (--filter)"),
    (["-F"], "-F (--filter)"),
    (["--exclude-from=/etc/x"], "--exclude-from"),
    (["--exclude=+ keep"], "--exclude=+ keep is an include rule"),
    (["--exclude", "+ keep"], "--exclude=+ keep is an include rule"),
    (["--delete-excluded"], "--delete-excluded"),
    (["-C"], "-C (--cvs-exclude)"),
    (["--files-from=/x"], "--files-from"),
    (["-R"], "-R (--relative)"),
    (["--prune-empty-dirs"], "--prune-empty-dirs"),
    (["--max-delete=5"], "--max-delete"),
]


@pytest.mark.parametrize(("options", "named"), REFUSED)
def test_options_that_cannot_be_kept_exact_are_refused(options: list[str], named: str) -> None:
    problem = parallel_problem(options)
    assert problem is not None and problem.startswith(named), problem
    with pytest.raises(ConfigError, match="parallel = 3") as caught:
        check_config(Config(rsync_option=tuple(options), parallel=3))
    assert "\n" not in str(caught.value)
    check_config(Config(rsync_option=tuple(options), parallel=1))  # one rsync: fine


def test_excludes_and_harmless_options_are_allowed() -> None:
    allowed = ["--exclude=*.tmp", "--exclude", "/cache/", "-x", "--numeric-ids", "-A", "-X",
               "--exclude=- also", "-e", "-H", "--bwlimit=10", "--", "-H"]  # fmt: skip
    assert parallel_problem(allowed) is None


@pytest.mark.usefixtures("rsync")
def test_refusals_are_one_line_and_exit_2(run_dss: RunDss, tmp_path: Path, source: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o700)
    for extra in ({"rsync-option": ["-aH"]}, {"rsync-option": ["--filter=- x"]}):
        config = write_config(
            tmp_path / "c.toml", source_dir=f"{source}/", dest_dir=str(dest), parallel=2, **extra
        )
        result = run_dss("--config", str(config), "create")
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "parallel" in result.stderr
    assert list(dest.iterdir()) == []


# --- real copies ----------------------------------------------------------------------------


@pytest.mark.usefixtures("rsync")
@pytest.mark.parametrize(
    ("seed", "slash", "options"),
    [
        (1, True, []),
        (2, True, []),
        (3, False, []),  # the snapshot holds the source in its own directory
        (4, True, ["--exclude=*.tmp", "--exclude=/a*/", "--exclude", "st*r*/", "-x"]),
        (5, False, ["--exclude=/src/[x]*", "--exclude=q?m*/f1"]),
    ],
)
def test_parallel_snapshots_are_the_one_rsync_snapshot(
    run_dss: RunDss, tmp_path: Path, seed: int, slash: bool, options: list[str]
) -> None:
    """A random tree, a reference snapshot, an interrupted copy left to resume, random
    changes; then ``dss create`` with parallel 1, 2 and 4 into three copies of the same
    destination: the three new snapshots are identical, and link the same files."""
    rng = random.Random(seed)
    source = tmp_path / "src"
    build_tree(source, rng)
    if options:
        (source / "x.tmp").write_text("excluded")
    spelled = f"{source}/" if slash else str(source)
    dests = {n: tmp_path / f"dest{n}" for n in (1, 2, 4)}
    configs = {
        n: write_config(
            tmp_path / f"c{n}.toml",
            source_dir=spelled,
            dest_dir=str(dest),
            parallel=n,
            rsync_option=options,
            min_shrink_percent=0,
        )
        for n, dest in dests.items()
    }
    dests[1].mkdir(mode=0o700)
    run_dss("--config", str(configs[1]), "create", check=True)
    (reference,) = complete(dests[1])
    # an interrupted copy of an older, different tree: the next create resumes it
    leftover = dests[1] / f"{snapshots(dests[1])[-1].completion}-incomplete"
    shutil.copytree(source, leftover, symlinks=True)
    mutate(leftover, random.Random(seed + 100))
    mutate(source, rng)
    for n in (2, 4):
        subprocess.run(["cp", "-a", str(dests[1]), str(dests[n])], check=True)
    made = {}
    for n in (1, 2, 4):
        result = run_dss("--config", str(configs[n]), "create", check=True)
        made[n] = Path(result.stdout.strip())
        assert made[n] == newest(dests[n])
        assert [s.complete for s in snapshots(dests[n])] == [True, True], "resumed"
        assert not list((dests[n] / ".dssframe").glob("rsync*.log"))
    top = "" if slash else source.name
    if not options:
        assert differences(source, made[1] / top) == ""
    # Without a trailing slash rsync copies the source into the snapshot directory and
    # never sets that directory's time: it is the time of the copy, whoever made it.
    assert_one_rsync_snapshots(made, dests, reference.name, top_time=slash)


def _wait_state(pid: int, stopped: bool, what: str) -> None:
    wait_until(lambda: (process_state(pid) == "T") == stopped, what=what)


def _stats(dest: Path) -> dict[str, int]:
    creation = snapshots(dest)[-1].creation
    document = json.loads((dest / ".dssframe" / "meta" / f"{creation}.json").read_text())
    return dict(document["stats"])

def assert_one_rsync_snapshots(
    made: dict[int, Path], dests: dict[int, Path], reference: str, top_time: bool = True
) -> None:
    """The snapshots ``made`` with parallel 2 and 4 are the one of parallel 1: the same
    entries both ways (``rsync -anic``), the same files linked to ``reference`` in
    each destination, the same statistics."""
    for n in (2, 4):
        assert differences(made[1], made[n], top_time=top_time) == "", f"parallel {n}"
        assert differences(made[n], made[1], top_time=top_time) == "", f"parallel {n}"
    links = {n: linked(made[n], dests[n] / reference) for n in (1, 2, 4)}
    assert links[1] and links[2] == links[1] and links[4] == links[1]
    stats = {n: _stats(dests[n]) for n in (1, 2, 4)}
    for key in ("files", "created_files", "deleted_files", "regular_files_transferred",
                "total_size", "transferred_size"):  # fmt: skip
        assert stats[2][key] == stats[1][key] == stats[4][key], key



@pytest.mark.usefixtures("rsync")
def test_an_empty_source_and_the_shrink_guard_work_as_with_one_rsync(
    run_dss: RunDss, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    build_tree(source, random.Random(9))
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o700)
    config = write_config(
        tmp_path / "c.toml", source_dir=f"{source}/", dest_dir=str(dest), parallel=3
    )
    run_dss("--config", str(config), "create", check=True)
    for entry in list(source.iterdir()):
        _remove(entry)
    failed = run_dss("--config", str(config), "create")
    assert failed.returncode != 0 and "empty" in failed.stderr
    (source / "only").mkdir()
    (source / "only2").mkdir()
    shrunk = run_dss("--config", str(config), "create")  # a group, judged by its stats
    assert shrunk.returncode == 1 and "min-shrink-percent" in shrunk.stderr
    assert len(complete(dest)) == 1


def _slow_source(root: Path, dirs: int = 4, files: int = 12, size: int = 200_000) -> Path:
    for d in range(dirs):
        (root / f"d{d}").mkdir(parents=True)
        for f in range(files):
            (root / f"d{d}" / f"f{f:02d}").write_bytes(os.urandom(size))
    (root / "top").write_text("top\n")
    return root


def _rsyncs_writing_into(dest: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            words = Path("/proc", entry, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(str(dest).encode() in w for w in words) and any(b"rsync" in w for w in words):
            found.append(int(entry))
    return found


@pytest.mark.usefixtures("rsync")
def test_a_killed_parallel_create_resumes_to_the_same_snapshot(
    run_dss: RunDss, tmp_path: Path
) -> None:
    """SIGKILL of dss mid-copy: its rsync processes die with it, the incomplete
    directory stays, and the next create resumes it into exactly the snapshot one rsync
    makes (and cleans up the part logs)."""
    source = _slow_source(tmp_path / "src")
    dest, plain = tmp_path / "dest", tmp_path / "plain"
    dest.mkdir(mode=0o700)
    plain.mkdir(mode=0o700)
    slow = write_config(
        tmp_path / "slow.toml", source_dir=f"{source}/", dest_dir=str(dest), parallel=2,
        rsync_option=["--bwlimit=3000"],
    )  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "dssframe", "--config", str(slow), "create"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    wait_until(lambda: list((dest / ".dssframe").glob("rsync.part*.log")), what="the parts")
    wait_until(lambda: len(_rsyncs_writing_into(dest)) >= 2, what="the parts' rsync")
    time.sleep(0.3)
    process.kill()
    process.wait(10)
    wait_until(lambda: not _rsyncs_writing_into(dest), what="the rsync processes to die")
    (left,) = snapshots(dest)
    assert left.incomplete
    assert list((dest / ".dssframe").glob("rsync*.log"))  # a crashed copy's logs

    fast = write_config(tmp_path / "fast.toml", source_dir=f"{source}/", dest_dir=str(dest),
                        parallel=2)  # fmt: skip
    result = run_dss("--config", str(fast), "create", check=True)
    (snapshot,) = complete(dest)
    assert [s.complete for s in snapshots(dest)] == [True]  # the incomplete one was reused
    assert Path(result.stdout.strip()) == snapshot
    assert not list((dest / ".dssframe").glob("rsync*.log"))
    one = write_config(tmp_path / "one.toml", source_dir=f"{source}/", dest_dir=str(plain))
    run_dss("--config", str(one), "create", check=True)
    assert differences(newest(plain), snapshot) == ""
    assert differences(snapshot, newest(plain)) == ""


@pytest.mark.usefixtures("rsync")
def test_signals_reach_every_part_in_process(tmp_path: Path) -> None:
    """SIGSTOP, SIGCONT and SIGTERM sent to what runner.start returned reach every
    rsync of the group; the stopped copy is an ERROR and stays incomplete."""
    source = _slow_source(tmp_path / "src", dirs=3)
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o700)
    host = load_host()
    config = host.apply_settings(
        Config(
            source_dir=f"{source}/",
            dest_dir=str(dest),
            parallel=3,
            rsync_option=("--bwlimit=1000",),
        )
    )
    host.configure(config)
    job = Job.from_config(config, host)
    plan = job.begin_create()
    process = runner.start(plan.argv, False)
    assert isinstance(process, runner.ProcessGroup)
    pids = wait_until(lambda: len(process.pids()) == 4 and process.pids(), what="the parts")
    parts = pids[1:]
    process.send_signal(signal.SIGSTOP)
    for pid in parts:
        _wait_state(pid, True, f"part {pid} stopped")
    assert process.poll() is None
    process.send_signal(signal.SIGCONT)
    for pid in parts:
        _wait_state(pid, False, f"part {pid} resumed")
    # An rsync that has only just started dies of SIGTERM before its handler is in
    # place (-15, not 20): let the parts copy a little first.
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    status = process.wait(10)
    assert status == 20  # rsync's own "received SIGTERM", as one rsync exits
    for pid in parts:
        assert not os.path.exists(f"/proc/{pid}")  # reaped
    result = job.transport.classify(status, process.stderr_text(5))
    assert result.outcome is Outcome.ERROR
    with pytest.raises(TransportError):
        job.finish_create(plan, result)
    (left,) = snapshots(dest)
    assert left.incomplete


@pytest.fixture
def run_loop(tmp_path: Path) -> Iterator[Callable[..., Dss]]:
    require_tool("rsync")
    started: list[Dss] = []

    def make(**options: Any) -> Dss:
        dss = Dss(tmp_path, {k.replace("_", "-"): v for k, v in options.items()})
        started.append(dss)
        return dss

    yield make
    for dss in started:
        dss.kill()


def test_the_run_loop_suspends_resumes_and_stops_every_part(
    run_loop: Callable[..., Dss], tmp_path: Path
) -> None:
    """``dss run`` with parallel = 3: low disk space suspends every part (SIGSTOP),
    enough space resumes them all, SIGTERM stops them all; the restarted loop resumes
    the incomplete directory with real rsync processes."""
    source = _slow_source(tmp_path / "src", dirs=3, files=2, size=1000)
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o700)
    pidfile = tmp_path / "parts.pid"
    wrapper = script(
        tmp_path / "rsync-parts-hang",
        f'case "$*" in *.part[0-9]*) echo $$ >> "{pidfile}"; exec sleep 60;; esac\n'
        'exec rsync "$@"\n',
    )
    base = {
        "source-dir": f"{source}/", "dest-dir": str(dest), "unit-interval": "1h",
        "num-intervals": 3, "retry-delay": "1s", "min-free-mb": 0, "min-free-percent": 0,
        "loglevel": "notice", "parallel": 3,
    }  # fmt: skip
    dss = run_loop(**base, rsync_path=wrapper).start()
    pids = wait_until(
        lambda: pidfile.exists() and len(p := pidfile.read_text().split()) == 3 and p,
        what="three parts",
    )
    parts = [int(pid) for pid in pids]
    dss.reconfigure(**{"min-free-percent": 100})
    for pid in parts:
        _wait_state(pid, True, f"part {pid} suspended")
    dss.reconfigure(**{"min-free-percent": 0})
    for pid in parts:
        _wait_state(pid, False, f"part {pid} resumed")
    assert dss.stop() == 0
    for pid in parts:
        assert not os.path.exists(f"/proc/{pid}")
    (left,) = snapshots(dest)
    assert left.incomplete
    again = run_loop(**base).start()
    wait_until(lambda: complete(dest), what="the resumed snapshot", timeout=30)
    assert [s.complete for s in snapshots(dest)] == [True]
    assert again.stop() == 0
    assert differences(source, complete(dest)[0]) == ""


@pytest.mark.usefixtures("rsync")
def test_progress_of_a_parallel_create_is_one_bar(tmp_path: Path) -> None:
    from test_progress import BAR, _run_on_pty

    source = _slow_source(tmp_path / "src", dirs=4, files=20, size=20_000)
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o700)
    config = write_config(
        tmp_path / "c.toml", source_dir=f"{source}/", dest_dir=str(dest), parallel=2,
        rsync_option=["--bwlimit=1000"],
    )  # fmt: skip
    argv = [sys.executable, "-m", "dssframe", "--config", str(config), "create"]
    status, stdout, terminal, _ = _run_on_pty(argv)
    text = terminal.decode()
    assert status == 0, text
    draws = [segment for segment in text.split("\r") if segment.strip()]
    assert draws, text
    percents = []
    for segment in draws:
        match = BAR.fullmatch(segment.rstrip(" "))
        assert match is not None, f"not a bar: {segment!r} (terminal: {text!r})"
        percents.append(int(match["percent"]))
    assert len(set(percents)) > 1 and max(percents) <= 100
    assert "\n" not in text and text.rsplit("\r", 2)[-2].strip() == ""
    assert differences(source, complete(dest)[0]) == ""


def test_a_group_runs_by_hand_as_dss_runs_it() -> None:
    """The argument list ``dss --dry-run create`` prints for a group runs by itself."""
    group = CommandGroup(
        ((("sh", "-c", "echo one >&2"),), (("sh", "-c", "exit 23"), ("true",))), (0,)
    )
    result = subprocess.run(group_argv(group, sys.executable), capture_output=True, text=True)
    assert result.returncode == 23 and result.stderr == "one\n"
    stopped = CommandGroup(((("sh", "-c", "exit 3"),), (("true",),)))
    assert subprocess.run(group_argv(stopped, sys.executable)).returncode == 3


def test_the_plan_leaves_out_directories_the_users_excludes_leave_out(tmp_path: Path) -> None:
    patterns = parallel.user_excludes(
        ["--exclude=*.tmp", "--exclude", "/cache/", "--exclude=- b*", "-x", "--exclude=x/deep"]
    )
    assert patterns == ["*.tmp", "/cache/", "b*", "x/deep"]
    assert parallel.user_excludes(["--exclude=a", "--exclude=!", "--exclude=c"]) == ["c"]
    excluded = parallel.excluded_dir
    assert excluded("cache", patterns) and not excluded("top/cache", patterns)
    assert excluded("b1", patterns) and excluded("a/b1", patterns) and excluded("b1/x", patterns)
    assert excluded("top/x/deep", patterns) and excluded("x/deep", patterns)
    assert not excluded("x/deeper", patterns) and not excluded("a", patterns)
    assert excluded("a[1]", ["a\\[1\\]"]) and excluded("ab", ["a[a-c]"])
    assert excluded("d/e/f", ["d/**"]) and excluded("d", ["/d/***"])
    for name in ("a", "b1", "c", "cache"):
        (tmp_path / name).mkdir()
    partition = parallel.plan(str(tmp_path), 2, None, patterns)
    assert partition is not None and sorted(partition.units()) == ["a", "c"]
