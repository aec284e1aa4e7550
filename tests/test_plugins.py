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
from dsstest import IN_CI, RunDss, snapshots

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
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"  # as a wheel names it
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


RECORDING_NOTIFIER_2 = RECORDING_NOTIFIER.replace("RECORD_TO", "RECORD_TO_2")


@pytest.mark.usefixtures("rsync")
def test_notifiers_never_delay_the_work(
    run_dss: RunDss, tmp_path: Path, source: Path, dest: Path
) -> None:
    """A notifier that hangs on every event: the copy starts at once (the snapshot's
    recorded duration is the copy's), the process waits for the notifiers once, about
    notify-timeout (not notify-timeout per event), and a well-behaved notifier beside
    it hears every event."""
    from dssframe.store import metadata

    site = tmp_path / "site"
    env = install_plugin(site, "dss-hang", "hang", "hang_mod", HANGING_NOTIFIER)
    env = {**env, **install_plugin(site, "dss-rec", "rec", "rec_mod", RECORDING_NOTIFIER)}
    record = tmp_path / "events.txt"
    env["RECORD_TO"] = str(record)
    config = tmp_path / "c.toml"
    config.write_text('notify = ["hang", "rec"]\nnotify-timeout = 3\n')
    started = time.monotonic()
    result = run_dss("--config", str(config), "--source-dir", f"{source}/", "--dest-dir",
                     str(dest), "create", env=env, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert 2.9 < elapsed < 5.5, elapsed  # two events: 6 s if each waited its own 3 s
    (snapshot,) = snapshots(dest)
    recorded = metadata.load(str(dest), snapshot.creation).metadata
    assert recorded is not None and recorded.duration is not None
    assert recorded.duration < 2, recorded.duration  # the copy's time, not the deadline's
    assert record.read_text().split() == ["create-started", "snapshot-created"]
    hang_lines = [line for line in result.stderr.splitlines() if "notifier 'hang'" in line]
    assert hang_lines == [
        "dss: error: notifier 'hang' did not finish create-started within 3s; going on without it "
        "(1 event dropped: snapshot-created)"
    ]


#: The three plugin distributions of plugins/ (installed in the development venv):
#: the modules a configuration that does not enable them must never import.
SHIPPED = {"gfs": "dssframe_gfs", "apprise": "dssframe_apprise",
           "prometheus": "dssframe_prometheus"}
HEAVY = ("apprise", "prometheus_client")

MODULES_AFTER_CREATE = """
import sys
from dssframe.cli.entry import main
rc = main(sys.argv[1:])
names = {names!r}
print(rc, sorted(m for m in sys.modules if m.split(".")[0] in names))
"""


@pytest.mark.usefixtures("rsync")
def test_installed_plugins_are_imported_only_when_enabled(
    tmp_path: Path, source: Path, dest: Path
) -> None:
    import subprocess
    import sys

    from dssframe.plugins.entrypoints import entry_points

    installed = {ep.name for ep in entry_points("dssframe")}
    if not set(SHIPPED) <= installed:
        message = f"plugins/ not installed (found {sorted(installed)})"
        if IN_CI:
            pytest.fail(message + " (CI installs every plugins/*/)")
        pytest.skip(message)
    textfile = tmp_path / "metrics" / "dss.prom"
    textfile.parent.mkdir()
    table = f'[plugins.prometheus]\ntextfile = "{textfile}"\n'
    config = tmp_path / "c.toml"
    code = MODULES_AFTER_CREATE.format(names={*SHIPPED.values(), *HEAVY})
    args = ["--config", str(config), "--source-dir", f"{source}/", "--dest-dir", str(dest),
            "create"]

    def create() -> tuple[list[str], str]:
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, check=True, timeout=120)
        rc, modules = done.stdout.strip().splitlines()[-1].split(" ", 1)
        assert rc == "0", done.stderr
        import ast

        return ast.literal_eval(modules), done.stderr  # a printed list of strings

    # installed, with a settings table even, but not enabled: nothing of them is imported
    config.write_text(table)
    modules, stderr = create()
    assert modules == []
    assert "[plugins.prometheus]: plugin 'prometheus' is installed but not enabled" in stderr
    assert not textfile.exists()

    # selected and listed: imported, and they act
    config.write_text('retention = "gfs"\nnotify = ["prometheus", "apprise"]\n'
                      "[plugins.gfs]\nkeep-daily = 7\n" + table)
    modules, stderr = create()
    assert {"dssframe_gfs", "dssframe_prometheus", "dssframe_apprise"} <= set(modules), stderr
    assert "apprise" not in modules and "prometheus_client" not in modules  # lazy, no URLs
    assert "dssframe_snapshots{" in textfile.read_text()  # prometheus heard the creation


VETO_PLUGIN = '''
from dssframe import hookimpl

@hookimpl
def dssframe_pre_create(config, destination):
    return "the database dump is still running"
'''


@pytest.mark.usefixtures("rsync")
def test_a_veto_plugin_acts_only_when_enabled(
    run_dss: RunDss, tmp_path: Path, source: Path, dest: Path
) -> None:
    """A behaviour change: an installed veto plugin used to be asked by every dss; now
    only when ``enable-plugins`` lists it."""
    env = install_plugin(tmp_path / "site", "dss-veto", "dumpguard", "dumpguard_mod",
                         VETO_PLUGIN)
    config = tmp_path / "c.toml"
    base = ["--config", str(config), "--source-dir", f"{source}/", "--dest-dir", str(dest)]
    config.write_text("")
    listing = run_dss(*base, "plugins", env=env, check=True)
    assert "dumpguard 1.2.3 (other) from entry point (dss-veto)  [not enabled]" in listing.stdout
    assert "dyadic" in listing.stdout and "[enabled] [selected retention dyadic]" in listing.stdout
    run_dss(*base, "create", env=env, check=True)  # installed, not enabled: not asked
    assert len(snapshots(dest)) == 1

    config.write_text('enable-plugins = ["dumpguard"]\n')
    vetoed = run_dss(*base, "create", env=env)
    assert vetoed.returncode == 1, vetoed.stderr
    assert "deferred: the database dump is still running" in vetoed.stderr
    assert len(snapshots(dest)) == 1
    import json

    records = json.loads(run_dss(*base, "plugins", "--json", env=env, check=True).stdout)
    assert {r["name"]: r["enabled"] for r in records}["dumpguard"] is True

    config.write_text('enable-plugins = ["dumpgaurd"]\n')
    typo = run_dss(*base, "create", env=env)
    assert typo.returncode == 2
    assert "enable-plugins: no plugin 'dumpgaurd' is installed; did you mean 'dumpguard'?" \
        in typo.stderr


OTHER_RETENTION = KEEP_NEWEST.replace('"keep-newest"', '"newest-only"')


def test_a_selected_name_imports_the_entry_point_named_like_it_first(
    run_dss: RunDss, tmp_path: Path, dest: Path
) -> None:
    site = tmp_path / "site"
    env = install_plugin(site, "dss-keepnewest", "keepnewest", "keepnewest_mod", KEEP_NEWEST)
    env = {**env, **install_plugin(site, "dss-other", "other", "other_mod", OTHER_RETENTION)}
    env = {**env, **install_plugin(site, "dss-broken", "broken", "broken_mod", BROKEN)}
    make_snapshots(dest, 2)
    # "keep-newest" finds the "keepnewest" entry point: the others stay unimported
    found = run_dss("--retention", "keep-newest", "--dest-dir", str(dest), "--loglevel", "info",
                    "prune", env=env, check=True)
    assert "failed to load" not in found.stderr and "importing every installed" not in found.stderr
    # a name no entry point is named like: everything is imported to find it, and why
    searched = run_dss("--retention", "newest-only", "--dest-dir", str(dest), "--loglevel",
                       "info", "prune", env=env, check=True)
    assert "retention 'newest-only': no installed plugin is named like it; importing every " \
        "installed plugin to find it" in searched.stderr
    assert "plugin 'broken' (dss-broken) failed to load" in searched.stderr
    assert len(snapshots(dest)) == 1


def test_a_renamed_hook_warns_and_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deprecation path of a hook rename, with a test-only specification (no real
    hook has been renamed yet): the old name warns when a plugin implementing it is
    registered, and the host calls it whenever it calls the new one."""
    import types
    import warnings

    from dssframe import hookimpl
    from dssframe.core.config import Config
    from dssframe.plugins import hookspecs

    monkeypatch.setattr(hookspecs, "RENAMED", {})

    def dssframe_demo_count(items: list[str]) -> int:
        """Count ``items``. Return value: the count."""
        return 0

    specs = types.ModuleType("demo_specs")
    specs.dssframe_demo_count = hookspecs.hookspec(dssframe_demo_count)  # type: ignore[attr-defined]
    specs.dssframe_demo_tally = hookspecs.renamed(  # type: ignore[attr-defined]
        dssframe_demo_count, "dssframe_demo_tally", since="0.2"
    )
    # a real specification renamed: the registries honour the old name too
    specs.dssframe_register_policies = hookspecs.renamed(  # type: ignore[attr-defined]
        hookspecs.dssframe_register_retention, "dssframe_register_policies", since="0.2"
    )
    assert hookspecs.RENAMED == {"dssframe_demo_tally": "dssframe_demo_count",
                                 "dssframe_register_policies": "dssframe_register_retention"}
    assert (specs.dssframe_demo_tally.__doc__ or "").startswith(
        "Deprecated since 0.2: renamed to ``dssframe_demo_count``.")

    class Old:
        @hookimpl
        def dssframe_demo_tally(self, items: list[str]) -> int:
            return len(items)

        @hookimpl
        def dssframe_register_policies(self, register):  # type: ignore[no-untyped-def]
            register("old-style", lambda config: "a policy")

    class New:
        @hookimpl
        def dssframe_demo_count(self, items: list[str]) -> int:
            return 10 * len(items)

    host = PluginHost()
    host.pm.add_hookspecs(specs)
    with pytest.warns(DeprecationWarning) as caught:
        host.register_module(Old(), "old", "test", None, None)
    messages = sorted(str(w.message) for w in caught)
    assert messages == [
        "hook 'dssframe_demo_tally' is deprecated since dssframe 0.2: implement "
        "'dssframe_demo_count' instead (same arguments)",
        "hook 'dssframe_register_policies' is deprecated since dssframe 0.2: implement "
        "'dssframe_register_retention' instead (same arguments)",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        host.register_module(New(), "new", "test", None, None)
    host.finish()
    assert sorted(host.call("dssframe_demo_count", items=["a", "b"])) == [2, 20]
    policy: object = host.retention(Config(retention="old-style"))
    assert policy == "a policy"
    assert host.owner_of("retention", "old-style") == "old"


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

    # -p counts before and after the command word (global options work in both places)
    assert preparse(["--dest-dir", "ls", "-p", "a", "--plugin=b", "-pc", "prune", "-p", "x"]) \
        == (["a", "b", "c", "x"], "prune")
    assert preparse(["--dry-run", "--rsync-option", "-p", "create"]) == ([], "create")
    assert preparse(["--help"]) == ([], None)


def test_value_options_match_the_global_options() -> None:
    import typer

    from dssframe.cli.app import VALUE_OPTIONS, new_app

    command = typer.main.get_command(new_app())
    takes_value = {
        opt for param in command.params
        if not getattr(param, "is_flag", False) and not getattr(param, "count", False)
        for opt in param.opts
    }
    assert takes_value == set(VALUE_OPTIONS)
