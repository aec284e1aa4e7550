"""One ``dss run`` over many jobs against sequential plain rsyncs, side by side.

    python bench/bench_fleet.py [--jobs 20] [--files 2000] [--rounds 3] [--idle 30]

Each round, on fresh destination directories (never deleting between the two sides of
a comparison: see ../shared/bench/mktree.py's note on this ext4), times:

- ``rsync``: the jobs' first copies one after the other (``rsync -a --delete``);
- ``dss run, max-parallel N`` for N in 1, 2, 4: one ``dss run`` over a config with one
  ``[[job]]`` per source, from its start until every job's first snapshot is complete
  (process start-up included), then SIGTERM.

It prints each median and its ratio to the rsync median (targets: at most 1.05 at
max-parallel 1, below 1 at 2). Then it leaves one ``dss run`` over the jobs idle for
``--idle`` seconds and prints its CPU use (utime + stime from /proc) and its RSS
(targets: below 1 % CPU, below 80 MB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The shared tree generator (``--mktree`` elsewhere, e.g. from a copy of the repository).
MKTREE = Path(__file__).resolve().parents[2] / "shared" / "bench" / "mktree.py"
DSS = [sys.executable, "-m", "dssframe"]


def make_sources(root: Path, jobs: int, files: int, mktree: Path = MKTREE) -> list[Path]:
    sources = []
    for number in range(jobs):
        source = root / f"src-{number:02d}"
        subprocess.run([sys.executable, str(mktree), "gen", str(source), "--files", str(files),
                        "--dirs", str(max(files // 100, 1)), "--seed", str(number)],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        sources.append(source)
    return sources


def complete_snapshots(dest: Path) -> int:
    return sum(1 for p in dest.iterdir() if p.name[0].isdigit() and "incomplete" not in p.name)


def time_rsync(sources: list[Path], dests: Path) -> float:
    started = time.perf_counter()
    for number, source in enumerate(sources):
        dest = dests / f"dest-{number:02d}"
        dest.mkdir(parents=True, mode=0o700)
        subprocess.run(["rsync", "-a", "--delete", f"{source}/", f"{dest}/"], check=True)
    return time.perf_counter() - started


def write_config(path: Path, sources: list[Path], dests: Path, parallel: int) -> None:
    lines = [
        'unit-interval = "30d"', "min-free-mb = 0", "min-free-percent = 0",
        f"max-parallel = {parallel}", 'loglevel = "error"',
    ]  # fmt: skip
    for number, source in enumerate(sources):
        dest = dests / f"dest-{number:02d}"
        dest.mkdir(parents=True, mode=0o700)
        lines += ["[[job]]", f'name = "job{number:02d}"', f'source-dir = "{source}/"',
                  f'dest-dir = "{dest}"']  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


def start_fleet(config: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*DSS, "-c", str(config), "run"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # fmt: skip


def time_fleet(sources: list[Path], dests: Path, parallel: int, env: dict[str, str]) -> float:
    config = dests / "fleet.toml"
    dests.mkdir(parents=True)
    write_config(config, sources, dests, parallel)
    targets = [dests / f"dest-{number:02d}" for number in range(len(sources))]
    started = time.perf_counter()
    process = start_fleet(config, env)
    while not all(complete_snapshots(dest) for dest in targets):
        if process.poll() is not None:
            raise SystemExit(f"dss run exited with {process.returncode}")
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    return elapsed


def idle_usage(sources: list[Path], dests: Path, seconds: float, env: dict[str, str]) -> None:
    config = dests / "fleet.toml"
    dests.mkdir(parents=True)
    write_config(config, sources, dests, 2)
    targets = [dests / f"dest-{number:02d}" for number in range(len(sources))]
    process = start_fleet(config, env)
    while not all(complete_snapshots(dest) for dest in targets):
        time.sleep(0.05)
    time.sleep(2)  # the last snapshot's bookkeeping

    def ticks() -> int:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    before, began = ticks(), time.monotonic()
    time.sleep(seconds)
    used = (ticks() - before) / os.sysconf("SC_CLK_TCK")
    wall = time.monotonic() - began
    rss_kb = next(int(line.split()[1]) for line in
                  Path(f"/proc/{process.pid}/status").read_text().splitlines()
                  if line.startswith("VmRSS:"))  # fmt: skip
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    print(f"idle dss run, {len(sources)} jobs, {wall:.0f} s: CPU {used:.2f} s "
          f"({100 * used / wall:.2f} %, target < 1 %), RSS {rss_kb / 1024:.1f} MB "
          f"(target < 80 MB)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--dir", help="work here (default: a temporary directory)")
    parser.add_argument("--mktree", default=str(MKTREE), help="path of mktree.py")
    args = parser.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="bench-fleet-"))
    env = {**os.environ, "XDG_STATE_HOME": str(root / "state"),
           "XDG_CONFIG_HOME": str(root / "config")}  # fmt: skip
    sources = make_sources(root / "sources", args.jobs, args.files, Path(args.mktree))
    subprocess.run(["sync"], check=True)
    times: dict[str, list[float]] = {"rsync": []}
    for parallel in (1, 2, 4):
        times[f"dss run, max-parallel {parallel}"] = []
    for number in range(args.rounds):
        base = root / f"round-{number}"
        times["rsync"].append(time_rsync(sources, base / "rsync"))
        for parallel in (1, 2, 4):
            elapsed = time_fleet(sources, base / f"fleet-{parallel}", parallel, env)
            times[f"dss run, max-parallel {parallel}"].append(elapsed)
        subprocess.run(["sync"], check=True)
    plain = statistics.median(times["rsync"])
    print(f"{args.jobs} jobs x {args.files} files, {args.rounds} rounds, medians:")
    targets = {"dss run, max-parallel 1": " (target <= 1.05)",
               "dss run, max-parallel 2": " (target < 1)"}  # fmt: skip
    for name, values in times.items():
        median = statistics.median(values)
        ratio = "" if name == "rsync" else f"  {median / plain:.3f}x rsync{targets.get(name, '')}"
        print(f"  {name:26s} {median:7.2f} s{ratio}")
    idle_usage(sources, root / "idle", args.idle, env)
    if not args.dir:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
