"""``dss demo``: a first run on a built-in default -- a small demo tree, two snapshots
with a change between them, and the listing -- so a newcomer sees the whole cycle."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from dssframe.engine.job import Job
from dssframe.plugins.host import PluginHost
from dssframe.store.configfile import build
from dssframe.store.lock import DestLock


def default_dir() -> Path:
    from dssframe.store.dirs import data_dir

    return Path(data_dir()) / "demo"


def make_source(source: Path) -> None:
    (source / "docs").mkdir(parents=True, exist_ok=True)
    (source / "docs" / "readme.txt").write_text("dssframe demo: this file never changes\n")
    (source / "notes.txt").write_text("first version\n")
    (source / "data.bin").write_bytes(bytes(range(256)) * 256)


def run(base: Path, host: PluginHost, say: Callable[[str], None]) -> list[str]:
    """Snapshot ``base/source`` into ``base/snapshots`` twice; return the snapshot paths."""
    source, dest = base / "source", base / "snapshots"
    dest.mkdir(parents=True, exist_ok=True)
    if not source.exists():
        make_source(source)
    config = build({}, {"source-dir": f"{source}/", "dest-dir": str(dest)}, None)
    job = Job.from_config(config, host)
    with DestLock(job.store.dest_dir):
        first = job.create()
        say(f"snapshot 1: {job.store.path(first.name)}")
        with open(source / "notes.txt", "a") as notes:
            notes.write(f"changed at snapshot {first.creation}\n")
        second = job.create()
    say(f"snapshot 2: {job.store.path(second.name)}")
    one, two = (Path(job.store.path(s.name)) for s in (first, second))
    def inode(path: Path) -> int:
        return os.stat(path).st_ino

    shared = inode(one / "docs" / "readme.txt") == inode(two / "docs" / "readme.txt")
    changed = inode(one / "notes.txt") != inode(two / "notes.txt")
    say(f"unchanged docs/readme.txt is one hard-linked file in both: {shared}")
    say(f"changed notes.txt is a new copy in snapshot 2: {changed}")
    say(f"list them:  dss --dest-dir '{dest}' ls")
    return [str(one), str(two)]
