"""``parallel`` = N: one snapshot copied by several rsync processes at once, with exactly
the result one rsync gives (loaded by :meth:`RsyncTransport.command` only then).

The copy is a :class:`~dssframe.core.transport.CommandGroup` of two stages, every rsync
with the same options, source operand, destination and ``--link-dest`` as the one
rsync of ``parallel = 1``, so every path has the same name, the user's rules (which
come first) decide about it the same way, and each rsync adds only rules of its own:

1. the **top pass** copies everything except the contents of the *units* (rules
   ``--exclude=/UNIT/*``): the top directory and the split directories with their
   files, symbolic links and such, and each unit directory itself (created empty when
   new, its attributes set); it deletes what the source no longer has at those levels,
   turns entries of another type into the source's type, and sets the attributes of
   the top directory and of the split ones;
2. then the **parts**, N rsync processes at once, each the contents of its units
   (``--include=/UNIT/`` for each, a directory only, ``--include=/DIR/`` and
   ``--exclude=/DIR/*`` for a split directory DIR, and last ``--exclude=/*``): a part
   creates, changes and deletes only inside its own units, since everything else is
   excluded, and rsync never deletes an excluded path (``--delete-excluded`` is
   refused).

A path below the units' level is taken at once by a rule that matches every path
that deep (the top pass's ``--include=/*/*/*/**``, a part's ``--include=/DIR/*/**``
and ``--include=/*/**``): rsync never enters an excluded directory, so it reaches such
a path only inside what it copies, and without those rules each of its files would be
held against every unit's rule. The user's rules come before all of these, so they
still decide first.

Why the result is the one rsync's: each path is copied, linked (``--link-dest``) or
deleted by exactly one rsync, the same way one rsync would (same name, same rules,
same reference); the directories several rsync processes see (the top, the split
directories, each unit) get their final attributes from the same source, and no
rsync creates or deletes an entry in a directory whose attributes another has
already set for the last time: the top pass creates every unit before any part
runs, and a part works only inside its units (a unit's own time is set by its part
when it is done). The parts start only when the top pass has ended (0, 23 or 24),
so they never run into a directory it is still changing.

Units are directories only, found by a shallow scan of the source when the command
is built (:func:`plan`): the top level, and the directories in each top-level
directory; a top-level directory that weighs more than 1/N of the whole estimate is
split into its subdirectories (its files stay with the top pass). The estimate of a
directory is its entries, its files' sizes (``size / 64 KiB`` entries) and, for each
subdirectory not scanned, the average directory seen. Units go to the lightest part
first, heaviest first; beyond 32 units a part, the lightest stay with the top pass.
A directory the user's ``--exclude`` patterns leave out is no unit (:func:`excluded_dir`;
so the entries counted twice are known exactly). With fewer than two units there is
nothing to share and the command is the one rsync of ``parallel = 1``. What appears at
the top level after the scan is copied by the top pass (recursively: nothing of it is
a unit).

For a remote source the plan reads the reference snapshot instead (the copy
``--link-dest`` links against: the source as it was last time, on the local disk, so
planning costs no connection) when the copy starts in an empty directory; otherwise
(a resumed or recycled directory, or no reference) it reads the source itself through
rsync's ``--list-only`` over the copy's ssh (:func:`listing_command`), two levels at
a time: the top and every directory in it, then each directory that is split. A
listing that fails or takes longer than ssh's connect timeout plus
:data:`LIST_TIMEOUT` leaves the copy to one rsync, and a warning says so. The rsync
processes of one copy (and its listing) share one ssh connection, a ControlMaster the
first of them opens (:func:`shared_connection`): one login instead of one each.

A unit read from an old shape (or misread) cannot make a copy into an empty
directory differ: one the source no longer has is copied by no part and its rule
excludes nothing; one that is no longer a directory is copied by the top pass alone
(a part takes a unit, and a split directory, only as a directory: ``UNIT/``); a
directory new at the top is copied by the top pass whole; and the statistics'
shared entries are counted on the finished copy (:meth:`Partition.overlap`). Into a
directory that holds an earlier copy the shape must be the source's own: the top pass
could not replace an old directory there whose contents it excludes by a file.

A source that changes during the copy races as it does with one rsync, and in one way
more: a unit that stops being a directory after the scan. Before the top pass, the
top pass cannot replace the old directory in the destination (its contents are
excluded there), so the copy fails and stays incomplete (the next one sees the new
type); after it, the part replaces it, and the top directory keeps the time of that
change instead of the source's.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, NamedTuple, Protocol

from dssframe import logs
from dssframe.core.transport import CommandGroup, CopyRequest, group_argv

if TYPE_CHECKING:
    from dssframe.builtin.rsync import RsyncTransport

#: A file's size counts as ``size / BYTES_PER_ENTRY`` entries in the estimate.
BYTES_PER_ENTRY = 64 * 1024
#: At most this many files are stat'ed for their sizes (the rest count the mean).
STAT_BUDGET = 4096
#: At most this many units per part (each is a rule the top pass holds its entries
#: against); the lightest directories beyond are copied by the top pass.
MAX_UNITS_PER_PART = 32
#: The top pass's statuses after which the parts start (the verdict judges them all).
PROCEED = (0, 23, 24)

log = logs.get("dssframe")

_WILDCARDS = re.compile(r"[*?\[]")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


class Part(NamedTuple):
    """One rsync of the second stage: its ``units`` (directories, relative to the
    source's top: ``a`` or ``big/x``) and the split top-level directories they are in."""

    units: tuple[str, ...]
    parents: tuple[str, ...]


class Partition(NamedTuple):
    parts: tuple[Part, ...]

    def units(self) -> list[str]:
        return [unit for part in self.parts for unit in part.units]

    def overlap(self, root: str) -> int:
        """How many entries the parts' ``--stats`` counted that the top pass counted
        too, read off the finished copy in ``root`` (the snapshot's copy of the source's
        top): per part the transfer's top, and its split directories and units that
        are directories there. (A part takes its units and split directories only as
        directories, ``--include=/UNIT/``: one that is not, or no longer, a directory
        in the source is the top pass's alone, or nobody's.)"""

        def is_dir(path: str) -> bool:
            try:
                return stat.S_ISDIR(os.lstat(os.path.join(root, path)).st_mode)
            except OSError:
                return False

        return sum(
            1 + sum(map(is_dir, part.parents)) + sum(map(is_dir, part.units))
            for part in self.parts
        )


class _Dir(NamedTuple):
    """A directory as the scan saw it: entries, bytes of the files stat'ed, files
    stat'ed, and the names of its subdirectories."""

    entries: int
    size: int
    sized: int
    subdirs: tuple[str, ...]


class _Scan:
    """A local source, read with ``scandir`` (the type from the directory entry, a stat
    only for the sizes of the first :data:`STAT_BUDGET` files)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.budget = STAT_BUDGET

    def dir(self, path: str) -> _Dir | None:
        """The directory ``path`` (relative to the source's top, ``""`` the top)."""
        entries = size = sized = 0
        subdirs = []
        try:
            with os.scandir(os.path.join(self.root, path) if path else self.root) as found:
                for entry in found:
                    entries += 1
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            subdirs.append(entry.name)
                        elif self.budget > 0 and entry.is_file(follow_symlinks=False):
                            self.budget -= 1
                            size += entry.stat(follow_symlinks=False).st_size
                            sized += 1
                    except OSError:
                        continue
        except OSError:
            return None
        return _Dir(entries, size, sized, tuple(sorted(subdirs)))


class Scanner(Protocol):
    def dir(self, path: str) -> _Dir | None:
        """The directory ``path`` (relative to the source's top, ``""`` the top), or
        None when it cannot be read."""


#: One line of ``rsync --list-only --no-h``: type and permissions, size, date, time,
#: and the name after exactly one space (it may begin with spaces itself).
_LISTED = re.compile(rb"(\S)\S* +([\d,]+) \S+ \S+ (.*)", re.DOTALL)
#: How rsync writes a byte it does not print as it is (a newline, a backslash before
#: ``#``, a byte the locale cannot print): ``\#`` and three octal digits.
_ESCAPED = re.compile(rb"\\#([0-7]{3})")


class _Counts:
    """A directory being read from a listing (what becomes its :class:`_Dir`)."""

    def __init__(self) -> None:
        self.entries = self.size = self.sized = 0
        self.subdirs: list[str] = []

    def add(self, kind: bytes, name: str, size: int) -> None:
        self.entries += 1
        if kind == b"d":
            self.subdirs.append(name)
        elif kind == b"-":
            self.size += size
            self.sized += 1

    def made(self) -> _Dir:
        return _Dir(self.entries, self.size, self.sized, tuple(sorted(self.subdirs)))


def parse_listing(output: bytes, base: str) -> dict[str, _Dir]:
    """The directories an ``rsync --list-only -r --exclude=/*/*/*`` of ``base`` (relative
    to the source's top) shows whole: ``base`` itself and each directory in it, by path
    relative to the top. Lines that are not entries (rsync's notices) are passed over.
    (Names are needed only for directories, which rsync lists before their contents;
    a misread line changes the balance of the parts, never the copy: see :func:`plan`.)"""
    top = _Counts()
    inside: dict[str, _Counts] = {}
    for line in output.split(b"\n"):
        found = _LISTED.fullmatch(line)
        if found is None:
            continue
        kind, size, raw = found[1], int(found[2].replace(b",", b"")), found[3]
        name = os.fsdecode(_ESCAPED.sub(lambda m: bytes([int(m[1], 8)]), raw))
        if name == ".":
            continue
        # A symbolic link's line ends in " -> TARGET", which may hold slashes: its
        # directory is known from the directories listed before it.
        head, slash, tail = name.partition("/")
        if slash and head in inside and (kind == b"l" or "/" not in tail):
            inside[head].add(kind, tail, size)
        elif not slash or kind == b"l":
            top.add(kind, name, size)
            if kind == b"d":
                inside[name] = _Counts()
    dirs = {base: top.made()}
    for name, counts in inside.items():
        dirs[f"{base}/{name}" if base else name] = counts.made()
    return dirs


class _Listing:
    """A remote source, listed by rsync itself over the copy's ssh (``list_command``
    of a path relative to the source's top), two levels at a time: the top and each
    directory in it at once, and the directories in a split one when it is split.
    A listing that fails or takes more than ``timeout`` seconds leaves its directories
    unknown (so, for the top, the copy is the one rsync of ``parallel = 1``)."""

    def __init__(self, list_command: Callable[[str], list[str]], timeout: float) -> None:
        self.list_command = list_command
        self.timeout = timeout
        self.known: dict[str, _Dir] = {}
        self.listed: set[str] = set()

    def dir(self, path: str) -> _Dir | None:
        if path not in self.known:
            parent = path.rpartition("/")[0]
            if parent not in self.listed:
                self.listed.add(parent)
                self.known.update(self._list(parent))
        return self.known.get(path)

    def _list(self, base: str) -> dict[str, _Dir]:
        argv = self.list_command(base)
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its ssh goes with it on a timeout
        )
        # Without the top, the copy is one rsync; without a split directory, its
        # subdirectories weigh the average.
        then = f"planning {base} without its sizes" if base else "copying with one rsync"
        try:
            output, errors = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            log.warning(
                "parallel: listing the remote source took more than %gs; %s",
                self.timeout, then,
            )  # fmt: skip
            return {}
        if process.returncode not in PROCEED:
            last = errors.decode(errors="replace").strip().splitlines()[-1:]
            # 255: ssh failed, and so will the copy, which says why in its one line.
            level = logging.INFO if process.returncode == 255 else logging.WARNING
            log.log(
                level,
                "parallel: listing the remote source failed (rsync exit %s%s); %s",
                process.returncode, f": {last[0]}" if last else "", then,
            )  # fmt: skip
            return {}
        return parse_listing(output, base)


def _weight(scanned: _Dir, unknown: float, file_size: float) -> float:
    """The estimate of a scanned directory: itself, its entries, its files' bytes, and
    ``unknown`` for each subdirectory (not scanned)."""
    files = scanned.entries - len(scanned.subdirs)
    size = scanned.size + (files - scanned.sized) * file_size
    return 1 + files + size / BYTES_PER_ENTRY + len(scanned.subdirs) * unknown


def user_excludes(options: Sequence[str]) -> list[str]:
    """The ``--exclude`` patterns among the rsync-option words, in order (``!`` clears
    the ones before it, as in rsync; a ``- `` prefix is dropped)."""
    patterns: list[str] = []
    words = iter(options)
    for word in words:
        if word == "--":
            break
        name, eq, value = word.partition("=")
        if name != "--exclude":
            continue
        pattern = value if eq else next(words, "")
        if pattern == "!":
            patterns.clear()
        elif pattern:
            patterns.append(pattern.removeprefix("- "))
    return patterns


def _regex(pattern: str) -> str:
    """A regular expression for an rsync wildcard pattern (``*`` within a name,
    ``**`` across names, ``?``, ``[...]``, backslash escapes)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("/***", i) and i + 4 == len(pattern):
            out.append("(/.*)?")
            break
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            body = "^" + body[1:] if body.startswith(("!", "^")) else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def excluded_dir(path: str, patterns: Sequence[str]) -> bool:
    """Whether the user's ``--exclude`` ``patterns`` exclude the directory ``path``
    (its name relative to the transfer's root, no slashes around) or one above it,
    by rsync's rules: a trailing ``/`` matches directories only, a leading ``/``
    anchors at the root, a pattern with a ``/`` or ``**`` matches the end of the path
    at a name boundary, any other pattern the last name. Only the plan uses this: a
    directory wrongly thought excluded is copied by the top pass, one wrongly thought
    included is a unit rsync then leaves out, so a mistake changes the balance and the
    count of shared entries, never the copy."""
    names = path.split("/")
    for depth in range(1, len(names) + 1):
        here = "/".join(names[:depth])
        for pattern in patterns:
            body = pattern.rstrip("/") if pattern != "/" else pattern
            anchored = body.startswith("/")
            body = body.lstrip("/")
            if anchored:
                target, prefix = here, ""
            elif "/" in body or "**" in body:
                target, prefix = here, "(?:.*/)?"
            else:
                target, prefix = names[depth - 1], ""
            if re.fullmatch(prefix + _regex(body), target, re.DOTALL):
                return True
    return False


def plan(
    source: str | Scanner,
    parallel: int,
    top_name: str | None = None,
    excludes: Sequence[str] = (),
) -> Partition | None:
    """The units of a copy of the directory ``source`` (a local path, or a
    :class:`Scanner` of a remote one) and how ``parallel`` rsync processes share them;
    None when there are fewer than two units (or the source cannot be read: the copy
    will say why). ``top_name``: the directory the snapshot holds the source in; a
    directory the user's ``excludes`` leave out is no unit."""
    scan = _Scan(source) if isinstance(source, str) else source
    top = scan.dir("")
    if top is None or not top.subdirs:
        return None

    def kept(path: str) -> bool:
        return not excluded_dir(f"{top_name}/{path}" if top_name else path, excludes)

    scanned = {name: scan.dir(name) for name in top.subdirs if kept(name)}
    seen = [d for d in scanned.values() if d is not None]
    sized = sum(d.sized for d in seen) + top.sized
    file_size = (sum(d.size for d in seen) + top.size) / sized if sized else 0.0
    unknown = 1.0
    if seen:
        unknown += sum(d.entries for d in seen) / len(seen)
        unknown += sum(d.size for d in seen) / len(seen) / BYTES_PER_ENTRY
    weights = {
        name: _weight(d, unknown, file_size) if d is not None else unknown
        for name, d in scanned.items()
    }
    top_files = top.entries - len(top.subdirs)
    total = sum(weights.values()) + top_files + top.size / BYTES_PER_ENTRY
    units: dict[str, float] = {}
    parents: dict[str, str] = {}
    for name, weight in weights.items():
        inside = scanned[name]
        if weight * parallel > total and inside is not None and inside.subdirs:
            for sub in inside.subdirs:
                if not kept(f"{name}/{sub}"):
                    continue
                below = scan.dir(f"{name}/{sub}")
                path = f"{name}/{sub}"
                units[path] = _weight(below, unknown, file_size) if below else unknown
                parents[path] = name
        else:
            units[name] = weight
    if len(units) < 2:
        return None
    count = min(parallel, len(units))
    if len(units) > MAX_UNITS_PER_PART * count:  # the lightest are copied by the top pass
        kept_units = sorted(units, key=lambda p: (-units[p], p))[: MAX_UNITS_PER_PART * count]
        units = {path: units[path] for path in kept_units}
    loads = [0.0] * count
    members: list[list[str]] = [[] for _ in range(count)]
    for path in sorted(units, key=lambda p: (-units[p], p)):
        lightest = loads.index(min(loads))
        loads[lightest] += units[path]
        members[lightest].append(path)
    parts = []
    for paths in members:
        ordered = tuple(sorted(paths))
        split = tuple(sorted({parents[p] for p in ordered if p in parents}))
        parts.append(Part(ordered, split))
    return Partition(tuple(parts))


def pattern(top: str | None, path: str, suffix: str = "") -> str:
    """The rsync filter pattern of ``path`` (in the source; anchored at the transfer's
    root, which holds ``top/`` when the snapshot holds the source in ``top``) followed
    by ``suffix`` (``/*``, ``/`` or nothing). When the pattern has wildcards, rsync
    matches it by its wildcard rules, and ``* ? [ ] \\`` of the names are escaped;
    otherwise rsync compares it literally and it must stay as it is."""
    raw = f"/{top}/{path}" if top is not None else f"/{path}"
    if _WILDCARDS.search(raw + suffix):
        raw = _GLOB_SPECIAL.sub(r"\\\1", raw)
    return raw + suffix


def _root(top: str | None, suffix: str) -> str:
    """The pattern of ``suffix`` (wildcards) below the source's top."""
    return pattern(None, top, suffix) if top is not None else suffix


def top_rules(top: str | None, partition: Partition) -> list[str]:
    """The top pass: everything but the contents of the units. (The first rule takes
    every path four levels down at once, which rsync reaches only outside the units:
    it never enters what it excludes. Without it each of them would be held against
    every unit's rule.)"""
    rules = [f"--include={_root(top, '/*/*/*/**')}"]
    rules += [f"--exclude={pattern(top, unit, '/*')}" for unit in sorted(partition.units())]
    return rules


def part_rules(top: str | None, part: Part) -> list[str]:
    """One part: its units (and the split directories leading to them), nothing else
    (the transfer's root, and ``top`` when there is one, are not excluded by any rule).
    Paths below the units' level are taken by the first rule that can take them
    (``/DIR/*/**`` below a split directory, ``/*/**`` elsewhere): rsync reaches them
    only through an included unit, and each file is not held against every rule."""
    rules = [f"--include={pattern(top, parent, '/*/**')}" for parent in part.parents]
    rules += [f"--include={pattern(top, unit, '/')}" for unit in part.units]
    for parent in part.parents:
        rules.append(f"--include={pattern(top, parent, '/')}")
        rules.append(f"--exclude={pattern(top, parent, '/*')}")
    rules.append(f"--include={_root(top, '/*/**')}")
    rules.append(f"--exclude={_root(top, '/*')}")
    return rules


def part_log(log_file: str, number: int) -> str:
    """The ``--stats`` log of part ``number`` beside the copy's log
    (``rsync-1700000000.log`` -> ``rsync.part2-1700000000.log``): named so that the
    host's clean-up of a crashed copy's logs finds it too."""
    directory, name = os.path.split(log_file)
    stem, dash, rest = name.rpartition("-")
    return os.path.join(directory, f"{stem}.part{number}{dash}{rest}")


#: rsync-option words the listing of a remote source passes on: how rsync reaches
#: the remote side, and how it reads the names there (the user's ``-e`` wins, as in
#: the copy).
LISTING_LONG = frozenset(
    {
        "--rsync-path", "--remote-option", "--rsh", "--protocol", "--iconv", "--no-iconv",
        "--timeout", "--contimeout", "--ipv4", "--ipv6", "--blocking-io", "--no-blocking-io",
    }
)  # fmt: skip
LISTING_SHORT = {"4": "--ipv4", "6": "--ipv6", "M": "--remote-option", "e": "--rsh"}
#: How long a listing of a remote source may take, beyond ssh's connect timeout.
LIST_TIMEOUT = 30.0


def listing_options(options: Sequence[str]) -> list[str]:
    """The words of the user's rsync-option ``options`` that the listing passes on
    (:data:`LISTING_LONG`, :data:`LISTING_SHORT`), in order, as long options."""
    from dssframe.core.guards import LONG_WITH_VALUE, SHORT_WITH_VALUE

    kept: list[str] = []
    words = iter(options)
    for word in words:
        if word == "--":
            break
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            if name in LONG_WITH_VALUE and not eq:
                value, eq = next(words, ""), "="
            if name in LISTING_LONG:
                kept.append(f"{name}{eq}{value}")
        elif word.startswith("-") and len(word) > 1:
            for index, letter in enumerate(word[1:], 1):
                value = ""
                if letter in SHORT_WITH_VALUE:
                    value = word[index + 1 :] or next(words, "")
                if letter in LISTING_SHORT:
                    long_name = LISTING_SHORT[letter]
                    kept.append(f"{long_name}={value}" if letter in SHORT_WITH_VALUE else long_name)
                if letter in SHORT_WITH_VALUE:
                    break
    return kept


def listing_command(
    transport: RsyncTransport, path: str, ssh_options: Sequence[str] = ()
) -> list[str]:
    """``rsync --list-only -a --no-h -s -e SSH [options] --exclude=/*/*/* HOST:DIR/``:
    the entries of ``path`` (relative to the remote source's top) two levels deep, over
    the ssh the copy uses (with ``ssh_options``), sizes in plain digits."""
    return [
        transport.config.rsync_path, "--list-only", "-a", "--no-h",
        "-s", "-e", shlex.join([*transport.ssh_command(), *ssh_options]),
        *listing_options(transport.config.rsync_option),
        "--exclude=/*/*/*", transport.remote_source(path),
    ]  # fmt: skip


#: Seconds the shared ssh connection of a parallel copy stays up after its last use.
CONTROL_PERSIST = 10
#: What a control socket's directory may be spelled with (ssh reads ``%`` and
#: whitespace in a ControlPath; the path must be short enough for a Unix socket).
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._/-]{1,60}\Z")


def private_dir(path: str) -> bool:
    """Whether ``path`` is (made, if missing) a directory of this user's alone: a real
    directory, not a link, owned by the effective user, no access for anyone else."""
    if not _PLAIN_PATH.match(path):
        return False
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    try:
        found = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(found.st_mode)
        and found.st_uid == os.geteuid()
        and found.st_mode & 0o077 == 0
    )


def control_dir() -> str | None:
    """Where the control socket of a shared ssh connection goes: ``dssframe`` in
    ``$XDG_RUNTIME_DIR``, else ``/tmp/dssframe-UID``, whichever is a private
    directory (:func:`private_dir`); None when neither is."""
    candidates = []
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        candidates.append(os.path.join(runtime, "dssframe"))
    candidates.append(f"/tmp/dssframe-{os.geteuid()}")
    return next((path for path in candidates if private_dir(path)), None)


def shared_connection(transport: RsyncTransport) -> list[str]:
    """The ssh options that make the rsync processes of one parallel copy (and its
    listing) share one ssh connection: the first ssh becomes the master
    (``ControlMaster=auto``) and the others run their sessions through it; it stays up
    :data:`CONTROL_PERSIST` seconds after the last one. The socket is named by a hash
    of the whole ssh command and the source, in :func:`control_dir`. They come after
    the user's ``ssh-option`` values, which win in ssh (``ControlMaster=no`` turns it
    off). Empty (a connection each) when ssh-command is not ``ssh`` or there is no
    private directory for the socket."""
    if os.path.basename(transport.config.ssh_command) != "ssh":
        return []
    directory = control_dir()
    if directory is None:
        return []
    words = [*transport.ssh_command(), transport.remote_source("")]
    key = hashlib.sha256("\0".join(words).encode(errors="surrogateescape")).hexdigest()
    return [
        "-o", "ControlMaster=auto",
        "-o", f"ControlPath={directory}/ssh-{key[:20]}",
        "-o", f"ControlPersist={CONTROL_PERSIST}",
    ]  # fmt: skip


def scanner(
    transport: RsyncTransport, request: CopyRequest, ssh_options: Sequence[str] = ()
) -> str | Scanner:
    """What the plan reads the source's shape from: a local source itself; for a remote
    one the request's reference snapshot (the ``--link-dest`` copy of the source as it
    was last time, on the local disk: no connection) when the copy starts in an empty
    directory, else (a resumed or recycled one, or no reference) a :class:`_Listing`."""
    source = transport.local_source()
    if source is not None:
        return source
    reference = request.reference
    if reference is not None and request.fresh and os.path.isdir(reference):
        return reference
    timeout = transport.config.ssh_connect_timeout + LIST_TIMEOUT
    return _Listing(lambda path: listing_command(transport, path, ssh_options), timeout)


def command(transport: RsyncTransport, request: CopyRequest) -> list[str]:
    """The argument list of a copy with ``parallel`` > 1 rsync processes: a command
    group (top pass, then the parts), or the one rsync when nothing can be shared."""
    top = transport.source_top()
    excludes = user_excludes(transport.config.rsync_option)
    shared = shared_connection(transport) if transport.remote else []
    shape = scanner(transport, request, shared)
    partition = plan(shape, transport.config.parallel, top, excludes)
    if partition is None:
        return transport.rsync_command(request)
    part_logs = []
    first = transport.rsync_command(request, rules=top_rules(top, partition), ssh_options=shared)
    parts = []
    for number, part in enumerate(partition.parts, 1):
        log_file = part_log(request.log_file, number) if request.log_file else None
        if log_file is not None:
            part_logs.append(log_file)
        rules = part_rules(top, part)
        argv = transport.rsync_command(request, log_file, rules, shared)
        parts.append(tuple(argv))
    if request.log_file is not None:
        root = os.path.join(request.destination, top or "")
        transport.groups[request.log_file] = (part_logs, partial(partition.overlap, root))
    group = CommandGroup(((tuple(first),), tuple(parts)), proceed=PROCEED)
    return group_argv(group, sys.executable)
