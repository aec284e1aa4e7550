"""Pins: snapshots the removal gate never lets go, for a while or until unpinned.

One small JSON document per pinned snapshot, beside the metadata and never inside the
snapshot: ``<dest>/.dssframe/pins/<creation>.json`` with ``creation``, ``name``,
``until`` (epoch, or null: until ``dss unpin``), ``note``, ``pinned_at`` and ``by``
(``user@host``). Written atomically; the creation epoch is the key, as for metadata.
A pin whose ``until`` has passed is no longer active (it is listed as expired and
``dss unpin`` removes it). A document that cannot be read counts as a pin without an
end: when in doubt, keep the snapshot.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import NamedTuple

PINS_DIR = os.path.join(".dssframe", "pins")
SUFFIX = ".json"


class Pin(NamedTuple):
    """One pin: which snapshot, until when (None: until unpinned), why, since when, by whom."""

    creation: int
    name: str
    until: int | None
    note: str | None = None
    pinned_at: int | None = None
    by: str | None = None

    def active(self, now: int) -> bool:
        return self.until is None or self.until > now

    def to_json(self) -> dict[str, object]:
        """What ``ls --json`` and ``describe`` show of a pin."""
        return {"until": self.until, "note": self.note, "pinned_at": self.pinned_at,
                "by": self.by}


def pins_dir(dest_dir: str) -> str:
    return os.path.join(dest_dir, PINS_DIR)


def pin_path(dest_dir: str, creation: int) -> str:
    return os.path.join(pins_dir(dest_dir), f"{creation}{SUFFIX}")


def read_pins(dest_dir: str) -> dict[int, Pin]:
    """Every pin document of ``dest_dir`` (active or expired), by creation epoch."""
    try:
        names = os.listdir(pins_dir(dest_dir))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    found: dict[int, Pin] = {}
    for file_name in names:
        stem = file_name.removesuffix(SUFFIX)
        if not file_name.endswith(SUFFIX) or not stem.isascii() or not stem.isdigit():
            continue
        creation = int(stem)
        found[creation] = _load(pin_path(dest_dir, creation), creation)
    return found


def _load(path: str, creation: int) -> Pin:
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        until = data.get("until")
        return Pin(
            creation,
            str(data.get("name") or creation),
            None if until is None else int(until),
            None if data.get("note") is None else str(data["note"]),
            None if data.get("pinned_at") is None else int(data["pinned_at"]),
            None if data.get("by") is None else str(data["by"]),
        )
    except (OSError, ValueError, TypeError, AttributeError):
        return Pin(creation, str(creation), None, "unreadable pin document: kept pinned")


def active(pins: Mapping[int, Pin], now: int) -> frozenset[int]:
    """Creation epochs with a pin in force at ``now`` (pure)."""
    return frozenset(c for c, p in pins.items() if p.active(now))


def active_pins(dest_dir: str, now: int) -> frozenset[int]:
    return active(read_pins(dest_dir), now)


def write_pin(dest_dir: str, pin: Pin) -> str:
    """Write (or replace) ``pin``; its path. Raises OSError."""
    from dssframe.store.atomic import write_json_atomically

    path = pin_path(dest_dir, pin.creation)
    write_json_atomically(path, pin._asdict())
    return path


def pin(dest_dir: str, new: Pin) -> str:
    """Pin a snapshot: write its document under the destination's removal lock, so
    that a removal already decided elsewhere either happened before (the snapshot is
    gone: an error) or sees the pin."""
    from dssframe.core.errors import SnapshotError
    from dssframe.store.destination import Destination

    store = Destination(os.path.abspath(dest_dir))
    with store.removal_lock():
        if not os.path.isdir(store.path(new.name)) or os.path.islink(store.path(new.name)):
            raise SnapshotError(f"{new.name} no longer exists in {store.dest_dir}")
        return write_pin(store.dest_dir, new)


def parse_end(for_: str | None, until: str | None, now: int) -> int | None:
    """The end of a pin from ``--for DURATION`` or ``--until DATE`` (None: no end)."""
    from dssframe.core.errors import UsageError

    if for_ is not None:
        from dssframe.core.durations import parse_duration

        try:
            return now + parse_duration(for_)
        except ValueError as exc:
            raise UsageError(f"--for {for_!r}: {exc}") from None
    if until is None:
        return None
    text = until.strip()
    if text.isascii() and text.isdigit():
        end = int(text)
    else:
        import time

        for layout in ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"):
            try:
                end = int(time.mktime(time.strptime(text, layout)))
                break
            except ValueError:
                continue
        else:
            raise UsageError(
                f"--until {until!r}: expected YYYY-MM-DD, 'YYYY-MM-DD HH:MM' or an epoch"
            )
    if end <= now:
        raise UsageError(f"--until {until!r} is not in the future")
    return end


def who() -> str:
    """``user@host`` of this process (recorded in a pin)."""
    from dssframe.store.lock import local_identity

    host, user = local_identity()
    return f"{user}@{host}"


def remove_pin(dest_dir: str, creation: int) -> bool:
    """Drop the pin of ``creation``; False when there was none."""
    try:
        os.unlink(pin_path(dest_dir, creation))
    except FileNotFoundError:
        return False
    return True


def describe(pin: Pin, now: int) -> str:
    """``pinned until 2027-01-01 12:00 UTC: note`` (or ``expired``/``pinned`` without end)."""
    import time

    if pin.until is None:
        text = "pinned"
    else:
        when = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(pin.until))
        text = f"pinned until {when}" if pin.until > now else f"pin expired {when}"
    return f"{text}: {pin.note}" if pin.note else text


def for_creations(pins: Mapping[int, Pin], creations: Iterable[int], now: int) -> dict[int, Pin]:
    """The active pins among ``creations``."""
    return {c: pins[c] for c in creations if c in pins and pins[c].active(now)}
