#!/usr/bin/env python3
"""Core benchmarks of dssframe against plain tools, on the same data in the same run.

    /work/venv/bin/python bench/bench_core.py [--quick] [--rounds N] [--workdir DIR]

1. ``dss create`` vs ``rsync -a --delete --link-dest=PREV SRC/ DEST/`` on a mktree.py
   tree (20,000 files), ~1 % mutated before every round, order alternating per round;
   separate destination trees, so neither run links against the other's copy.
2. ``dss --dest-dir D ls`` on 1,000 and 10,000 snapshot dirs vs ``python -c pass`` from
   the same interpreter (hyperfine -N if installed, else a loop of subprocess runs).
3. ``dssframe.core.dyadic.plan`` on 100,000 parsed snapshot names, in-process.
4. The dssframe removal path (``Destination.mark_being_deleted`` + ``Destination.delete_tree``) vs
   ``rm -rf`` on an identical twin (``cp -al``), order alternating per round; plus
   ``dss prune`` end to end, for information.

The root file system here is ext4 without a journal: creating many files right after
deleting many is 6-8x slower. So every tree gets a fresh name, nothing is deleted
between timed creations, all trees that section 4 deletes are made before the first
deletion, and everything is removed only at the very end. Compare ratios, which are
measured side by side, not absolute times across runs.

Standard library only. Run it with the virtualenv's python: the ``dss`` next to
``sys.executable`` is the command measured, ``sys.executable`` the ``python -c pass``
reference, and ``dssframe`` is imported from that interpreter for sections 3 and 4.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("create", "ls", "plan", "remove")


# --- small helpers --------------------------------------------------------------------


def log(message: str = "") -> None:
    print(message, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_s(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.3f} s"


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"min {fmt_s(min(values))}, max {fmt_s(max(values))}, n={len(values)}"


def run_checked(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise SystemExit(
            f"command failed ({result.returncode}): {shlex.join(argv)}\n"
            f"{result.stdout}{result.stderr}"
        )
    return result


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time of one process run (its stdout and stderr are checked, not shown)."""
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(
            f"command failed ({result.returncode}): {shlex.join(argv)}\n"
            f"{result.stderr.decode(errors='replace')}"
        )
    return elapsed


@dataclass
class Row:
    """One line of the summary table."""

    name: str
    dss: float
    reference: float | None
    ref_name: str
    target: str
    limit: float | None  # PASS when ratio (or, without reference, dss seconds) <= limit
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    # dss/reference ratios of samples measured back to back (rounds, or hyperfine blocks)
    pair_ratios: list[float] | None = None

    @property
    def paired(self) -> bool:
        return self.pair_ratios is not None

    @property
    def ratio_of_medians(self) -> float | None:
        if self.reference is None or self.reference <= 0:
            return None
        return self.dss / self.reference

    @property
    def ratio(self) -> float | None:
        """Paired rows: the median of the per-round ratios, which cancels the load
        changes between rounds; others: the ratio of the medians."""
        if self.pair_ratios is None:
            return self.ratio_of_medians
        return median(self.pair_ratios)

    @property
    def verdict(self) -> str:
        if self.limit is None:
            return "info"
        value = self.ratio if self.reference is not None else self.dss
        if value is None:
            return "?"
        return "PASS" if value <= self.limit else "FAIL"


@dataclass
class Bench:
    args: argparse.Namespace
    run_dir: Path
    dss: str
    python: str
    env: dict[str, str]
    mktree: Path
    rows: list[Row] = field(default_factory=list)
    last_plain_copy: Path | None = None

    def dss_argv(self, *words: str) -> list[str]:
        return [self.dss, *words]


# --- 1. create vs plain rsync -----------------------------------------------------------


def mktree(bench: Bench, *words: str) -> str:
    result = run_checked([sys.executable, str(bench.mktree), *words])
    return result.stdout.strip()


def bench_create(bench: Bench) -> None:
    args = bench.args
    log(f"== 1. dss create vs plain rsync --link-dest ({args.files} files, {args.rounds} rounds)")
    src = bench.run_dir / "create-src"
    plain_root = bench.run_dir / "create-plain"
    dss_dest = bench.run_dir / "create-dss"
    plain_root.mkdir()
    dss_dest.mkdir()
    log("   " + mktree(bench, "gen", str(src), "--files", str(args.files), "--seed", "42"))

    # Initial full copies (no --link-dest for either): not part of the comparison.
    plain_prev = plain_root / "s000"
    t_plain0 = timed(["rsync", "-a", "--delete", f"{src}/", f"{plain_prev}/"])
    t_dss0 = timed(
        bench.dss_argv("--source-dir", f"{src}/", "--dest-dir", str(dss_dest), "create"), bench.env
    )
    log(
        f"   initial full copies (untimed for the table): rsync {fmt_s(t_plain0)}, "
        f"dss create {fmt_s(t_dss0)}"
    )
    os.sync()

    plain_times: list[float] = []
    dss_times: list[float] = []
    for rnd in range(1, args.rounds + 1):
        log("   " + mktree(bench, "mutate", str(src), "--seed", "42", "--round", str(rnd)))
        os.sync()  # flush the mutation now, not during a timed run
        # Page cache: this VM reclaims cold pages on its own, so read the metadata both
        # runs need (source, each side's previous copy) untimed, making them equally hot.
        for tree in (src, plain_prev, dss_dest):
            warm_metadata(tree)
        plain_dest = plain_root / f"s{rnd:03d}"
        plain_argv = [
            "rsync",
            "-a",
            "--delete",
            f"--link-dest={plain_prev.resolve()}",
            f"{src}/",
            f"{plain_dest}/",
        ]
        dss_argv = bench.dss_argv("--source-dir", f"{src}/", "--dest-dir", str(dss_dest), "create")
        first_dss = rnd % 2 == 1
        order = [("dss", dss_argv), ("rsync", plain_argv)]
        if not first_dss:
            order.reverse()
        got: dict[str, float] = {}
        for label, argv in order:
            got[label] = timed(argv, bench.env if label == "dss" else None)
            # Write back this copy before the other one runs: otherwise the second run
            # of each round shares the disk with the first one's 20,000 new links.
            os.sync()
        made = sum(1 for entry in dss_dest.iterdir() if not entry.name.startswith("."))
        if made != rnd + 1:  # dss recycled a redundant snapshot instead of a new dir
            log(f"   warning: {made} dss snapshots after round {rnd}, expected {rnd + 1}")
        plain_times.append(got["rsync"])
        dss_times.append(got["dss"])
        plain_prev = plain_dest
        log(
            f"   round {rnd} ({order[0][0]} first): rsync {fmt_s(got['rsync'])}, "
            f"dss {fmt_s(got['dss'])}, ratio {got['dss'] / got['rsync']:.3f}"
        )
        os.sync()  # write back both copies before the next round's timed runs
    bench.last_plain_copy = plain_prev

    check_links(dss_dest, plain_root)

    # The fixed cost: start-up, config, plugins, scan and plan, without the copy.
    dry_argv = bench.dss_argv(
        "--source-dir", f"{src}/", "--dest-dir", str(dss_dest), "--dry-run", "create"
    )
    dry_times = [timed(dry_argv, bench.env) for _ in range(max(5, 2 * args.rounds))]
    log(f"   dss create --dry-run {fmt_s(median(dry_times))} ({spread(dry_times)})")
    paired = [d / p for d, p in zip(dss_times, plain_times, strict=True)]
    overhead = [d - p for d, p in zip(dss_times, plain_times, strict=True)]
    note = (
        f"ratio of medians {median(dss_times) / median(plain_times):.3f}, "
        f"median dss - rsync {fmt_s(median(overhead))}; "
        f"create --dry-run {fmt_s(median(dry_times))} "
        f"(= {median(dry_times) / median(plain_times):.1%} of the rsync median)"
    )
    if args.files < 10000:
        note += "; small tree: dss waits for the next wall-clock second (see README)"
    bench.rows.append(
        Row(
            f"create, {args.files} files, ~1% changed",
            median(dss_times),
            median(plain_times),
            "rsync -a --delete --link-dest",
            "<= 1.05x",
            1.05,
            note,
            {"dss": dss_times, "reference": plain_times},
            paired,
        )
    )
    log(f"   dss    {fmt_s(median(dss_times))} ({spread(dss_times)})")
    log(f"   rsync  {fmt_s(median(plain_times))} ({spread(plain_times)})")
    log(f"   median of per-round ratios {median(paired):.3f}; {note}")


def warm_metadata(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            os.lstat(os.path.join(dirpath, name))


def _inode_map(root: Path) -> dict[str, int]:
    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, root)] = os.lstat(path).st_ino
    return found


def check_links(dss_dest: Path, plain_root: Path) -> None:
    """Sanity (untimed): the last two snapshots of each side share most inodes, and
    the newest dss snapshot and the newest plain copy hold the same file list."""
    dss_snaps = sorted(p for p in dss_dest.iterdir() if p.is_dir())
    plain_snaps = sorted(p for p in plain_root.iterdir() if p.is_dir())
    if len(dss_snaps) < 2 or len(plain_snaps) < 2:
        return
    report = []
    lists = []
    for label, (older, newer) in (("dss", dss_snaps[-2:]), ("rsync", plain_snaps[-2:])):
        old, new = _inode_map(older), _inode_map(newer)
        shared = sum(1 for rel, ino in new.items() if old.get(rel) == ino)
        report.append(f"{label} {shared}/{len(new)} files hard-linked to the previous copy")
        lists.append(set(new))
    same = "same file list" if lists[0] == lists[1] else "DIFFERENT file lists!"
    log(f"   check: {'; '.join(report)}; {same}")


# --- 2. ls start-up -----------------------------------------------------------------------


def make_snapshot_dirs(dest: Path, count: int, now: int, seed: int) -> None:
    from dssframe.core.naming import complete_name

    rng = random.Random(seed)
    dest.mkdir()
    creation = now - 600
    for _ in range(count):
        os.mkdir(dest / complete_name(creation, creation + rng.randint(30, 1800)))
        creation -= rng.randint(1800, 4 * 3600)  # every 0.5 .. 4 hours, going back


Blocks = list[dict[str, list[float]]]


def hyperfine_blocks(
    bench: Bench, commands: dict[str, list[str]], runs: int, blocks: int
) -> Blocks:
    """Timings per command from ``blocks`` short hyperfine runs, alternating the order,
    so that each block's commands ran close together in time."""
    out: Blocks = []
    names = list(commands)
    for block in range(blocks):
        times: dict[str, list[float]] = {name: [] for name in commands}
        order = names if block % 2 == 0 else names[::-1]
        export = bench.run_dir / f"hyperfine-{block}.json"
        argv = [
            "hyperfine",
            "-N",
            "--style",
            "none",
            "--warmup",
            "3",
            "--runs",
            str(runs),
            "--output",
            "null",
            "--export-json",
            str(export),
        ]
        for name in order:
            argv += ["-n", name, shlex.join(commands[name])]
        run_checked(argv, env=bench.env)
        for result in json.loads(export.read_text())["results"]:
            times[result["command"]].extend(result["times"])
        out.append(times)
    return out


def loop_blocks(bench: Bench, commands: dict[str, list[str]], runs: int, blocks: int) -> Blocks:
    """The same without hyperfine: interleaved subprocess runs, stdout to /dev/null."""
    for _ in range(3):  # warm-up
        for argv in commands.values():
            subprocess.run(argv, env=bench.env, stdout=subprocess.DEVNULL, check=True)
    out: Blocks = []
    for _block in range(blocks):
        times: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(runs):
            names = list(commands) if i % 2 == 0 else list(commands)[::-1]
            for name in names:
                start = time.perf_counter()
                subprocess.run(commands[name], env=bench.env, stdout=subprocess.DEVNULL, check=True)
                times[name].append(time.perf_counter() - start)
        out.append(times)
    return out


def bench_ls(bench: Bench) -> None:
    args = bench.args
    counts = (1000, 10000)
    log(f"== 2. dss ls on {' and '.join(f'{c:,}' for c in counts)} snapshot dirs vs python -c pass")
    now = int(time.time())
    commands: dict[str, list[str]] = {"python -c pass": [bench.python, "-c", "pass"]}
    for count in counts:
        dest = bench.run_dir / f"ls-{count}"
        make_snapshot_dirs(dest, count, now, seed=count)
        out = run_checked(bench.dss_argv("--dest-dir", str(dest), "ls"), env=bench.env).stdout
        lines = out.count("\n")
        if lines != count:
            raise SystemExit(f"dss ls on {dest} printed {lines} lines, expected {count}")
        commands[f"dss ls {count}"] = bench.dss_argv("--dest-dir", str(dest), "ls")
    os.sync()
    use_hyperfine = shutil.which("hyperfine") is not None and not args.no_hyperfine
    runner = hyperfine_blocks if use_hyperfine else loop_blocks
    log(
        f"   timing with {'hyperfine -N' if use_hyperfine else 'a subprocess loop'}, "
        f"{args.ls_blocks} blocks x {args.ls_runs} runs (alternating order)"
    )
    blocks = runner(bench, commands, args.ls_runs, args.ls_blocks)
    base = [t for block in blocks for t in block["python -c pass"]]
    log(f"   python -c pass  {fmt_s(median(base))} ({spread(base)})")
    for count in counts:
        name = f"dss ls {count}"
        mine = [t for block in blocks for t in block[name]]
        per_block = [median(b[name]) / median(b["python -c pass"]) for b in blocks]
        log(
            f"   dss ls {count:<6}  {fmt_s(median(mine))} ({spread(mine)}), "
            f"per-block ratio median {median(per_block):.2f}, "
            f"ratio of medians {median(mine) / median(base):.2f}"
        )
        limited = count == 1000
        bench.rows.append(
            Row(
                f"ls, {count:,} snapshot dirs",
                median(mine),
                median(base),
                "python -c pass",
                "<= 7x" if limited else "-",
                7.0 if limited else None,
                f"ratio of medians {median(mine) / median(base):.3f}",
                {"dss": mine, "reference": base},
                per_block,
            )
        )


# --- 3. the retention planner -----------------------------------------------------------


def make_plan_input(count: int, now: int, unit: int, num_intervals: int, seed: int) -> list:
    """``count`` parsed snapshots, sorted as Destination.scan sorts them: half within the
    newest unit, most of the rest spread over the kept intervals, ~5 % outdated, and a
    sprinkle of incomplete and being-deleted names."""
    from dssframe.core import naming

    rng = random.Random(seed)
    horizon = unit * (1 << num_intervals)
    creations: set[int] = set()
    while len(creations) < count:
        u = rng.random()
        if u < 0.5:
            age = rng.randint(1, unit)
        elif u < 0.8:
            age = rng.randint(unit, 4 * unit)
        elif u < 0.95:
            age = rng.randint(4 * unit, num_intervals * unit)
        else:
            age = rng.randint(num_intervals * unit, horizon)
        creations.add(now - age)
    names = []
    for creation in creations:
        kind = rng.random()
        if kind < 0.001:
            names.append(naming.incomplete_name(creation))
        elif kind < 0.002:
            names.append(f"{creation}-{creation + 60}.{naming.BEING_DELETED}")
        else:
            names.append(naming.complete_name(creation, creation + rng.randint(1, 900)))
    parsed = [naming.parse(name, now) for name in names]
    snapshots = [s for s in parsed if s is not None]
    snapshots.sort(key=lambda s: (s.creation, s.name))
    return snapshots


def bench_plan(bench: Bench) -> None:
    from dssframe.core import dyadic

    count = bench.args.plan_snapshots
    unit, num_intervals = 86400, 10
    now = int(time.time())
    log(f"== 3. dyadic.plan on {count:,} snapshots (unit {unit} s, {num_intervals} intervals)")
    start = time.perf_counter()
    snapshots = make_plan_input(count, now, unit, num_intervals, seed=7)
    log(
        f"   generated and parsed {len(snapshots):,} names in "
        f"{fmt_s(time.perf_counter() - start)} (untimed)"
    )
    times = []
    removals = 0
    for _ in range(bench.args.plan_repeats):
        start = time.perf_counter()
        result = dyadic.plan(snapshots, now, unit, num_intervals, protected=frozenset())
        times.append(time.perf_counter() - start)
        removals = len(result)
    log(f"   plan: {fmt_s(median(times))} ({spread(times)}); {removals:,} removals planned")
    bench.rows.append(
        Row(
            f"dyadic.plan, {count:,} snapshots",
            median(times),
            None,
            "-",
            "< 1 s",
            1.0,
            f"{removals:,} removals; min {fmt_s(min(times))} (CPU-bound: the min is the "
            "least disturbed by other load)",
            {"dss": times},
        )
    )


# --- 4. removal vs rm -rf -----------------------------------------------------------------


def bench_remove(bench: Bench) -> None:
    from dssframe.core import naming
    from dssframe.store.destination import Destination

    args = bench.args
    rounds = args.remove_rounds
    source = bench.last_plain_copy
    if source is None:  # section 1 was skipped: make a tree of our own
        source = bench.run_dir / "remove-src"
        log("   " + mktree(bench, "gen", str(source), "--files", str(args.files)))
    nfiles = sum(len(files) for _d, _s, files in os.walk(source))
    log(f"== 4. removal vs rm -rf ({nfiles} files, cp -al twins, {rounds} rounds)")

    # Make every tree first (creating after deleting is what is slow here) ...
    store_dir = bench.run_dir / "remove-store"
    prune_root = bench.run_dir / "remove-prune"
    ref_dir = bench.run_dir / "remove-ref"
    for d in (store_dir, prune_root, ref_dir):
        d.mkdir()
    old = int(time.time()) - 400 * 86400  # outdated for the default 5 x 4 days
    store_names = []
    prune_dests = []
    for rnd in range(rounds):
        name = naming.complete_name(old + 3600 * rnd, old + 3600 * rnd + 60)
        store_names.append(name)
        run_checked(["cp", "-al", str(source), str(store_dir / name)])
        dest = prune_root / f"dest{rnd:02d}"
        dest.mkdir()
        run_checked(["cp", "-al", str(source), str(dest / name)])
        prune_dests.append(dest)
        run_checked(["cp", "-al", str(source), str(ref_dir / f"twin{rnd:02d}")])
    os.sync()
    log(f"   made {3 * rounds} hard-linked twins; now deleting")

    # ... then delete, rotating which of the three goes first.
    store = Destination.open(str(store_dir))
    variants = ["store", "rm", "prune"]
    times: dict[str, list[float]] = {v: [] for v in variants}
    for rnd in range(rounds):
        shift = rnd % len(variants)
        order = variants[shift:] + variants[:shift]
        got = {}
        for variant in order:
            if variant == "store":
                snapshot = naming.parse(store_names[rnd])
                assert snapshot is not None
                start = time.perf_counter()
                marked = store.mark_being_deleted(snapshot)
                store.delete_tree(marked)
                got[variant] = time.perf_counter() - start
            elif variant == "rm":
                got[variant] = timed(["rm", "-rf", str(ref_dir / f"twin{rnd:02d}")])
            else:
                got[variant] = timed(
                    bench.dss_argv("--dest-dir", str(prune_dests[rnd]), "prune"), bench.env
                )
                if any(prune_dests[rnd].iterdir()):
                    raise SystemExit(f"dss prune left {list(prune_dests[rnd].iterdir())}")
            times[variant].append(got[variant])
        log(
            f"   round {rnd + 1} ({' > '.join(order)}): "
            + ", ".join(f"{v} {fmt_s(got[v])}" for v in variants)
        )
    if any(store_dir.iterdir()) or any(ref_dir.iterdir()):
        raise SystemExit("a tree survived its removal")
    rm_median = median(times["rm"])
    for variant, label in (("store", "Destination mark+delete_tree"), ("prune", "dss prune (CLI)")):
        log(
            f"   {label:<22} {fmt_s(median(times[variant]))} ({spread(times[variant])}), "
            f"per-round ratio median "
            f"{median([a / b for a, b in zip(times[variant], times['rm'], strict=True)]):.3f}, "
            f"ratio of medians {median(times[variant]) / rm_median:.3f}"
        )
    log(f"   rm -rf                 {fmt_s(rm_median)} ({spread(times['rm'])})")
    bench.rows.append(
        Row(
            f"remove {nfiles} files: Destination path",
            median(times["store"]),
            rm_median,
            "rm -rf",
            "<= 1.1x",
            1.1,
            f"ratio of medians {median(times['store']) / rm_median:.3f}",
            {"dss": times["store"], "reference": times["rm"]},
            [a / b for a, b in zip(times["store"], times["rm"], strict=True)],
        )
    )
    bench.rows.append(
        Row(
            f"remove {nfiles} files: dss prune",
            median(times["prune"]),
            rm_median,
            "rm -rf",
            "-",
            None,
            f"end to end, includes CLI start-up; "
            f"ratio of medians {median(times['prune']) / rm_median:.3f}",
            {"dss": times["prune"], "reference": times["rm"]},
            [a / b for a, b in zip(times["prune"], times["rm"], strict=True)],
        )
    )


# --- summary and main ------------------------------------------------------------------------


def summary(rows: list[Row]) -> str:
    header = ("measurement", "dss median", "reference median", "ratio", "target", "result")
    table = [header]
    for row in rows:
        ref = "-" if row.reference is None else f"{fmt_s(row.reference)} ({row.ref_name})"
        ratio = "-" if row.ratio is None else f"{row.ratio:.3f}" + (" p" if row.paired else "")
        table.append((row.name, fmt_s(row.dss), ref, ratio, row.target, row.verdict))
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    out = []
    for i, line in enumerate(table):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    notes = [f"  {row.name}: {row.note}" for row in rows if row.note]
    if any(row.paired for row in rows):
        notes.insert(
            0,
            "  p: median of the per-round (ls: per-block) ratios, each pair measured back to back",
        )
    return "\n".join(out + (["notes:"] + notes if notes else []))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2,000 files, 2 rounds, fewer repeats"
    )
    parser.add_argument("--rounds", type=int, help="create rounds (default 5, quick 2)")
    parser.add_argument("--remove-rounds", type=int, help="removal rounds (default 9, quick 3)")
    parser.add_argument("--files", type=int, help="files in the tree (default 20000, quick 2000)")
    parser.add_argument(
        "--workdir",
        help="make the run's fresh directory in here "
        "(default: the system temp dir; must be on the file system to test)",
    )
    parser.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    parser.add_argument(
        "--no-hyperfine",
        action="store_true",
        help="time ls with a subprocess loop even if hyperfine is installed",
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument(
        "--bytecode",
        choices=("cached", "env"),
        default="cached",
        help="cached (default): write and use .pyc files under the run dir, as an installed "
        "package would; env: keep the environment's PYTHONDONTWRITEBYTECODE as it is",
    )
    parser.add_argument(
        "--ref",
        help="benchmark the dssframe of this git commit, or 'worktree' for a copy of the "
        "work tree's src taken at the start (exported into the run dir and put first on "
        "PYTHONPATH, also for the python -c pass reference) instead of the installed, "
        "live work tree",
    )
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.remove_rounds = args.remove_rounds or (3 if args.quick else 9)
    args.files = args.files or (2000 if args.quick else 20000)
    args.ls_runs = 5
    args.ls_blocks = 2 if args.quick else 8
    args.plan_snapshots = 100_000
    args.plan_repeats = 3 if args.quick else 7
    args.sections = SECTIONS if not args.only else tuple(args.only.split(","))
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    if args.rounds < 1 or args.remove_rounds < 1:
        parser.error("--rounds and --remove-rounds must be at least 1")
    return args


def warm_up(bench: Bench) -> None:
    """Run each kind of command once untimed (fills the bytecode cache)."""
    empty = bench.run_dir / "warm-up"
    (empty / "source").mkdir(parents=True)
    d, s = str(empty), f"{empty / 'source'}/"
    for argv in (
        [bench.python, "-c", "pass"],
        bench.dss_argv("--dest-dir", d, "ls"),
        bench.dss_argv("--source-dir", s, "--dest-dir", d, "--dry-run", "create"),
        bench.dss_argv("--dest-dir", d, "--dry-run", "prune"),
    ):
        subprocess.run(argv, env=bench.env, capture_output=True, check=False)


def find_dss() -> str:
    beside = Path(sys.executable).parent / "dss"
    if beside.exists():
        return str(beside)
    found = shutil.which("dss")
    if not found:
        raise SystemExit("no dss command beside sys.executable or on PATH")
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mktree_path = Path(
        os.environ.get("DSSFRAME_MKTREE") or REPO_ROOT.parent / "shared" / "bench" / "mktree.py"
    )
    if not mktree_path.is_file():
        raise SystemExit(f"mktree.py not found at {mktree_path} (set DSSFRAME_MKTREE)")
    for tool in ("rsync", "rm", "cp"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    base = Path(args.workdir) if args.workdir else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="dssframe-bench-", dir=base)).resolve()
    env = dict(os.environ)
    if args.ref:  # measure a commit, whatever the work tree holds right now
        code = run_dir / "code"
        code.mkdir()
        if args.ref == "worktree":
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(REPO_ROOT / "src", code / "src", ignore=ignore)
        else:
            archive = subprocess.run(
                ["git", "-C", str(REPO_ROOT), "archive", args.ref, "src"],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
        src = str(code / "src")
        sys.path.insert(0, src)  # before the editable install's path
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    import dssframe

    for var in ("DSSFRAME_CONFIG",):
        env.pop(var, None)
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        env[var] = str(run_dir / "xdg" / sub)  # no user config file, private lock dir
    if args.bytecode == "cached":
        # An installed dssframe has .pyc files; an editable one under
        # PYTHONDONTWRITEBYTECODE=1 (set on these machines) compiles src/ on every run.
        # Cache bytecode in the run dir (src/ stays untouched) for dss and python alike.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(run_dir / "pycache")
    bench = Bench(args, run_dir, find_dss(), sys.executable, env, mktree_path)
    where = Path(dssframe.__file__).parent
    log(f"dssframe {dssframe.__version__} from {where}" + (f" ({args.ref})" if args.ref else ""))
    log(f"dss: {bench.dss}; python: {bench.python}; mktree: {mktree_path}")
    log(
        f"run dir: {run_dir}; cpus: {os.cpu_count()}; load: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    log(f"rsync: {run_checked(['rsync', '--version']).stdout.splitlines()[0]}")
    if args.bytecode == "cached":
        was = os.environ.get("PYTHONDONTWRITEBYTECODE")
        log(
            f"bytecode: cached under {env['PYTHONPYCACHEPREFIX']}"
            + (f" (PYTHONDONTWRITEBYTECODE={was} in the environment: overridden)" if was else "")
        )
    else:
        log(
            "bytecode: environment as is "
            f"(PYTHONDONTWRITEBYTECODE={env.get('PYTHONDONTWRITEBYTECODE')})"
        )
    log()
    started = time.perf_counter()
    try:
        warm_up(bench)
        steps = {"create": bench_create, "ls": bench_ls, "plan": bench_plan, "remove": bench_remove}
        for section in SECTIONS:  # fixed order: all creation happens before section 4
            if section in args.sections:
                steps[section](bench)
                log()
    finally:
        if args.keep:
            log(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    log(
        f"== summary ({'quick smoke run, ' if args.quick else ''}"
        f"{args.files} files, {args.rounds} create / {args.remove_rounds} remove rounds, "
        f"{time.perf_counter() - started:.0f} s; load now "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})"
    )
    log(summary(bench.rows))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {
                        "measurement": r.name,
                        "dss_median_s": r.dss,
                        "reference_median_s": r.reference,
                        "reference": r.ref_name,
                        "ratio": r.ratio,
                        "ratio_of_medians": r.ratio_of_medians,
                        "ratio_is_paired": r.paired,
                        "target": r.target,
                        "result": r.verdict,
                        "note": r.note,
                        "samples_s": r.samples,
                    }
                    for r in bench.rows
                ],
                indent=1,
            )
            + "\n"
        )
    return 1 if any(r.verdict == "FAIL" for r in bench.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
