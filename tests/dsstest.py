"""Helpers the tests import (a uniquely named module: every test directory of the
repository has its own conftest.py, so ``from conftest import ...`` would be ambiguous)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from dssframe.core import naming

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """Path of ``name``; a missing tool fails the test in CI and skips it elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if IN_CI:
            pytest.fail(message + " (CI must install it)")
        pytest.skip(message)
    return path


RunDss = Callable[..., subprocess.CompletedProcess[str]]


def tree_state(root: Path, mtimes: bool = True) -> dict[str, tuple[object, ...]]:
    """Type, mode, mtime (unless not ``mtimes``) and content of every entry below
    ``root``."""
    state: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                state[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                state[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                mtime = (st.st_mtime_ns,) if mtimes else ()
                state[rel] = ("file", stat.S_IMODE(st.st_mode), *mtime, path.read_bytes())
    return state


def snapshots(dest: Path) -> list[naming.SnapshotName]:
    """Every snapshot directory in ``dest``, oldest first."""
    found = [naming.parse(p.name) for p in dest.iterdir()]
    return sorted((s for s in found if s), key=lambda s: s.creation)


def complete(dest: Path) -> list[Path]:
    return [dest / s.name for s in snapshots(dest) if s.complete]


def make_tree(root: Path) -> Path:
    """A small source tree with nested dirs, a symlink, an empty file and odd names."""
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.bin").write_bytes(os.urandom(5000))
    (root / "sub" / "deeper" / "c.txt").write_text("gamma\n")
    (root / "empty").write_bytes(b"")
    (root / "name with spaces & $(x)").write_text("odd\n")
    os.symlink("a.txt", root / "link-to-a")
    return root


def check_snapshot_pair(
    run_dss: RunDss, args: list[str], source: Path, dest: Path, unchanged: tuple[str, ...]
) -> None:
    """Two ``dss create`` runs (with ``args`` before the command) around a change to the
    make_tree source: both snapshots equal the source at their time, the ``unchanged``
    files are hard-linked between them, the changed one is not, the old one is intact."""
    first = run_dss(*args, "create", check=True)
    (first_path,) = complete(dest)
    assert first.stdout.strip() == str(first_path)
    assert tree_state(first_path) == tree_state(source)

    (source / "a.txt").write_text("changed\n")
    (source / "new.txt").write_text("new\n")
    (source / "sub" / "deeper" / "c.txt").unlink()
    run_dss(*args, "create", check=True)
    older, newer = complete(dest)
    assert older == first_path
    assert tree_state(newer) == tree_state(source)
    for name in unchanged:
        assert (newer / name).stat().st_ino == (older / name).stat().st_ino
    assert (newer / "a.txt").stat().st_ino != (older / "a.txt").stat().st_ino
    assert (older / "a.txt").read_text() == "alpha\n"  # the old snapshot is untouched
    assert not (newer / "sub" / "deeper" / "c.txt").exists()
