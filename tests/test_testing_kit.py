"""The fixtures dssframe.testing offers plugin authors, used as an author would."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from dssframe import hookimpl
from dssframe.core import naming
from dssframe.core.config import Config
from dssframe.core.events import Event, EventKind
from dssframe.plugins.host import PluginHost
from dssframe.testing import HookRecorder


class Veto:
    @hookimpl
    def dssframe_pre_create(self, config: Config, destination: str) -> str | None:
        return "database dump still running"


def test_register_a_plugin_and_record_what_the_host_says(
    dss_register_plugin: Callable[..., PluginHost], dss_hook_recorder: HookRecorder
) -> None:
    host = dss_register_plugin(Veto(), name="veto")
    config = Config(dest_dir="/backup")
    assert host.veto_create(config, "/backup/1-incomplete") == "database dump still running"
    host.notify(Event(EventKind.SNAPSHOT_CREATED, 5, snapshot="x"))
    assert [e.snapshot for e in dss_hook_recorder.events()] == ["x"]
    assert ("dssframe_pre_create", {"config": config, "destination": "/backup/1-incomplete"}) \
        in dss_hook_recorder.calls


def test_a_retention_registered_through_the_kit(
    dss_register_plugin: Callable[..., PluginHost],
) -> None:
    class Nothing:
        name = "nothing"

        def __init__(self, config: Config) -> None:
            pass

        def interval(self, snapshot: naming.SnapshotName, now: int) -> None:
            return None

        def plan(self, snapshots: object, now: int, protected: frozenset[int]) -> list[object]:
            return []

    plugin = SimpleNamespace(
        dssframe_register_retention=hookimpl(lambda register: register("nothing", Nothing))
    )
    host = dss_register_plugin(plugin, name="nothing-plugin")
    assert "nothing" in host.retention_names()
    assert host.retention(Config(retention="nothing")).plan([], 0, frozenset()) == []


def test_dss_cli_runs_the_real_command(
    dss_cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    result = dss_cli("--dest-dir", str(tmp_path), "ls")
    assert result.returncode == 0 and result.stdout == ""
    assert dss_cli("--num-intervals", "99", "ls").returncode == 2



def test_snapshot_created_event_carries_rsync_statistics(
    dss_plugin_host: PluginHost, dss_hook_recorder: HookRecorder, tmp_path: Path
) -> None:
    from dssframe.engine.job import Job
    from dsstest import make_tree, require_tool

    require_tool("rsync")
    source, dest = make_tree(tmp_path / "src"), tmp_path / "dest"
    dest.mkdir()
    config = Config(source_dir=f"{source}/", dest_dir=str(dest))
    Job.from_config(config, dss_plugin_host).create()
    created = [e for e in dss_hook_recorder.events() if e.kind is EventKind.SNAPSHOT_CREATED]
    assert len(created) == 1
    stats = created[0].stats
    assert stats["checksum"] is False
    assert stats["files"] >= 5 and stats["total_size"] > 5000, stats
