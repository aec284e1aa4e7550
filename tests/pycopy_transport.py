"""A third-party transport written against ``dssframe.api`` only, for
``tests/test_transport_boundary.py``: ``pycopy`` copies with a Python program (this
file, run as a script), hard-linking unchanged files from the reference.

Two transports are registered: ``pycopy`` reports statistics
(:class:`~dssframe.api.StatsSource`) and restores
(:class:`~dssframe.api.RestoringTransport`); ``pycopy-basic`` only makes snapshots (the
bare :class:`~dssframe.api.Transport`). Neither previews a restore nor reports progress.

As a script: ``pycopy_transport.py copy SOURCE DEST [--reference REF] [--log FILE]``
makes DEST equal to SOURCE (``restore SNAPSHOT TARGET [--keep DIR ...]`` likewise,
without reference), never writing into a file that has other hard links: a changed
file is written beside it and renamed over it. Exit 75 (EX_TEMPFAIL) when the source
is missing: the transport calls that a RETRY.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from dssframe.api import (
    Config,
    CopyRequest,
    CopyResult,
    CopyStats,
    Outcome,
    RestoreRequest,
    hookimpl,
)

SOURCE_MISSING = 75


class PyCopy:
    """The bare transport: create only."""

    name = "pycopy-basic"

    def __init__(self, config: Config) -> None:
        self.source = os.path.abspath(config.require("source-dir"))

    def source_display(self) -> str:
        return os.path.join(self.source, "")

    def local_source(self) -> str | None:
        return self.source

    def command(self, request: CopyRequest) -> list[str]:
        argv = [sys.executable, os.path.abspath(__file__), "copy", self.source]
        argv.append(request.destination)
        if request.reference:
            argv += ["--reference", request.reference]
        if request.log_file:
            argv += ["--log", request.log_file]
        return argv

    def classify(self, exit_status: int, stderr: str) -> CopyResult:
        lines = [line for line in stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else ""
        if exit_status == 0:
            return CopyResult(Outcome.COMPLETE, 0, "")
        if exit_status == SOURCE_MISSING:
            return CopyResult(Outcome.RETRY, exit_status, f"pycopy: source missing: {last}")
        return CopyResult(Outcome.ERROR, exit_status, f"pycopy exit {exit_status}: {last}")


class PyCopyRestoring(PyCopy):
    """Also reports statistics and restores."""

    name = "pycopy"

    def add_stats(self, request: CopyRequest, result: CopyResult) -> CopyResult:
        import json

        assert request.log_file is not None
        try:
            with open(request.log_file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            return result
        return result._replace(stats=CopyStats(**json.loads(text)) if text else None)

    def restore_command(self, request: RestoreRequest) -> list[str]:
        target = request.target or self.source_display()
        argv = [sys.executable, os.path.abspath(__file__), "restore", request.snapshot, target]
        for keep in request.keep:
            argv += ["--keep", keep]
        return argv


@hookimpl
def dssframe_register_transports(register: Any) -> None:
    register("pycopy-basic", PyCopy)
    register("pycopy", PyCopyRestoring)


# --- the copying program ------------------------------------------------------------


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_mode) == (b.st_size, b.st_mtime_ns, b.st_mode)


def _remove(path: str) -> None:
    import shutil

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def sync(source: str, dest: str, reference: str | None, keep: set[str]) -> dict[str, int]:
    """Make ``dest`` equal to ``source``; the statistics (CopyStats fields)."""
    import shutil

    stats = dict.fromkeys(
        ("files", "created_files", "deleted_files", "regular_files_transferred",
         "total_size", "transferred_size"),
        0,
    )  # fmt: skip
    stats["files"] = 1
    os.makedirs(dest, exist_ok=True)
    directories = []
    for top, dirs, files in os.walk(source):
        rel = os.path.relpath(top, source)
        here = os.path.normpath(os.path.join(dest, rel))
        wanted = set(dirs) | set(files)
        for name in sorted(os.listdir(here)):
            if name not in wanted and os.path.normpath(os.path.join(rel, name)) not in keep:
                _remove(os.path.join(here, name))
                stats["deleted_files"] += 1
        for name in dirs + files:
            stats["files"] += 1
            src = os.path.join(top, name)
            dst = os.path.join(here, name)
            st = os.lstat(src)
            if os.path.isdir(src) and not os.path.islink(src):
                if os.path.lexists(dst) and not os.path.isdir(dst):
                    _remove(dst)
                if not os.path.lexists(dst):
                    os.mkdir(dst)
                    stats["created_files"] += 1
                directories.append((src, dst))
                continue
            if not os.path.islink(src):
                stats["total_size"] += st.st_size
            old = os.lstat(dst) if os.path.lexists(dst) else None
            if old is not None and not os.path.islink(src) and _same(st, old):
                continue  # already right (a resumed copy, or linked before)
            if old is not None and os.path.isdir(dst) and not os.path.islink(dst):
                _remove(dst)  # a directory where the source has a file
            ref = os.path.join(reference, rel, name) if reference else None
            tmp = os.path.join(here, f".pycopy-tmp-{name}")
            linkable = ref and os.path.lexists(ref) and not os.path.islink(src)
            if linkable and _same(st, os.lstat(str(ref))):
                os.link(str(ref), tmp)  # unchanged: shared with the reference
                os.replace(tmp, dst)
                stats["created_files"] += old is None
                continue
            if os.path.islink(src):
                os.symlink(os.readlink(src), tmp)
            else:
                shutil.copy2(src, tmp)  # a new inode, never one other snapshots share
                stats["regular_files_transferred"] += 1
                stats["transferred_size"] += st.st_size
            os.replace(tmp, dst)
            stats["created_files"] += old is None
    for src, dst in reversed(directories + [(source, dest)]):
        shutil.copystat(src, dst)
    return stats


def main(argv: list[str]) -> int:
    import json

    mode, source, dest, *rest = argv
    options: dict[str, list[str]] = {}
    for flag, value in zip(rest[::2], rest[1::2], strict=True):
        options.setdefault(flag.lstrip("-"), []).append(value)
    if not os.path.isdir(source):
        print(f"pycopy: {source}: no such directory", file=sys.stderr)
        return SOURCE_MISSING
    reference = options.get("reference", [None])[0] if mode == "copy" else None
    stats = sync(source, dest, reference, set(options.get("keep", [])))
    for log in options.get("log", []):
        with open(log, "w", encoding="utf-8") as handle:
            json.dump(stats, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
