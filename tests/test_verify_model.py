"""The hash files ``dss verify --build`` writes, against the plainest possible reference:
every regular file of every snapshot read whole with :mod:`hashlib`. Random destinations
(hard links inside and across snapshots, sizes either side of the worker's "large"
threshold, empty files, symbolic links, FIFOs, nested directories) and every way the
hashing can run (one worker, worker processes, threads under a rate limit)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dssframe.core import naming
from dssframe.engine import verify
from dssframe.store import hashes

SIZES = st.sampled_from(
    [0, 1, 4095, verify.UNSTATED_BYTES, verify.UNSTATED_BYTES + 1, 3 * verify.CHUNK + 7]
)
NAMES = st.sampled_from(["a", "b", "sub/c", "sub/deep/d", "x y", "sub/ü", "-n", "e\nf"])


@st.composite
def destinations(draw: st.DrawFn) -> list[list[tuple[str, str, int]]]:
    """Snapshots, oldest first; each a list of (kind, path, n): kind "new" (a file of
    size n), "link" (a hard link to the n-th file made so far), "symlink", "fifo"."""
    snapshots = []
    made = 0
    for _ in range(draw(st.integers(1, 3))):
        entries = []
        for path in draw(st.lists(NAMES, min_size=1, max_size=6, unique=True)):
            kind = draw(st.sampled_from(["new", "new", "link", "symlink", "fifo"]))
            if kind == "link" and not made:
                kind = "new"
            if kind == "new":
                entries.append(("new", path, draw(SIZES)))
                made += 1
            elif kind == "link":
                entries.append(("link", path, draw(st.integers(0, made - 1))))
            else:
                entries.append((kind, path, 0))
        snapshots.append(entries)
    return snapshots


def _make(root: Path, plan: list[list[tuple[str, str, int]]], seed: int) -> Path:
    import random

    content = random.Random(seed).randbytes
    dest = root / "dest"
    files: list[Path] = []
    for number, entries in enumerate(plan):
        creation = 1_700_000_000 + 3600 * number
        top = dest / naming.complete_name(creation, creation + 60)
        top.mkdir(parents=True)
        for kind, rel, n in entries:
            path = top / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "new":
                path.write_bytes(content(n))
                files.append(path)
            elif kind == "link":
                os.link(files[n], path)
            elif kind == "symlink":
                os.symlink(files[0] if files else "nowhere", path)
            else:
                os.mkfifo(path)
    return dest


def _reference(dest: Path) -> dict[str, set[tuple[str, str]]]:
    """Every snapshot's regular files and their BLAKE2b-256, read whole."""
    found: dict[str, set[tuple[str, str]]] = {}
    for top in sorted(p for p in dest.iterdir() if not p.name.startswith(".")):
        files = found.setdefault(top.name, set())
        for dirpath, _, names in os.walk(top):
            for name in names:
                path = Path(dirpath, name)
                if path.is_symlink() or not path.is_file():
                    continue
                digest = hashlib.blake2b(path.read_bytes(), digest_size=32).hexdigest()
                files.add((str(path.relative_to(top)), digest))
    return found


def _stored(dest: Path) -> dict[str, set[tuple[str, str]]]:
    stored = {}
    for snapshot in verify.complete_snapshots(str(dest)):
        loaded = hashes.load(str(dest), snapshot.creation, snapshot.name)
        assert loaded.records is not None, loaded.problem
        paths = [r.path for r in loaded.records]
        assert len(paths) == len(set(paths)), "a path recorded twice"
        stored[snapshot.name] = {(r.path, r.digest) for r in loaded.records}
    return stored


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=destinations(),
    seed=st.integers(0, 1000),
    way=st.sampled_from([(1, 0), (2, 0), (3, 0), (2, 1 << 34)]),
)
def test_the_hash_files_hold_every_file_with_its_content_hash(
    plan: list[list[tuple[str, str, int]]], seed: int, way: tuple[int, int]
) -> None:
    root = Path(tempfile.mkdtemp(prefix="dss-verify-model-"))
    try:
        dest = _make(root, plan, seed)
        jobs, rate = way
        report = verify.build(str(dest), jobs=jobs, max_rate=rate)
        assert all(not built.errors for built in report.built)
        expected = _reference(dest)
        assert _stored(dest) == expected
        inodes = {
            os.lstat(os.path.join(dest, name, path)).st_ino
            for name, files in expected.items()
            for path, _ in files
        }
        assert report.hashed == len(inodes), "every inode read once"
        clean = verify.verify(str(dest), jobs=jobs, max_rate=rate)
        assert not clean.findings and not clean.problems
        assert clean.inodes == len(inodes)
        nonempty = sorted(
            (name, path)
            for name, files in expected.items()
            for path, _ in files
            if os.lstat(os.path.join(dest, name, path)).st_size
        )
        if nonempty:
            name, path = nonempty[seed % len(nonempty)]
            target = os.path.join(dest, name, path)
            before = os.lstat(target)
            with open(target, "r+b") as f:  # one byte flipped, size and mtime kept
                f.seek(seed % before.st_size)
                byte = f.read(1)
                f.seek(-1, os.SEEK_CUR)
                f.write(bytes([byte[0] ^ 0x40]))
            os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
            sharing = {
                (n, p)
                for n, files in expected.items()
                for p, _ in files
                if os.lstat(os.path.join(dest, n, p)).st_ino == before.st_ino
            }
            found = verify.verify(str(dest), jobs=jobs, max_rate=rate).findings
            assert [f.kind for f in found] == ["corrupt"]
            assert {(m.snapshot, m.path) for m in found[0].members} == sharing
    finally:
        shutil.rmtree(root)
