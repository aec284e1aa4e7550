"""End to end: real ``dss create`` runs (real rsync) keep the textfile up to date,
across processes."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dssframe.core import naming

if TYPE_CHECKING:
    from plugins.prometheus.tests.conftest import Metrics

RunDss = Callable[..., subprocess.CompletedProcess[str]]  # the run_dss fixture


def test_create_runs_update_the_textfile(
    run_dss: RunDss, read_metrics: Callable[[Path], Metrics], tmp_path: Path
) -> None:
    if shutil.which("rsync") is None:
        if os.environ.get("CI"):
            pytest.fail("rsync is not installed (CI must install it)")
        pytest.skip("rsync is not installed")
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("alpha\n")
    (source / "sub" / "b.bin").write_bytes(os.urandom(2000))
    dest = tmp_path / "dest"
    dest.mkdir()
    textfile = tmp_path / "textfile" / "dss.prom"
    textfile.parent.mkdir()
    common = (f'source-dir = "{source}/"\ndest-dir = "{dest}"\n'
              f'min-free-mb = 1\nmin-free-percent = 0\nnotify = ["prometheus"]\n')
    table = f'[plugins.prometheus]\ntextfile = "{textfile}"\n'
    good = tmp_path / "good.toml"
    good.write_text(common + table)
    fake = tmp_path / "fake-rsync"
    fake.write_text("#!/bin/sh\nexit 12\n")
    fake.chmod(0o755)
    bad = tmp_path / "bad.toml"
    bad.write_text(common + f'rsync-path = "{fake}"\n' + table)
    d = str(dest)

    first = run_dss("--config", str(good), "create")
    assert first.returncode == 0, first.stderr
    [name] = [entry for entry in os.listdir(dest) if not entry.startswith(".")]
    snapshot = naming.parse(name)
    assert snapshot is not None and snapshot.complete
    m = read_metrics(textfile)
    assert m.value("snapshots", d, state="complete") == 1
    assert m.value("snapshots", d, state="incomplete") == 0
    assert m.value("newest_snapshot_timestamp_seconds", d) == snapshot.creation
    assert m.value("last_create_exit_status", d) == 0
    assert m.value("last_create_success", d) == 1
    assert m.value("last_create_duration_seconds", d) >= 1  # completion > creation
    assert m.value("consecutive_create_failures", d) == 0
    assert m.value("min_free_bytes", d) == 1 << 20
    assert m.value("disk_space_low", d) in (0, 1)

    for count in (1, 2):  # two failing processes in a row
        failed = run_dss("--config", str(bad), "create")
        assert failed.returncode == 1
        m = read_metrics(textfile)
        assert m.value("consecutive_create_failures", d) == count
        assert m.value("last_create_exit_status", d) == 12
        assert m.value("last_create_success", d) == 0
        assert m.value("snapshots", d, state="incomplete") == 1
        assert m.value("newest_snapshot_timestamp_seconds", d) == snapshot.creation

    last = run_dss("--config", str(good), "create")  # resumes the incomplete one
    assert last.returncode == 0, last.stderr
    m = read_metrics(textfile)
    assert m.value("consecutive_create_failures", d) == 0
    assert m.value("snapshots", d, state="complete") == 2
    assert m.value("snapshots", d, state="incomplete") == 0
    assert m.value("newest_snapshot_timestamp_seconds", d) > snapshot.creation
    assert sorted(p.name for p in textfile.parent.iterdir()) == [".dss.prom.state.json",
                                                                 "dss.prom"]
