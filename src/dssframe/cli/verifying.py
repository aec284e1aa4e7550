"""``dss verify``'s work without typer: what the typer command
(:mod:`dssframe.cli.verify_commands`) and the lean start-up path
(:mod:`dssframe.cli.entry`, a plain ``dss verify [--build] [--json] [NAME...]``) both
run -- a thin layer over :mod:`dssframe.engine.verify` and :mod:`dssframe.engine.repair`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dssframe.cli.invocation import Invocation
    from dssframe.engine.job import Job
    from dssframe.engine.repair import Source
    from dssframe.engine.verify import Progress


class ProgressLine:
    """One line on standard error, rewritten in place at most ten times a second (only
    on a terminal: the caller makes none otherwise), cleared at the end."""

    def __init__(self) -> None:
        self.shown = 0

    def __call__(self, reading: Progress) -> None:
        from dssframe.core.sizes import iec_size

        percent = 100 * reading.bytes // reading.bytes_total if reading.bytes_total else 100
        rate = reading.bytes / reading.elapsed if reading.elapsed > 0 else 0
        where = reading.phase
        if reading.snapshot:
            where += f" {reading.number}/{reading.of} {reading.snapshot}"
        text = (
            f"{where}  {reading.files}/{reading.files_total} files  "
            f"{iec_size(reading.bytes)}/{iec_size(reading.bytes_total)}  {percent:3d}%  "
            f"{iec_size(int(rate))}/s"
        )
        columns = _columns()
        if len(text) >= columns:  # the snapshot's long name goes first
            text = text.replace(f" {reading.snapshot}", "", 1)[: columns - 1]
        sys.stderr.write("\r" + text + " " * max(0, self.shown - len(text)))
        sys.stderr.flush()
        self.shown = len(text)

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * self.shown + "\r")
            sys.stderr.flush()
            self.shown = 0


def _columns() -> int:
    import os

    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns or 80
    except (OSError, ValueError):
        return 80


def _note(text: str) -> None:
    """One line on standard error (as ``typer.echo(text, err=True)`` writes it)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _write(text: str) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stdout.buffer.flush()


class _Locked:
    """The destination's lock, or nothing (a dry run changes nothing)."""

    def __init__(self, dest_dir: str, take: bool) -> None:
        from dssframe.store.lock import DestLock

        self.lock = DestLock(dest_dir) if take else None

    def __enter__(self) -> None:
        if self.lock is not None:
            self.lock.acquire()

    def __exit__(self, *exc: object) -> None:
        if self.lock is not None:
            self.lock.release()


def run(
    state: Invocation,
    names: list[str],
    *,
    build: bool = False,
    repair: bool = False,
    as_json: bool = False,
    jobs: int | None = None,
    max_rate: str | None = None,
) -> None:
    """``dss verify`` with these options, on both start-up paths."""
    from dssframe.core.errors import UsageError
    from dssframe.core.verify import parse_rate

    if build and repair:
        raise UsageError("--build and --repair exclude each other")
    try:
        rate = parse_rate(max_rate) if max_rate is not None else 0
    except ValueError as exc:
        raise UsageError(f"--max-rate: {exc}") from None
    job = state.job()
    progress = ProgressLine() if sys.stderr.isatty() else None
    try:
        if build:
            _build(job, names, jobs, rate, progress, as_json, state.dry_run)
        else:
            _verify(job, names, jobs, rate, progress, as_json, repair, state.dry_run)
    finally:
        if progress is not None:
            progress.clear()


def _build(
    job: Job,
    names: list[str],
    jobs: int | None,
    rate: int,
    progress: ProgressLine | None,
    as_json: bool,
    dry_run: bool,
) -> None:
    import os

    from dssframe.core.errors import SnapshotError
    from dssframe.core.sizes import iec_size
    from dssframe.engine.verify import build
    from dssframe.store.hashes import journal_path

    dest = job.store.dest_dir
    with _Locked(dest, not dry_run):
        if not dry_run and os.path.lexists(journal_path(dest)):  # an interrupted repair
            from dssframe.engine.repair import remove_temporaries

            remove_temporaries(dest)
        report = build(dest, names, jobs=jobs, max_rate=rate, progress=progress,
                       dry_run=dry_run)  # fmt: skip
    if progress is not None:
        progress.clear()
    errors = [error for built in report.built for error in built.errors]
    if as_json:
        import json

        _write(json.dumps({"dry_run": dry_run, **report.to_json()}, indent=2) + "\n")
    else:
        lines = []
        for name in report.stale_removed:
            lines.append(f"{'would remove' if dry_run else 'removed'} stale hashes {name}")
        for built in report.built:
            if dry_run:
                lines.append(f"would hash {built.snapshot}")
                continue
            lines.append(
                f"hashed {built.snapshot}: {built.files} files, {built.hashed} inodes read "
                f"({iec_size(built.hashed_bytes)}), {built.reused} known already"
                + (f", {built.resumed} from an interrupted build" if built.resumed else "")
            )
        lines += [f"cannot hash {error}" for error in errors]
        if not dry_run:
            total = sum(b.hashed_bytes for b in report.built)
            lines.append(
                f"hashes of {len(report.built)} snapshot(s) built, {len(report.skipped)} "
                f"had them: {report.hashed} inodes read ({iec_size(total)}) in "
                f"{report.seconds:.1f}s"
            )
        _write("".join(line + "\n" for line in lines))
    if errors:
        raise SnapshotError(f"{len(errors)} file(s) could not be hashed; first: {errors[0]}")


def _verify(
    job: Job,
    names: list[str],
    jobs: int | None,
    rate: int,
    progress: ProgressLine | None,
    as_json: bool,
    repair: bool,
    dry_run: bool,
) -> None:
    from dssframe.core.errors import SnapshotError
    from dssframe.core.sizes import iec_size
    from dssframe.engine import verify

    dest = job.store.dest_dir
    with _Locked(dest, repair and not dry_run):
        report = verify.verify(dest, names, jobs=jobs, max_rate=rate, progress=progress)
        if progress is not None:
            progress.clear()
        repairs = None
        if repair and report.findings:
            from dssframe.engine.repair import repair as repair_all

            repairs = repair_all(dest, report, _sources(job), dry_run=dry_run, max_rate=rate)
    fixed = sum(1 for r in repairs if r.done) if repairs is not None else None
    left = len(report.findings) - (fixed or 0) if repairs is not None else None
    if not dry_run:  # a dry run reports nothing: no summary, no events
        verify.conclude(job, report, fixed, left)
    if not report.snapshots and not report.problems:
        if as_json:
            import json

            _write(json.dumps({"dry_run": dry_run, **report.to_json(), "repairs": None}) + "\n")
        _note("nothing to verify: no snapshot has hashes (dss verify --build)")
        return
    if report.unhashed and not names:
        _note(f"dss: note: {len(report.unhashed)} complete snapshot(s) have no hashes and "
              "were not verified (dss verify --build)")  # fmt: skip
    counts = report.counts()
    if as_json:
        import json

        document: dict[str, Any] = {"dry_run": dry_run, **report.to_json()}
        document["repairs"] = [r.to_json() for r in repairs] if repairs is not None else None
        _write(json.dumps(document, indent=2) + "\n")
    else:
        lines = [finding.line() for finding in report.findings]
        if repairs is not None:
            lines += [r.line(dry_run) for r in repairs]
        found = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "clean"
        lines.append(
            f"verified {len(report.snapshots)} snapshot(s): {report.files} files, "
            f"{report.inodes} inodes read ({iec_size(report.bytes)}) in "
            f"{report.seconds:.1f}s: {found}"
        )
        lines += [f"unreadable hash file: {problem}" for problem in report.problems]
        _write("".join(line + "\n" for line in lines))
    if report.problems:
        raise SnapshotError(f"{len(report.problems)} hash file(s) cannot be read (damaged?)")
    if repairs is not None and not dry_run:
        if left:
            raise SnapshotError(f"{left} of {len(report.findings)} finding(s) not repaired")
        return
    if report.findings:
        found = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
        raise SnapshotError(f"verify found {found} file(s)")


def _sources(job: Job) -> Any:
    """Where each snapshot's files came from on this machine: its metadata's source when
    that is local, else the configured source when it is local."""
    from dssframe.engine.job import source_top
    from dssframe.engine.repair import Source, source_of_spelling
    from dssframe.store import metadata

    local = job.transport.local_source() if job.config.source_dir else None
    configured = None
    if local is not None:
        top = source_top(job.transport)
        configured = Source(local.rstrip("/") or "/", top) if top is None else Source(local, top)
    dest = job.store.dest_dir
    cache: dict[str, Source | None] = {}

    def source_of(snapshot: str) -> Source | None:
        if snapshot not in cache:
            from dssframe.core.naming import parse

            parsed = parse(snapshot)
            loaded = metadata.load(dest, parsed.creation) if parsed is not None else None
            recorded = loaded.metadata.source if loaded and loaded.metadata else None
            cache[snapshot] = source_of_spelling(recorded) if recorded else configured
        return cache[snapshot]

    return source_of
