#!/usr/bin/env python3
"""``dss create`` over ssh against plain ``rsync`` over the same ssh, same data, same run.

    /work/venv/bin/python bench/bench_ssh.py [--files N] [--rounds N] [--workdir DIR]

Starts its own sshd on 127.0.0.1 (tests/sshd.py: generated host and client keys, its own
config, nothing in ~/.ssh is touched), makes a mktree.py tree (20,000 files by default),
makes one untimed full copy per side, then in every round mutates ~1 % of the tree and
runs, in alternating order:

  dss:   dss --config CFG create     (remote-host 127.0.0.1, use-ssh always, ssh-port,
                                      ssh-identity, ssh-option: the test server's keys)
  rsync: rsync -a --delete --link-dest=/abs/prev -e "ssh -p PORT -i KEY -o ..."
               USER@127.0.0.1:SRC/ NEW/

Both use the same ssh options (BatchMode, ConnectTimeout, the generated known_hosts,
IdentitiesOnly), and separate destination trees so neither links against the other's
copy. Prints per-round times, medians, min/max and the ratio of the medians (target:
dss <= 1.05 x rsync); exit status 1 when the target is missed.

The root file system here is ext4 without a journal: creating many files right after
deleting many is 6-8x slower. So every copy gets a fresh directory name, nothing is
deleted between timed runs, and the run directory is removed only at the very end.
Compare the ratio (measured side by side), not absolute times across runs.

The tree generator is ../shared/bench/mktree.py relative to the repository root
(override with DSSFRAME_MKTREE). Standard library only, plus tests/sshd.py.
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
sys.path.insert(0, str(REPO_ROOT / "tests"))

from sshd import SshServer, running_sshd  # noqa: E402

TARGET = 1.05
CONNECT_TIMEOUT = 30


def log(message: str = "") -> None:
    print(message, flush=True)


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.3f} s"


def spread(values: list[float]) -> str:
    return f"min {fmt_s(min(values))}, max {fmt_s(max(values))}, n={len(values)}"


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def run_checked(argv: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(
            f"command failed ({result.returncode}): {shlex.join(argv)}\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout.strip()


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    run_checked(argv, env)
    return time.perf_counter() - start


def find_mktree() -> Path:
    path = Path(os.environ.get("DSSFRAME_MKTREE") or REPO_ROOT.parent / "shared/bench/mktree.py")
    if not path.is_file():
        raise SystemExit(f"mktree.py not found at {path} (set DSSFRAME_MKTREE)")
    return path


def dss_command() -> list[str]:
    """The dss of this interpreter's environment (its start-up is part of the cost)."""
    beside = Path(sys.executable).parent / "dss"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "dssframe"]


def ssh_options(server: SshServer) -> list[str]:
    return [*server.ssh_options(), "IdentitiesOnly=yes"]


def plain_ssh(server: SshServer) -> list[str]:
    """The ssh dss runs, spelled out for the plain rsync (same options, same order)."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}"]
    argv += ["-p", str(server.port), "-i", str(server.client_key)]
    for option in ssh_options(server):
        argv += ["-o", option]
    return argv


def write_config(path: Path, server: SshServer, source: Path, dest: Path) -> None:
    def q(text: str) -> str:
        return json.dumps(text)  # a JSON string is a valid TOML basic string here

    options = ", ".join(q(option) for option in server.ssh_options())
    path.write_text(
        "\n".join(
            [
                f"source-dir = {q(str(source))}",
                f"dest-dir = {q(str(dest))}",
                f"remote-host = {q(server.host)}",
                f"remote-user = {q(server.user)}",
                'use-ssh = "always"',
                f"ssh-port = {server.port}",
                f"ssh-identity = {q(str(server.client_key))}",
                f"ssh-option = [{options}]",
                f"ssh-connect-timeout = {CONNECT_TIMEOUT}",
                "",
            ]
        )
    )


def inode_share(new: Path, old: Path) -> float:
    """The share of files in ``new`` that are hard links to the same file in ``old``."""
    linked = total = 0
    for dirpath, _dirs, files in os.walk(new):
        for name in files:
            path = Path(dirpath, name)
            total += 1
            twin = old / path.relative_to(new)
            if twin.exists() and twin.stat().st_ino == path.stat().st_ino:
                linked += 1
    return linked / total if total else 0.0


def file_list(root: Path) -> list[str]:
    return sorted(
        str(Path(dirpath, name).relative_to(root))
        for dirpath, _dirs, files in os.walk(root)
        for name in files
    )


def complete_snapshots(dest: Path) -> list[Path]:
    from dssframe.core import naming

    found = ((p, naming.parse(p.name)) for p in dest.iterdir())
    return sorted(p for p, s in found if s is not None and s.complete)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=20000, help="files in the tree")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--workdir", help="make the run directory in here")
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    parser.add_argument("--json", help="also write the samples to this file")
    args = parser.parse_args()

    mktree = find_mktree()
    for tool in ("rsync", "ssh"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    run_dir = Path(tempfile.mkdtemp(prefix="bench-ssh-", dir=args.workdir))
    env = {k: v for k, v in os.environ.items() if k != "DSSFRAME_CONFIG"}
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[name] = str(run_dir / "xdg" / name.lower())
    log(f"run directory {run_dir}; load average {loadavg()}; {os.cpu_count()} cpus")
    try:
        with running_sshd(run_dir / "sshd") as server:
            pid = server.process.pid if server.process else "?"
            log(f"sshd on {server.host}:{server.port} (pid {pid})")
            ok = bench(args, run_dir, server, mktree, env)
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    log(f"load average at the end {loadavg()}")
    return 0 if ok else 1


def bench(
    args: argparse.Namespace, run_dir: Path, server: SshServer, mktree: Path, env: dict[str, str]
) -> bool:
    src = run_dir / "src"
    plain_root = run_dir / "plain"
    dss_dest = run_dir / "dss"
    plain_root.mkdir()
    dss_dest.mkdir()
    config = run_dir / "dss.toml"
    write_config(config, server, src, dss_dest)
    log(run_checked([sys.executable, str(mktree), "gen", str(src), "--files", str(args.files)]))

    remote_src = f"{server.user}@{server.host}:{src}/"
    rsh = shlex.join(plain_ssh(server))
    dss_argv = [*dss_command(), "--config", str(config), "create"]
    log(f"dss:   {shlex.join(dss_argv)}")
    log(f"rsync: rsync -a --delete --link-dest=PREV -e {shlex.quote(rsh)} {remote_src} NEW/")

    # dss's own rsync command line, run without dss: splits dss's overhead into the
    # transport's (its rsync/ssh arguments) and the rest (start-up, scan, rename).
    planned = shlex.split(run_checked([*dss_command(), "--dry-run", "--config", str(config),
                                       "create"], env).splitlines()[-1])
    argv_root = run_dir / "argv"
    argv_root.mkdir()

    def dss_rsync_argv(dest: Path, prev: Path | None) -> list[str]:
        words = [w for w in planned[:-1] if not w.startswith("--link-dest=")]
        if prev is not None:
            words.insert(len(words) - 1, f"--link-dest={prev.resolve()}")
        return [*words, f"{dest}/"]

    plain_prev = plain_root / "s000"
    argv_prev = argv_root / "s000"
    t_plain0 = timed(["rsync", "-a", "--delete", "-e", rsh, remote_src, f"{plain_prev}/"])
    t_dss0 = timed(dss_argv, env)
    t_argv0 = timed(dss_rsync_argv(argv_prev, None))
    log(
        f"initial full copies (untimed): rsync {fmt_s(t_plain0)}, dss {fmt_s(t_dss0)}, "
        f"dss's rsync argv {fmt_s(t_argv0)}"
    )
    log(f"dss's rsync argv: {shlex.join(dss_rsync_argv(argv_root / 'sNNN', argv_prev))}")
    os.sync()

    times: dict[str, list[float]] = {"dss": [], "rsync": [], "argv": []}
    ratios: list[float] = []
    for rnd in range(1, args.rounds + 1):
        log(run_checked([sys.executable, str(mktree), "mutate", str(src), "--round", str(rnd)]))
        os.sync()  # pay for the mutation now, not inside a timed run
        plain_dest = plain_root / f"s{rnd:03d}"
        argv_dest = argv_root / f"s{rnd:03d}"
        plain_argv = [
            "rsync", "-a", "--delete", f"--link-dest={plain_prev.resolve()}",
            "-e", rsh, remote_src, f"{plain_dest}/",
        ]  # fmt: skip
        arms = [
            ("dss", dss_argv),
            ("rsync", plain_argv),
            ("argv", dss_rsync_argv(argv_dest, argv_prev)),
        ]
        shift = (rnd - 1) % len(arms)  # rotate who goes first
        order = arms[shift:] + arms[:shift]
        if rnd % 2 == 0:
            order.reverse()
        got: dict[str, float] = {}
        for label, argv in order:
            got[label] = timed(argv, env if label == "dss" else None)
            os.sync()
        for label, seconds in got.items():
            times[label].append(seconds)
        ratios.append(got["dss"] / got["rsync"])
        plain_prev = plain_dest
        argv_prev = argv_dest
        log(
            f"round {rnd} ({' '.join(label for label, _ in order)}): rsync {fmt_s(got['rsync'])}, "
            f"dss {fmt_s(got['dss'])}, dss's argv {fmt_s(got['argv'])}, "
            f"ratio {ratios[-1]:.3f}   [load {loadavg()}]"
        )

    # Untimed sanity check: both sides hold the same files and link about as much.
    dss_snaps = complete_snapshots(dss_dest)
    if len(dss_snaps) != args.rounds + 1:
        log(f"warning: {len(dss_snaps)} complete dss snapshots, expected {args.rounds + 1}")
    if file_list(dss_snaps[-1]) != file_list(plain_prev) or file_list(plain_prev) != file_list(src):
        log("warning: the newest copies differ in their file lists")
    dss_linked = inode_share(dss_snaps[-1], dss_snaps[-2])
    plain_linked = inode_share(plain_prev, plain_root / f"s{args.rounds - 1:03d}")
    log(f"hard-linked share of the last round: dss {dss_linked:.3f}, rsync {plain_linked:.3f}")

    med_dss = statistics.median(times["dss"])
    med_rsync = statistics.median(times["rsync"])
    ratio = med_dss / med_rsync
    log()
    log(f"== dss create over ssh vs plain rsync over ssh ({args.files} files, "
        f"{args.rounds} rounds)")
    log(f"   rsync median {fmt_s(med_rsync)} ({spread(times['rsync'])})")
    log(f"   dss   median {fmt_s(med_dss)} ({spread(times['dss'])})")
    log(f"   ratio of medians {ratio:.3f}; median of per-round ratios "
        f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})")
    med_argv = statistics.median(times["argv"])
    log(f"   dss's rsync argv alone: median {fmt_s(med_argv)} ({spread(times['argv'])}), "
        f"{med_argv / med_rsync:.3f} x rsync; so dss's own work (start-up, scan, rename) "
        f"costs about {fmt_s(med_dss - med_argv)} per snapshot")
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    log(f"   target dss <= {TARGET} x rsync: {verdict}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"files": args.files, "times": times, "ratios": ratios,
                        "median_dss": med_dss, "median_rsync": med_rsync, "ratio": ratio},
                       indent=1)
        )
    return ratio <= TARGET


if __name__ == "__main__":
    raise SystemExit(main())
