"""``dss verify``: the hash files' text format, rates like ``50M``, and what a verify
found (pure: text in, records out).

A snapshot's hashes are one text file (:mod:`dssframe.store.hashes` keeps them beside
the snapshots, never inside one), ASCII, one record per regular file::

    dssframe-hashes 1 blake2b-256 1700000000-1700000060.Tue_Nov_14_2023_...
    <64 hex digits> <inode> <size> <mtime_ns> <path>
    ...
    end <number of records> <64 hex digits: BLAKE2b-256 of every line above>

``path`` is relative to the snapshot's top and comes last, so it may hold spaces; it
is written with Python's ``unicode_escape`` codec (``\\n``, ``\\\\``, ``\\xe9``,
``\\udcff`` for a byte that is not UTF-8), so every name round-trips and the file stays
ASCII. The ``end`` line makes a damaged or cut hash file detectable: it is read as
corrupt, never as a list of corrupt files. A *part* file (the progress of a build that
has not finished) has the same form with ``dssframe-hashes-part`` in its first line.

The content hash is BLAKE2b with a 32-byte digest (``hashlib``, no dependency; a
cryptographic hash, because ``--repair`` takes two files with the same stored hash for
the same content). ``inode``, ``size`` and ``mtime_ns`` are what ``lstat`` said when the
file was hashed: a file whose size or mtime differs now was *modified* (a snapshot file
never should be), one whose content no longer hashes to the record is *corrupt*.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

#: The format's version (the second word of the first line).
FORMAT_VERSION = 1
#: The hash, as the first line names it.
HASH_NAME = "blake2b-256"
#: Bytes of a digest (BLAKE2b's ``digest_size``).
DIGEST_SIZE = 32
MAGIC = "dssframe-hashes"
PART_MAGIC = "dssframe-hashes-part"

#: Kinds of finding, worst first.
CORRUPT = "corrupt"
MODIFIED = "modified"
MISSING = "missing"
UNREADABLE = "unreadable"
KINDS = (CORRUPT, MODIFIED, MISSING, UNREADABLE)

_HEX = frozenset("0123456789abcdef")


class FormatError(ValueError):
    """A hash file that cannot be read back (its first or last line is wrong)."""


class Record(NamedTuple):
    """One regular file of a snapshot as it was hashed."""

    path: str
    """Relative to the snapshot's top (``/`` separated, no leading ``/``)."""
    ino: int
    size: int
    mtime_ns: int
    digest: str
    """64 lowercase hex digits."""

    @property
    def key(self) -> tuple[int, int, int]:
        """What identifies the content of an unchanged inode: (inode, size, mtime_ns)."""
        return (self.ino, self.size, self.mtime_ns)


def escape_path(path: str) -> str:
    """``path`` as one ASCII field without line breaks (``unicode_escape``)."""
    if path.isascii() and path.isprintable() and "\\" not in path:
        return path
    return path.encode("unicode_escape").decode("ascii")


def unescape_path(text: str) -> str:
    if "\\" not in text:
        return text
    return text.encode("ascii").decode("unicode_escape")


def record_line(record: Record) -> str:
    """The line of ``record``, with its newline."""
    return (
        f"{record.digest} {record.ino} {record.size} {record.mtime_ns} "
        f"{escape_path(record.path)}\n"
    )


def parse_record(line: str) -> Record:
    """The record of one line (without its newline); raises :class:`FormatError`."""
    parts = line.split(" ", 4)
    if len(parts) != 5:
        raise FormatError(f"not a record: {line[:80]!r}")
    digest, ino, size, mtime, path = parts
    if len(digest) != 2 * DIGEST_SIZE or not _HEX.issuperset(digest):
        raise FormatError(f"not a digest: {digest[:80]!r}")
    try:
        return Record(unescape_path(path), int(ino), int(size), int(mtime), digest)
    except (ValueError, UnicodeError):
        raise FormatError(f"not a record: {line[:80]!r}") from None


def header(name: str, part: bool = False) -> str:
    return f"{PART_MAGIC if part else MAGIC} {FORMAT_VERSION} {HASH_NAME} {escape_path(name)}\n"


def text_digest(text: str) -> str:
    """The hex BLAKE2b-256 of ``text`` (ASCII): what a hash file's ``end`` line holds."""
    import hashlib  # pure computation; loaded only by verify (OpenSSL costs 3 ms)

    return hashlib.blake2b(text.encode("ascii"), digest_size=DIGEST_SIZE).hexdigest()


def render(name: str, records: Iterable[Record], part: bool = False) -> str:
    """The whole file for snapshot ``name``: header, records, ``end`` line."""
    lines = [header(name, part)]
    lines += [record_line(record) for record in records]
    body = "".join(lines)
    return body + f"end {len(lines) - 1} {text_digest(body)}\n"


class Parsed(NamedTuple):
    name: str
    part: bool
    records: list[Record]


def parse(text: str) -> Parsed:
    """The snapshot name, part flag and records of a hash file; raises
    :class:`FormatError` when its first line is not a header or its ``end`` line is
    missing or does not match (a cut or damaged file)."""
    if not text.endswith("\n"):
        raise FormatError("no end line (cut short?)")
    cut = text.rfind("\n", 0, len(text) - 1) + 1  # where the last line starts
    body, trailer = text[:cut], text[cut:-1].split(" ")
    lines = body.split("\n")[:-1]
    words = lines[0].split(" ", 3) if lines else []
    if len(words) != 4 or words[0] not in (MAGIC, PART_MAGIC):
        raise FormatError("no dssframe-hashes header")
    if words[1] != str(FORMAT_VERSION) or words[2] != HASH_NAME:
        raise FormatError(f"unsupported format {words[1]} {words[2]}")
    if len(trailer) != 3 or trailer[0] != "end" or not trailer[1].isdigit():
        raise FormatError("no end line (cut short?)")
    if trailer[2] != text_digest(body):
        raise FormatError("end line does not match the content (damaged?)")
    if len(lines) - 1 != int(trailer[1]):
        raise FormatError("end line counts another number of records")
    try:
        name = unescape_path(words[3])
    except UnicodeError:
        raise FormatError("unreadable snapshot name") from None
    return Parsed(name, words[0] == PART_MAGIC, [parse_record(line) for line in lines[1:]])


# --- rates ---------------------------------------------------------------------------

_RATE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b?)\s*(?:/s)?\s*", re.I | re.ASCII)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_rate(text: str) -> int:
    """Bytes per second of ``--max-rate``: a number of bytes, or with a suffix as rsync's
    ``--bwlimit`` reads it -- ``K``, ``M``, ``G``, ``T`` (and ``KiB``...) are powers of
    1024, ``KB``, ``MB``... powers of 1000; ``/s`` may follow. 0 means no limit.
    Raises ValueError."""
    match = _RATE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a rate (e.g. 50M, 200MB, 1G, 0 for none)")
    number, prefix, unit = match.groups()
    power = _POWERS[prefix.lower()]
    base = 1000 if unit.lower() == "b" and power else 1024
    value = float(number) * base**power
    if value > 2**63 or (value and value < 1):
        raise ValueError(f"{text!r} is out of range")
    return int(value)


# --- findings ------------------------------------------------------------------------


class Member(NamedTuple):
    """One path that held an inode: the snapshot's directory name and the path in it."""

    snapshot: str
    path: str


class Finding(NamedTuple):
    """A stored inode that no longer holds what it held (see :data:`KINDS`)."""

    kind: str
    """``corrupt``: the content no longer hashes to the record; ``modified``: size,
    mtime or the inode itself changed; ``missing``: the path is gone; ``unreadable``:
    it could not be read (the error says why)."""
    record: Record
    """The stored record (its ``ino`` is the inode that was hashed)."""
    members: tuple[Member, ...]
    """Every path this finding concerns, oldest snapshot first (the paths that shared
    the inode, for a corrupt one)."""
    detail: str
    """What differs, for people (``size 10 -> 12``, ``Input/output error``)."""
    actual: str | None = None
    """The digest the content has now (corrupt only)."""
    intact: tuple[Member, ...] = ()
    """Paths that still hold the stored inode unchanged (beside a modified or missing
    one: the healthy twin a repair links it to again)."""

    @property
    def snapshots(self) -> list[str]:
        """The snapshots concerned, oldest first, each once."""
        return list(dict.fromkeys(member.snapshot for member in self.members))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.record.path,
            "inode": self.record.ino,
            "size": self.record.size,
            "mtime_ns": self.record.mtime_ns,
            "expected": self.record.digest,
            "actual": self.actual,
            "detail": self.detail,
            "snapshots": self.snapshots,
            "files": [{"snapshot": m.snapshot, "path": m.path} for m in self.members],
        }

    def line(self) -> str:
        """One line for people: kind, path, detail, the snapshots."""
        paths = list(dict.fromkeys(member.path for member in self.members))
        shown = escape_path(paths[0]) + (f" (and {len(paths) - 1} more paths)" if paths[1:] else "")
        names = self.snapshots
        where = f"in {names[0]}" if len(names) == 1 else f"in {len(names)} snapshots: "
        if len(names) > 1:
            where += ", ".join(names)
        return f"{self.kind:<10} {shown}: {self.detail}; {where}"


def stat_difference(record: Record, ino: int, size: int, mtime_ns: int) -> str | None:
    """What makes a file that lstat shows now (``ino``, ``size``, ``mtime_ns``) another
    one than ``record``, or None when it is the same inode, unchanged by its size and
    mtime (its content must then still hash to the record)."""
    changes = []
    if ino != record.ino:
        changes.append(f"replaced (inode {record.ino} -> {ino})")
    if size != record.size:
        changes.append(f"size {record.size} -> {size}")
    if mtime_ns != record.mtime_ns:
        changes.append(f"mtime {_ns(record.mtime_ns)} -> {_ns(mtime_ns)}")
    return ", ".join(changes) or None


def _ns(value: int) -> str:
    seconds, ns = divmod(value, 10**9)
    return f"{seconds}.{ns:09d}"


def counts(findings: Sequence[Finding]) -> dict[str, int]:
    """How many findings of each kind (every kind present, 0 when none)."""
    found = dict.fromkeys(KINDS, 0)
    for finding in findings:
        found[finding.kind] += 1
    return found
