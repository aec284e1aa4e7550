"""Every hook a dssframe plugin can implement, grouped by family.

Hook names start with ``dssframe_``. Implement them with :data:`dssframe.hookimpl`.
pluggy ignores default values on hook implementations: declare every parameter you use,
without defaults. Builtins implement these exactly like third-party plugins.

Renaming a hook (the deprecation path): the new specification is written out as usual;
the old name stays one more minor release as ``old_name = renamed(new_spec, "old_name",
since="0.3")`` (:func:`renamed`). pluggy then warns (``DeprecationWarning``, pointing at
the plugin's function) when a plugin implementing the old name is registered, and the
host calls the old name's implementations too whenever it calls the new hook
(:data:`RENAMED` tells it which), so the plugin keeps working until the old name is
removed. (A renamed *argument* is deprecated the same way with pluggy's
``warn_on_impl_args``.) No hook has been renamed yet; ``tests/test_plugins.py``
exercises the mechanism with a test-only specification.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer

    from dssframe.core.config import Config
    from dssframe.core.events import Event

    Notify = Callable[[Event], None]
    from dssframe.core.retention import RetentionPolicy
    from dssframe.core.settings import PluginSettings
    from dssframe.core.transport import Transport

    TransportFactory = Callable[[Config], Transport]
    RetentionFactory = Callable[[Config], RetentionPolicy]

hookspec = pluggy.HookspecMarker("dssframe")

#: Hooks renamed and still honoured under their old name: old name -> new name
#: (filled in by :func:`renamed`).
RENAMED: dict[str, str] = {}


def renamed(new: Callable[..., Any], old: str, since: str) -> Callable[..., Any]:
    """The specification of hook ``old``, renamed to ``new`` in release ``since``: the
    same arguments and documentation, marked with pluggy's ``warn_on_impl`` so that
    registering a plugin that implements ``old`` warns (``DeprecationWarning``) naming
    the new hook. Assign it to the old name in the specification module (pluggy finds
    specifications by attribute name)::

        dssframe_old_name = renamed(dssframe_new_name, "dssframe_old_name", since="0.3")

    and the host (which reads :data:`RENAMED`) calls ``old``'s implementations together
    with ``new``'s, so both kinds of plugin keep working until ``old`` is dropped."""
    code = new.__code__.replace(co_name=old, co_qualname=old)
    spec = types.FunctionType(code, new.__globals__, old, new.__defaults__, new.__closure__)
    spec.__doc__ = f"Deprecated since {since}: renamed to ``{new.__name__}``.\n\n{new.__doc__}"
    spec.__annotations__ = dict(new.__annotations__)
    spec.__module__ = new.__module__
    warning = DeprecationWarning(
        f"hook {old!r} is deprecated since dssframe {since}: implement {new.__name__!r} "
        f"instead (same arguments)"
    )
    RENAMED[old] = new.__name__
    marked: Callable[..., Any] = hookspec(spec, warn_on_impl=warning)
    return marked


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


# --- notification family (every active notifier hears every event) ---


@hookspec
def dssframe_event(event: Event) -> None:
    """Hear about a lifecycle event (snapshot created/removed, failures, low disk space,
    run loop exiting, ...). ``event`` is a frozen :class:`dssframe.core.events.Event`.

    Called on every active notifier (builtins, ``-p`` modules, the entry points listed
    in ``notify``), each in a delivery thread of its own, in event order: the work does
    not wait for it, and dss waits for the notifiers when it is done, ``notify-timeout``
    at most in all (:mod:`dssframe.plugins.notify`). Return value ignored. An exception
    raised here is logged and never changes the outcome of the snapshot or removal the
    event reports.

    Several jobs: ``event.job`` names the job the event belongs to (a ``[[job]]``
    table's ``name``; ``""`` for a config without jobs). A notifier whose settings
    differ per job looks them up by ``event.job`` in what :func:`dssframe_configure`
    gave it per ``config.name``, never in "the configuration last received": delivery is
    asynchronous, so by the time an event of one job is delivered the plugin may have
    been configured for the next job already (and events of several jobs may be queued
    in between).
    """


# --- veto hooks (every enabled plugin is asked; any veto wins) ---


@hookspec
def dssframe_pre_create(config: Config, destination: str) -> str | None:
    """Asked before a snapshot is created into ``destination`` (its final incomplete
    path). Return None to allow it, or a short message to defer the creation (the
    run loop retries later; ``dss create`` fails with the message).
    Every enabled plugin is asked (an installed one only when ``enable-plugins`` lists
    it); the first non-None message is reported.
    """


@hookspec
def dssframe_pre_remove(config: Config, path: str) -> str | None:
    """Asked before the snapshot at ``path`` is removed. Return None to allow it, or a
    short message to skip this removal (it is retried later). Every enabled plugin is
    asked (an installed one only when ``enable-plugins`` lists it); the first non-None
    message is reported.
    """


# --- configuration (every plugin hears it) ---


@hookspec
def dssframe_configure(config: Config, notify: Notify) -> None:
    """Receive the effective configuration: called once after it is loaded, before
    any snapshot work, and again after the run loop re-read it (SIGHUP).

    Called once per job: a config file may hold several jobs (``[[job]]`` tables, the
    top-level keys their defaults, ``[plugins.X]`` merged key by key with a job's
    ``[job.plugins.X]``) and one ``dss run`` runs them all, calling this hook with a
    job's configuration before that job's work -- again and again, the jobs
    interleaved. ``config.name`` is the job's name (``""`` for a config without jobs).
    Key per-job state by ``config.name`` (the latest call for a name replaces it) and
    pick it in :func:`dssframe_event` by ``event.job``; keeping one module-wide
    configuration would hand one job's events to another job's settings. This hook
    runs on the main thread, events on delivery threads: guard the per-job mapping, or
    replace an immutable one with a single assignment.

    Plugins that need options outside the veto hooks (e.g. the shell hooks run on an
    event) keep what they need from here. ``notify(event)`` hands an
    :class:`dssframe.core.events.Event` of the plugin's own to the notifiers (the shell
    hooks report a hook that timed out with it); it returns at once, delivery is the
    host's business. Called on every enabled plugin (builtins, ``-p`` modules, the
    selected transport and retention, the notifiers listed in ``notify`` and the
    plugins listed in ``enable-plugins``); return value ignored. Raise
    :class:`dssframe.core.errors.ConfigError` to reject the configuration.
    """


@hookspec
def dssframe_plugin_settings() -> PluginSettings | None:
    """Declare this plugin's settings: return a :class:`dssframe.core.settings.PluginSettings`
    naming the config section (``[plugins.<section>]``, normally the entry-point name)
    and each :class:`dssframe.core.settings.Setting` (name, type, default, help).

    The host validates that table (unknown keys and wrong types are errors naming the
    key) and hands the plugin, through ``config.plugins[section]``, a dict with every
    declared setting (defaults filled in). ``dss config show`` and ``dss configtest``
    print them. Return None when the plugin has no settings. Called on every loaded
    plugin.
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


# --- stopping (every loaded plugin is told; for plugins that start processes or threads) ---


@hookspec
def dssframe_stop(within: float | None) -> None:
    """dss is stopping (SIGTERM or SIGINT, or a fatal error of the run loop): end what
    you started that still runs (processes, threads) within ``within`` seconds from
    now, and give anything started from now on a deadline inside that. ``within`` is
    None when a new run begins in the same process (the run loop starting): forget an
    earlier stop.

    May be called from a signal handler, while the main thread is inside one of your
    hooks: only record the deadline (assign a variable) and act on it where you wait;
    never block, take a lock or log here. Only the first call counts until the next
    ``within=None``. Called on every loaded plugin; return value ignored.
    """


@hookspec
def dssframe_wait_stopped(deadline: float) -> bool | None:
    """Wait until nothing you started still runs, but not beyond ``deadline`` (a
    ``time.monotonic()`` value): called after :func:`dssframe_stop`, before dss exits,
    so that what other threads (notifiers) started is gone with the process.

    Return True when nothing of yours runs any more, False when something still does
    at the deadline (dss logs it), None when you start nothing. Called on every loaded
    plugin in turn, each with the same deadline.
    """
