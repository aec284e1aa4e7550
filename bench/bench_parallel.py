#!/usr/bin/env python3
"""``dss create`` with ``parallel`` = 1, 2 and 4 against plain ``rsync --link-dest`` (and
the peers rsnapshot and rsync-time-machine, when installed), same data, same run.

    .venv/bin/python bench/bench_parallel.py [--files 20000] [--rounds 5] [--workdir DIR]
                                             [--ssh] [--no-peers] [--keep] [--json FILE]

Makes a mktree.py tree (``gen --files N``), then one destination per side, each with an
untimed full first copy of the same tree (so every side links against a previous copy
of identical content); then in every round ``mktree.py mutate --round R`` changes ~1 %
of the tree and every side copies it once, in an order rotated by one each round:

  rsync:       rsync -a --delete --link-dest=/abs/prev SRC/ NEW/        (a fresh NEW)
  dss p1/p2/p4: dss --config CFG create   (parallel = 1, 2, 4; no-resume = true, so
               each copy goes into a fresh directory like the plain rsync's)
  dss in process: the same create (parallel = 1) in a process that is already running,
               as the run loop makes it: no start-up counted
  rsnapshot:   rsnapshot -c CONF alpha    (link_dest 1, retain alpha 1000: rotation by
               renames, then rsync --link-dest; nothing is ever deleted)
  rsync-time-machine: rsync-time-machine --no-auto-expire SRC/ DEST   (its own flags:
               -D --numeric-ids --links --hard-links --one-file-system --itemize-changes
               --times --recursive --perms --owner --group --stats --human-readable)

Before each timed run the source and that side's previous copy have their metadata read
(untimed) and after it ``sync`` runs (untimed), as in bench_core.py. Nothing is deleted
until the very end (``/`` here is ext4 without a journal: creating many files right
after deleting many is several times slower; see bench/README.md), and only ratios
measured side by side in this run mean anything: the machine is shared.

Prints per-round times, and per side the median, min, max, the median of the per-round
ratios to plain rsync and the ratio of the medians. Targets: parallel 1 <= 1.05 x,
parallel 2 <= 0.85 x (the median of the per-round ratios); exit status 1 when one is
missed. An untimed check at the end compares the newest snapshots of the dss sides with
the newest plain copy (``rsync -anic --delete``: no output, identical) and reports the
share of files hard-linked to the previous copy per side.

``--ssh``: the same sides but the peers, the source read over ssh: a test sshd on
127.0.0.1 (tests/sshd.py: its own generated keys and config), the plain rsync with
``-e "ssh -o BatchMode=yes -o ConnectTimeout=30 -p PORT -i KEY -o ..."
USER@127.0.0.1:SRC/`` and dss with the same ssh settings (each of its rsync processes
opens its own connection; the plan's listing is one more). Targets: the same.

The tree generator is ../shared/bench/mktree.py relative to the repository root
(override with DSSFRAME_MKTREE). Standard library only. Peers: ``apt-get install -y
rsnapshot`` and ``pip install rsync-time-machine`` (into this interpreter's
environment, or anywhere on PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
CONNECT_TIMEOUT = 30
TARGETS = {"dss p1": 1.05, "dss p2": 0.85, "dss in process": 1.02}


def log(message: str = "") -> None:
    print(message, flush=True)


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.3f} s"


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def run_checked(argv: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(
            f"command failed ({result.returncode}): {' '.join(argv)}\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout.strip()


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    run_checked(argv, env)
    return time.perf_counter() - start


def warm_metadata(root: Path | None) -> None:
    if root is None:
        return
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            os.lstat(os.path.join(dirpath, name))


def find_mktree() -> Path:
    path = Path(os.environ.get("DSSFRAME_MKTREE") or REPO_ROOT.parent / "shared/bench/mktree.py")
    if not path.is_file():
        raise SystemExit(f"mktree.py not found at {path} (set DSSFRAME_MKTREE)")
    return path


def find_tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def complete_snapshots(dest: Path) -> list[Path]:
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from dssframe.core import naming

    found = ((p, naming.parse(p.name)) for p in dest.iterdir())
    return sorted(p for p, s in found if s is not None and s.complete)


def inode_share(new: Path, old: Path) -> float:
    linked = total = 0
    for dirpath, _dirs, files in os.walk(new):
        for name in files:
            path = Path(dirpath, name)
            total += 1
            twin = old / path.relative_to(new)
            try:
                if twin.lstat().st_ino == path.lstat().st_ino:
                    linked += 1
            except OSError:
                pass
    return linked / total if total else 0.0


def differences(a: Path, b: Path) -> str:
    result = subprocess.run(
        ["rsync", "-anic", "--delete", f"{a}/", f"{b}/"], capture_output=True, text=True
    )
    return result.stdout + result.stderr


class Side:
    """One way of making the snapshots: its command per round and where they go."""

    def __init__(
        self,
        label: str,
        first: Callable[[], list[str]],
        next_copy: Callable[[int], list[str]],
        newest: Callable[[], Path | None],
        env: dict[str, str] | None = None,
    ) -> None:
        self.label = label
        self.first = first
        self.next_copy = next_copy
        self.newest = newest
        self.env = env
        self.times: list[float] = []


class Source:
    """The tree, as the plain rsync reads it (``words``: its source operand, and ``-e``
    before it over ssh) and as a dss config says it (``config``: TOML lines)."""

    def __init__(self, src: Path, server: Any = None) -> None:
        self.src = src
        self.words = [f"{src}/"]
        self.config = f"source-dir = {json.dumps(f'{src}/')}\n"
        if server is None:
            return
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}"]
        ssh += ["-p", str(server.port), "-i", str(server.client_key)]
        options = [*server.ssh_options(), "IdentitiesOnly=yes"]
        for option in options:
            ssh += ["-o", option]
        self.words = ["-e", shlex.join(ssh), f"{server.user}@{server.host}:{src}/"]
        self.config += "\n".join([
            f"remote-host = {json.dumps(server.host)}",
            f"remote-user = {json.dumps(server.user)}",
            'use-ssh = "always"',
            f"ssh-port = {server.port}",
            f"ssh-identity = {json.dumps(str(server.client_key))}",
            f"ssh-option = {json.dumps(server.ssh_options())}",
            f"ssh-connect-timeout = {CONNECT_TIMEOUT}",
            "",
        ])  # fmt: skip


def dss_side(run_dir: Path, src: Source, dss: str, env: dict[str, str], parallel: int) -> Side:
    dest = run_dir / f"dss-p{parallel}"
    dest.mkdir(mode=0o700)
    config = run_dir / f"dss-p{parallel}.toml"
    config.write_text(
        f"{src.config}dest-dir = {json.dumps(str(dest))}\n"
        f"parallel = {parallel}\nno-resume = true\n"
    )
    argv = [dss, "--config", str(config), "create"]

    def newest() -> Path | None:
        found = complete_snapshots(dest)
        return found[-1] if found else None

    return Side(f"dss p{parallel}", lambda: argv, lambda _rnd: argv, newest, env)


#: The worker of the "dss in process" side: one process that makes a snapshot each time
#: it reads a line, as the run loop does (Job.begin_create, rsync, finish_create), and
#: answers "done" -- timed from the request to the answer, so no start-up is counted.
IN_PROCESS_WORKER = """
import sys
from dssframe.plugins.host import load_host
from dssframe.store import configfile
from dssframe.engine.job import Job
config = configfile.load(sys.argv[1], {})
host = load_host()
config = host.apply_settings(config)
host.configure(config)
for line in sys.stdin:
    job = Job.from_config(config, host)
    job.create()
    print("done", flush=True)
"""


class InProcessSide(Side):
    """``dss create``'s work in a process that is already running (the run loop's
    create, no start-up): the first copy and every round are requests to the worker."""

    def __init__(self, run_dir: Path, src: Source, env: dict[str, str]) -> None:
        dest = run_dir / "dss-in-process"
        dest.mkdir(mode=0o700)
        config = run_dir / "dss-in-process.toml"
        config.write_text(f"{src.config}dest-dir = {json.dumps(str(dest))}\nno-resume = true\n")

        def newest() -> Path | None:
            found = complete_snapshots(dest)
            return found[-1] if found else None

        super().__init__("dss in process", lambda: [], lambda _rnd: [], newest, None)
        self.worker = subprocess.Popen(
            [sys.executable, "-c", IN_PROCESS_WORKER, str(config)], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip

    def run(self) -> float:
        assert self.worker.stdin is not None and self.worker.stdout is not None
        start = time.perf_counter()
        self.worker.stdin.write("go\n")
        self.worker.stdin.flush()
        answer = self.worker.stdout.readline()
        took = time.perf_counter() - start
        if answer.strip() != "done":
            raise SystemExit(f"the in-process worker failed: {answer!r}")
        return took

    def close(self) -> None:
        if self.worker.stdin is not None:
            self.worker.stdin.close()
        self.worker.wait(60)


def run_side(side: Side, argv: list[str]) -> float:
    """One copy of ``side``, timed."""
    if isinstance(side, InProcessSide):
        return side.run()
    return timed(argv, side.env)


def rsync_side(run_dir: Path, src: Source) -> Side:
    root = run_dir / "rsync"
    root.mkdir()
    made: list[Path] = []

    def first() -> list[str]:
        made.append(root / "s000")
        return ["rsync", "-a", "--delete", *src.words, f"{made[-1]}/"]

    def next_copy(rnd: int) -> list[str]:
        prev = made[-1]
        made.append(root / f"s{rnd:03d}")
        return ["rsync", "-a", "--delete", f"--link-dest={prev}", *src.words, f"{made[-1]}/"]

    return Side("rsync", first, next_copy, lambda: made[-1] if made else None)


def rsnapshot_side(run_dir: Path, src: Path, tool: str) -> Side:
    root = run_dir / "rsnapshot"
    conf = run_dir / "rsnapshot.conf"
    rsync = shutil.which("rsync") or "/usr/bin/rsync"
    lines = [
        ("config_version", "1.2"),
        ("snapshot_root", f"{root}/"),
        ("cmd_rsync", rsync),
        ("link_dest", "1"),
        ("lockfile", str(run_dir / "rsnapshot.pid")),
        ("retain", "alpha\t1000"),
        ("backup", f"{src}/\tlocalhost/"),
    ]
    conf.write_text("".join(f"{key}\t{value}\n" for key, value in lines))
    argv = [tool, "-c", str(conf), "alpha"]

    def newest() -> Path | None:
        path = root / "alpha.0" / "localhost" / str(src).lstrip("/")
        return path if path.exists() else None

    return Side("rsnapshot", lambda: argv, lambda _rnd: argv, newest)


def rtm_side(run_dir: Path, src: Path, tool: str) -> Side:
    dest = run_dir / "rtm"
    dest.mkdir()
    (dest / "backup.marker").write_text("")
    argv = [tool, "--no-auto-expire", "--log-dir", str(run_dir / "rtm-logs"), f"{src}/", str(dest)]

    def newest() -> Path | None:
        found = sorted(p for p in dest.iterdir() if p.is_dir() and p.name[:1].isdigit())
        return found[-1] if found else None

    def next_copy(_rnd: int) -> list[str]:
        # Its backups are named by the second: never two in one second.
        last = newest()
        while last is not None and last.name == time.strftime("%Y-%m-%d-%H%M%S"):
            time.sleep(0.05)
        return argv

    return Side("rsync-time-machine", lambda: argv, next_copy, newest)


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=20000, help="files in the tree")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--workdir", help="make the run directory in here")
    parser.add_argument("--ssh", action="store_true", help="read the source over a test sshd")
    parser.add_argument("--no-peers", action="store_true", help="leave out rsnapshot and rtm")
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    parser.add_argument("--json", help="also write the samples to this file")
    args = parser.parse_args()

    mktree = find_mktree()
    dss = find_tool("dss")
    if shutil.which("rsync") is None or dss is None:
        raise SystemExit("rsync and dss must be installed")
    run_dir = Path(tempfile.mkdtemp(prefix="bench-parallel-", dir=args.workdir))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DSSFRAME_CONFIG", "PYTHONDONTWRITEBYTECODE")
    }
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[name] = str(run_dir / "xdg" / name.lower())
    env["PYTHONPYCACHEPREFIX"] = str(run_dir / "pycache")  # as bench_core.py's default
    log(f"run directory {run_dir}; load average {loadavg()}; {os.cpu_count()} cpus")
    try:
        if args.ssh:
            sys.path.insert(0, str(REPO_ROOT / "tests"))
            from sshd import running_sshd

            with running_sshd(run_dir / "sshd") as server:
                log(f"sshd on {server.host}:{server.port}: the source is read over ssh")
                ok = bench(args, run_dir, mktree, dss, env, server)
        else:
            ok = bench(args, run_dir, mktree, dss, env)
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    log(f"load average at the end {loadavg()}")
    return 0 if ok else 1


def bench(
    args: argparse.Namespace,
    run_dir: Path,
    mktree: Path,
    dss: str,
    env: dict[str, str],
    server: Any = None,
) -> bool:
    src = run_dir / "src"
    log(run_checked([sys.executable, str(mktree), "gen", str(src), "--files", str(args.files)]))
    source = Source(src, server)
    sides = [rsync_side(run_dir, source)]
    sides += [dss_side(run_dir, source, dss, env, n) for n in (1, 2, 4)]
    sides.append(InProcessSide(run_dir, source, env))
    if server is not None:
        log("over ssh: rsnapshot and rsync-time-machine are left out (local peers only)")
    elif not args.no_peers:
        tool = find_tool("rsnapshot")
        if tool:
            sides.append(rsnapshot_side(run_dir, src, tool))
        else:
            log("rsnapshot not installed (apt-get install -y rsnapshot): left out")
        tool = find_tool("rsync-time-machine")
        if tool:
            sides.append(rtm_side(run_dir, src, tool))
        else:
            log("rsync-time-machine not installed (pip install rsync-time-machine): left out")
    # The untimed full first copies (a dss side's first run fills the bytecode cache,
    # and a dry run after it loads what the later copies load).
    for side in sides:
        took = run_side(side, side.first())
        os.sync()
        if side.env is not None:
            dry = [*side.first()[:-1], "--dry-run", "create"]
            subprocess.run(dry, env=side.env, capture_output=True, check=False)
        log(f"first copy (untimed) {side.label}: {fmt_s(took)}")
    for rnd in range(1, args.rounds + 1):
        log(run_checked([sys.executable, str(mktree), "mutate", str(src), "--round", str(rnd)]))
        os.sync()
        shift = (rnd - 1) % len(sides)
        order = sides[shift:] + sides[:shift]
        line = []
        for side in order:
            warm_metadata(src)
            warm_metadata(side.newest())
            took = run_side(side, side.next_copy(rnd))
            os.sync()  # write back this copy before the next side runs
            side.times.append(took)
            line.append(f"{side.label} {fmt_s(took)}")
        log(f"round {rnd}: " + ", ".join(line))

    for side in sides:
        if isinstance(side, InProcessSide):
            side.close()
    reference = sides[0]
    ok = True
    log("")
    log(
        f"{'side':<20} {'median':>10} {'min':>10} {'max':>10} {'ratio p':>8} {'ratio m':>8}  target"
    )
    summary = {}
    for side in sides:
        ratios = [t / r for t, r in zip(side.times, reference.times, strict=True)]
        per_round = median(ratios)
        of_medians = median(side.times) / median(reference.times)
        target = TARGETS.get(side.label)
        verdict = ""
        if target is not None:
            passed = per_round <= target
            ok = ok and passed
            verdict = f"<= {target:.2f}x {'PASS' if passed else 'FAIL'}"
        log(
            f"{side.label:<20} {fmt_s(median(side.times)):>10} {fmt_s(min(side.times)):>10} "
            f"{fmt_s(max(side.times)):>10} {per_round:>8.3f} {of_medians:>8.3f}  {verdict}"
        )
        summary[side.label] = {
            "times": side.times, "ratio_per_round": per_round, "ratio_of_medians": of_medians,
        }  # fmt: skip
    log("(ratio p: median of the per-round ratios to rsync; ratio m: ratio of the medians)")

    # Untimed checks: the dss sides made what plain rsync made.
    newest_plain = reference.newest()
    assert newest_plain is not None
    for side in sides[1:5]:  # the four dss sides
        made = side.newest()
        assert made is not None
        text = differences(newest_plain, made).replace(".d..t...... ./\n", "")
        same = "identical to the plain copy" if not text else f"DIFFERS:\n{text[:2000]}"
        ok = ok and not text
        snaps = complete_snapshots(made.parent)
        share = inode_share(snaps[-1], snaps[-2]) if len(snaps) > 1 else 0.0
        log(f"check {side.label}: {same}; {share:.1%} of files linked to the previous copy")
    if args.json:
        document = {"files": args.files, "ssh": server is not None, "sides": summary}
        Path(args.json).write_text(json.dumps(document, indent=1))
    return ok


if __name__ == "__main__":
    sys.exit(main())
