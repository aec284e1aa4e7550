"""The fixtures dssframe.testing offers plugin authors, used as an author would; and the
kit's own promises: the recorder records every hook, ``dss_config`` is the real loader
with the plugin defaults applied, ``dss_make_snapshots`` makes what dss makes, the
examples of CONTRIBUTING.md and docs/testing.md pass, and ``dss`` never imports the kit."""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from dssframe import hookimpl
from dssframe.core import naming
from dssframe.core.config import Config
from dssframe.core.errors import ConfigError
from dssframe.core.events import Event, EventKind
from dssframe.plugins import hookspecs
from dssframe.plugins.host import PluginHost
from dssframe.testing import HookRecorder, hookspec_names

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "dss-example"
MakeSnapshots = Callable[..., list[naming.SnapshotName]]
MakeConfig = Callable[..., Config]


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


# --- the hook recorder ---------------------------------------------------------------------


def test_the_recorder_implements_every_hookspec_with_its_parameters() -> None:
    host = PluginHost()
    recorder = HookRecorder()
    host.register_module(recorder, "recorder", "test", None, None)
    host.finish()
    assert sorted(host.hook_names(host.infos[-1])) == sorted(hookspec_names())
    for name in hookspec_names():
        spec = list(inspect.signature(getattr(hookspecs, name)).parameters)
        assert list(inspect.signature(getattr(recorder, name)).parameters) == spec, name


def test_the_recorder_changes_nothing(
    dss_plugin_host: PluginHost, dss_hook_recorder: HookRecorder, dss_config: MakeConfig
) -> None:
    config = dss_config(dest_dir="/backup")
    assert dss_plugin_host.veto_create(config, "/backup/1-incomplete") is None
    assert dss_plugin_host.veto_remove(config, "/backup/1-2.x") is None
    assert "rsync" in dss_plugin_host.transport_names()
    assert dss_hook_recorder.calls_to("dssframe_pre_remove") == [
        {"config": config, "path": "/backup/1-2.x"}
    ]
    assert {"dssframe_pre_create", "dssframe_register_transports"} <= (
        dss_hook_recorder.hooks_called()
    )


def test_a_transport_registered_through_the_kit(
    dss_register_plugin: Callable[..., PluginHost], dss_config: MakeConfig
) -> None:
    class Echo:
        name = "echo"

        def __init__(self, config: Config) -> None:
            self.config = config

    class Plugin:
        @hookimpl
        def dssframe_register_transports(self, register: Callable[..., None]) -> None:
            register("echo", Echo)

    host = dss_register_plugin(Plugin(), name="echo-plugin")
    assert "echo" in host.transport_names()
    config = dss_config(transport="echo")
    transport = host.transport(config)
    assert isinstance(transport, Echo) and transport.config is config


# --- dss_config --------------------------------------------------------------------------------


def example_module(name: str) -> ModuleType:
    """A module of the example distribution (docs/examples/dss-example), imported fresh."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dss_config_fills_in_the_plugin_defaults(
    dss_register_plugin: Callable[..., PluginHost], dss_config: MakeConfig
) -> None:
    """The guide's own example: a bare Config has no [plugins.keepnewest] table; the
    host fills in the declared defaults (as the loader does), the loader checks values."""
    host = dss_register_plugin(example_module("keepnewest"))
    assert host.retention(Config(retention="keep-newest")).count == 10  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="count"):
        dss_config(retention="keep-newest", plugins={"keepnewest": {"count": "ten"}})
    config = dss_config(retention="keep-newest")
    assert config.plugins["keepnewest"] == {"count": 10}
    assert host.retention(config).count == 10  # type: ignore[attr-defined]
    chosen = dss_config(retention="keep-newest", plugins={"keepnewest": {"count": 3}})
    assert host.retention(chosen).count == 3  # type: ignore[attr-defined]


def test_dss_config_checks_like_the_loader(
    dss_register_plugin: Callable[..., PluginHost], dss_config: MakeConfig, tmp_path: Path
) -> None:
    dss_register_plugin(example_module("keepnewest"))
    config = dss_config(dest_dir=tmp_path, num_intervals=3, unit_interval="6h", notify=[])
    assert (config.dest_dir, config.num_intervals, config.unit_interval) == (
        str(tmp_path), 3, 6 * 3600,
    )  # fmt: skip
    assert config.path is not None and config.path.endswith(".toml")
    with pytest.raises(ConfigError, match="num-intervals"):
        dss_config(num_intervals=99)
    with pytest.raises(ConfigError, match="unknown option 'no-such-option'"):
        dss_config(no_such_option=1)
    with pytest.raises(ConfigError, match=r"\[plugins.keepnewest\] count: expected int"):
        dss_config(plugins={"keepnewest": {"count": "many"}})
    with pytest.raises(ConfigError, match="unknown key 'cont'"):
        dss_config(plugins={"keepnewest": {"cont": 1}})


# --- dss_make_snapshots ------------------------------------------------------------------------


def test_dss_make_snapshots_makes_what_dss_makes(
    dss_make_snapshots: MakeSnapshots, tmp_path: Path
) -> None:
    from dssframe.api import list_snapshots
    from dssframe.store import metadata

    dest = tmp_path / "dest"
    made = dss_make_snapshots(
        dest, [3000, 1000, (2000, 2500), (4000, None)], files={"a/b.txt": "x", "c": b"\0"}
    )
    assert [s.name for s in made] == [
        naming.complete_name(1000, 1060),
        naming.complete_name(2000, 2500),
        naming.complete_name(3000, 3060),
        naming.incomplete_name(4000),
    ]
    assert [s.state for s in made][-1] is naming.State.INCOMPLETE
    assert list_snapshots(str(dest)) == made
    assert (dest / made[0].name / "a" / "b.txt").read_text() == "x"
    documents = [metadata.load(str(dest), s.creation).metadata for s in made]
    assert all(documents)
    first, second, third, fourth = documents
    assert first is not None and second is not None and third is not None
    assert fourth is not None
    assert first.parent is None and first.stats == {"files": 4}  # top, a, a/b.txt, c
    assert second.parent == metadata.Link(1000, made[0].name)
    assert third.parent == metadata.Link(2000, made[1].name)
    assert fourth.state == "incomplete" and fourth.parent == metadata.Link(3000, made[2].name)
    with pytest.raises(ValueError, match="not after creation"):
        dss_make_snapshots(dest, [(5000, 5000)])
    assert dss_make_snapshots(tmp_path / "bare", [10], metadata=False)[0].creation == 10
    assert not (tmp_path / "bare" / ".dssframe").exists()


def test_dss_make_snapshots_feed_the_real_dss(
    dss_make_snapshots: MakeSnapshots, dss_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:  # fmt: skip
    now = int(time.time())
    made = dss_make_snapshots(tmp_path / "dest", [now - 7200, now - 3600])
    listing = dss_cli("--dest-dir", str(tmp_path / "dest"), "ls", check=True)
    assert [line.split()[1] for line in listing.stdout.splitlines()] == [s.name for s in made]
    described = dss_cli("--dest-dir", str(tmp_path / "dest"), "describe", made[1].name,
                        "--format", "json", check=True)  # fmt: skip
    assert '"origin": "created"' in described.stdout and made[0].name in described.stdout


# --- the guide's examples, and the kit's isolation from dss ------------------------------------


def guide_tests(path: Path) -> dict[str, str]:
    """The ``# test_*.py`` code blocks of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return dict(re.findall(r"```python\n# (test_\w+\.py)\n(.*?)```", text, re.S))


def test_the_testing_examples_pass(tmp_path: Path) -> None:
    """CONTRIBUTING.md's examples, beside the example plugins, run by pytest as in an
    author's project (the kit is active through its pytest11 entry point)."""
    examples = guide_tests(ROOT / "CONTRIBUTING.md")
    assert set(examples) == {"test_keepnewest.py", "test_eventlog.py"}
    assert guide_tests(ROOT / "docs" / "testing.md") == examples
    for module in ("keepnewest.py", "eventlog.py"):
        shutil.copy(EXAMPLE / module, tmp_path / module)
    for name, body in examples.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout, result.stdout


def test_dss_never_imports_the_testing_kit(tmp_path: Path) -> None:
    for args in (["--dest-dir", str(tmp_path), "ls"], ["plugins"], ["--help"]):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "dssframe", *args],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
        assert "dssframe.testing" not in imported, args
        assert "pytest" not in imported and "_pytest" not in imported, args
        assert "dssframe.cli.entry" in imported or "dssframe.cli.app" in imported, args
