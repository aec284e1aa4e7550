#!/usr/bin/env python3
"""Crash matrix: SIGKILL ``dss create``, ``prune``, ``delete`` and ``run`` at random
moments and check that no partial copy is ever named complete, that no snapshot is lost
and that the next ``dss create`` recovers (resuming an aborted copy).

    .venv/bin/python bench/crash_matrix.py [--rounds N] [--files N] [--seed S] [--keep]

Every step of the matrix works on a fresh destination made of hard-link copies (``cp
-al``) of the previous step's verified snapshot, renamed to complete names with old
epochs, so that retention (unit interval 1 h, 3 intervals) has outdated and redundant
snapshots to prune and recycle, and ``dss run`` has a snapshot due at once. Before each
step the source is mutated (``mktree.py mutate --round R``) and its manifest (every
path's type, mode, owner, size, mtime and SHA-256) is recorded; every creating command
records the window of epochs it ran in, so the creation epoch in a complete name tells
which manifest the snapshot must equal.

After each kill (and after each follow-up ``dss create``) the destination is scanned:

* complete-named partial: a complete snapshot whose tree differs from its manifest;
* snapshot lost: a complete snapshot that was there before and is gone, and that the
  command was not asked or allowed to remove (``prune``, ``create``: what ``dss
  --dry-run prune`` listed before; ``delete NAME``: NAME; ``run``: that, plus what the
  same retention would remove once its new snapshot exists);
* resumed: an ``<epoch>-incomplete`` dir present before the follow-up create is gone
  after it, and the follow-up succeeded;
* follow-up failure: the follow-up create did not exit 0 with a complete snapshot equal
  to the current source.

Exit status 1 when any partial was named complete, any snapshot was lost or any
follow-up failed. Standard library only (plus ``dssframe.core.naming`` from this checkout).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("create", "prune", "delete", "run")
UNIT_INTERVAL = "1h"
UNIT_SECONDS = 3600
NUM_INTERVALS = 3
HUMAN = "%a_%b_%d_%Y_%H_%M_%S"
#: Ages (minutes) of the fabricated snapshots: 3 outdated (> 3 h), 1 in interval 2,
#: 2 in interval 1, 5 in interval 0 (which keeps 4: one redundant, two once a new
#: snapshot arrives). The newest is older than the run loop's period (1 h / 4).
FABRICATED_AGES_MIN = (360, 270, 205, 150, 100, 80, 50, 42, 35, 28, 20)
STRAY_WAIT_S = 10.0
MAX_PROBLEMS = 30

try:
    from dssframe.core import naming
except ImportError:  # run with a python that lacks the install: use the checkout
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from dssframe.core import naming


def log(message: str = "") -> None:
    print(message, flush=True)


# --- trees and manifests ----------------------------------------------------------------

Entry = tuple[object, ...]
Manifest = dict[str, Entry]


class Hasher:
    """SHA-256 of files, cached by inode (dev, ino, size, mtime): the hard-linked copies
    of a file are read once. rsync never writes into an existing file of a snapshot (it
    writes a new file and renames it), so a changed file is a new inode."""

    def __init__(self) -> None:
        self.cache: dict[tuple[int, ...], str] = {}

    def digest(self, path: str, st: os.stat_result) -> str:
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        found = self.cache.get(key)
        if found is None:
            with open(path, "rb") as handle:
                found = hashlib.file_digest(handle, "sha256").hexdigest()
            self.cache[key] = found
        return found


def manifest_of(root: Path, hasher: Hasher) -> Manifest:
    """Every path under root (and root itself, as ".") → type, mode, owner, and size,
    mtime and SHA-256 for files, mtime for directories, target for symbolic links."""
    result: Manifest = {}
    top = os.lstat(root)
    result["."] = ("d", top.st_mode, top.st_uid, top.st_gid, top.st_mtime_ns)
    stack = [("", str(root))]
    while stack:
        rel_dir, abs_dir = stack.pop()
        with os.scandir(abs_dir) as entries:
            for entry in entries:
                rel = f"{rel_dir}{entry.name}"
                st = entry.stat(follow_symlinks=False)
                owner = (st.st_mode, st.st_uid, st.st_gid)
                if entry.is_dir(follow_symlinks=False):
                    result[rel] = ("d", *owner, st.st_mtime_ns)
                    stack.append((rel + "/", entry.path))
                elif entry.is_symlink():
                    result[rel] = ("l", *owner, os.readlink(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    digest = hasher.digest(entry.path, st)
                    result[rel] = ("f", *owner, st.st_size, st.st_mtime_ns, digest)
                else:
                    result[rel] = ("?", *owner)
    return result


def manifest_diff(expected: Manifest, actual: Manifest, limit: int = 3) -> str:
    """A short description of how actual differs from expected."""
    missing = sorted(expected.keys() - actual.keys())
    extra = sorted(actual.keys() - expected.keys())
    changed = sorted(k for k in expected.keys() & actual.keys() if expected[k] != actual[k])
    parts = []
    for label, items in (("missing", missing), ("extra", extra), ("changed", changed)):
        if items:
            parts.append(f"{len(items)} {label} (e.g. {', '.join(items[:limit])})")
    return "; ".join(parts) or "identical"


# --- the matrix's state -------------------------------------------------------------------


@dataclass
class Window:
    """The epochs one creating command ran in, and the manifest the source had."""

    start: int
    end: int
    manifest: int
    label: str


@dataclass
class Tally:
    """One row of the final table."""

    rounds: int = 0
    kills: int = 0
    finished: int = 0
    partials: int = 0
    lost: int = 0
    resumed: int = 0
    followup_failures: int = 0
    leftovers: int = 0
    strays: int = 0
    other_failures: int = 0


@dataclass
class Matrix:
    """Everything the steps share: paths, environment, recorded manifests and windows."""

    args: argparse.Namespace
    work: Path
    dss: str
    mktree: Path
    env: dict[str, str]
    rng: random.Random
    source: Path
    hasher: Hasher = field(default_factory=Hasher)
    manifests: list[Manifest] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    fabricated: dict[tuple[str, str], int] = field(default_factory=dict)
    tallies: dict[str, Tally] = field(default_factory=lambda: {c: Tally() for c in COMMANDS})
    problems: list[str] = field(default_factory=list)
    step: int = 0
    mutation_round: int = 0
    last_window_end: float = 0.0

    @property
    def current(self) -> int:
        """Index of the manifest the source has now."""
        return len(self.manifests) - 1


# --- running dss ----------------------------------------------------------------------------


def write_config(matrix: Matrix, dest: Path) -> Path:
    """A TOML config for one destination (the run loop reads it; every command uses it)."""
    conf = dest.parent / f"{dest.name}.toml"
    conf.write_text(
        f'source-dir = "{matrix.source}/"\n'
        f'dest-dir = "{dest}"\n'
        f'unit-interval = "{UNIT_INTERVAL}"\n'
        f"num-intervals = {NUM_INTERVALS}\n"
    )
    return conf


def dss_run(
    matrix: Matrix, conf: Path, *words: str, dest: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one dss command to its end (dest overrides the config's dest-dir)."""
    argv = [matrix.dss, "--config", str(conf)]
    if dest is not None:
        argv += ["--dest-dir", str(dest)]
    return subprocess.run(
        [*argv, *words],
        env=matrix.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def dry_run_prune(matrix: Matrix, conf: Path, dest: Path | None = None) -> set[str]:
    """The names ``dss --dry-run prune`` says it would remove."""
    result = dss_run(matrix, conf, "--dry-run", "prune", dest=dest)
    if result.returncode != 0:
        raise SystemExit(f"dss --dry-run prune failed: {result.stdout}{result.stderr}")
    victims = set()
    for line in result.stdout.splitlines():
        if line.startswith("would remove "):
            victims.add(line[len("would remove ") :].split(":", 1)[0])
    return victims


def planned_victims(matrix: Matrix, conf: Path, names: set[str]) -> set[str]:
    """What the retention would remove from a destination holding exactly ``names``
    (now), repeated until nothing more goes: ``dss --dry-run prune`` on empty twins."""
    scratch = Path(tempfile.mkdtemp(prefix="plan-", dir=matrix.work / "scratch"))
    for name in names:
        (scratch / name).mkdir()
    victims: set[str] = set()
    for _ in range(4):
        more = dry_run_prune(matrix, conf, dest=scratch) - victims
        if not more:
            break
        victims |= more
        for name in more:
            (scratch / name).rmdir()
    shutil.rmtree(scratch)
    return victims


def start(matrix: Matrix, conf: Path, words: list[str], label: str) -> subprocess.Popen[bytes]:
    """Start a dss command in its own session; its output goes to files under logs/."""
    logs = matrix.work / "logs"
    with open(logs / f"{label}.out", "wb") as out, open(logs / f"{label}.err", "wb") as err:
        return subprocess.Popen(
            [matrix.dss, "--config", str(conf), *words],
            env=matrix.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes of session sid: dss and whatever it started."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(entry))
    return members


def reap_strays(sid: int) -> int:
    """Wait (up to 10 s) for the killed command's children to die with it; SIGKILL the
    ones still alive after that and return their number."""
    deadline = time.monotonic() + STRAY_WAIT_S
    while session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.05)
    strays = session_members(sid)
    for pid in strays:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(strays)


def kill_after(proc: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL proc after delay seconds unless it ends first; True if it was killed."""
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode == -signal.SIGKILL


def status(matrix: Matrix, conf: Path) -> dict[str, object]:
    """``dss status --json`` (empty when it cannot be read)."""
    result = dss_run(matrix, conf, "status", "--json")
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        return {}


# --- destinations ---------------------------------------------------------------------------


def human(epoch: int) -> str:
    return time.strftime(HUMAN, time.localtime(epoch))


def scan(dest: Path) -> dict[str, naming.SnapshotName]:
    """Every snapshot name in dest (fresh directory scan, parsed by dssframe.core.naming)."""
    found = {}
    for name in os.listdir(dest):
        parsed = naming.parse(name)
        if parsed is not None:
            found[name] = parsed
    return found


def listed_complete(matrix: Matrix, conf: Path) -> set[str] | None:
    """The complete snapshots ``dss ls --json`` lists (None if it fails)."""
    result = dss_run(matrix, conf, "ls", "--json")
    try:
        return {s["name"] for s in json.loads(result.stdout) if s["state"] == "complete"}
    except (json.JSONDecodeError, KeyError, TypeError):
        return None


def complete(names: dict[str, naming.SnapshotName]) -> set[str]:
    return {n for n, p in names.items() if p.complete}


def incomplete(names: dict[str, naming.SnapshotName]) -> set[str]:
    return {n for n, p in names.items() if p.incomplete}


def fabricate(matrix: Matrix, dest: Path, seed: Path, seed_manifest: int) -> None:
    """Fill dest with hard-link copies of seed under complete names with old epochs."""
    dest.mkdir(mode=0o700, parents=True)
    now = int(time.time())
    for age in FABRICATED_AGES_MIN:
        creation = now - age * 60 + matrix.rng.randint(-150, 150)
        completion = creation + matrix.rng.randint(1, 90)
        name = f"{creation}-{completion}.{human(creation)}-{human(completion)}"
        subprocess.run(["cp", "-al", str(seed), str(dest / name)], check=True)
        matrix.fabricated[(str(dest), name)] = seed_manifest


def expected_manifests(matrix: Matrix, dest: Path, snap: naming.SnapshotName) -> set[int]:
    """The manifests a complete snapshot may equal: the fabricated one's, else that of
    the creating command whose epoch window holds its creation epoch."""
    fab = matrix.fabricated.get((str(dest), snap.name))
    if fab is not None:
        return {fab}
    return {w.manifest for w in matrix.windows if w.start <= snap.creation <= w.end}


def check_partials(matrix: Matrix, dest: Path, names: dict[str, naming.SnapshotName]) -> list[str]:
    """Complete-named snapshots whose tree is not the manifest they were taken from."""
    bad = []
    for name in sorted(complete(names)):
        candidates = expected_manifests(matrix, dest, names[name])
        tree = manifest_of(dest / name, matrix.hasher)
        if not candidates:
            bad.append(f"{name}: no create ran at epoch {names[name].creation}")
        elif not any(tree == matrix.manifests[m] for m in candidates):
            diff = manifest_diff(matrix.manifests[max(candidates)], tree)
            bad.append(f"{name}: differs from source state {max(candidates)}: {diff}")
    return bad


def window_start(matrix: Matrix) -> float:
    """Start time for a creating command; a later second than the previous window's end
    if the source changed since, so that no epoch belongs to two source states."""
    changed = bool(matrix.windows) and matrix.windows[-1].manifest != matrix.current
    if changed and math.floor(time.time()) <= math.floor(matrix.last_window_end):
        time.sleep(math.floor(matrix.last_window_end) + 1.001 - time.time())
    return time.time()


def record_window(matrix: Matrix, start: float, end: float, label: str) -> None:
    matrix.windows.append(Window(math.floor(start), math.floor(end), matrix.current, label))
    matrix.last_window_end = end


# --- steps ----------------------------------------------------------------------------------


def mutate_source(matrix: Matrix) -> None:
    """Mutate the source (next mktree round) and record its manifest."""
    matrix.mutation_round += 1
    subprocess.run(
        [
            sys.executable,
            str(matrix.mktree),
            "mutate",
            str(matrix.source),
            "--seed",
            str(matrix.args.seed),
            "--round",
            str(matrix.mutation_round),
        ],
        check=True,
        capture_output=True,
    )
    matrix.manifests.append(manifest_of(matrix.source, matrix.hasher))


def follow_up(
    matrix: Matrix, dest: Path, conf: Path, tally: Tally, label: str
) -> tuple[Path | None, str]:
    """Run a normal ``dss create`` after a kill; check recovery and resumption.

    Returns the new verified snapshot (None on failure) and a note for the step line."""
    before = scan(dest)
    pending = incomplete(before)
    predicted = ""
    if pending:
        dry = dss_run(matrix, conf, "--dry-run", "create")
        for line in dry.stdout.splitlines():
            if line.startswith("# resume:"):
                predicted = line[len("# resume:") :].strip()
    allowed = dry_run_prune(matrix, conf)
    begin = window_start(matrix)
    result = dss_run(matrix, conf, "create")
    record_window(matrix, begin, time.time(), label + "-followup")
    after = scan(dest)
    account(matrix, tally, label + " follow-up", dest, before, after, allowed)
    new = [
        n
        for n in complete(after) - complete(before)
        if expected_manifests(matrix, dest, after[n]) == {matrix.current}
    ]
    good = None
    for name in new:
        if manifest_of(dest / name, matrix.hasher) == matrix.manifests[matrix.current]:
            good = dest / name
    notes = []
    if result.returncode != 0 or good is None:
        tally.followup_failures += 1
        matrix.problems.append(
            f"{label}: follow-up create exit {result.returncode}, new complete "
            f"{sorted(new)}, equal to source: {good is not None}: {result.stderr.strip()}"
        )
        notes.append(f"follow-up FAILED (exit {result.returncode})")
    else:
        notes.append("follow-up ok")
    if pending:
        if good is not None and not (pending & set(after)):
            tally.resumed += 1
            notes.append(f"resumed {', '.join(sorted(pending))}")
        else:
            notes.append(f"not resumed: {', '.join(sorted(pending & set(after)))}")
        if not predicted:
            notes.append("(dry-run printed no resume line)")
    leftovers = [n for n, p in after.items() if p.being_deleted]
    if leftovers:
        tally.leftovers += len(leftovers)
        notes.append(f"{len(leftovers)} .being_deleted left")
    return good, ", ".join(notes)


def account(
    matrix: Matrix,
    tally: Tally,
    label: str,
    dest: Path,
    before: dict[str, naming.SnapshotName],
    after: dict[str, naming.SnapshotName],
    allowed: set[str],
) -> None:
    """Count complete-named partials and lost snapshots between two scans."""
    partials = check_partials(matrix, dest, after)
    tally.partials += len(partials)
    matrix.problems += [f"{label}: complete-named partial {p}" for p in partials]
    lost = sorted(complete(before) - complete(after) - allowed)
    tally.lost += len(lost)
    matrix.problems += [f"{label}: lost {name}" for name in lost]


def calibrate_run(matrix: Matrix, proc: subprocess.Popen[bytes], conf: Path, dest: Path) -> None:
    """Wait until an unkilled ``dss run`` has created its snapshot and gone idle."""
    begin = math.floor(time.time())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        names = scan(dest)
        fresh = [n for n in complete(names) if names[n].creation >= begin - 1]
        if fresh and not incomplete(names) and not any(p.being_deleted for p in names.values()):
            state = status(matrix, conf)
            action = state.get("next_action")
            waiting = isinstance(action, dict) and action.get("action") == "wait"
            if state.get("activity") == "idle" and waiting:
                return
        time.sleep(0.05)
    raise SystemExit("calibration: dss run did not create a snapshot and go idle in 120 s")


def one_step(
    matrix: Matrix,
    command: str,
    seed: tuple[Path, int],
    delay: float | None,
) -> tuple[tuple[Path, int], float]:
    """One step: mutate the source, fabricate a destination, run ``command`` and kill it
    after ``delay`` s (None: calibration, let it finish), check, follow up, check.

    Returns the next seed (a verified snapshot and its manifest) and the command's
    duration (until killed, or until done)."""
    matrix.step += 1
    label = f"{matrix.step:03d}-{command}"
    tally = matrix.tallies[command]
    mutate_source(matrix)
    dest = matrix.work / "dests" / label
    fabricate(matrix, dest, *seed)
    conf = write_config(matrix, dest)
    before = scan(dest)
    allowed = dry_run_prune(matrix, conf)
    words = [command]
    if command == "delete":
        target = matrix.rng.choice(sorted(complete(before)))
        words.append(target)
        allowed = {target}
    creates = command in ("create", "run")
    begin = window_start(matrix) if creates else time.time()
    proc = start(matrix, conf, words, label)
    if delay is None:
        killed = False
        if command == "run":
            calibrate_run(matrix, proc, conf, dest)
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    else:
        killed = kill_after(proc, delay)
    end = time.time()
    if creates:
        record_window(matrix, begin, end, label)
    strays = reap_strays(proc.pid)
    after = scan(dest)
    if command == "run":  # the loop prunes after its snapshot: allow what that removes
        allowed |= planned_victims(matrix, conf, complete(before) | complete(after))
    if delay is not None:
        tally.rounds += 1
        tally.kills += killed
        tally.finished += not killed
    tally.strays += strays
    if not killed and command != "run" and proc.returncode != 0:
        tally.other_failures += 1
        matrix.problems.append(f"{label}: unkilled dss {command} exited {proc.returncode}")
    account(matrix, tally, label, dest, before, after, allowed)
    listed = listed_complete(matrix, conf)
    if listed != complete(after):
        tally.other_failures += 1
        scanned = complete(after)
        matrix.problems.append(
            f"{label}: dss ls --json "
            + ("failed" if listed is None else f"lists {sorted(listed - scanned)} too")
            + f"; it misses {sorted(scanned - (listed or set()))}"
        )
    removed = len(complete(before) - complete(after))
    left = len(incomplete(after))
    good, notes = follow_up(matrix, dest, conf, tally, label)
    what = (
        "calibration (not killed)"
        if delay is None
        else (f"killed at {end - begin:.2f}s" if killed else f"finished first ({end - begin:.2f}s)")
    )
    log(
        f"  {label:<11} {what:<28} removed {removed}, incomplete {left}"
        + (f", {strays} stray procs" if strays else "")
        + f"; {notes}"
    )
    next_seed = (good, matrix.current) if good is not None else seed
    if not matrix.args.keep:  # the previous destination is no longer needed
        old = seed[0].parent
        if old != next_seed[0].parent and old.parent == matrix.work / "dests":
            shutil.rmtree(old)
    return next_seed, end - begin


# --- main -------------------------------------------------------------------------------------


def find_dss(given: str | None) -> str:
    """--dss, else the dss next to the running python, else the one on PATH."""
    if given:
        return given
    beside = Path(sys.executable).parent / "dss"
    if beside.exists():
        return str(beside)
    found = shutil.which("dss")
    if not found:
        raise SystemExit("no dss beside sys.executable or on PATH (use --dss)")
    return found


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="kills per command (default 10)")
    parser.add_argument("--files", type=int, default=3000, help="files in the tree (3000)")
    parser.add_argument("--seed", type=int, default=1, help="tree and kill-moment seed (1)")
    parser.add_argument("--dss", help="the dss to test (default: beside python, else PATH)")
    parser.add_argument("--workdir", help="make the run's directory inside DIR (temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--ref",
        help="test the dssframe of git commit REF (or 'worktree': a copy of src/ taken at "
        "the start) instead of the live editable install, put first on PYTHONPATH",
    )
    return parser.parse_args(argv)


def export_code(ref: str, work: Path) -> str:
    """Export src/ of commit ref (or of the work tree, now) into work; its path."""
    code = work / "code"
    code.mkdir()
    if ref == "worktree":
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
        shutil.copytree(REPO_ROOT / "src", code / "src", ignore=ignore)
    else:
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", ref, "src"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
    return str(code / "src")


def make_env(work: Path, code: str | None) -> dict[str, str]:
    """The environment of every dss: home, config, state, data, cache inside work."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [code, env.get("PYTHONPATH")]))
    env.pop("DSSFRAME_CONFIG", None)
    for var, sub in (
        ("HOME", "home"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        env[var] = str(work / "xdg" / sub)
        Path(env[var]).mkdir(parents=True)
    # Bytecode cached inside work (src/ untouched), so start-up is not recompilation.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def print_table(matrix: Matrix) -> None:
    """The summary: one row per command and a total."""
    columns = (
        ("command", "command"),
        ("kills", "kills"),
        ("complete-named partials", "partials"),
        ("snapshots lost", "lost"),
        ("resumed", "resumed"),
        ("follow-up failures", "followup_failures"),
        ("finished first", "finished"),
        (".being_deleted left", "leftovers"),
        ("stray procs", "strays"),
        ("other problems", "other_failures"),
    )
    total = Tally()
    rows = []
    for command, tally in matrix.tallies.items():
        for name in vars(total):
            setattr(total, name, getattr(total, name) + getattr(tally, name))
        rows.append((command, tally))
    rows.append(("total", total))
    widths = [len(title) for title, _ in columns]
    cells = []
    for command, tally in rows:
        line = [command] + [str(getattr(tally, attr)) for _, attr in columns[1:]]
        widths = [max(w, len(c)) for w, c in zip(widths, line, strict=True)]
        cells.append(line)
    log("  ".join(title.ljust(w) for (title, _), w in zip(columns, widths, strict=True)))
    for line in cells:
        log("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mktree = Path(
        os.environ.get("DSSFRAME_MKTREE") or REPO_ROOT.parent / "shared" / "bench" / "mktree.py"
    )
    if not mktree.is_file():
        raise SystemExit(f"mktree.py not found at {mktree} (set DSSFRAME_MKTREE)")
    for tool in ("rsync", "cp"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    base = Path(args.workdir) if args.workdir else Path(tempfile.gettempdir())
    work = Path(tempfile.mkdtemp(prefix="dssframe-crash-", dir=base)).resolve()
    for sub in ("dests", "logs", "scratch"):
        (work / sub).mkdir()
    matrix = Matrix(
        args=args,
        work=work,
        dss=find_dss(args.dss),
        mktree=mktree,
        env=make_env(work, export_code(args.ref, work) if args.ref else None),
        rng=random.Random(args.seed),
        source=work / "src",
    )
    started = time.monotonic()
    code = matrix.env.get("PYTHONPATH", "").split(os.pathsep)[0] if args.ref else "live install"
    log(f"dss: {matrix.dss} (dssframe: {code}); work dir: {work}")
    log(f"seed {args.seed}; {args.rounds} rounds per command; {args.files} files")
    gen = subprocess.run(
        [sys.executable, str(mktree), "gen", str(matrix.source), "--files", str(args.files)]
        + ["--seed", str(args.seed)],
        check=True,
        capture_output=True,
        text=True,
    )
    log(gen.stdout.strip())
    try:
        status_code = run_matrix(matrix)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    log(f"wall time: {time.monotonic() - started:.1f} s")
    return status_code


def run_matrix(matrix: Matrix) -> int:
    """The initial snapshot, one calibration step per command, then the kill rounds."""
    matrix.manifests.append(manifest_of(matrix.source, matrix.hasher))
    first = matrix.work / "dests" / "000-initial"
    first.mkdir(mode=0o700)
    conf = write_config(matrix, first)
    begin = window_start(matrix)
    result = dss_run(matrix, conf, "create")
    record_window(matrix, begin, time.time(), "initial")
    made = complete(scan(first))
    if result.returncode != 0 or len(made) != 1:
        raise SystemExit(f"initial dss create failed: {result.stderr}")
    tree = manifest_of(first / next(iter(made)), matrix.hasher)
    if tree != matrix.manifests[matrix.current]:
        diff = manifest_diff(matrix.manifests[matrix.current], tree)
        raise SystemExit(f"the initial dss create made a wrong copy: {diff}")
    seed = (first / made.pop(), matrix.current)

    log("calibration: each command once, not killed")
    durations = {}
    for command in COMMANDS:
        seed, durations[command] = one_step(matrix, command, seed, None)
    log(
        "normal durations: "
        + ", ".join(f"{c} {d:.2f}s" for c, d in durations.items())
        + "; kill moments uniform in 0-1.5x that"
    )
    for rnd in range(1, matrix.args.rounds + 1):
        log(f"round {rnd}")
        for command in COMMANDS:
            delay = matrix.rng.uniform(0, 1.5 * durations[command])
            seed, _ = one_step(matrix, command, seed, delay)

    log()
    print_table(matrix)
    if matrix.problems:
        log()
        log("problems:")
        for problem in matrix.problems[:MAX_PROBLEMS]:
            log(f"  {problem}")
        if len(matrix.problems) > MAX_PROBLEMS:
            log(f"  ... and {len(matrix.problems) - MAX_PROBLEMS} more")
    bad = sum(t.partials + t.lost + t.followup_failures for t in matrix.tallies.values())
    log()
    log("FAIL" if bad else "PASS: no complete-named partial, no snapshot lost, every follow-up ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
