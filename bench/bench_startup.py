#!/usr/bin/env python3
"""Start-up cost of several dss installations, side by side in the same run.

    python3 bench/bench_startup.py --variant before=/tmp/venv-before \\
        --variant after=/tmp/venv-after --variant after+plugins=/tmp/venv-after-plugins \\
        [--rounds N] [--files N] [--ls-runs N] [--only create,ls] [--json FILE]

Every ``--variant NAME=VENV`` is a virtualenv: its ``bin/dss`` is the command measured
and its ``bin/python -c pass`` is that variant's ``ls`` reference.

1. create: one mktree.py tree (``gen --files N --seed 42``); one destination per variant
   and one plain ``rsync -a --delete --link-dest`` chain, all separate trees. Each round
   mutates ~1 % of the tree, then runs every variant's ``dss create`` and the plain rsync
   in an order rotated every round (sync after each run; the source and that side's
   previous copy have their metadata read, untimed, just before each run). Per variant:
   median, median of the per-round ratios vs rsync, ratio of medians, median difference;
   per pair of variants: median and min/max of the per-round ratios. Then, for
   information, ``dss --dry-run create`` (the fixed cost without the copy), interleaved.
2. ls: ``dss --dest-dir D ls`` on 1,000 complete snapshot dirs and ``python -c pass`` of
   the same venv, in short blocks interleaved across the variants (order rotated per
   block); per variant the median of the per-block ratios (hyperfine -N when installed,
   else a subprocess loop).

PASS/FAIL: create <= 1.07x rsync for variants without plugin distributions, ls <= 4.5x
``python -c pass`` for every variant; pairs are information (judge "within noise" on
their per-round spread). Standard library only; the helpers come from bench_core.py.
The root file system here is ext4 without a journal, so nothing is deleted before the
very end (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from bench_core import (  # noqa: E402  (after the sys.path insert)
    REPO_ROOT,
    check_links,
    fmt_s,
    hyperfine_blocks,
    log,
    median,
    run_checked,
    spread,
    timed,
    warm_metadata,
)

SECTIONS = ("create", "ls")
LS_COUNT = 1000
COMPLETE = re.compile(r"^(\d+)-(\d+)\.")
HUMAN_FORMAT = "%a_%b_%d_%Y_%H_%M_%S"  # dssframe.core.naming.HUMAN_FORMAT

# What each variant's python reports about itself (run once, untimed).
PROBE = r"""
import importlib.metadata as md, json, sys
out = {"python": sys.version.split()[0], "executable": sys.executable}
try:
    dist = md.distribution("dssframe")
    out["dssframe"] = dist.version
    direct = dist.read_text("direct_url.json")
    out["editable"] = bool(direct and json.loads(direct).get("dir_info", {}).get("editable"))
    files = [str(f) for f in (dist.files or [])]
    out["pyc_files"] = sum(1 for f in files if f.endswith(".pyc"))
    out["location"] = str(dist.locate_file("dssframe"))
except md.PackageNotFoundError:
    out["dssframe"] = None
eps = md.entry_points(group="dssframe")
out["plugins"] = sorted(f"{ep.name} ({ep.dist.name if ep.dist else '?'})" for ep in eps
                        if not ep.dist or ep.dist.name != "dssframe")
print(json.dumps(out))
"""


def complete_name(creation: int, completion: int) -> str:
    """dssframe.core.naming.complete_name (copied: the running python need not have
    dssframe, and the variants' module layouts differ)."""
    human = [time.strftime(HUMAN_FORMAT, time.localtime(t)) for t in (creation, completion)]
    return f"{creation}-{completion}.{human[0]}-{human[1]}"


def newest_complete(dest: Path) -> Path | None:
    best: tuple[int, str] | None = None
    for entry in os.scandir(dest):
        m = COMPLETE.match(entry.name)
        if m and entry.is_dir(follow_symlinks=False):
            key = (int(m.group(1)), entry.name)
            best = key if best is None or key > best else best
    return dest / best[1] if best else None


def count_complete(dest: Path) -> int:
    return sum(1 for e in os.scandir(dest) if COMPLETE.match(e.name))


def pct(values: list[float]) -> str:
    if not values:
        return "-"
    return f"min {min(values):.3f}, max {max(values):.3f}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:+.1f} ms"


@dataclass
class Variant:
    name: str
    venv: Path
    dss: str
    python: str
    env: dict[str, str]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def has_plugins(self) -> bool:
        return bool(self.info.get("plugins"))


@dataclass
class Line:
    """One line of the summary table."""

    name: str
    value: float  # median seconds of the measured side
    reference: float | None
    ref_name: str
    ratios: list[float]  # per-round / per-block ratios, measured back to back
    target: str = "-"
    limit: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        return median(self.ratios)

    @property
    def verdict(self) -> str:
        if self.limit is None:
            return "info"
        return "PASS" if self.ratio <= self.limit else "FAIL"


@dataclass
class Run:
    args: argparse.Namespace
    run_dir: Path
    mktree: Path
    variants: list[Variant]
    lines: list[Line] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def mk(self, *words: str) -> str:
        return run_checked([sys.executable, str(self.mktree), *words]).stdout.strip()


def pairs(variants: list[Variant]) -> list[tuple[Variant, Variant]]:
    """(a, b) for every a listed before b: b is compared with a (b / a)."""
    return [(a, b) for i, a in enumerate(variants) for b in variants[i + 1 :]]


# --- 1. create ------------------------------------------------------------------------------


def bench_create(run: Run) -> None:
    args = run.args
    variants = run.variants
    log(
        f"== create: {len(variants)} dss variants and plain rsync --link-dest "
        f"({args.files} files, {args.rounds} rounds, order rotated per round)"
    )
    src = run.run_dir / "create-src"
    plain_root = run.run_dir / "create-plain"
    plain_root.mkdir()
    dests = {}
    for i, v in enumerate(variants):
        dests[v.name] = run.run_dir / f"create-{i}"
        dests[v.name].mkdir()
    log("   " + run.mk("gen", str(src), "--files", str(args.files), "--seed", "42"))

    def dss_argv(v: Variant, *extra: str) -> list[str]:
        return [v.dss, "--source-dir", f"{src}/", "--dest-dir", str(dests[v.name]), *extra]

    # Initial full copies (no --link-dest anywhere): not part of the comparison.
    plain_prev = plain_root / "s000"
    initial = {"rsync": timed(["rsync", "-a", "--delete", f"{src}/", f"{plain_prev}/"])}
    os.sync()
    for v in variants:
        initial[v.name] = timed(dss_argv(v, "create"), v.env)
        os.sync()
    log(
        "   initial full copies (not compared): "
        + ", ".join(f"{k} {fmt_s(t)}" for k, t in initial.items())
    )

    sides = ["rsync"] + [v.name for v in variants]
    by_name = {v.name: v for v in variants}
    times: dict[str, list[float]] = {s: [] for s in sides}
    orders = []
    for rnd in range(1, args.rounds + 1):
        log("   " + run.mk("mutate", str(src), "--seed", "42", "--round", str(rnd)))
        os.sync()  # flush the mutation now, not during a timed run
        shift = (rnd - 1) % len(sides)
        order = sides[shift:] + sides[:shift]
        orders.append(order)
        plain_dest = plain_root / f"s{rnd:03d}"
        got: dict[str, float] = {}
        for side in order:
            # This VM reclaims cold page-cache pages by itself: read the metadata this
            # run needs (the source, this side's previous copy) untimed, just before it.
            prev = plain_prev if side == "rsync" else newest_complete(dests[side])
            warm_metadata(src)
            if prev is not None:
                warm_metadata(prev)
            if side == "rsync":
                argv = ["rsync", "-a", "--delete", f"--link-dest={plain_prev.resolve()}"]
                got[side] = timed([*argv, f"{src}/", f"{plain_dest}/"])
            else:
                got[side] = timed(dss_argv(by_name[side], "create"), by_name[side].env)
            # Write this copy back before the next one runs, which otherwise shares the
            # disk with the write-back of 20,000 new links.
            os.sync()
        for v in variants:
            made = count_complete(dests[v.name])
            if made != rnd + 1:  # dss recycled a redundant snapshot instead of a new dir
                log(f"   warning: {v.name}: {made} snapshots after round {rnd}, expected {rnd + 1}")
        for side in sides:
            times[side].append(got[side])
        plain_prev = plain_dest
        log(
            f"   round {rnd} ({' > '.join(order)}): rsync {fmt_s(got['rsync'])}; "
            + "; ".join(
                f"{v.name} {fmt_s(got[v.name])} ({got[v.name] / got['rsync']:.3f})"
                for v in variants
            )
        )

    for v in variants:
        log(f"   {v.name}:")
        check_links(dests[v.name], plain_root)

    # The fixed cost without the copy (start-up, config, plugins, scan, plan), for
    # information: interleaved, order rotated, the pairs' differences are sharp here.
    dry: dict[str, list[float]] = {v.name: [] for v in variants}
    dry_rounds = max(5, 2 * args.rounds)
    for v in variants:  # untimed warm-up
        subprocess.run(dss_argv(v, "--dry-run", "create"), env=v.env, capture_output=True)
    for i in range(dry_rounds):
        shift = i % len(variants)
        for v in variants[shift:] + variants[:shift]:
            dry[v.name].append(timed(dss_argv(v, "--dry-run", "create"), v.env))

    rs = times["rsync"]
    width = max(len(s) for s in sides)
    log(f"   {'rsync':<{width}}  {fmt_s(median(rs))} ({spread(rs)})")
    for v in variants:
        mine = times[v.name]
        ratios = [a / b for a, b in zip(mine, rs, strict=True)]
        diffs = [a - b for a, b in zip(mine, rs, strict=True)]
        limited = not v.has_plugins
        note = (
            f"ratio of medians {median(mine) / median(rs):.3f}, per-round {pct(ratios)}; "
            f"median dss - rsync {ms(median(diffs))}; "
            f"--dry-run create {fmt_s(median(dry[v.name]))}"
        )
        if not limited:
            note += "; has plugins: judged by the pair rows"
        log(
            f"   {v.name:<{width}}  {fmt_s(median(mine))} ({spread(mine)}); "
            f"per-round ratio median {median(ratios):.3f} ({pct(ratios)}), "
            f"ratio of medians {median(mine) / median(rs):.3f}, "
            f"median difference {ms(median(diffs))}; --dry-run create "
            f"{fmt_s(median(dry[v.name]))} ({spread(dry[v.name])})"
        )
        run.lines.append(
            Line(
                f"create {v.name}",
                median(mine),
                median(rs),
                "rsync",
                ratios,
                f"<= {args.create_target}x" if limited else "-",
                args.create_target if limited else None,
                note,
            )
        )
    pair_data = []
    for a, b in pairs(variants):
        ratios = [x / y for x, y in zip(times[b.name], times[a.name], strict=True)]
        diffs = [x - y for x, y in zip(times[b.name], times[a.name], strict=True)]
        dratios = [x / y for x, y in zip(dry[b.name], dry[a.name], strict=True)]
        ddiffs = [x - y for x, y in zip(dry[b.name], dry[a.name], strict=True)]
        log(
            f"   {b.name} / {a.name}: per-round ratio median {median(ratios):.3f} "
            f"({pct(ratios)}), median difference {ms(median(diffs))}; "
            f"--dry-run create: ratio median {median(dratios):.3f} ({pct(dratios)}), "
            f"median difference {ms(median(ddiffs))}"
        )
        run.lines.append(
            Line(
                f"create {b.name} / {a.name}",
                median(times[b.name]),
                median(times[a.name]),
                a.name,
                ratios,
                "~1 (noise)",
                None,
                f"per-round {pct(ratios)}, median difference {ms(median(diffs))}; "
                f"--dry-run create ratio {median(dratios):.3f} ({pct(dratios)}), "
                f"difference {ms(median(ddiffs))}",
            )
        )
        pair_data.append(
            {
                "a": a.name,
                "b": b.name,
                "per_round_ratios_b_over_a": ratios,
                "dry_run_ratios_b_over_a": dratios,
            }
        )
    if args.files < 10000:
        log("   small tree: dss waits for the next wall-clock second, ratios vs rsync mean little")
    run.data["create"] = {
        "files": args.files,
        "rounds": args.rounds,
        "initial_s": initial,
        "orders": orders,
        "samples_s": times,
        "dry_run_create_s": dry,
        "pairs": pair_data,
    }


# --- 2. ls ------------------------------------------------------------------------------------


def make_snapshot_dirs(dest: Path, count: int, now: int, seed: int) -> None:
    """As bench_core.make_snapshot_dirs, without importing dssframe, and with every
    completion in the past (dss ignores names whose completion lies in the future)."""
    rng = random.Random(seed)
    dest.mkdir()
    creation = now - 3600  # durations are at most 1,800 s
    for _ in range(count):
        os.mkdir(dest / complete_name(creation, creation + rng.randint(30, 1800)))
        creation -= rng.randint(1800, 4 * 3600)  # every 0.5 .. 4 hours, going back


def loop_block(v: Variant, commands: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(runs):
        names = list(commands) if i % 2 == 0 else list(commands)[::-1]
        for name in names:
            start = time.perf_counter()
            subprocess.run(commands[name], env=v.env, stdout=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
    return times


def bench_ls(run: Run) -> None:
    args = run.args
    variants = run.variants
    dest = run.run_dir / f"ls-{LS_COUNT}"
    make_snapshot_dirs(dest, LS_COUNT, int(time.time()), seed=LS_COUNT)
    for v in variants:
        out = run_checked([v.dss, "--dest-dir", str(dest), "ls"], env=v.env).stdout
        if out.count("\n") != LS_COUNT:
            raise SystemExit(f"{v.name}: dss ls printed {out.count(chr(10))} lines, not {LS_COUNT}")
    os.sync()
    use_hyperfine = shutil.which("hyperfine") is not None and not args.no_hyperfine
    block_runs = args.ls_block
    nblocks = max(1, math.ceil(args.ls_runs / block_runs))
    log(
        f"== ls: dss --dest-dir D ls on {LS_COUNT:,} snapshot dirs vs the variant's "
        f"python -c pass, {nblocks} blocks x {block_runs} runs per command and variant, "
        f"{'hyperfine -N' if use_hyperfine else 'a subprocess loop'}, order rotated per block"
    )
    cmds = {
        v.name: {
            "dss ls": [v.dss, "--dest-dir", str(dest), "ls"],
            "python": [v.python, "-c", "pass"],
        }
        for v in variants
    }
    if not use_hyperfine:  # hyperfine warms up in every block itself
        for v in variants:
            for _ in range(3):
                for argv in cmds[v.name].values():
                    subprocess.run(argv, env=v.env, stdout=subprocess.DEVNULL, check=True)
    blocks: dict[str, list[dict[str, list[float]]]] = {v.name: [] for v in variants}
    for block in range(nblocks):
        shift = block % len(variants)
        for v in variants[shift:] + variants[:shift]:
            names = ["dss ls", "python"] if block % 2 == 0 else ["python", "dss ls"]
            ordered = {n: cmds[v.name][n] for n in names}
            if use_hyperfine:
                shim = SimpleNamespace(run_dir=run.run_dir, env=v.env)
                got = hyperfine_blocks(shim, ordered, block_runs, 1)[0]  # type: ignore[arg-type]
            else:
                got = loop_block(v, ordered, block_runs)
            blocks[v.name].append(got)
    width = max(len(v.name) for v in variants)
    per_block_dss: dict[str, list[float]] = {}
    for v in variants:
        bl = blocks[v.name]
        mine = [t for blk in bl for t in blk["dss ls"]]
        base = [t for blk in bl for t in blk["python"]]
        ratios = [median(blk["dss ls"]) / median(blk["python"]) for blk in bl]
        per_block_dss[v.name] = [median(blk["dss ls"]) for blk in bl]
        log(
            f"   {v.name:<{width}}  dss ls {fmt_s(median(mine))} ({spread(mine)}); "
            f"python -c pass {fmt_s(median(base))}; per-block ratio median "
            f"{median(ratios):.2f} ({pct(ratios)}), ratio of medians "
            f"{median(mine) / median(base):.2f}"
        )
        run.lines.append(
            Line(
                f"ls {LS_COUNT:,} {v.name}",
                median(mine),
                median(base),
                "python -c pass",
                ratios,
                f"<= {args.ls_target}x",
                args.ls_target,
                f"ratio of medians {median(mine) / median(base):.3f}, per-block {pct(ratios)}; "
                f"dss ls - python {ms(median(mine) - median(base))}",
            )
        )
    for a, b in pairs(variants):
        ratios = [x / y for x, y in zip(per_block_dss[b.name], per_block_dss[a.name], strict=True)]
        diffs = [x - y for x, y in zip(per_block_dss[b.name], per_block_dss[a.name], strict=True)]
        log(
            f"   {b.name} / {a.name}: dss ls per-block ratio median {median(ratios):.3f} "
            f"({pct(ratios)}), median difference {ms(median(diffs))}"
        )
        run.lines.append(
            Line(
                f"ls {b.name} / {a.name}",
                median(per_block_dss[b.name]),
                median(per_block_dss[a.name]),
                a.name,
                ratios,
                note=f"per-block {pct(ratios)}, median difference {ms(median(diffs))}",
            )
        )
    run.data["ls"] = {
        "snapshot_dirs": LS_COUNT,
        "runner": "hyperfine" if use_hyperfine else "loop",
        "blocks": blocks,
    }


# --- summary and main ---------------------------------------------------------------------


def summary(lines: list[Line]) -> str:
    header = (
        "measurement",
        "median",
        "reference median",
        "ratio p",
        "per-round/block",
        "target",
        "result",
    )
    table = [header]
    for ln in lines:
        table.append(
            (
                ln.name,
                fmt_s(ln.value),
                "-" if ln.reference is None else f"{fmt_s(ln.reference)} ({ln.ref_name})",
                f"{ln.ratio:.3f}",
                f"{min(ln.ratios):.3f}..{max(ln.ratios):.3f}",
                ln.target,
                ln.verdict,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    out = []
    for i, row in enumerate(table):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    out.append("notes:")
    out.append(
        "  p: median of the per-round (ls: per-block) ratios, each pair measured back to "
        "back; 'A / B' rows compare two variants (A's time over B's)"
    )
    out += [f"  {ln.name}: {ln.note}" for ln in lines if ln.note]
    return "\n".join(out)


def parse_variant(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=VENV_DIR, got {text!r}")
    return name, Path(path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument(
        "--variant",
        action="append",
        type=parse_variant,
        required=True,
        metavar="NAME=VENV",
        help="a virtualenv to measure (repeat; pairs compare later ones with earlier ones)",
    )
    parser.add_argument("--rounds", type=int, default=11, help="create rounds (default 11)")
    parser.add_argument(
        "--files", type=int, default=20000, help="files in the tree (default 20000)"
    )
    parser.add_argument(
        "--ls-runs",
        type=int,
        default=40,
        help="ls runs per command and variant (default 40), in blocks of --ls-block",
    )
    parser.add_argument("--ls-block", type=int, default=5, help="runs per ls block (default 5)")
    parser.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument("--json", help="also write every sample and the summary to this file")
    parser.add_argument(
        "--workdir", help="make the run's fresh directory in here (default: the temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    parser.add_argument(
        "--no-hyperfine", action="store_true", help="time ls with a subprocess loop"
    )
    parser.add_argument(
        "--bytecode",
        choices=("env", "cached"),
        default="env",
        help="env (default): the environment as it is (installed packages ship .pyc "
        "files); cached: write and use .pyc files under the run dir (PYTHONPYCACHEPREFIX), "
        "for editable installs under PYTHONDONTWRITEBYTECODE=1",
    )
    parser.add_argument("--create-target", type=float, default=1.07, help="default 1.07")
    parser.add_argument("--ls-target", type=float, default=4.5, help="default 4.5")
    args = parser.parse_args(argv)
    names = [n for n, _ in args.variant]
    if len(set(names)) != len(names):
        parser.error("variant names must be distinct")
    args.sections = SECTIONS if not args.only else tuple(args.only.split(","))
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    if args.rounds < 1 or args.ls_runs < 1 or args.ls_block < 1:
        parser.error("--rounds, --ls-runs and --ls-block must be at least 1")
    return args


def make_variants(args: argparse.Namespace, run_dir: Path) -> list[Variant]:
    base = dict(os.environ)
    for var in ("DSSFRAME_CONFIG", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        if var in base and var != "DSSFRAME_CONFIG":
            log(f"note: {var} is set in the environment; unset for the variants")
        base.pop(var, None)
    if args.bytecode == "cached":
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        base["PYTHONPYCACHEPREFIX"] = str(run_dir / "pycache")
    variants = []
    for i, (name, venv) in enumerate(args.variant):
        venv = venv.resolve()
        dss, python = venv / "bin" / "dss", venv / "bin" / "python"
        for exe in (dss, python):
            if not os.access(exe, os.X_OK):
                raise SystemExit(f"variant {name}: {exe} is missing or not executable")
        env = dict(base)
        for var, sub in (
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_CACHE_HOME", "cache"),
        ):
            env[var] = str(run_dir / f"xdg-{i}" / sub)  # no user config, private lock dir
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
        probe = run_checked([str(python), "-c", PROBE], env=env)
        info = json.loads(probe.stdout)
        if not info.get("dssframe"):
            raise SystemExit(f"variant {name}: dssframe is not installed in {venv}")
        version = subprocess.run([str(dss), "--version"], env=env, capture_output=True, text=True)
        if version.returncode != 0:
            raise SystemExit(f"variant {name}: dss --version failed:\n{version.stderr}")
        info["dss_version"] = version.stdout.strip().splitlines()
        variants.append(Variant(name, venv, str(dss), str(python), env, info))
    return variants


def warm_up(run: Run) -> None:
    """Each variant's commands once, untimed (page cache; bytecode cache if 'cached')."""
    empty = run.run_dir / "warm-up"
    (empty / "source").mkdir(parents=True)
    d, s = str(empty), f"{empty / 'source'}/"
    for v in run.variants:
        for argv in (
            [v.python, "-c", "pass"],
            [v.dss, "--dest-dir", d, "ls"],
            [v.dss, "--source-dir", s, "--dest-dir", d, "--dry-run", "create"],
        ):
            subprocess.run(argv, env=v.env, capture_output=True, check=False)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mktree_path = Path(
        os.environ.get("DSSFRAME_MKTREE") or REPO_ROOT.parent / "shared" / "bench" / "mktree.py"
    )
    if "create" in args.sections and not mktree_path.is_file():
        raise SystemExit(f"mktree.py not found at {mktree_path} (set DSSFRAME_MKTREE)")
    if shutil.which("rsync") is None:
        raise SystemExit("rsync is not installed")
    base = Path(args.workdir) if args.workdir else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="dssframe-startup-", dir=base)).resolve()
    started = time.perf_counter()
    load_start = os.getloadavg()
    try:
        variants = make_variants(args, run_dir)
        run = Run(args, run_dir, mktree_path, variants)
        load = " ".join(f"{x:.2f}" for x in load_start)
        log(f"run dir: {run_dir}; cpus: {os.cpu_count()}; load: {load}")
        log(f"rsync: {run_checked(['rsync', '--version']).stdout.splitlines()[0]}")
        log(
            f"bytecode: {args.bytecode}"
            + (
                f" (PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE')})"
                if args.bytecode == "env"
                else f", under {run_dir / 'pycache'}"
            )
        )
        for v in variants:
            i = v.info
            plugins = ", ".join(i["plugins"]) or "none"
            log(
                f"variant {v.name}: {v.venv}; python {i['python']}; dssframe {i['dssframe']} "
                f"({'EDITABLE' if i.get('editable') else 'installed'}, "
                f"{i.get('pyc_files', 0)} .pyc) "
                f"at {i.get('location')}; plugin distributions: {plugins}"
            )
            if i.get("editable"):
                log(f"   warning: {v.name} is an editable install (more sys.path, live src/)")
            if not i.get("pyc_files") and args.bytecode == "env":
                log(f"   warning: {v.name} has no .pyc files recorded; consider --bytecode cached")
        log()
        warm_up(run)
        steps = {"create": bench_create, "ls": bench_ls}
        for section in SECTIONS:
            if section in args.sections:
                steps[section](run)
                log()
    finally:
        if args.keep:
            log(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    load_end = os.getloadavg()
    what = []
    if "create" in args.sections:
        what.append(f"create: {args.files} files, {args.rounds} rounds")
    if "ls" in args.sections:
        what.append(f"ls: {args.ls_runs} runs per command")
    log(
        f"== summary ({'; '.join(what)}; "
        f"{time.perf_counter() - started:.0f} s; load now {' '.join(f'{x:.2f}' for x in load_end)})"
    )
    if "create" in args.sections and args.files < 10000:
        log("(small tree: the create ratios vs rsync are not meaningful, see bench/README.md)")
    log(summary(run.lines))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "config": {k: v for k, v in vars(args).items() if k not in ("variant",)}
                    | {"load_start": load_start, "load_end": load_end},
                    "variants": [
                        {"name": v.name, "venv": str(v.venv), **v.info} for v in run.variants
                    ],
                    "summary": [
                        {
                            "measurement": ln.name,
                            "median_s": ln.value,
                            "reference_median_s": ln.reference,
                            "reference": ln.ref_name,
                            "ratio": ln.ratio,
                            "ratio_is_paired": True,
                            "ratio_of_medians": (ln.value / ln.reference) if ln.reference else None,
                            "pair_ratios": ln.ratios,
                            "target": ln.target,
                            "result": ln.verdict,
                            "note": ln.note,
                        }
                        for ln in run.lines
                    ],
                    **run.data,
                },
                indent=1,
            )
            + "\n"
        )
    return 1 if any(ln.verdict == "FAIL" for ln in run.lines) else 0


if __name__ == "__main__":
    sys.exit(main())
