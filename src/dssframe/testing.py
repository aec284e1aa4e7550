"""The testing kit: pytest fixtures for plugin authors.

``pip install 'dssframe[testing]'`` brings pytest; the fixtures are a pytest plugin
registered as ``dssframe`` (entry point group ``pytest11``), active in every pytest run
once dssframe is installed -- nothing to import or configure. ``dss`` itself never
imports this module.

- ``dss_plugin_host``: a fresh plugin host with the builtins (entry-point plugins load
  on demand, as in ``dss``).
- ``dss_register_plugin(plugin, name=None)``: register a module or object on that host
  and return the host (``host.retention(config)``, ``host.notify(event)``, ...).
- ``dss_config(**keys)``: a :class:`~dssframe.core.config.Config` made by the real
  loader from those keys (``dest_dir="/backup"``, ``plugins={"mine": {...}}``) with
  every ``[plugins.<section>]`` checked and its defaults filled in by the host.
- ``dss_make_snapshots(dest, creations, ...)``: real snapshot directories in ``dest``,
  named as dss names them, with their metadata documents; returns their
  :class:`~dssframe.core.naming.SnapshotName` records, oldest first.
- ``dss_hook_recorder``: a :class:`HookRecorder` on that host, recording every hook
  call the host makes (``.calls``; ``.events()`` for the events).
- ``dss_cli(*args, check=False, **subprocess_options)``: run the real ``dss`` command in
  a child process, away from your configuration (``dss_isolated``).
- ``dss_isolated``: keep the test and its ``dss`` processes away from the user's
  configuration and state (temporary XDG dirs, DSSFRAME_* variables cleared).

Examples are in CONTRIBUTING.md ("Test it"); ``tests/test_testing_kit.py`` runs them.
"""

from __future__ import annotations

import inspect
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dssframe import hookimpl
from dssframe.plugins.host import PluginHost

if TYPE_CHECKING:
    from dssframe.core.config import Config
    from dssframe.core.naming import SnapshotName


@pytest.fixture
def dss_plugin_host() -> PluginHost:
    """A fresh plugin host holding the builtins (``rsync``, ``dyadic``, ``log_notify``,
    ``hooks``); installed entry-point plugins are loaded when something needs them,
    exactly as ``dss`` does."""
    host = PluginHost()
    host.load_builtins()
    return host


@pytest.fixture
def dss_register_plugin(dss_plugin_host: PluginHost) -> Callable[..., PluginHost]:
    """``register(plugin, name=None)``: add a module or object to ``dss_plugin_host``
    (as a ``-p`` module would be: it always hears events) and return the host. The
    name defaults to the module's ``__name__`` or the object's class name; a hook
    implementation that matches no hook specification fails here."""

    def register(plugin: Any, name: str | None = None) -> PluginHost:
        label = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        dss_plugin_host.register_module(plugin, label, "test", None, None)
        dss_plugin_host.finish()
        return dss_plugin_host

    return register


# --- the hook recorder ---------------------------------------------------------------


def hookspec_names() -> list[str]:
    """Every hook specification of :mod:`dssframe.plugins.hookspecs`, in source order."""
    from dssframe.plugins import hookspecs

    return [
        name
        for name, value in vars(hookspecs).items()
        if name.startswith("dssframe_") and callable(value) and hasattr(value, "dssframe_spec")
    ]


def _recording(name: str) -> Callable[..., None]:
    """A hook implementation for ``name`` that appends ``(name, arguments)`` to the
    recorder's ``calls`` and returns None (no veto, no settings, nothing registered).

    It is written out (like :func:`collections.namedtuple` writes its methods) with
    exactly the specification's parameter names: pluggy reads them from the function's
    code and passes the hook's arguments by those names."""
    from dssframe.plugins import hookspecs

    parameters = list(inspect.signature(getattr(hookspecs, name)).parameters)
    assert all(p.isidentifier() for p in parameters), parameters
    arguments = ", ".join(f"{p!r}: {p}" for p in parameters)
    source = (
        f"def {name}({', '.join(['self', *parameters])}):\n"
        f"    self.calls.append(({name!r}, {{{arguments}}}))\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # the names are our own hook specifications
    record = namespace[name]
    record.__qualname__ = f"HookRecorder.{name}"
    record.__module__ = __name__
    record.__doc__ = f"Record a ``{name}`` call."
    marked: Callable[..., None] = hookimpl(record)
    return marked


class HookRecorder:
    """A plugin that implements every hook (each hookspec of
    :mod:`dssframe.plugins.hookspecs`, found when this module is imported) and records
    each call the host makes to it, in order, without changing anything: it vetoes
    nothing, registers nothing, declares no settings and adds no commands.

    ``calls`` holds ``(hook_name, arguments)`` pairs, ``arguments`` a dict by
    parameter name: ``("dssframe_pre_remove", {"config": ..., "path": ...})``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def events(self) -> list[Any]:
        """The events (:class:`~dssframe.core.events.Event`) heard so far, in order."""
        return [kwargs["event"] for name, kwargs in self.calls if name == "dssframe_event"]

    def calls_to(self, hook: str) -> list[dict[str, Any]]:
        """The arguments of every call of ``hook``, in order."""
        return [kwargs for name, kwargs in self.calls if name == hook]

    def hooks_called(self) -> set[str]:
        """The names of the hooks called at least once."""
        return {name for name, _ in self.calls}


def _record_every_hook() -> None:
    for name in hookspec_names():
        setattr(HookRecorder, name, _recording(name))


_record_every_hook()


@pytest.fixture
def dss_hook_recorder(dss_plugin_host: PluginHost) -> HookRecorder:
    """A :class:`HookRecorder` registered on ``dss_plugin_host`` -- the same host that
    ``dss_register_plugin`` registers on and returns: it records every hook call
    (events, vetoes, configure, registries, settings, commands)."""
    recorder = HookRecorder()
    dss_plugin_host.register_module(recorder, "dss-hook-recorder", "test", None, None)
    return recorder


# --- configuration and destinations ----------------------------------------------------


@pytest.fixture
def dss_config(
    dss_plugin_host: PluginHost, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Config]:
    """``make(**keys) -> Config``: the configuration ``dss`` would build from a config
    file holding ``keys``.

    Keys are the option names with ``_`` for ``-`` (``dest_dir``, ``num_intervals``,
    ``retention``) and ``plugins``, a dict of plugin tables (``{"gfs": {"keep-daily":
    7}}``). The keys are written to a TOML file that the real loader reads (so values
    are checked as a file's are: a bad one raises
    :class:`~dssframe.core.errors.ConfigError` naming the key), then
    ``dss_plugin_host`` validates the plugin tables and fills in every declared
    default, as ``dss`` does before any plugin sees the config: register your plugin
    first. Paths may be :class:`pathlib.Path` objects."""
    from dssframe.core.config import plugins_to_toml, to_toml
    from dssframe.store import configfile

    directory = tmp_path_factory.mktemp("dss-config")
    numbers = itertools.count(1)

    def make(**keys: Any) -> Config:
        plugins = keys.pop("plugins", None) or {}
        values = {key.replace("_", "-"): value for key, value in keys.items()}
        path = directory / f"config-{next(numbers)}.toml"
        path.write_text(to_toml(values) + plugins_to_toml(plugins), encoding="utf-8")
        loaded = configfile.load(str(path), {})
        return dss_plugin_host.apply_settings(loaded)

    return make


Creation = int | tuple[int, int | None]


@pytest.fixture
def dss_make_snapshots() -> Callable[..., list[SnapshotName]]:
    """``make(dest, creations, *, duration=60, files=None, metadata=True,
    source="/source/") -> list[SnapshotName]``: real snapshot directories in ``dest``
    (created if missing), for tests of retention policies and commands.

    Each item of ``creations`` is a creation epoch (a complete snapshot that took
    ``duration`` seconds) or a ``(creation, completion)`` pair; ``(creation, None)``
    makes an incomplete one (``<creation>-incomplete``). ``files`` maps relative paths
    to the text or bytes every snapshot holds (default: none, empty directories).
    With ``metadata`` each snapshot gets the metadata document dss writes beside it
    (its parent: the previous complete snapshot in ``dest``). Returns the new
    snapshots' names, oldest first: what ``RetentionPolicy.plan`` receives.

    ``dss`` ignores names whose creation or completion lies in the future of the real
    clock; a policy's ``plan(snapshots, now, ...)`` takes whatever ``now`` you give it."""
    from dssframe.core import naming
    from dssframe.store import metadata as documents

    def make(
        dest: str | os.PathLike[str],
        creations: Iterable[Creation],
        *,
        duration: int = 60,
        files: Mapping[str, str | bytes] | None = None,
        metadata: bool = True,
        source: str = "/source/",
    ) -> list[naming.SnapshotName]:
        root = Path(dest)
        root.mkdir(parents=True, exist_ok=True)
        made = []
        for item in creations:
            creation, completion = item if isinstance(item, tuple) else (item, item + duration)
            if completion is None:
                name = naming.incomplete_name(creation)
            elif completion <= creation:
                raise ValueError(f"completion {completion} is not after creation {creation}")
            else:
                name = naming.complete_name(creation, completion)
            (root / name).mkdir()
            entries = _write_files(root / name, files or {})
            snapshot = naming.parse(name)
            assert snapshot is not None, name
            made.append((snapshot, entries))
        if metadata:
            for snapshot, entries in made:
                parent = _previous_complete(root, snapshot.creation)
                documents.write(
                    str(root),
                    documents.for_created(
                        snapshot,
                        reference=parent,
                        source=source,
                        remote_host=None,
                        remote_user=None,
                        transport="rsync",
                        exit_status=0 if snapshot.complete else None,
                        message=None,
                        checksum=False,
                        stats={"files": entries} if snapshot.complete else {},
                        plugins={},
                        written=snapshot.completion or snapshot.creation,
                    ),
                )
        return sorted((snapshot for snapshot, _ in made), key=lambda s: s.creation)

    return make


def _write_files(top: Path, files: Mapping[str, str | bytes]) -> int:
    """Write ``files`` below ``top``; the number of entries rsync would count (the top
    directory included)."""
    entries = {top}
    for relative, content in files.items():
        path = top / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        entries.add(path)
        entries.update(parent for parent in path.parents if top in parent.parents)
    return len(entries)


def _previous_complete(root: Path, creation: int) -> SnapshotName | None:
    from dssframe.core import naming

    found = (naming.parse(entry.name) for entry in root.iterdir())
    earlier = [s for s in found if s and s.complete and s.creation < creation]
    return max(earlier, key=lambda s: s.creation, default=None)


# --- isolation and the real command ------------------------------------------------------


@pytest.fixture
def dss_isolated(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point XDG_CONFIG_HOME / XDG_STATE_HOME into a temporary directory (returned) and
    clear the DSSFRAME_* variables, so neither the test nor the ``dss`` processes it
    starts read the user's configuration or touch the user's state."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    for variable in ("DSSFRAME_CONFIG", "DSSFRAME_PLUGINS", "DSSFRAME_DISABLE_PLUGINS"):
        monkeypatch.delenv(variable, raising=False)
    return home


@pytest.fixture
def dss_cli(dss_isolated: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run(*args, check=False, **subprocess_options)``: the real ``dss`` in a child
    process (text mode, stdin /dev/null, a 300 s timeout unless given), isolated from
    your configuration and state (``dss_isolated``); ``check=True`` raises
    AssertionError with dss's standard error when it exits non-zero. Pass ``env=`` to
    add variables (``PYTHONPATH`` for a ``-p`` module): start from ``os.environ``."""

    def run(*args: str, check: bool = False, **options: Any) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "dssframe", *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            **{"timeout": 300, **options},
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"dss {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
            )
        return result

    return run
