"""The metadata document kept beside each snapshot (never inside its data).

Layout under the destination directory::

    <dest>/.dssframe/meta/<creation>.json   one document per snapshot, keyed by its
                                            creation epoch (the snapshot's identity)
    <dest>/.dssframe/current.json           the snapshot a restore made *current*
                                            (:mod:`dssframe.store.current`)

``.dssframe`` never parses as a snapshot name, so the original dss and
:meth:`dssframe.store.destination.Destination.scan` both ignore it, and no removal ever touches it.

Every document is written atomically by :mod:`dssframe.store.atomic` (temporary file
in the same directory, fsync, rename, fsync of the directory), so a reader sees the old
or the new document, never a mix. A missing or corrupt document never makes a snapshot
unusable: :func:`load` reports it (:class:`Loaded`), and ``dss adopt`` rebuilds it from
the directory name.

While a snapshot is copied, the transport's log of the copy (where rsync writes its
statistics) lives in ``<dest>/.dssframe/`` beside the destination's lock
(:func:`dssframe.store.lock.copy_log_path`), never in a snapshot directory.

Document fields (JSON object; unknown keys are kept on read and ignored):

============== ==================================================================
schema         format version of the document (1)
creation       creation epoch (the key)
name           directory name when the document was written
state          ``complete`` or ``incomplete``
origin         ``created`` (by dssframe), ``adopted`` (``dss adopt``), ``safety``
               (the safety snapshot a restore took first)
note           free text, e.g. which restore a safety snapshot was taken for
completion     completion epoch (null while incomplete)
duration       seconds from creation to completion
parent         ``{"creation", "name"}`` of the parent in the snapshot tree, or null;
               re-pointed to the grandparent when the parent is removed
reference      ``{"creation", "name"}`` of the snapshot it was copied against (whose
               unchanged files it hard-links; history: never re-pointed), or null
parent_inferred true when the parent was inferred (adopted: previous complete one)
source         the source as the user spells it (``/data/``, ``user@host:/data/``)
source_host    host of the source; ``source_user``: user reading it
transport      transport plugin name
dss_host       host dss ran on; ``dss_user``: the user it ran as
exit_status    the transport's exit status, null when unknown
message        the transport's note (e.g. ``partial transfer: ...``), or null
checksum       whether the copy compared file contents (the ``checksum`` option)
stats          the transport's statistics of the copy (integers,
               :class:`~dssframe.core.transport.CopyStats`): files, created_files,
               deleted_files, regular_files_transferred, total_size,
               transferred_size, literal_data, matched_data, bytes_sent,
               bytes_received (keys absent when the transport did not report them)
versions       ``{"dssframe": ...}``: version of the code that wrote it
plugins        ``{"<plugin name>": "<version>"}`` of every loaded plugin
restores       list of ``{"time", "target", "safety_snapshot"}``: restores made from
               this snapshot
source_errors  the first lines of the source-side errors the transport reported and
               that were tolerated (an unreadable or vanished source file); their number is
               ``stats.source_errors``
written        epoch the document was written
============== ==================================================================
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from dssframe.store.atomic import write_json_atomically

if TYPE_CHECKING:
    from dssframe.core.naming import SnapshotName

SCHEMA_VERSION = 1
STATE_DIR = ".dssframe"
META_DIR = "meta"
SUFFIX = ".json"

ORIGIN_CREATED = "created"
ORIGIN_ADOPTED = "adopted"
ORIGIN_SAFETY = "safety"


class MetadataError(Exception):
    """A document that cannot be read back (reported, never fatal)."""


class Link(NamedTuple):
    """A reference to another snapshot: its identity and its name."""

    creation: int
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"creation": self.creation, "name": self.name}


class Metadata(NamedTuple):
    """One snapshot's metadata document (see the module docstring for each field).

    Immutable: ``doc._replace(field=value)`` makes a changed copy. (Named tuples, not
    dataclasses, here: ``dss create`` imports this module while rsync copies, and
    every millisecond of CPU it takes then is one the copy may wait for.)"""

    creation: int
    name: str
    state: str = "complete"
    origin: str = ORIGIN_CREATED
    note: str | None = None
    completion: int | None = None
    duration: float | None = None
    parent: Link | None = None
    reference: Link | None = None
    parent_inferred: bool = False
    source: str | None = None
    source_host: str | None = None
    source_user: str | None = None
    transport: str | None = None
    dss_host: str | None = None
    dss_user: str | None = None
    exit_status: int | None = None
    message: str | None = None
    checksum: bool | None = None
    stats: Mapping[str, int] = MappingProxyType({})
    versions: Mapping[str, str] = MappingProxyType({})
    plugins: Mapping[str, str] = MappingProxyType({})
    restores: tuple[dict[str, Any], ...] = ()
    source_errors: tuple[str, ...] = ()
    written: int | None = None
    schema: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """The document as a JSON-ready dict (field order as declared)."""
        out: dict[str, Any] = {}
        for name in self._fields:
            value = getattr(self, name)
            if isinstance(value, Link):
                value = value.to_json()
            elif name == "restores":
                value = [dict(item) for item in value]
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[name] = value
        return out

    @classmethod
    def from_json(cls, data: Any) -> Metadata:
        """Parse a document; raises :class:`MetadataError` on anything malformed."""
        if not isinstance(data, dict):
            raise MetadataError("not a JSON object")
        schema = data.get("schema", SCHEMA_VERSION)
        if not isinstance(schema, int) or schema > SCHEMA_VERSION:
            raise MetadataError(f"unsupported schema {schema!r}")
        values: dict[str, Any] = {}
        for name in cls._fields:
            if name not in data:
                continue
            values[name] = _check_field(name, data[name])
        for required in ("creation", "name"):
            if required not in values:
                raise MetadataError(f"missing {required!r}")
        return cls(**values)


_INT_FIELDS = {"creation", "completion", "exit_status", "written", "schema"}
_STR_FIELDS = {
    "name", "state", "origin", "note", "source", "source_host", "source_user",
    "transport", "dss_host", "dss_user", "message",
}


def _check_field(name: str, value: Any) -> Any:
    optional = name not in ("creation", "name", "state", "origin", "schema")
    if value is None and optional and name not in (
        "stats", "versions", "plugins", "restores", "source_errors"
    ):
        return None
    if name in _INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MetadataError(f"{name}: expected an integer, got {value!r}")
        return value
    if name in _STR_FIELDS:
        if not isinstance(value, str):
            raise MetadataError(f"{name}: expected a string, got {value!r}")
        return value
    if name == "duration":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MetadataError(f"duration: expected a number, got {value!r}")
        return float(value)
    if name in ("checksum", "parent_inferred"):
        if not isinstance(value, bool):
            raise MetadataError(f"{name}: expected true or false, got {value!r}")
        return value
    if name in ("parent", "reference"):
        if (
            not isinstance(value, dict)
            or isinstance(value.get("creation"), bool)
            or not isinstance(value.get("creation"), int)
            or not isinstance(value.get("name"), str)
        ):
            raise MetadataError(f"{name}: expected {{creation, name}}, got {value!r}")
        return Link(value["creation"], value["name"])
    if name == "stats":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
            for k, v in value.items()
        ):
            raise MetadataError(f"stats: expected a map of integers, got {value!r}")
        return dict(value)
    if name in ("versions", "plugins"):
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise MetadataError(f"{name}: expected a map of strings, got {value!r}")
        return dict(value)
    if name == "restores":
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise MetadataError(f"restores: expected a list of objects, got {value!r}")
        return tuple(dict(item) for item in value)
    if name == "source_errors":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise MetadataError(f"source_errors: expected a list of strings, got {value!r}")
        return tuple(value)
    raise MetadataError(f"{name}: unexpected field")  # pragma: no cover - fields are fixed


class Loaded(NamedTuple):
    """What :func:`load` found: a document, or why there is none."""

    creation: int
    metadata: Metadata | None
    status: str  # "ok", "missing" or "corrupt"
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.metadata is not None


# --- paths ---------------------------------------------------------------------------


def meta_dir(dest_dir: str) -> str:
    return os.path.join(dest_dir, STATE_DIR, META_DIR)


def document_path(dest_dir: str, creation: int) -> str:
    return os.path.join(meta_dir(dest_dir), f"{creation}{SUFFIX}")


# --- writing ---------------------------------------------------------------------


def write(dest_dir: str, metadata: Metadata) -> str:
    """Write ``metadata`` as the document of its creation epoch; its path.

    Raises OSError; callers that must not fail (creating a snapshot) log it instead.
    """
    path = document_path(dest_dir, metadata.creation)
    write_json_atomically(path, metadata.to_json())
    return path


# --- reading -------------------------------------------------------------------------


def load(dest_dir: str, creation: int) -> Loaded:
    """The document of ``creation``: ok, missing or corrupt (with the reason)."""
    path = document_path(dest_dir, creation)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return Loaded(creation, None, "missing")
    except (OSError, UnicodeDecodeError) as exc:
        return Loaded(creation, None, "corrupt", f"{path}: {exc}")
    try:
        metadata = Metadata.from_json(json.loads(text))
    except (ValueError, MetadataError) as exc:
        return Loaded(creation, None, "corrupt", f"{path}: {exc}")
    if metadata.creation != creation:
        problem = f"{path}: holds creation {metadata.creation}, not {creation}"
        return Loaded(creation, None, "corrupt", problem)
    return Loaded(creation, metadata, "ok")


def keys(dest_dir: str) -> set[int]:
    """Creation epochs that have a document (whatever its state)."""
    found: set[int] = set()
    try:
        with os.scandir(meta_dir(dest_dir)) as entries:
            for entry in entries:
                stem, dot, suffix = entry.name.rpartition(".")
                if dot and "." + suffix == SUFFIX and stem.isascii() and stem.isdigit():
                    found.add(int(stem))
    except (FileNotFoundError, NotADirectoryError):
        pass
    return found


def load_many(dest_dir: str, creations: Iterable[int]) -> dict[int, Loaded]:
    """:func:`load` for each of ``creations``, skipping the open() of absent ones."""
    present = keys(dest_dir)
    return {
        c: load(dest_dir, c) if c in present else Loaded(c, None, "missing") for c in creations
    }


def discard(dest_dir: str, creation: int) -> bool:
    """Remove the document of ``creation``; False when there was none."""
    try:
        os.unlink(document_path(dest_dir, creation))
    except FileNotFoundError:
        return False
    return True


def reparent(dest_dir: str, removed: int, new_parent: Link | None) -> list[int]:
    """Point every document whose parent is ``removed`` at ``new_parent`` (the removed
    snapshot's own parent), so the tree stays connected; the creations rewritten."""
    changed = []
    for creation in sorted(keys(dest_dir)):
        loaded = load(dest_dir, creation)
        meta = loaded.metadata
        if meta is None or meta.parent is None or meta.parent.creation != removed:
            continue
        write(dest_dir, meta._replace(parent=new_parent))
        changed.append(creation)
    return changed


def forget(dest_dir: str, creation: int) -> None:
    """A snapshot is gone: re-point its children at its parent, drop its document.

    Never raises for a missing or unreadable document (the snapshot is gone anyway).
    """
    if not os.path.isdir(meta_dir(dest_dir)):
        return
    loaded = load(dest_dir, creation)
    parent = loaded.metadata.parent if loaded.metadata else None
    reparent(dest_dir, creation, parent)
    discard(dest_dir, creation)


def stale(dest_dir: str, existing: Iterable[int]) -> list[int]:
    """Documents whose snapshot directory no longer exists."""
    return sorted(keys(dest_dir) - set(existing))


# --- building documents ------------------------------------------------------------


def _version() -> str:
    from dssframe import __version__

    return __version__


def link(snapshot: SnapshotName | None) -> Link | None:
    return None if snapshot is None else Link(snapshot.creation, snapshot.name)


def for_created(
    snapshot: SnapshotName,
    *,
    reference: SnapshotName | None,
    source: str | None,
    remote_host: str | None,
    remote_user: str | None,
    transport: str | None,
    exit_status: int | None,
    message: str | None,
    checksum: bool | None,
    stats: Mapping[str, int],
    plugins: Mapping[str, str],
    written: int,
    origin: str = ORIGIN_CREATED,
    note: str | None = None,
    source_errors: tuple[str, ...] = (),
) -> Metadata:
    """The document of a snapshot dssframe has just made (``remote_host`` None: local)."""
    from dssframe.store.lock import local_identity

    host, user = local_identity()
    return Metadata(
        creation=snapshot.creation,
        name=snapshot.name,
        state="complete" if snapshot.complete else "incomplete",
        origin=origin,
        note=note,
        completion=snapshot.completion,
        duration=None if snapshot.duration is None else float(snapshot.duration),
        parent=link(reference),
        reference=link(reference),
        source=source,
        source_host=remote_host or host,
        source_user=remote_user or user,
        transport=transport,
        dss_host=host,
        dss_user=user,
        exit_status=exit_status,
        message=message,
        checksum=checksum,
        stats=dict(stats),
        versions={"dssframe": _version()},
        plugins=dict(plugins),
        source_errors=tuple(source_errors),
        written=written,
    )

