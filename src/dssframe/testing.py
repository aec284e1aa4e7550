"""pytest fixtures for plugin authors (a pytest plugin, registered as ``dssframe``).

- ``dss_plugin_host``: a fresh plugin host with the builtins; register your plugin on it
  with ``dss_plugin_host.register_module(module_or_object, "name", "test", None, None)``
  or use ``dss_register_plugin``.
- ``dss_register_plugin(plugin, name=None)``: register a module or object on that host
  and return the host (``host.retention(config)``, ``host.notify(event)``, ...).
- ``dss_hook_recorder``: a recording plugin on that host: ``.calls`` holds every
  ``(hook_name, kwargs)`` of the event, veto and configure hooks, ``.events()`` the events.
- ``dss_cli(*args, check=False, **subprocess_options)``: run the real ``dss`` command
  in a child process and return the ``subprocess.CompletedProcess`` (text mode).
- ``dss_isolated``: keep the test and its ``dss`` processes away from the user's
  configuration and state (temporary XDG dirs, DSSFRAME_* variables cleared).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dssframe import hookimpl
from dssframe.plugins.host import PluginHost


@pytest.fixture
def dss_plugin_host() -> PluginHost:
    """A fresh plugin host holding the builtins only."""
    host = PluginHost()
    host.load_builtins()
    return host


@pytest.fixture
def dss_register_plugin(dss_plugin_host: PluginHost) -> Callable[..., PluginHost]:
    """``register(plugin, name=None)``: add a module or object to ``dss_plugin_host``."""
    def register(plugin: Any, name: str | None = None) -> PluginHost:
        label = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        dss_plugin_host.register_module(plugin, label, "test", None, None)
        dss_plugin_host.finish()
        return dss_plugin_host

    return register


class HookRecorder:
    """A plugin that records the hooks every plugin hears: events, vetoes, configure."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def dssframe_event(self, event: Any) -> None:
        self.calls.append(("dssframe_event", {"event": event}))

    @hookimpl
    def dssframe_pre_create(self, config: Any, destination: str) -> None:
        self.calls.append(("dssframe_pre_create", {"config": config, "destination": destination}))

    @hookimpl
    def dssframe_pre_remove(self, config: Any, path: str) -> None:
        self.calls.append(("dssframe_pre_remove", {"config": config, "path": path}))

    @hookimpl
    def dssframe_configure(self, config: Any) -> None:
        self.calls.append(("dssframe_configure", {"config": config}))

    def events(self) -> list[Any]:
        """The events heard so far, in order."""
        return [kwargs["event"] for name, kwargs in self.calls if name == "dssframe_event"]


@pytest.fixture
def dss_hook_recorder(dss_plugin_host: PluginHost) -> HookRecorder:
    """Records every event, veto question and configure call on ``dss_plugin_host``."""
    recorder = HookRecorder()
    dss_plugin_host.register_module(recorder, "dss-hook-recorder", "test", None, None)
    return recorder


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
def dss_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run(*args, check=False, **subprocess_options)``: the real ``dss`` in a child
    process (text mode, stdin /dev/null, a 300 s timeout unless given); ``check=True``
    raises AssertionError with dss's standard error when it exits non-zero."""

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
