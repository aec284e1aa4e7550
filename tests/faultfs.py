"""Real file-system faults for tests: a tiny tmpfs (full disk, no free inodes), a
loop-mounted ext4 image (``chattr +i``), and an immutable file.

Each is a context manager that undoes itself: the mount is unmounted (lazily if it is
still busy), the immutable flag is cleared. Mounting needs root and a working
``mount``; without them the test fails in CI (``CI=true``) and is skipped elsewhere,
as with :func:`dsstest.require_tool`::

    with faultfs.tmpfs(tmp_path / "mnt", size="2m") as mnt:
        ...
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

from dsstest import IN_CI


def unavailable(message: str) -> NoReturn:
    """Fail (in CI) or skip (elsewhere) a test whose fault cannot be set up here."""
    if IN_CI:
        pytest.fail(message + " (CI must allow it)")
    pytest.skip(message)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed")
    return path


def _run(argv: list[str], what: str) -> None:
    """Run a set-up command; its failure means the fault is unavailable here."""
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        unavailable(f"cannot {what}: {' '.join(argv)}: {result.stderr.strip()}")


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        unavailable(f"{what} needs root")


@contextmanager
def _mounted(argv: list[str], path: Path, what: str) -> Iterator[Path]:
    """``path`` with the file system ``argv`` (a mount command ending in ``path``)
    mounted on it, unmounted afterwards (lazily when it is still busy)."""
    umount = _tool("umount")
    path.mkdir(parents=True, exist_ok=True)
    _run(argv, what)
    try:
        yield path
    finally:
        done = subprocess.run([umount, str(path)], capture_output=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            subprocess.run([umount, "-l", str(path)], capture_output=True, check=True)


@contextmanager
def tmpfs(path: Path, size: str = "2m", inodes: int | None = None) -> Iterator[Path]:
    """A fresh tmpfs of ``size`` bytes (mount's spelling: ``2m``) and, if given, at
    most ``inodes`` inodes (``nr_inodes``; the root directory takes one), on ``path``."""
    _require_root("mounting a tmpfs")
    options = f"size={size}" + (f",nr_inodes={inodes}" if inodes is not None else "")
    argv = [_tool("mount"), "-t", "tmpfs", "-o", options, "tmpfs", str(path)]
    with _mounted(argv, path, "mount a tmpfs") as mounted:
        yield mounted


@contextmanager
def ext4_image(path: Path, size_mb: int = 8) -> Iterator[Path]:
    """A fresh ext4 file system of ``size_mb`` MiB (an image file next to ``path``,
    loop-mounted; ``lost+found`` is in it) on ``path``. The image is deleted after."""
    _require_root("loop-mounting an ext4 image")
    image = path.with_name(path.name + ".ext4")
    with open(image, "wb") as out:
        out.truncate(size_mb << 20)
    try:
        _run([_tool("mkfs.ext4"), "-q", "-F", str(image)], "make an ext4 file system")
        argv = [_tool("mount"), "-o", "loop", str(image), str(path)]
        with _mounted(argv, path, "loop-mount an ext4 image") as mounted:
            yield mounted
    finally:
        image.unlink(missing_ok=True)


@contextmanager
def immutable(path: Path, clear: Path | None = None) -> Iterator[Path]:
    """``path`` with the immutable attribute (``chattr +i``: even root can neither
    change, rename nor delete it). Afterwards the attribute is cleared on everything
    below ``clear`` (default ``path``), wherever the file went meanwhile."""
    _require_root("chattr +i")
    chattr = _tool("chattr")
    _run([chattr, "+i", str(path)], "make a file immutable")
    try:
        yield path
    finally:
        subprocess.run([chattr, "-R", "-i", str(clear or path)], capture_output=True)


def write_files(root: Path, count: int, size: int, prefix: str = "f") -> list[Path]:
    """``count`` files of ``size`` random bytes in ``root`` (created if needed)."""
    root.mkdir(parents=True, exist_ok=True)
    paths = [root / f"{prefix}{i:04d}" for i in range(count)]
    for path in paths:
        path.write_bytes(os.urandom(size))
    return paths
