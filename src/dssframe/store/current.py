"""The snapshot a restore made *current*: ``<dest>/.dssframe/current.json``.

After ``dss restore``, the restored snapshot -- not the newest one -- is what the next
``dss create`` copies against (its reference), so the snapshot tree branches there.
The marker applies until a snapshot completes after the restore. ``dss create`` reads
it before rsync starts, so this module is small and imports nothing heavy; the
metadata documents themselves live in :mod:`dssframe.store.metadata`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

#: Relative to the destination directory (the directory :mod:`dssframe.store.metadata` uses).
CURRENT_FILE = os.path.join(".dssframe", "current.json")


class Current(NamedTuple):
    """The snapshot a restore made current, and when (``restored_at``): it stays
    current until a snapshot completes after that moment."""

    creation: int
    name: str
    restored_at: int
    target: str | None = None


def current_path(dest_dir: str) -> str:
    return os.path.join(dest_dir, CURRENT_FILE)


def read_current(dest_dir: str) -> Current | None:
    """The marker of ``dest_dir``; None when there is none or it is unreadable."""
    try:
        with open(current_path(dest_dir), encoding="utf-8") as handle:
            import json  # only after a restore is there a marker to parse

            data = json.load(handle)
        return Current(
            int(data["creation"]),
            str(data["name"]),
            int(data["restored_at"]),
            None if data.get("target") is None else str(data["target"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_current(dest_dir: str, current: Current) -> None:
    """Replace the marker of ``dest_dir`` atomically."""
    from dssframe.store.atomic import write_json_atomically

    write_json_atomically(current_path(dest_dir), current._asdict())


def current_creation(
    marker: Current | None, complete: Iterable[tuple[int, int | None]]
) -> int | None:
    """The creation epoch the marker makes current, or None when it no longer applies.

    ``complete`` holds (creation, completion) of every complete snapshot. The marker
    applies while its snapshot exists and no snapshot completed after the restore
    (pure).
    """
    if marker is None:
        return None
    found = False
    for creation, completion in complete:
        if completion is not None and completion > marker.restored_at:
            return None
        found = found or creation == marker.creation
    return marker.creation if found else None
