"""The plugin host with real entry points (a dist-info on PYTHONPATH) and ``-p`` modules."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from dssframe.core import naming
from dssframe.core.errors import PluginError, UnknownNameError
from dssframe.plugins.host import PluginHost, load_host
from dsstest import RunDss, snapshots

KEEP_NEWEST = '''
from dssframe import hookimpl
from dssframe.core.retention import Reason, Removal

class KeepNewest:
    name = "keep-newest"
    def __init__(self, config):
        self.count = int(config.plugins.get("keepnewest", {}).get("count", 1))
    def interval(self, snapshot, now):
        return None
    def plan(self, snapshots, now, protected):
        complete = [s for s in snapshots if s.complete]
        doomed = complete[:-self.count] if self.count else complete
        return [Removal(s, Reason.REDUNDANT, None, "beyond keep-newest")
                for s in doomed if s.creation not in protected]

@hookimpl
def dssframe_register_retention(register):
    register("keep-newest", KeepNewest)
'''

BROKEN = "raise ImportError('this plugin needs libfoo')\n"

RAISING_NOTIFIER = '''
from dssframe import hookimpl

@hookimpl
def dssframe_event(event):
    raise RuntimeError("notifier exploded")
'''


def install_plugin(root: Path, dist: str, entry: str, module: str, code: str) -> dict[str, str]:
    """A real installed distribution: module + dist-info with an entry point."""
    root.mkdir(exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(code))
    info = root / f"{dist}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[dssframe]\n{entry} = {module}\n")
    pythonpath = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": pythonpath}


def make_snapshots(dest: Path, count: int) -> list[str]:
    now = int(time.time())
    names = [naming.complete_name(now - 1000 * i - 10, now - 1000 * i - 5) for i in range(count)]
    for name in names:
        (dest / name).mkdir()
    return sorted(names)


def test_entry_point_retention_is_selected_by_name(
    run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    env = install_plugin(tmp_path / "site", "dss-keepnewest", "keepnewest", "keepnewest_mod",
                         KEEP_NEWEST)
    names = make_snapshots(dest, 4)
    config = tmp_path / "c.toml"
    config.write_text('retention = "keep-newest"\n[plugins.keepnewest]\ncount = 2\n')
    version = run_dss("--version", env=env, check=True)
    assert "plugin keepnewest 1.2.3 (dss-keepnewest)" in version.stdout
    result = run_dss("--config", str(config), "--dest-dir", str(dest), "prune", env=env,
                     check=True)
    assert "beyond keep-newest" in result.stdout
    assert [s.name for s in snapshots(dest)] == names[-2:]
    listing = run_dss("--config", str(config), "--dest-dir", str(dest), "ls", env=env,
                      check=True)
    assert all(line.startswith("-\t") for line in listing.stdout.splitlines())


def test_broken_plugin_warns_but_is_fatal_when_selected(
    run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    env = install_plugin(tmp_path / "site", "dss-broken", "broken", "broken_mod", BROKEN)
    ok = run_dss("--version", env=env)
    assert ok.returncode == 0
    assert "plugin 'broken' (dss-broken) failed to load: ImportError: this plugin needs libfoo" \
        in ok.stderr
    bad = run_dss("--dest-dir", str(dest), "--retention", "broken", "ls", env=env)
    assert bad.returncode == 2
    assert "plugin 'broken' (dss-broken) provides the selected retention but failed to load" \
        in bad.stderr


def test_disable_and_allow_lists(run_dss: RunDss, tmp_path: Path) -> None:
    env = install_plugin(tmp_path / "site", "dss-keepnewest", "keepnewest", "keepnewest_mod",
                         KEEP_NEWEST)
    denied = run_dss("--version", env={**env, "DSSFRAME_DISABLE_PLUGINS": "keepnewest"})
    assert "keepnewest" not in denied.stdout
    none = run_dss("--version", env={**env, "DSSFRAME_PLUGINS": ""})
    assert "keepnewest" not in none.stdout
    allowed = run_dss("--version", env={**env, "DSSFRAME_PLUGINS": "keepnewest"})
    assert "plugin keepnewest" in allowed.stdout


@pytest.mark.usefixtures("rsync")
def test_a_raising_notifier_never_changes_the_outcome(
    run_dss: RunDss, tmp_path: Path, source: Path, dest: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "loud_notifier.py").write_text(RAISING_NOTIFIER)
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = run_dss("-p", "loud_notifier", "--loglevel", "error", "--source-dir", f"{source}/",
                     "--dest-dir", str(dest), "create", env=env)
    assert result.returncode == 0, result.stderr
    assert "notifier 'loud_notifier' failed on snapshot-created: notifier exploded" \
        in result.stderr
    assert len(snapshots(dest)) == 1


def test_unknown_plugin_module_is_an_error(run_dss: RunDss, dest: Path) -> None:
    result = run_dss("-p", "no.such.module", "--dest-dir", str(dest), "ls")
    assert result.returncode == 2
    assert "cannot load plugin module 'no.such.module'" in result.stderr


def test_registry_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSSFRAME_PLUGINS", "")  # builtins only, whatever is installed
    host = load_host()
    assert host.retention_names() == ["dyadic"]
    assert host.transport_names() == ["rsync"]
    with pytest.raises(UnknownNameError, match="valid names: dyadic"):
        host._select("retention", "no-such", host._retentions)

    class Duplicate:
        from dssframe import hookimpl

        @staticmethod
        @hookimpl
        def dssframe_register_retention(register):  # type: ignore[no-untyped-def]
            register("dyadic", object)

    clash = PluginHost()
    clash.load_builtins()
    clash.pm.register(Duplicate(), name="dup")
    with pytest.raises(PluginError, match="retention 'dyadic' is registered twice"):
        clash.retention_names()


def test_misspelled_hook_fails_loudly() -> None:
    from dssframe import hookimpl

    class Typo:
        @staticmethod
        @hookimpl
        def dssframe_evnet(event):  # type: ignore[no-untyped-def]
            pass

    host = PluginHost()
    host.pm.register(Typo(), name="typo")
    with pytest.raises(PluginError, match="dssframe_evnet"):
        host.finish()


SETTINGS_PLUGIN = '''
from dssframe import hookimpl
from dssframe.core.settings import PluginSettings, Setting

@hookimpl
def dssframe_plugin_settings():
    return PluginSettings("tuned", [
        Setting("level", "int", 3, "how much"),
        Setting("targets", "list[str]", [], "where to"),
    ])
'''


def test_plugin_settings_are_validated_and_shown(
    run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "tuned_plugin.py").write_text(SETTINGS_PLUGIN)
    env = {**os.environ, "PYTHONPATH": str(site)}
    config = tmp_path / "c.toml"
    base = ["-p", "tuned_plugin", "--config", str(config), "--dest-dir", str(dest)]

    config.write_text('[plugins.tuned]\ntargets = ["a", "b"]\n')
    shown = run_dss(*base, "config", "show", env=env, check=True)
    import tomllib

    assert tomllib.loads(shown.stdout)["plugins"]["tuned"] == {"level": 3, "targets": ["a", "b"]}

    config.write_text("[plugins.tuned]\nlevle = 4\n")
    bad = run_dss(*base, "ls", env=env)
    assert bad.returncode == 2
    assert "[plugins.tuned]: unknown key 'levle' (valid: level, targets)" in bad.stderr

    config.write_text('[plugins.tuned]\nlevel = "high"\n')
    bad = run_dss(*base, "configtest", env=env)
    assert bad.returncode == 2
    assert "[plugins.tuned] level: expected int, got 'high'" in bad.stderr

    # a plugin declaring a type the host does not know is refused, naming the key
    (site / "tuned_plugin.py").write_text(SETTINGS_PLUGIN.replace('"int"', '"integer"'))
    config.write_text("")
    bad = run_dss(*base, "ls", env=env)
    assert bad.returncode != 0
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "[plugins.tuned] level: type 'integer' is not one of str, int" in bad.stderr


RECORDING_NOTIFIER = '''
import os
from dssframe import hookimpl

@hookimpl
def dssframe_event(event):
    with open(os.environ["RECORD_TO"], "a") as out:
        out.write(event.kind.value + "\\n")
'''

HANGING_NOTIFIER = '''
import time
from dssframe import hookimpl

@hookimpl
def dssframe_event(event):
    time.sleep(60)
'''

COMMAND_PLUGIN = '''
import typer
from dssframe import hookimpl
from dssframe.cli.context import get_state

@hookimpl
def dssframe_cli_commands(app):
    @app.command("hello")
    def hello(ctx: typer.Context, shout: bool = typer.Option(False, "--shout")) -> None:
        """Say hello with the configured dest-dir."""
        text = f"hello {get_state(ctx).config().dest_dir}"
        typer.echo(text.upper() if shout else text)
'''


@pytest.mark.usefixtures("rsync")
def test_third_party_notifiers_hear_events_only_when_listed(
    run_dss: RunDss, tmp_path: Path, source: Path, dest: Path
) -> None:
    env = install_plugin(tmp_path / "site", "dss-rec", "rec", "rec_mod", RECORDING_NOTIFIER)
    record = tmp_path / "events.txt"
    env["RECORD_TO"] = str(record)
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    run_dss(*opts, "create", env=env, check=True)
    assert not record.exists()  # installed but not listed: silent

    config = tmp_path / "c.toml"
    config.write_text('notify = ["rec"]\n')
    run_dss("--config", str(config), *opts, "create", env=env, check=True)
    assert record.read_text().split() == ["create-started", "snapshot-created"]

    config.write_text('notify = ["rce"]\n')
    bad = run_dss("--config", str(config), *opts, "create", env=env)
    assert bad.returncode == 2
    assert "unknown notifier 'rce'; valid names: " in bad.stderr and "rec" in bad.stderr


@pytest.mark.usefixtures("rsync")
def test_a_hanging_notifier_is_time_boxed(
    run_dss: RunDss, tmp_path: Path, source: Path, dest: Path
) -> None:
    env = install_plugin(tmp_path / "site", "dss-hang", "hang", "hang_mod", HANGING_NOTIFIER)
    config = tmp_path / "c.toml"
    config.write_text('notify = ["hang"]\nnotify-timeout = 1\n')
    result = run_dss("--config", str(config), "--source-dir", f"{source}/", "--dest-dir",
                     str(dest), "create", env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "notifier 'hang' did not finish snapshot-created within 1s" in result.stderr
    assert len(snapshots(dest)) == 1


def test_a_plugin_adds_a_command(run_dss: RunDss, tmp_path: Path, dest: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello_plugin.py").write_text(COMMAND_PLUGIN)
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = run_dss("-p", "hello_plugin", "--dest-dir", str(dest), "hello", "--shout",
                     env=env, check=True)
    assert result.stdout.strip() == f"HELLO {str(dest).upper()}"
    helptext = run_dss("-p", "hello_plugin", "--help", env=env, check=True)
    assert "hello" in helptext.stdout
    missing = run_dss("--dest-dir", str(dest), "hello", env=env)
    assert missing.returncode == 2 and "No such command 'hello'" in missing.stderr
    via_entry_point = install_plugin(tmp_path / "ep", "dss-hello", "hello", "hello_ep",
                                     COMMAND_PLUGIN)
    result = run_dss("--dest-dir", str(dest), "hello", env=via_entry_point, check=True)
    assert result.stdout.strip() == f"hello {dest}"


def test_preparse_finds_plugin_modules_and_the_command() -> None:
    from dssframe.cli.app import preparse

    assert preparse(["--dest-dir", "ls", "-p", "a", "--plugin=b", "-pc", "prune", "-p", "x"]) \
        == (["a", "b", "c"], "prune")
    assert preparse(["--dry-run", "--rsync-option", "-p", "create"]) == ([], "create")
    assert preparse(["--help"]) == ([], None)


def test_value_options_match_the_global_options() -> None:
    import typer

    from dssframe.cli.app import VALUE_OPTIONS, new_app

    command = typer.main.get_command(new_app())
    takes_value = {
        opt for param in command.params if not getattr(param, "is_flag", False)
        for opt in param.opts  # type: ignore[attr-defined]
    }
    assert takes_value == set(VALUE_OPTIONS)
