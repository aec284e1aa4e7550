"""Our entry-point scan agrees with importlib.metadata on the real installation."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points as stdlib_entry_points
from pathlib import Path

from dssframe.plugins.entrypoints import entry_points


def test_agrees_with_importlib_metadata_for_every_group_we_can_see() -> None:
    for group in ("dssframe", "console_scripts", "pytest11"):
        ours = sorted((ep.name, ep.value, ep.version) for ep in entry_points(group))
        theirs = sorted(
            (ep.name, ep.value, ep.dist.version if ep.dist else None)
            for ep in stdlib_entry_points(group=group)
        )
        assert ours == theirs, group


def test_first_distribution_on_the_path_wins_and_comments_are_ignored(tmp_path: Path) -> None:
    for root, version in ((tmp_path / "a", "2.0"), (tmp_path / "b", "1.0")):
        info = root / f"my_dist-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Name: my-dist\nVersion: {version}\n\nbody: x\n")
        (info / "entry_points.txt").write_text(
            "# comment\n[console_scripts]\nx = y\n\n[dssframe]\nmine = my_mod:attr.sub\n"
        )
    found = entry_points("dssframe", [str(tmp_path / "a"), str(tmp_path / "b")])
    assert [(e.name, e.value, e.distribution, e.version) for e in found] == [
        ("mine", "my_mod:attr.sub", "my-dist", "2.0")
    ]
    assert entry_points("dssframe", [str(tmp_path / "missing")]) == []
    assert sys.path  # the default path is sys.path
