#!/usr/bin/env python3
"""Lifecycle benchmarks: ``dss diff`` and ``dss du`` against the plain tools, on the
same snapshots in the same run.

    /work/venv/bin/python bench/bench_lifecycle.py [--quick] [--rounds N] [--workdir DIR]

1. ``dss --dest-dir D diff A B`` (and ``--json``) vs ``diff -rq D/A D/B`` and vs
   ``rsync -rin --delete D/B/ D/A/`` between two snapshots made by ``dss create`` of a
   mktree.py tree (20,000 files) with ~1 % changed in between (mktree.py mutate: 200
   rewritten, 100 added, 100 deleted). Target: dss diff <= 1.5 x diff -rq.
2. ``dss --dest-dir D du`` vs ``du -sh D`` over 10 snapshots (8 more mutate + create
   rounds on the same destination). No target: for information.

Every round runs each command once, the order rotating from round to round; the table
shows medians and, for the ratios, the median of the per-round ratios (which cancels
load changes between rounds on this shared VM). Each command runs once untimed first.
Output goes to /dev/null for every command. An untimed check confirms that dss diff
and diff -rq report the same paths, and that dss du's total matches du -s.

The root file system is ext4 without a journal: creating many files right after
deleting many is 6-8x slower, so every tree here is fresh, nothing is deleted until the
end, and only ratios measured side by side are compared.

Bytecode is cached under the run dir (``PYTHONPYCACHEPREFIX``; ``PYTHONDONTWRITEBYTECODE``
unset), as an installed package would have it; ``dss`` runs with XDG dirs inside the run
dir. Standard library only; run it with the virtualenv's python (the ``dss`` next to
``sys.executable`` is measured). Exit status 1 when the diff target is missed.
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
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DIFF_TARGET = 1.5


def log(message: str = "") -> None:
    print(message, flush=True)


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.3f} s"


def run_checked(argv: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(argv, env=env, text=True, capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {shlex.join(argv)}\n{result.stderr}")
    return result.stdout


def timed(argv: list[str], env: dict[str, str] | None, ok: tuple[int, ...] = (0,)) -> float:
    """Wall time of one run, output to /dev/null."""
    start = time.perf_counter()
    result = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - start
    if result.returncode not in ok:
        raise SystemExit(
            f"failed ({result.returncode}): {shlex.join(argv)}\n"
            f"{result.stderr.decode(errors='replace')}"
        )
    return elapsed


def rounds_of(commands: dict[str, tuple[list[str], dict[str, str] | None, tuple[int, ...]]],
              rounds: int) -> dict[str, list[float]]:
    """Each command once per round (order rotating), after one untimed run each."""
    names = list(commands)
    for argv, env, ok in commands.values():
        timed(argv, env, ok)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rnd in range(rounds):
        shift = rnd % len(names)
        for name in names[shift:] + names[:shift]:
            argv, env, ok = commands[name]
            times[name].append(timed(argv, env, ok))
    return times


def paired(times: dict[str, list[float]], a: str, b: str) -> float:
    return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))


def snapshot_names(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir() if p.name[0].isdigit() and "." in p.name)


def diff_paths(dss: str, env: dict[str, str], dest: Path, a: str, b: str) -> tuple[int, int]:
    """(paths dss diff reports at the top of each added/removed subtree + changed,
    lines of diff -rq): must be equal."""
    data = json.loads(run_checked([dss, "--dest-dir", str(dest), "diff", a, b, "--json"], env))
    paths = {d["path"] for d in data["differences"] if d["kind"] != "metadata"}
    top = {p for p in paths if not any(p.startswith(q + "/") for q in paths)}
    gnu = subprocess.run(["diff", "-rq", str(dest / a), str(dest / b)], capture_output=True)
    return len(top), len(gnu.stdout.splitlines())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 files, 3 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 11)")
    parser.add_argument("--files", type=int, default=None, help="files (default 20,000)")
    parser.add_argument("--snapshots", type=int, default=10, help="snapshots for du")
    parser.add_argument("--workdir", default=None, help="make the run dir in here")
    parser.add_argument("--keep", action="store_true", help="keep the run dir")
    parser.add_argument("--json", default=None, help="write samples and medians here")
    args = parser.parse_args()
    files = args.files or (2000 if args.quick else 20000)
    rounds = args.rounds or (3 if args.quick else 11)
    snapshots = 4 if args.quick and args.snapshots == 10 else args.snapshots

    dss = str(Path(sys.executable).with_name("dss"))
    mktree = Path(os.environ.get("DSSFRAME_MKTREE", REPO_ROOT.parent / "shared/bench/mktree.py"))
    for tool in ("diff", "rsync", "du"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    run_dir = Path(tempfile.mkdtemp(prefix="bench-lifecycle-", dir=args.workdir))
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("DSSFRAME_CONFIG", None)
    env.update(
        PYTHONPYCACHEPREFIX=str(run_dir / "pycache"),
        XDG_CONFIG_HOME=str(run_dir / "xdg-config"),
        XDG_STATE_HOME=str(run_dir / "xdg-state"),
        XDG_CACHE_HOME=str(run_dir / "xdg-cache"),
    )
    results: dict[str, object] = {"files": files, "rounds": rounds}
    status = 0
    try:
        src, dest = run_dir / "src", run_dir / "dest"
        dest.mkdir()
        gen = [sys.executable, str(mktree), "gen", str(src), "--files", str(files)]
        log(run_checked(gen).strip())
        create = [dss, "--source-dir", f"{src}/", "--dest-dir", str(dest), "create"]
        run_checked(create, env)
        log(run_checked([sys.executable, str(mktree), "mutate", str(src), "--round", "1"]).strip())
        run_checked(create, env)
        os.sync()
        a, b = snapshot_names(dest)
        ours, gnu = diff_paths(dss, env, dest, a, b)
        log(f"check: dss diff reports {ours} paths, diff -rq {gnu} lines"
            f" -> {'same' if ours == gnu else 'DIFFERENT'}")

        log(f"== 1. diff between two snapshots of {files} files ({rounds} rounds)")
        times = rounds_of(
            {
                "dss diff": ([dss, "--dest-dir", str(dest), "diff", a, b], env, (0,)),
                "dss diff --json": ([dss, "--dest-dir", str(dest), "diff", a, b, "--json"],
                                    env, (0,)),
                "diff -rq": (["diff", "-rq", str(dest / a), str(dest / b)], None, (0, 1)),
                "rsync -rin --delete": (["rsync", "-rin", "--delete", f"{dest / b}/",
                                         f"{dest / a}/"], None, (0,)),
            },
            rounds,
        )
        for name, samples in times.items():
            log(f"   {name:22} median {fmt(statistics.median(samples))}"
                f"  (min {fmt(min(samples))}, max {fmt(max(samples))})")
        ratio = paired(times, "dss diff", "diff -rq")
        ratio_json = paired(times, "dss diff --json", "diff -rq")
        ratio_rsync = paired(times, "dss diff", "rsync -rin --delete")
        # The target is for the 20,000-file tree: on small trees start-up dominates.
        verdict = "PASS" if ratio <= DIFF_TARGET else "FAIL"
        if files < 20000:
            verdict = f"{verdict.lower()}, not judged below 20,000 files"
        log(f"   dss diff / diff -rq = {ratio:.2f} (target <= {DIFF_TARGET}: {verdict}); "
            f"--json {ratio_json:.2f}; dss diff / rsync -rin = {ratio_rsync:.2f}")
        if verdict == "FAIL":
            status = 1
        results["diff"] = {"samples": times, "ratio_diff_rq": ratio,
                           "ratio_json_diff_rq": ratio_json, "ratio_rsync": ratio_rsync}

        for rnd in range(2, snapshots):
            run_checked([sys.executable, str(mktree), "mutate", str(src), "--round", str(rnd)])
            run_checked(create, env)
        os.sync()
        count = len(snapshot_names(dest))
        report = json.loads(run_checked([dss, "--dest-dir", str(dest), "du", "--json"], env))
        du_s = run_checked(["du", "-s", "-B1", "--exclude=.dssframe", str(dest)])
        dest_blocks = os.lstat(dest).st_blocks * 512
        same = report["total"] + dest_blocks == int(du_s.split()[0])
        log(f"check: dss du total {report['total']} B + dest dir {dest_blocks} B "
            f"{'==' if same else '!='} du -s {du_s.split()[0]} B")
        log(f"== 2. du over {count} snapshots ({rounds} rounds)")
        du_times = rounds_of(
            {
                "dss du": ([dss, "--dest-dir", str(dest), "du"], env, (0,)),
                "du -sh": (["du", "-sh", str(dest)], None, (0,)),
            },
            rounds,
        )
        for name, samples in du_times.items():
            log(f"   {name:22} median {fmt(statistics.median(samples))}"
                f"  (min {fmt(min(samples))}, max {fmt(max(samples))})")
        du_ratio = paired(du_times, "dss du", "du -sh")
        log(f"   dss du / du -sh = {du_ratio:.2f} (information; dss du also splits "
            "unique from shared per snapshot)")
        results["du"] = {"snapshots": count, "samples": du_times, "ratio": du_ratio}
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        if args.keep:
            log(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
