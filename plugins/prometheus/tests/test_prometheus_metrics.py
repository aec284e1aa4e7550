"""The textfile: every metric, persistence across processes, atomic replacement."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import dssframe_prometheus
import pytest
from dssframe_prometheus import dssframe_event
from dssframe_prometheus.metrics import MIB, escape

from dssframe.core import naming
from dssframe.core.config import Config
from dssframe.core.errors import ConfigError
from dssframe.core.events import Event, EventKind
from dssframe.plugins.host import load_host

if TYPE_CHECKING:  # the fixture's type; conftest is not imported at run time
    from plugins.prometheus.tests.conftest import Metrics

Read = Callable[[Path], "Metrics"]
T0 = 1_700_000_000


def setup(tmp_path: Path, dest_name: str = "dest", **options: object) -> tuple[Path, Path]:
    dest = tmp_path / dest_name
    dest.mkdir()
    textfile = tmp_path / "collector" / "dss.prom"
    textfile.parent.mkdir()
    config = Config(dest_dir=str(dest), plugins={"prometheus": {"textfile": str(textfile)}},
                    **options)  # type: ignore[arg-type]
    dssframe_prometheus.configure(config)
    return dest, textfile


def populate(dest: Path) -> list[int]:
    """Two complete snapshots, one incomplete, one being deleted; their creations."""
    names = [naming.complete_name(T0, T0 + 30), naming.complete_name(T0 + 100, T0 + 160),
             naming.incomplete_name(T0 + 200), f"{T0 - 50}-{T0 - 20}.being_deleted"]
    for name in names:
        (dest / name).mkdir()
    (dest / "junk").mkdir()
    return [T0, T0 + 100]


def event(dest: Path, kind: EventKind, **fields: object) -> Event:
    return Event(kind, T0 + 300, destination=str(dest), **fields)  # type: ignore[arg-type]


def test_every_metric_after_a_created_snapshot(tmp_path: Path, read_metrics: Read) -> None:
    dest, textfile = setup(tmp_path)
    populate(dest)
    d = str(dest)
    dssframe_event(event(dest, EventKind.SNAPSHOT_CREATED, snapshot="x", duration=60.0,
                         exit_status=24))
    m = read_metrics(textfile)
    for family in m.families.values():
        assert family.name.startswith("dssframe_")
        assert family.type == "gauge" and family.documentation
        assert all(sample.labels["dest"] == d for sample in family.samples)
    for line in m.text.splitlines():
        if not line.startswith("#"):
            name = line.split("{", 1)[0]
            assert f"# HELP {name} " in m.text and f"# TYPE {name} gauge" in m.text
    assert m.value("snapshots", d, state="complete") == 2
    assert m.value("snapshots", d, state="incomplete") == 1
    assert m.value("snapshots", d, state="complete-being-deleted") == 1
    assert m.value("snapshots", d, state="incomplete-being-deleted") == 0
    assert m.value("newest_snapshot_timestamp_seconds", d) == T0 + 100
    assert m.value("newest_snapshot_completion_timestamp_seconds", d) == T0 + 160
    assert m.value("oldest_snapshot_timestamp_seconds", d) == T0
    assert m.value("last_create_duration_seconds", d) == 60.0
    assert m.value("last_create_exit_status", d) == 24
    assert m.value("last_create_success", d) == 1
    assert m.value("last_create_timestamp_seconds", d) == T0 + 300
    assert m.value("consecutive_create_failures", d) == 0
    assert m.value("last_event_timestamp_seconds", d, kind="snapshot-created") == T0 + 300


def test_consecutive_failures_survive_the_process(tmp_path: Path, read_metrics: Read) -> None:
    dest, textfile = setup(tmp_path)
    d = str(dest)
    failed = event(dest, EventKind.CREATE_FAILED, duration=3.0, exit_status=12, error="x")
    dssframe_event(failed)
    dssframe_event(failed)
    dssframe_event(event(dest, EventKind.CREATE_STARTED))  # not a result: no change
    assert read_metrics(textfile).value("consecutive_create_failures", d) == 2
    # a new process: only the files remain
    dssframe_prometheus.forget_jobs()
    setup_again = Config(dest_dir=d, plugins={"prometheus": {"textfile": str(textfile)}})
    dssframe_prometheus.configure(setup_again)
    dssframe_event(failed)
    m = read_metrics(textfile)
    assert m.value("consecutive_create_failures", d) == 3
    assert m.value("last_create_success", d) == 0
    assert m.value("last_create_exit_status", d) == 12
    assert not m.has("newest_snapshot_timestamp_seconds"), "no complete snapshot yet"
    dssframe_event(event(dest, EventKind.SNAPSHOT_CREATED, duration=5.0, exit_status=0))
    assert read_metrics(textfile).value("consecutive_create_failures", d) == 0


def test_free_space_against_the_thresholds(tmp_path: Path, read_metrics: Read) -> None:
    dest, textfile = setup(tmp_path, min_free_mb=100, min_free_percent=2,
                           min_free_percent_inodes=0)
    d = str(dest)
    dssframe_event(event(dest, EventKind.DISK_SPACE_LOW))
    st = os.statvfs(dest)
    m = read_metrics(textfile)
    block = st.f_frsize or st.f_bsize
    assert m.value("filesystem_size_bytes", d) == st.f_blocks * block
    assert abs(m.value("filesystem_avail_bytes", d) - st.f_bavail * block) < 64 * MIB
    assert 0 <= m.value("filesystem_avail_ratio", d) <= 1
    assert 0 <= m.value("filesystem_files_avail_ratio", d) <= 1
    assert m.value("min_free_bytes", d) == 100 * MIB
    assert m.value("min_free_ratio", d) == 0.02
    assert m.value("min_free_files_ratio", d) == 0
    low = m.value("filesystem_avail_bytes", d) < 100 * MIB or \
        m.value("filesystem_avail_ratio", d) < 0.02
    assert m.value("disk_space_low", d) == low

    dssframe_prometheus.forget_jobs()
    textfile.unlink()
    huge = Config(dest_dir=d, min_free_mb=10**12,
                  plugins={"prometheus": {"textfile": str(textfile)}})
    dssframe_prometheus.configure(huge)
    dssframe_event(event(dest, EventKind.DISK_SPACE_LOW))
    assert read_metrics(textfile).value("disk_space_low", d) == 1
    off = Config(dest_dir=d, min_free_mb=0, min_free_percent=0,
                 plugins={"prometheus": {"textfile": str(textfile)}})
    dssframe_prometheus.configure(off)
    dssframe_event(event(dest, EventKind.DISK_SPACE_LOW))
    assert read_metrics(textfile).value("disk_space_low", d) == 0


def test_the_file_is_replaced_atomically(tmp_path: Path) -> None:
    dest, textfile = setup(tmp_path)
    textfile.write_text("old\n")
    old_inode = textfile.stat().st_ino
    dssframe_event(event(dest, EventKind.SNAPSHOT_REMOVED, snapshot="x", reason="outdated"))
    assert textfile.stat().st_ino != old_inode, "a new file, renamed over the old one"
    assert stat.S_IMODE(textfile.stat().st_mode) == 0o644
    assert sorted(p.name for p in textfile.parent.iterdir()) == [".dss.prom.state.json",
                                                                 "dss.prom"]


def test_labels_are_escaped(tmp_path: Path, read_metrics: Read) -> None:
    dest, textfile = setup(tmp_path, dest_name='we"ird\\dir')
    dssframe_event(event(dest, EventKind.CREATE_STARTED))
    m = read_metrics(textfile)
    assert m.value("snapshots", str(dest), state="complete") == 0
    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_dry_runs_and_an_unconfigured_plugin_write_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    dssframe_event(event(dest, EventKind.SNAPSHOT_CREATED))
    dest2, textfile = setup(tmp_path, dest_name="dest2")
    dssframe_event(event(dest2, EventKind.SNAPSHOT_CREATED, dry_run=True))
    assert not textfile.exists()
    dssframe_prometheus.configure(Config(dest_dir=str(dest)))  # no textfile: off
    dssframe_event(event(dest, EventKind.SNAPSHOT_CREATED))
    assert not textfile.exists()


def test_a_write_failure_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dest, textfile = setup(tmp_path)
    textfile.parent.rename(tmp_path / "gone")
    dssframe_event(event(dest, EventKind.SNAPSHOT_CREATED))
    assert f"cannot write {textfile}" in caplog.text


def test_the_table_is_validated(tmp_path: Path) -> None:
    def configure(table: dict[str, object]) -> None:
        dssframe_prometheus.configure(Config(plugins={"prometheus": table}))

    with pytest.raises(ConfigError, match="unknown key 'text-file'"):
        configure({"text-file": "x.prom"})
    with pytest.raises(ConfigError, match="textfile: expected str"):
        configure({"textfile": 1})
    with pytest.raises(ConfigError, match=r"textfile: directory .*/nowhere does not exist"):
        configure({"textfile": str(tmp_path / "nowhere" / "dss.prom")})


def test_loaded_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_metrics: Read
) -> None:
    monkeypatch.setenv("DSSFRAME_PLUGINS", "prometheus")
    host = load_host()
    host.load_entry_points()
    dest = tmp_path / "dest"
    dest.mkdir()
    textfile = tmp_path / "dss.prom"
    settings = {"prometheus": {"textfile": str(textfile)}}
    host.configure(Config(dest_dir=str(dest), notify=("prometheus",), plugins=settings))
    host.notify(event(dest, EventKind.CREATE_FAILED, exit_status=23))
    assert read_metrics(textfile).value("consecutive_create_failures", str(dest)) == 1
