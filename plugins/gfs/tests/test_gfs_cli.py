"""End to end: ``dss prune`` with retention "gfs" on a real destination directory."""

from __future__ import annotations

import calendar
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from dssframe.core import naming

RunDss = Callable[..., subprocess.CompletedProcess[str]]  # the run_dss fixture


def at(y: int, mo: int, d: int, h: int) -> int:
    return calendar.timegm((y, mo, d, h, 0, 0, 0, 0, 0))


# (creation, kept?) -- keep-daily 3, keep-weekly 2, keep-monthly 2, in UTC
SNAPSHOTS = [
    (at(2023, 5, 1, 10), True),  # monthly: June and May are used up -> the oldest
    (at(2023, 5, 20, 10), True),  # weekly #2 (W20)
    (at(2023, 5, 27, 9), False),
    (at(2023, 5, 28, 9), False),
    (at(2023, 5, 28, 18), True),  # weekly #1 (W21; W22 is used up by daily)
    (at(2023, 5, 29, 8), True),  # daily #3
    (at(2023, 5, 30, 8), False),
    (at(2023, 5, 30, 20), True),  # daily #2
    (at(2023, 6, 1, 7), True),  # daily #1
]
CONFIG = """\
retention = "gfs"

[plugins.gfs]
keep-daily = 3
keep-weekly = 2
keep-monthly = 2
"""


def populate(dest: Path) -> dict[str, bool]:
    names = {}
    for creation, keep in SNAPSHOTS:
        name = naming.complete_name(creation, creation + 300)
        (dest / name).mkdir()
        names[name] = keep
    (dest / "lost+found").mkdir()  # not a snapshot: never touched
    return names


def test_prune_keeps_exactly_what_the_rules_keep(run_dss: RunDss, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    names = populate(dest)
    config = tmp_path / "dss.toml"
    config.write_text(CONFIG)
    doomed = {name for name, keep in names.items() if not keep}
    before = sorted(os.listdir(dest))

    dry = run_dss("--config", str(config), "--dest-dir", str(dest), "--dry-run", "prune")
    assert dry.returncode == 0, dry.stderr
    lines = [line for line in dry.stdout.splitlines() if line.startswith("would remove ")]
    assert {line.split()[2].rstrip(":") for line in lines} == doomed
    assert all("not kept by any rule" in line for line in lines)
    assert sorted(os.listdir(dest)) == before

    real = run_dss("--config", str(config), "--dest-dir", str(dest), "prune")
    assert real.returncode == 0, real.stderr
    assert sorted(set(os.listdir(dest)) - {".dssframe"}) == sorted(  # the lock lives there
        [name for name, keep in names.items() if keep] + ["lost+found"]
    )

    again = run_dss("--config", str(config), "--dest-dir", str(dest), "prune")
    assert again.returncode == 0, again.stderr
    assert "nothing to remove" in again.stderr


def test_a_config_that_would_remove_everything_is_refused(
    run_dss: RunDss, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    populate(dest)
    before = sorted(os.listdir(dest))
    config = tmp_path / "dss.toml"
    config.write_text('retention = "gfs"\n[plugins.gfs]\nkeep-daily = 0\n')
    result = run_dss("--config", str(config), "--dest-dir", str(dest), "prune")
    assert result.returncode == 2
    assert "every rule is 0" in result.stderr
    assert sorted(os.listdir(dest)) == before
