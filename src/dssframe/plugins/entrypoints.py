"""Finding the installed distributions' entry points of one group, cheaply.

``importlib.metadata`` would do the same but costs about 20 ms of imports (email,
zipfile, csv, ...) on every ``dss create`` -- a third of the whole start-up budget. This
reads the same files the packaging specification defines: ``entry_points.txt`` inside
each ``*.dist-info`` / ``*.egg-info`` directory on ``sys.path``, first one per
distribution wins (as with importlib.metadata).
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import NamedTuple


class EntryPoint(NamedTuple):
    name: str
    value: str  # "module" or "module:attribute.path"
    distribution: str
    version: str | None

    def load(self) -> ModuleType:
        import importlib

        module_name, _, attribute = self.value.partition(":")
        target = importlib.import_module(module_name.strip())
        for part in filter(None, attribute.strip().split(".")):
            target = getattr(target, part)
        return target


def _normalize(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _metadata(info_dir: str) -> tuple[str | None, str | None]:
    """Name and Version headers of a dist-info/egg-info directory."""
    name = version = None
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(info_dir, filename), encoding="utf-8") as handle:
                for line in handle:
                    if not line.strip():
                        break  # end of the headers
                    key, _, value = line.partition(":")
                    if key == "Name":
                        name = value.strip()
                    elif key == "Version":
                        version = value.strip()
            return name, version
        except OSError:
            continue
    return name, version


def _group_entries(text: str, group: str) -> list[tuple[str, str]]:
    entries = []
    in_group = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            in_group = line == f"[{group}]"
            continue
        if in_group and "=" in line:
            name, _, value = line.partition("=")
            entries.append((name.strip(), value.strip()))
    return entries


def entry_points(group: str, path: list[str] | None = None) -> list[EntryPoint]:
    """Every entry point of ``group`` found on ``path`` (default ``sys.path``)."""
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for entry in sys.path if path is None else path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for dirname in names:
            stem, dot, suffix = dirname.rpartition(".")
            if not dot or suffix not in ("dist-info", "egg-info"):
                continue
            key = _normalize(stem.split("-")[0])
            if key in seen:
                continue
            seen.add(key)
            info_dir = os.path.join(entry or ".", dirname)
            try:
                with open(os.path.join(info_dir, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            entries = _group_entries(text, group)
            if not entries:
                continue
            name, version = _metadata(info_dir)
            for ep_name, value in entries:
                found.append(EntryPoint(ep_name, value, name or stem.split("-")[0], version))
    return found
