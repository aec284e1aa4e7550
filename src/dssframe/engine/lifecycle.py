"""The snapshot lifecycle API: the snapshots of one destination as a tree of parent
links, and for each snapshot its description, deletion and restore.

::

    from dssframe.engine.lifecycle import SnapshotStore

    store = SnapshotStore.open("/backup/home")           # or .from_config(config, host)
    for snap in store:
        print(snap.name, snap.parent and snap.parent.name, len(snap.children))
    snap = store.get("1700000000")                        # a name or a creation epoch
    print(snap.describe("xml"))
    snap.delete(children=True, dry_run=True).selected      # what would go
    snap.restore(target="/tmp/look", dry_run=True).changes

The parent of a snapshot is the one it was linked against (its reference), read from
its metadata document (:mod:`dssframe.store.metadata`). Without a readable document the parent
is inferred as the previous complete snapshot, which is what the original dss always
linked against. A parent that no longer exists makes the snapshot a root (removals
through dssframe re-point the children to the removed snapshot's parent first).

The *current* snapshot is the one the next snapshot links against: the snapshot the
last restore of the source restored, until a newer snapshot completes; otherwise the
newest complete snapshot. After a restore the tree therefore branches.

Deletion goes through :meth:`dssframe.engine.job.Job.remove_snapshot` (veto hooks, the
``.being_deleted`` rename, ``rm -rf``, events), children before their parents, and never
touches a snapshot outside the selection. Restores run the transport's restore command
from the snapshot to the target (locally, or to a remote source the way the transport
reaches it): :mod:`dssframe.engine.restore`.

Description document (``describe``): JSON is an object; XML is the same content with
this element layout (an absent or null value has no element)::

    <snapshot schema="1">
      <name>…</name> <path>…</path> <state>complete|incomplete|…</state>
      <creation>EPOCH</creation> <completion>EPOCH</completion>
      <duration>SECONDS</duration> <interval>K</interval> <current>true|false</current>
      <parent creation="EPOCH" inferred="true|false">NAME</parent>
      <reference creation="EPOCH">NAME</reference>
      <children><child creation="EPOCH">NAME</child>…</children>
      <metadata status="ok|missing|corrupt" path="DOCUMENT">PROBLEM</metadata>
      <origin>…</origin> <note>…</note>
      <source>…</source> <source_host>…</source_host> <source_user>…</source_user>
      <transport>…</transport> <dss_host>…</dss_host> <dss_user>…</dss_user>
      <exit_status>N</exit_status> <message>…</message> <checksum>true|false</checksum>
      <written>EPOCH</written>
      <stats><stat name="files">N</stat>…</stats>
      <versions><version name="dssframe">V</version>…</versions>
      <plugins><plugin name="rsync">V</plugin>…</plugins>
      <restores><restore time="EPOCH" target="…" safety_snapshot="NAME"/>…</restores>
      (a restore of chosen paths holds one <path> element per path)
    </snapshot>

Characters XML 1.0 cannot carry (control characters, undecodable file-name bytes) are
written as ``\\xNN`` / ``\\uNNNN`` escapes.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dssframe.core.errors import SnapshotError, UsageError
from dssframe.core.gate import refused_message
from dssframe.core.naming import SnapshotName
from dssframe.core.transport import is_remote
from dssframe.engine.restore import Change, RestoreResult
from dssframe.store import metadata
from dssframe.store.current import current_creation, read_current
from dssframe.store.destination import Destination, SnapshotNotFound, lookup

if TYPE_CHECKING:
    from dssframe.core.config import Config
    from dssframe.core.retention import RetentionPolicy
    from dssframe.engine.job import Job
    from dssframe.plugins.host import PluginHost

FORMATS = ("json", "xml")
REQUESTED = "requested"


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class DeleteResult:
    """What :meth:`Snapshot.delete` selected and did (oldest first)."""

    selected: tuple[str, ...]
    removed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # vetoed by a pre-remove hook
    metadata_only: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class AdoptResult:
    adopted: tuple[str, ...]
    stale_removed: tuple[int, ...]
    dry_run: bool = False


# --- the store -------------------------------------------------------------------------


class SnapshotStore:
    """The snapshots of one destination directory, with metadata and parent links.

    A listing is taken when the store is made; :meth:`refresh` takes a new one.
    Operations that change snapshots (delete, restore, adopt) need a configuration
    and a plugin host: give them, or they are loaded for ``dest_dir`` with defaults.
    """

    def __init__(
        self,
        dest_dir: str,
        *,
        config: Config | None = None,
        host: PluginHost | None = None,
    ) -> None:
        self.destination = Destination.open(dest_dir)
        self.dest_dir = self.destination.dest_dir
        self._config = config
        self._host = host
        self._job: Job | None = None
        self._policy: RetentionPolicy | None = None
        self._snapshots: list[Snapshot] = []
        self._by_creation: dict[int, Snapshot] = {}
        self._current: int | None = None
        self.refresh()

    @classmethod
    def open(cls, dest_dir: str) -> SnapshotStore:
        """A store for reading (changes load a default configuration when needed)."""
        return cls(dest_dir)

    @classmethod
    def from_config(cls, config: Config, host: PluginHost) -> SnapshotStore:
        return cls(config.require("dest-dir"), config=config, host=host)

    # --- listing ---------------------------------------------------------------

    def refresh(self) -> None:
        """Read the directory and the metadata again."""
        now = int(time.time())
        names = self.destination.scan(now)
        loaded = metadata.load_many(self.dest_dir, [n.creation for n in names])
        self._snapshots = [Snapshot(self, n, loaded[n.creation]) for n in names]
        self._by_creation = {s.creation: s for s in self._snapshots}
        self._link()
        complete = [(s.creation, s.completion) for s in self._snapshots if s.complete]
        marker = read_current(self.dest_dir)
        current = current_creation(marker, complete)
        if current is None and complete:
            current = complete[-1][0]
        self._current = current

    def _link(self) -> None:
        previous_complete: Snapshot | None = None
        for snap in self._snapshots:
            meta = snap.metadata
            if meta is None:
                snap._parent, snap._inferred = previous_complete, True
            else:
                parent = None
                if meta.parent is not None:
                    found = self._by_creation.get(meta.parent.creation)
                    if found is not None and found.creation < snap.creation:
                        parent = found
                snap._parent, snap._inferred = parent, meta.parent_inferred
            if snap._parent is not None:
                snap._parent._children.append(snap)
            if snap.complete:
                previous_complete = snap

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot, oldest first."""
        return list(self._snapshots)

    def __iter__(self) -> Iterator[Snapshot]:
        return iter(list(self._snapshots))

    def __len__(self) -> int:
        return len(self._snapshots)

    def get(self, key: str | int) -> Snapshot:
        """The snapshot with this directory name or creation epoch (also as a path:
        :func:`dssframe.store.destination.lookup`)."""
        found = lookup(self._snapshots, key)
        if found is None:
            raise SnapshotNotFound(f"no snapshot {key!r} in {self.dest_dir}")
        return found

    def roots(self) -> list[Snapshot]:
        return [s for s in self._snapshots if s.parent is None]

    def leaves(self) -> list[Snapshot]:
        return [s for s in self._snapshots if not s.children]

    def with_metadata(self) -> list[Snapshot]:
        return [s for s in self._snapshots if s.metadata is not None]

    def current(self) -> Snapshot | None:
        """The snapshot the next one will link against."""
        return None if self._current is None else self._by_creation.get(self._current)

    def problems(self) -> list[str]:
        """Every corrupt metadata document, as a message."""
        return [s.metadata_problem for s in self._snapshots if s.metadata_problem]

    # --- plumbing for changes ------------------------------------------------------

    def job(self) -> Job:
        """The snapshot job changes go through (loaded on first use)."""
        if self._job is None:
            from dssframe.engine.job import Job

            if self._host is None:
                from dssframe.plugins.host import load_host

                self._host = load_host()
            if self._config is None:
                from dssframe.core.config import Config

                self._config = Config(dest_dir=self.dest_dir)
            self._host.configure(self._config)
            self._job = Job.from_config(self._config, self._host)
        return self._job

    def interval(self, snap: Snapshot) -> int | None:
        """The retention policy's interval of ``snap`` (None without a configuration)."""
        if self._config is None or self._host is None:
            return None
        if self._policy is None:
            self._policy = self._host.retention(self._config)
        return self._policy.interval(snap.snapshot_name, int(time.time()))

    def busy(self) -> dict[int, str]:
        """Snapshots another dss process must not lose: creation epoch -> why.

        Read from the run loop's state file when it holds the destination's lock; a
        lock holder without one (``dss create``, ``dss prune``, a restore) protects
        every incomplete snapshot and the current one.
        """
        from dssframe.store import control

        pid = control.running_pid(self.dest_dir)
        if pid is None:
            return {}
        state = control.status(self.dest_dir)
        who = f"a running dss (pid {pid})"
        if "creating" in state:
            creating = state.get("creating") or {}
            busy = {}
            for key, why in (("snapshot", "being created"), ("reference", "the reference")):
                parsed = _parse_name(creating.get(key))
                if parsed is not None:
                    busy[parsed.creation] = f"{why} of the snapshot {who} is creating"
            return busy
        busy = {s.creation: f"possibly being created by {who}" for s in self if s.incomplete}
        current = self.current()
        if current is not None:
            busy[current.creation] = f"possibly the reference of {who}"
        return busy

    @contextlib.contextmanager
    def exclusive(self, selection: Sequence[Snapshot], what: str) -> Iterator[bool]:
        """Hold the destination's lock while changing ``selection``, or -- when another
        dss holds it -- refuse if any of ``selection`` is busy. Yields whether the lock
        is held by us."""
        from dssframe.store.lock import DestLock, LockedError

        lock = DestLock(self.dest_dir)
        try:
            lock.acquire()
        except LockedError:
            self.check_not_busy(selection, what)
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def check_not_busy(self, selection: Sequence[Snapshot], what: str) -> None:
        busy = self.busy()
        for snap in selection:
            if snap.creation in busy:
                raise SnapshotError(f"refusing to {what} {snap.name}: {busy[snap.creation]}")

    # --- adopt ---------------------------------------------------------------------

    def adopt(self, names: Sequence[str] = (), dry_run: bool = False) -> AdoptResult:
        """Write metadata for existing snapshot directories (e.g. made by the original
        dss), each parent inferred as the previous complete snapshot.

        With ``names``: (re)write exactly those. Without: every snapshot whose document
        is missing or corrupt, and drop documents whose snapshot no longer exists.
        """
        targets = [self.get(n) for n in names] if names else [
            s for s in self._snapshots if s.metadata is None
        ]
        stale = [] if names else metadata.stale(self.dest_dir, self._by_creation)
        if dry_run:
            return AdoptResult(tuple(s.name for s in targets), tuple(stale), True)
        source, transport, remote_host, remote_user = None, None, None, None
        if self._config is not None and self._config.source_dir:
            job = self.job()
            source = job.transport.source_display()
            transport = job.transport.name
            if is_remote(job.transport):
                remote_host = self._config.remote_host
            remote_user = self._config.remote_user
        now = int(time.time())
        for snap in targets:
            previous = _previous_complete(self._snapshots, snap)
            doc = metadata.for_created(
                snap.snapshot_name,
                reference=previous.snapshot_name if previous else None,
                source=source,
                remote_host=remote_host,
                remote_user=remote_user,
                transport=transport,
                exit_status=None,
                message=None,
                checksum=None,
                stats={},
                plugins={},
                written=now,
                origin=metadata.ORIGIN_ADOPTED,
                note="adopted: parent inferred as the previous complete snapshot",
            )
            if source is None:
                doc = doc._replace(source_host=None, source_user=None)
            metadata.write(self.dest_dir, doc._replace(parent_inferred=True))
        for creation in stale:
            metadata.discard(self.dest_dir, creation)
        self.refresh()
        return AdoptResult(tuple(s.name for s in targets), tuple(stale))

    # --- tree view -------------------------------------------------------------------

    def tree_lines(self, root: Snapshot | None = None) -> list[str]:
        """The forest of parent links (or the subtree of ``root``), ASCII-drawn.

        Marks: ``*`` current, ``(no metadata)`` when the parent is inferred for want
        of a document, the origin when not ``created``, the state when not complete.
        """
        lines: list[str] = []
        current = self._current

        def label(snap: Snapshot) -> str:
            marks = []
            if snap.creation == current:
                marks.append("*current")
            if not snap.complete:
                marks.append(snap.state)
            if snap.metadata is None:
                marks.append(f"(no metadata{': corrupt' if snap.metadata_problem else ''})")
            elif snap.metadata.origin != metadata.ORIGIN_CREATED:
                marks.append(f"({snap.metadata.origin})")
            return " ".join([snap.name, *marks])

        def walk(snap: Snapshot, prefix: str, last: bool, top: bool) -> None:
            if top:
                lines.append(label(snap))
                child_prefix = ""
            else:
                lines.append(prefix + ("`-- " if last else "|-- ") + label(snap))
                child_prefix = prefix + ("    " if last else "|   ")
            kids = snap.children
            for i, kid in enumerate(kids):
                walk(kid, child_prefix, i == len(kids) - 1, False)

        for top in [root] if root is not None else self.roots():
            walk(top, "", True, True)
        return lines

    def select(
        self,
        roots: bool = False,
        leaves: bool = False,
        descendants: str | None = None,
        with_metadata: bool = False,
    ) -> set[int]:
        """Creation epochs passing every given filter (``ls --roots`` ...)."""
        chosen = set(self._by_creation)
        if roots:
            chosen &= {s.creation for s in self.roots()}
        if leaves:
            chosen &= {s.creation for s in self.leaves()}
        if descendants is not None:
            chosen &= {s.creation for s in self.get(descendants).descendants}
        if with_metadata:
            chosen &= {s.creation for s in self.with_metadata()}
        return chosen


def _previous_complete(snapshots: Sequence[Snapshot], snap: Snapshot) -> Snapshot | None:
    previous = None
    for other in snapshots:
        if other.creation >= snap.creation:
            break
        if other.complete:
            previous = other
    return previous


def _parse_name(name: object) -> SnapshotName | None:
    from dssframe.core.naming import parse

    return parse(name) if isinstance(name, str) else None


# --- one snapshot ------------------------------------------------------------------


class Snapshot:
    """One snapshot directory of a :class:`SnapshotStore`."""

    def __init__(self, store: SnapshotStore, name: SnapshotName, loaded: metadata.Loaded):
        self.store = store
        self.snapshot_name = name
        self._loaded = loaded
        self._parent: Snapshot | None = None
        self._inferred = False
        self._children: list[Snapshot] = []

    def __repr__(self) -> str:
        return f"Snapshot({self.name!r})"

    # --- identity and state ----------------------------------------------------------

    @property
    def name(self) -> str:
        """The directory name."""
        return self.snapshot_name.name

    @property
    def creation(self) -> int:
        """The creation epoch: the snapshot's identity."""
        return self.snapshot_name.creation

    @property
    def completion(self) -> int | None:
        return self.snapshot_name.completion

    @property
    def state(self) -> str:
        """``complete``, ``incomplete``, ``complete-being-deleted``, ..."""
        return self.snapshot_name.state.value

    @property
    def complete(self) -> bool:
        return self.snapshot_name.complete

    @property
    def incomplete(self) -> bool:
        return self.snapshot_name.incomplete

    @property
    def path(self) -> str:
        return self.store.destination.path(self.name)

    # --- metadata --------------------------------------------------------------------

    @property
    def metadata(self) -> metadata.Metadata | None:
        """The metadata document, None when missing or corrupt."""
        return self._loaded.metadata

    @property
    def metadata_status(self) -> str:
        """``ok``, ``missing`` or ``corrupt``."""
        return self._loaded.status

    @property
    def metadata_problem(self) -> str | None:
        return self._loaded.problem

    # --- the tree ----------------------------------------------------------------------

    @property
    def parent(self) -> Snapshot | None:
        """The snapshot this one was linked against (None: a root)."""
        return self._parent

    @property
    def parent_inferred(self) -> bool:
        """True when the parent was inferred (no document, or adopted)."""
        return self._inferred

    @property
    def children(self) -> list[Snapshot]:
        """Snapshots whose parent is this one, oldest first."""
        return list(self._children)

    @property
    def descendants(self) -> list[Snapshot]:
        """Children, their children, ... (oldest first)."""
        found: list[Snapshot] = []
        stack = list(self._children)
        while stack:
            snap = stack.pop()
            found.append(snap)
            stack.extend(snap._children)
        return sorted(found, key=lambda s: s.creation)

    def pin_json(self) -> dict[str, Any] | None:
        """The snapshot's pin in force (``until``, ``note``, ``pinned_at``, ``by``), or None."""
        from dssframe.store.pins import read_pins

        pin = read_pins(self.store.dest_dir).get(self.creation)
        if pin is None or not pin.active(int(time.time())):
            return None
        return pin.to_json()

    @property
    def is_current(self) -> bool:
        current = self.store.current()
        return current is not None and current.creation == self.creation

    # --- describe ------------------------------------------------------------------

    def description(self) -> dict[str, Any]:
        """The description document as a dict (the JSON of :meth:`describe`)."""
        meta = self.metadata
        parent = self.parent
        doc: dict[str, Any] = {
            "schema": metadata.SCHEMA_VERSION,
            "name": self.name,
            "path": self.path,
            "state": self.state,
            "creation": self.creation,
            "completion": self.completion,
            "duration": None if self.completion is None else float(self.completion - self.creation),
            "interval": self.store.interval(self),
            "current": self.is_current,
            "parent": None if parent is None else {
                "creation": parent.creation,
                "name": parent.name,
                "inferred": self.parent_inferred,
            },
            "reference": meta.reference.to_json() if meta and meta.reference else None,
            "children": [{"creation": c.creation, "name": c.name} for c in self.children],
            "pin": self.pin_json(),
            "metadata": {
                "status": self.metadata_status,
                "path": metadata.document_path(self.store.dest_dir, self.creation),
                "problem": self.metadata_problem,
            },
        }
        if meta is not None:
            full = meta.to_json()
            for key in (
                "origin", "note", "source", "source_host", "source_user", "transport",
                "dss_host", "dss_user", "exit_status", "message", "checksum", "written",
                "stats", "versions", "plugins", "restores",
            ):
                doc[key] = full[key]
            if meta.duration is not None:
                doc["duration"] = meta.duration
        return doc

    def describe(self, format: str = "json") -> str:
        """The description document as JSON or XML text."""
        if format == "json":
            import json

            return json.dumps(self.description(), indent=2) + "\n"
        if format == "xml":
            return description_xml(self.description())
        raise UsageError(f"unknown format {format!r} (valid: {', '.join(FORMATS)})")

    # --- delete --------------------------------------------------------------------

    def delete(
        self,
        children: bool = False,
        children_only: bool = False,
        metadata_only: bool = False,
        dry_run: bool = False,
        force: bool = False,
    ) -> DeleteResult:
        """Remove this snapshot (``children``: with all its descendants;
        ``children_only``: only its descendants; ``metadata_only``: only the metadata
        documents of that selection, the data stays). ``dry_run``: only select.

        The whole selection passes the removal gate first, and nothing is removed when
        any of it is refused (:class:`dssframe.engine.job.RemovalRefused`): a pinned or busy
        snapshot never goes; the newest complete snapshot, or one that would leave
        fewer than ``min-complete``, only with ``force``."""
        if children and children_only:
            raise UsageError("--children and --children-only exclude each other")
        selection = [] if children_only else [self]
        if children or children_only:
            selection += self.descendants
        selection.sort(key=lambda s: s.creation)
        names = tuple(s.name for s in selection)
        store = self.store
        if metadata_only:
            if not dry_run:
                for snap in selection:
                    metadata.discard(store.dest_dir, snap.creation)
                store.refresh()
            return DeleteResult(names, names if not dry_run else (), (), True, dry_run)
        if dry_run:
            store.check_not_busy(selection, "delete")
            self._screen(selection, store.busy(), force)
            return DeleteResult(names, dry_run=True)
        removed, skipped = [], []
        with store.exclusive(selection, "delete") as ours:
            busy = {} if ours else store.busy()
            job = self._screen(selection, busy, force)
            # Newest first: children go before their parents, so each removal
            # re-points nothing that is about to go as well.
            for snap in reversed(selection):
                reason = REQUESTED if snap is self else f"{REQUESTED} (descendant of {self.name})"
                if job.remove_snapshot(snap.snapshot_name, reason, force=force, protected=busy):
                    removed.append(snap.name)
                else:
                    skipped.append(snap.name)
        store.refresh()
        return DeleteResult(names, tuple(reversed(removed)), tuple(reversed(skipped)))

    def _screen(self, selection: Sequence[Snapshot], busy: dict[int, str], force: bool) -> Job:
        """The removal gate over the whole selection; raises on the first refusal."""
        from dssframe.core.retention import Reason, Removal
        from dssframe.engine.job import RemovalRefused

        job = self.store.job()
        now = job.now()
        plan = [Removal(s.snapshot_name, Reason.REQUESTED, None) for s in reversed(selection)]
        screened = job.screen(plan, job.store.scan(now), now, busy, force=force)
        if screened.refused:
            refusal = screened.refused[0]
            raise RemovalRefused(refused_message("delete", refusal), refusal)
        return job

    # --- restore -------------------------------------------------------------------

    def restore(
        self,
        target: str | None = None,
        force: bool = False,
        dry_run: bool = False,
        safety_snapshot: bool = True,
        progress: bool = False,
    ) -> RestoreResult:
        """Make ``target`` (default: the configured source, local or remote) identical
        to this snapshot with the transport's restore command
        (:class:`~dssframe.core.transport.RestoringTransport`).

        When the target is the source: a safety snapshot of its current state is taken
        first through the normal create path (unless ``safety_snapshot=False``);
        without one, the restore refuses when the source differs from the current
        snapshot unless ``force``; afterwards this snapshot is current, so the next
        snapshot links against it. Another target that exists and is not empty is
        only overwritten with ``force``. ``dry_run`` lists what would be created,
        changed and deleted, and does nothing.
        """
        from dssframe.engine.restore import restore

        return restore(self, target, force, dry_run, safety_snapshot, progress)


# --- XML -----------------------------------------------------------------------------

_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


def _xml_safe(text: str) -> str:
    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _XML_BAD.sub(escape, text)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _xml_safe(str(value))


def description_xml(doc: dict[str, Any]) -> str:
    """The XML form of a description document (layout in the module docstring)."""
    import xml.etree.ElementTree as ET

    root = ET.Element("snapshot", schema=str(doc.get("schema", metadata.SCHEMA_VERSION)))

    def leaf(tag: str, value: Any) -> None:
        if value is not None:
            ET.SubElement(root, tag).text = _text(value)

    for key in ("name", "path", "state", "creation", "completion", "duration", "interval",
                "current"):
        leaf(key, doc.get(key))
    pin = doc.get("pin")
    if pin:
        attributes = {k: _text(v) for k, v in pin.items() if v is not None and k != "note"}
        note = pin.get("note")
        ET.SubElement(root, "pin", attributes).text = _text(note) if note else None
    parent = doc.get("parent")
    if parent:
        element = ET.SubElement(
            root, "parent", creation=str(parent["creation"]),
            inferred=_text(bool(parent.get("inferred"))),
        )
        element.text = _text(parent["name"])
    reference = doc.get("reference")
    if reference:
        ET.SubElement(root, "reference", creation=str(reference["creation"])).text = _text(
            reference["name"]
        )
    kids = ET.SubElement(root, "children")
    for child in doc.get("children", []):
        ET.SubElement(kids, "child", creation=str(child["creation"])).text = _text(child["name"])
    meta = doc.get("metadata") or {}
    element = ET.SubElement(
        root, "metadata", status=_text(meta.get("status", "missing")),
        path=_text(meta.get("path", "")),
    )
    if meta.get("problem"):
        element.text = _text(meta["problem"])
    for key in ("origin", "note", "source", "source_host", "source_user", "transport",
                "dss_host", "dss_user", "exit_status", "message", "checksum", "written"):
        leaf(key, doc.get(key))
    for group, tag in (("stats", "stat"), ("versions", "version"), ("plugins", "plugin")):
        if group in doc:
            parent_element = ET.SubElement(root, group)
            for name, value in sorted((doc.get(group) or {}).items()):
                ET.SubElement(parent_element, tag, name=_text(name)).text = _text(value)
    if "restores" in doc:
        restores = ET.SubElement(root, "restores")
        for record in doc.get("restores") or []:
            attributes = {
                k: _text(v)
                for k, v in record.items()
                if v is not None and not isinstance(v, list) and _XML_NAME.match(k)
            }
            element = ET.SubElement(restores, "restore", attributes)
            for path in record.get("paths") or []:  # a restore of chosen paths
                ET.SubElement(element, "path").text = _text(path)
    ET.indent(root, space=" ")
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


__all__ = [
    "AdoptResult",
    "Change",
    "DeleteResult",
    "RestoreResult",
    "Snapshot",
    "SnapshotNotFound",
    "SnapshotStore",
]
