"""Every hook a dssframe plugin can implement, grouped by family.

Hook names start with ``dssframe_``. Implement them with :data:`dssframe.hookimpl`.
pluggy ignores default values on hook implementations: declare every parameter you use,
without defaults. Builtins implement these exactly like third-party plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from dssframe.core.config import Config
    from dssframe.core.events import Event
    from dssframe.core.retention import RetentionPolicy
    from dssframe.core.settings import PluginSettings
    from dssframe.core.transport import Transport

    TransportFactory = Callable[[Config], Transport]
    RetentionFactory = Callable[[Config], RetentionPolicy]

hookspec = pluggy.HookspecMarker("dssframe")


# --- transport family (registry: exactly one is selected by config key ``transport``) ---


@hookspec
def dssframe_register_transports(register: Callable[[str, TransportFactory], None]) -> None:
    """Register named transports.

    Call ``register(name, factory)`` once per transport; ``factory(config)`` returns a
    :class:`dssframe.core.transport.Transport`. The user selects one by name with the config
    key ``transport`` (default ``rsync``). Registering a name twice is an error.
    Return value: ignored. Called once per plugin manager.
    """


# --- retention family (registry: exactly one is selected by config key ``retention``) ---


@hookspec
def dssframe_register_retention(register: Callable[[str, RetentionFactory], None]) -> None:
    """Register named retention policies.

    Call ``register(name, factory)``; ``factory(config)`` returns a
    :class:`dssframe.core.retention.RetentionPolicy`. Selected by config key ``retention``
    (default ``dyadic``). Registering a name twice is an error. Return value: ignored.
    """


# --- notification family (every plugin hears every event) ---


@hookspec
def dssframe_event(event: Event) -> None:
    """Hear about a lifecycle event (snapshot created/removed, failures, low disk space,
    run loop exiting, ...). ``event`` is a frozen :class:`dssframe.core.events.Event`.

    Called on every plugin; return value ignored. An exception raised here is logged
    and never changes the outcome of the snapshot or removal the event reports.
    """


# --- veto hooks (every plugin is asked; any veto wins) ---


@hookspec
def dssframe_pre_create(config: Config, destination: str) -> str | None:
    """Asked before a snapshot is created into ``destination`` (its final incomplete
    path). Return None to allow it, or a short message to defer the creation (the
    run loop retries later; ``dss create`` fails with the message).
    All implementations are called; the first non-None message is reported.
    """


@hookspec
def dssframe_pre_remove(config: Config, path: str) -> str | None:
    """Asked before the snapshot at ``path`` is removed. Return None to allow it, or a
    short message to skip this removal (it is retried later). All implementations
    are called; the first non-None message is reported.
    """


# --- configuration (every plugin hears it) ---


@hookspec
def dssframe_configure(config: Config) -> None:
    """Receive the effective configuration: called once after it is loaded, before
    any snapshot work, and again after the run loop re-read it (SIGHUP).

    Plugins that need options outside the veto hooks (e.g. the shell hooks run on an
    event) keep what they need from here. Called on every plugin; return value
    ignored. Raise :class:`dssframe.core.errors.ConfigError` to reject the configuration.
    """


@hookspec
def dssframe_plugin_settings() -> PluginSettings | None:
    """Declare this plugin's settings: return a :class:`dssframe.core.settings.PluginSettings`
    naming the config section (``[plugins.<section>]``, normally the entry-point name)
    and each :class:`dssframe.core.settings.Setting` (name, type, default, help).

    The host validates that table (unknown keys and wrong types are errors naming the
    key) and hands the plugin, through ``config.plugins[section]``, a dict with every
    declared setting (defaults filled in). ``dss config show`` and ``dss configtest``
    print them. Return None when the plugin has no settings. Called on every plugin.
    """


# --- command line (every plugin may add commands) ---


@hookspec
def dssframe_cli_commands(app: typer.Typer) -> None:
    """Add commands to the ``dss`` command line: decorate functions with
    ``@app.command("name")``. Use ``dssframe.cli.app.get_state(ctx)`` inside a command for
    the configuration (``.config()``), the plugin host (``.host()``) and a ready
    snapshot job (``.job()``). Called before the command line is parsed, for plugins
    loaded by ``-p`` and, when the command is not a builtin one, for entry-point
    plugins. A command name that already exists is an error. Return value ignored.
    """
