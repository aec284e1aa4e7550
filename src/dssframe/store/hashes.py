"""The content hashes of ``dss verify``, kept beside the snapshots (never inside one).

Layout under the destination directory::

    <dest>/.dssframe/hashes/<creation>.b2        the hashes of one complete snapshot:
                                                 every regular file, sorted by path
    <dest>/.dssframe/hashes/<creation>.part-<n>  the progress of a build of that
                                                 snapshot that has not finished
    <dest>/.dssframe/hashes/last-verify.json     what the last ``dss verify`` found
    <dest>/.dssframe/hashes/repair.json          the temporary files a repair is making
                                                 (removed when it is done)

The text format is :mod:`dssframe.core.verify`'s. Every file is written by
:mod:`dssframe.store.atomic` (temporary file, fsync, rename, fsync of the directory),
so a crash leaves each file whole or absent: a build writes a part file of the records
it has hashed every half second or so, and when a snapshot is done its ``.b2`` file,
then drops its parts. A later build reads the parts back and hashes only what is not in
any of them, nor in another snapshot's file (an inode shared by hard links is read
once). A hash file names its snapshot: one whose snapshot no longer exists under that
name (removed, or recycled as the directory of a new copy) is *stale*, ignored by every
reader and removed by the next ``dss verify --build``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from typing import Any, NamedTuple

from dssframe.core.verify import FormatError, Parsed, Record, parse, render
from dssframe.store.atomic import write_atomically, write_json_atomically

HASHES_DIR = os.path.join(".dssframe", "hashes")
SUFFIX = ".b2"
PART = ".part-"
SUMMARY = "last-verify.json"
REPAIR_JOURNAL = "repair.json"


def hashes_dir(dest_dir: str) -> str:
    return os.path.join(os.path.abspath(dest_dir), HASHES_DIR)


def hash_path(dest_dir: str, creation: int) -> str:
    return os.path.join(hashes_dir(dest_dir), f"{creation}{SUFFIX}")


class Loaded(NamedTuple):
    """One snapshot's hash file: its records, or why there are none."""

    creation: int
    records: list[Record] | None
    status: str  # "ok", "missing", "corrupt" or "stale" (it names another snapshot)
    problem: str | None = None


def _read(path: str) -> Parsed:
    """Parse the hash file at ``path``; raises OSError or FormatError."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise FormatError("not ASCII (damaged?)") from None
    return parse(text)


def load(dest_dir: str, creation: int, name: str) -> Loaded:
    """The hashes of snapshot ``name`` (creation ``creation``)."""
    path = hash_path(dest_dir, creation)
    try:
        parsed = _read(path)
    except FileNotFoundError:
        return Loaded(creation, None, "missing")
    except (OSError, FormatError) as exc:
        return Loaded(creation, None, "corrupt", f"{path}: {exc}")
    if parsed.part:
        return Loaded(creation, None, "corrupt", f"{path}: a part file")
    if parsed.name != name:
        return Loaded(creation, None, "stale", f"{path}: holds {parsed.name}, not {name}")
    return Loaded(creation, parsed.records, "ok")


def write(dest_dir: str, creation: int, name: str, records: Iterable[Record]) -> str:
    """Write the hash file of snapshot ``name`` (records sorted by path); its path."""
    path = hash_path(dest_dir, creation)
    ordered = sorted(records, key=lambda r: r.path)
    write_atomically(path, render(name, ordered), suffix=".tmp-b2")
    return path


def keys(dest_dir: str) -> set[int]:
    """Creation epochs that have a (complete) hash file, whatever it holds."""
    return {creation for creation, kind, _ in _entries(dest_dir) if kind == "hashes"}


def _entries(dest_dir: str) -> list[tuple[int, str, str]]:
    """(creation, "hashes" | "part", file name) of every file of the directory."""
    found = []
    try:
        names = os.listdir(hashes_dir(dest_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for name in names:
        stem, dot, rest = name.partition(".")
        if not (stem.isascii() and stem.isdigit()):
            continue
        if "." + rest == SUFFIX:
            found.append((int(stem), "hashes", name))
        elif ("." + rest).startswith(PART) and rest[len(PART) - 1 :].isdigit():
            found.append((int(stem), "part", name))
    return found


# --- parts: the progress of a build ----------------------------------------------------


def part_files(dest_dir: str, creation: int) -> list[str]:
    """The part files of ``creation``, in the order they were written."""
    names = [n for c, kind, n in _entries(dest_dir) if c == creation and kind == "part"]
    names.sort(key=lambda n: int(n.rsplit("-", 1)[1]))
    return [os.path.join(hashes_dir(dest_dir), n) for n in names]


def read_parts(dest_dir: str, creation: int, name: str) -> tuple[list[Record], list[str]]:
    """The records of ``creation``'s part files that name snapshot ``name``, and the
    problems of those that cannot be read (a part is whole or absent, but the disk
    under it may fail like any other)."""
    records: list[Record] = []
    problems = []
    for path in part_files(dest_dir, creation):
        try:
            parsed = _read(path)
        except FileNotFoundError:
            continue
        except (OSError, FormatError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        if parsed.part and parsed.name == name:
            records += parsed.records
    return records, problems


def write_part(dest_dir: str, creation: int, name: str, records: Iterable[Record]) -> str:
    """One more part file of ``creation``: records hashed since the last one; its path."""
    existing = part_files(dest_dir, creation)
    number = int(existing[-1].rsplit("-", 1)[1]) + 1 if existing else 1
    path = os.path.join(hashes_dir(dest_dir), f"{creation}{PART}{number}")
    write_atomically(path, render(name, records, part=True), suffix=".tmp-part")
    return path


def merge_parts(dest_dir: str, creation: int, name: str) -> None:
    """Replace ``creation``'s part files by one holding all their records (the new one
    is written before the old ones go: a crash in between leaves duplicates, which
    readers take as one)."""
    old = part_files(dest_dir, creation)
    records, _ = read_parts(dest_dir, creation, name)
    unique = {record.path: record for record in records}
    write_part(dest_dir, creation, name, unique.values())
    for path in old:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def discard_parts(dest_dir: str, creation: int) -> None:
    for path in part_files(dest_dir, creation):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


# --- what is stale -----------------------------------------------------------------


def stale(dest_dir: str, complete: dict[int, str]) -> list[str]:
    """Files of the directory whose snapshot is gone: hash and part files of creations
    not in ``complete`` (creation -> name of every complete snapshot), hash files that
    name another snapshot. Parts of a complete snapshot are not stale: a build may
    resume them."""
    found = []
    directory = hashes_dir(dest_dir)
    for creation, kind, file_name in _entries(dest_dir):
        path = os.path.join(directory, file_name)
        if creation not in complete:
            found.append(path)
        elif kind == "hashes":
            loaded = load(dest_dir, creation, complete[creation])
            if loaded.status == "stale":
                found.append(path)
    return sorted(found)


def forget(dest_dir: str, creation: int) -> None:
    """The snapshot created at ``creation`` is gone: its hash file and parts too."""
    discard([hash_path(dest_dir, creation), *part_files(dest_dir, creation)])


def discard(paths: Iterable[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


# --- the summary of the last verify --------------------------------------------------


def write_summary(dest_dir: str, summary: dict[str, Any]) -> None:
    """``last-verify.json``: when the last verify ran and what it found (readable by
    every user: the prometheus plugin shows it)."""
    write_json_atomically(os.path.join(hashes_dir(dest_dir), SUMMARY), summary, mode=0o644)


def read_summary(dest_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(hashes_dir(dest_dir), SUMMARY), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --- the repair journal ---------------------------------------------------------------


def journal_path(dest_dir: str) -> str:
    return os.path.join(hashes_dir(dest_dir), REPAIR_JOURNAL)


def write_journal(dest_dir: str, temporaries: list[str]) -> None:
    """Name the temporary files a repair is about to create (relative to the
    destination), so that a crash cannot leave one inside a snapshot for good."""
    write_json_atomically(journal_path(dest_dir), {"temporaries": temporaries})


def read_journal(dest_dir: str) -> list[str]:
    try:
        with open(journal_path(dest_dir), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return []
    found = data.get("temporaries") if isinstance(data, dict) else None
    return [p for p in found if isinstance(p, str)] if isinstance(found, list) else []


def clear_journal(dest_dir: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(journal_path(dest_dir))
