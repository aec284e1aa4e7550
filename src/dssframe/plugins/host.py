"""The plugin host: registers builtins and entry-point plugins alike, keeps the
transport and retention registries, and calls hooks through one typed facade.

Installed is not enabled. Entry points are read without importing them
(:mod:`dssframe.plugins.entrypoints`); one is imported only when the configuration
needs it: the selected ``transport`` and ``retention`` (an entry point named like the
selected name first -- ``retention = "gfs"`` imports the ``gfs`` entry point,
``keep-newest`` the ``keepnewest`` one --, and every installed plugin only when none
provides it), the notifiers listed in ``notify`` and the plugins listed in
``enable-plugins`` (veto and configure-only plugins). Only enabled plugins are asked
to veto, configured and heard as notifiers; builtins and ``-p`` modules always are.
:meth:`PluginHost.load_entry_points` imports everything installed (``dss plugins``,
``dss --version``, a command that no builtin has).

Every hook is called through pluggy (per plugin with ``subset_hook_caller``), together
with the implementations of its deprecated old names (:data:`hookspecs.RENAMED`).
Events go to the notifiers through a :class:`dssframe.plugins.notify.Dispatcher`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

import pluggy

from dssframe import logs
from dssframe.core.errors import ConfigError, PluginError, UnknownNameError
from dssframe.plugins import hookspecs

if TYPE_CHECKING:
    from dssframe.core.config import Config
    from dssframe.core.events import Event
    from dssframe.core.retention import RetentionPolicy
    from dssframe.core.settings import PluginSettings
    from dssframe.core.transport import Transport
    from dssframe.plugins.entrypoints import EntryPoint
    from dssframe.plugins.notify import Dispatcher

log = logs.get("dssframe.plugins.host")

ENTRY_POINT_GROUP = "dssframe"
#: The builtins, registered exactly like third-party plugins: plugin name -> module.
DEFAULT_PLUGINS = {
    "rsync": "dssframe.builtin.rsync",
    "dyadic": "dssframe.builtin.dyadic_retention",
    "log_notify": "dssframe.builtin.log_notify",
    "hooks": "dssframe.builtin.shell_hooks",
}

#: The builtin notifier that logs each event: called at once, not in the background.
SYNCHRONOUS_NOTIFIER = "log_notify"

#: Plugins of these origins are always enabled (entry points only when configured).
ALWAYS_ENABLED = frozenset({"builtin", "-p", "test"})


class PluginInfo(NamedTuple):
    """Where a registered plugin came from."""

    name: str
    origin: str  # "builtin", "entry point", "-p"
    distribution: str | None
    version: str | None
    module: ModuleType | object


class BrokenPlugin(NamedTuple):
    name: str
    distribution: str | None
    error: str


class PluginHost:
    """One pluggy manager per run, loaded explicitly and once."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("dssframe")
        self.pm.add_hookspecs(hookspecs)
        self.infos: list[PluginInfo] = []
        self.broken: list[BrokenPlugin] = []
        self._transports: dict[str, tuple[Callable[..., Transport], str]] = {}
        self._retentions: dict[str, tuple[Callable[..., RetentionPolicy], str]] = {}
        self._registries_built = False
        #: ``[plugins.<section>]`` tables already warned about (no plugin declares them).
        self._warned_sections: set[str] = set()
        #: Whether :meth:`apply_settings` logs those tables (``configtest`` reports them).
        self.warn_sections = True
        #: Every installed entry point was imported (load_entry_points).
        self._entry_points_loaded = False
        #: The installed entry points (read, not imported), once read.
        self._installed: list[EntryPoint] | None = None
        #: Names of the entry points imported so far, or tried and broken.
        self._tried: set[str] = set()
        #: Entry-point plugins the configuration enables.
        self._enabled: set[str] = set()
        self._active_notifiers: set[str] | None = None
        self._notify_timeout = 30.0
        self._stop_by: float | None = None
        self._dispatcher: Dispatcher | None = None
        global _current
        _current = self

    # --- loading -------------------------------------------------------------

    def register_module(
        self,
        module: ModuleType | object,
        name: str,
        origin: str,
        dist: str | None,
        version: str | None,
    ) -> None:
        """Register a plugin module (or object) under ``name``; ``origin`` is "builtin",
        "entry point", "-p" or "test"."""
        if self.pm.has_plugin(name):
            raise PluginError(f"two plugins are named {name!r}")
        try:
            hash(module)
            registered = module
        except TypeError:  # pluggy's subset callers keep plugins in sets
            registered = _hashable(module)
        self.pm.register(registered, name=name)
        self.infos.append(PluginInfo(name, origin, dist, version, module))
        self._registries_built = False

    def load_builtins(self) -> None:
        import importlib

        from dssframe import __version__

        for name, dotted in DEFAULT_PLUGINS.items():
            module = importlib.import_module(dotted)
            self.register_module(module, name, "builtin", None, __version__)

    def installed(self) -> list[EntryPoint]:
        """The installed entry points of group ``dssframe`` that ``DSSFRAME_PLUGINS`` /
        ``DSSFRAME_DISABLE_PLUGINS`` allow: read (once), not imported."""
        if self._installed is None:
            from dssframe.plugins.entrypoints import entry_points

            allow = _env_names("DSSFRAME_PLUGINS")
            deny = _env_names("DSSFRAME_DISABLE_PLUGINS") or set()
            self._installed = [
                ep
                for ep in entry_points(ENTRY_POINT_GROUP)
                if (allow is None or ep.name in allow) and ep.name not in deny
            ]
        return self._installed

    def load_entry_points(self) -> None:
        """Import every installed entry point (once); a plugin that fails to import
        only warns. For listing what is installed (``dss plugins``, ``--version``) and
        for a command no builtin has: loaded is not enabled (:meth:`is_enabled`)."""
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in self.installed():
            self._import(ep)
        self.finish()

    def load_plugins(self, names: Iterable[str]) -> None:
        """Import the installed entry points of these plugin names (those not loaded
        yet); names that are not installed entry points are left alone."""
        wanted = set(names) - {info.name for info in self.infos}
        if not wanted:
            return  # nothing to read: a plain create never scans the installation
        entries = [ep for ep in self.installed() if ep.name in wanted]
        for ep in entries:
            self._import(ep)
        if entries:
            self.finish()

    def _import(self, ep: EntryPoint) -> None:
        """Import and register one entry point (once); failure is a warning and a
        :class:`BrokenPlugin`."""
        if ep.name in self._tried:
            return
        self._tried.add(ep.name)
        self._registries_built = False
        try:
            module = ep.load()
            self.register_module(module, ep.name, "entry point", ep.distribution, ep.version)
        except Exception as exc:  # noqa: BLE001 - isolate every third-party import
            error = f"{type(exc).__name__}: {exc}"
            self.broken.append(BrokenPlugin(ep.name, ep.distribution, error))
            log.warning("plugin %r (%s) failed to load: %s", ep.name, ep.distribution, error)
        logs.activate_if_loaded()  # a plugin that imported logging gets dss's setup

    def load_module(self, dotted: str) -> None:
        """Load a plugin module by dotted path (``-p``); failure is an error."""
        import importlib

        try:
            module = importlib.import_module(dotted)
        except Exception as exc:
            raise PluginError(f"cannot load plugin module {dotted!r}: {exc}") from exc
        logs.activate_if_loaded()  # a plugin that imported logging gets dss's setup
        self.register_module(module, dotted, "-p", None, getattr(module, "__version__", None))

    def finish(self) -> None:
        """Fail loudly on a hook implementation that matches no specification."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin error: {exc}") from exc

    # --- registries ----------------------------------------------------------

    def _build_registries(self) -> None:
        if self._registries_built:
            return
        self._registries_built = True
        self._transports.clear()
        self._retentions.clear()
        self._collect("transport", "dssframe_register_transports", self._transports)
        self._collect("retention", "dssframe_register_retention", self._retentions)

    def _collect(self, family: str, hook: str, registry: dict[str, Any]) -> None:
        """Call ``hook`` on each plugin that implements it, one at a time (pluggy's
        subset callers), so that every name is known with its owner."""
        for plugin_name, plugin in self.pm.list_name_plugin():
            if not self._implements(plugin, hook):
                continue

            def register(name: str, factory: Callable[..., Any], owner: str = plugin_name) -> None:
                if name in registry:
                    raise PluginError(
                        f"{family} {name!r} is registered twice "
                        f"(by {registry[name][1]!r} and {owner!r})"
                    )
                registry[name] = (factory, owner)

            self.call(hook, plugin=plugin, register=register)

    def _registry(self, family: str) -> dict[str, tuple[Callable[..., Any], str]]:
        return self._transports if family == "transport" else self._retentions

    def _find(self, family: str, name: str) -> None:
        """Make ``name`` known to the ``family`` registry if an installed plugin has it:
        import the entry points named like it first (``keep-newest`` finds
        ``keepnewest``), every installed one only if they do not provide it."""
        registry = self._registry(family)
        self._build_registries()
        if name in registry:
            return
        key = _key(name)
        self.load_plugins(ep.name for ep in self.installed() if _key(ep.name) == key)
        self._build_registries()
        if name in registry or self._entry_points_loaded:
            return
        if any(ep.name not in self._tried for ep in self.installed()):
            log.info(
                "%s %r: no installed plugin is named like it; importing every installed "
                "plugin to find it", family, name,
            )  # fmt: skip
            self.load_entry_points()
            self._build_registries()

    def transport_names(self) -> list[str]:
        """Every transport name, of every installed plugin (imports them all)."""
        self.load_entry_points()
        self._build_registries()
        return sorted(self._transports)

    def retention_names(self) -> list[str]:
        """Every retention name, of every installed plugin (imports them all)."""
        self.load_entry_points()
        self._build_registries()
        return sorted(self._retentions)

    def owner_of(self, family: str, name: str) -> str | None:
        """The plugin that registers ``name`` in ``family`` (found as
        :meth:`transport` would find it), None when none does."""
        self._find(family, name)
        entry = self._registry(family).get(name)
        return entry[1] if entry else None

    def _select(self, family: str, name: str, registry: dict[str, Any]) -> Any:
        self._find(family, name)
        if name not in registry:
            for broken in self.broken:
                if broken.name == name:
                    raise PluginError(
                        f"plugin {name!r} ({broken.distribution}) provides the selected "
                        f"{family} but failed to load: {broken.error}"
                    )
            raise UnknownNameError(family, name, list(registry))
        factory, owner = registry[name]
        self._enabled.add(owner)  # the selected one's owner is enabled
        return factory

    def transport(self, config: Config) -> Transport:
        """The configured transport (``config.transport``), made by its plugin's factory
        from ``config`` (with the defaults of every declared plugin setting that
        ``config`` lacks)."""
        factory = self._select("transport", config.transport, self._transports)
        result: Transport = factory(self._with_defaults(config))
        return result

    def retention(self, config: Config) -> RetentionPolicy:
        """The configured retention policy (``config.retention``), made by its plugin's
        factory from ``config`` (with the defaults of every declared plugin setting
        that ``config`` lacks: ``host.retention(Config(retention="keep-newest"))``
        works as well as a config read from a file)."""
        factory = self._select("retention", config.retention, self._retentions)
        result: RetentionPolicy = factory(self._with_defaults(config))
        return result

    def _with_defaults(self, config: Config) -> Config:
        """``config`` plus a table of defaults for each declared settings section it
        has no table for (a config read by :meth:`apply_settings` has them all)."""
        missing = [d for d in self.settings_declarations() if d.section not in config.plugins]
        if not missing:
            return config
        from dssframe.core.settings import validate_section

        plugins = dict(config.plugins)
        for declaration in missing:
            plugins[declaration.section] = validate_section(declaration, None)
        return config._replace(plugins=plugins)

    # --- calling hooks ---------------------------------------------------------------

    def call(
        self, hook: str, *, plugin: object = None, enabled_only: bool = False, **kwargs: Any
    ) -> list[Any]:
        """Call ``hook`` through pluggy with ``kwargs``, and the implementations of its
        deprecated old names too (:data:`hookspecs.RENAMED`); the results of all.
        ``plugin``: on that plugin only; ``enabled_only``: on the enabled plugins only
        (:meth:`is_enabled`)."""
        remove: list[object] = []
        if plugin is not None:
            # list_name_plugin copies at once: delivery threads call this while the main
            # thread may register a plugin
            remove = [p for _, p in self.pm.list_name_plugin() if p is not None and p is not plugin]
        elif enabled_only:
            remove = [
                self.pm.get_plugin(info.name) for info in self.infos if not self.is_enabled(info)
            ]
        results: list[Any] = []
        for name in (hook, *_old_names(hook)):
            caller = self.pm.subset_hook_caller(name, remove) if remove else getattr(
                self.pm.hook, name
            )
            results.extend(caller(**kwargs))
        return results

    def _implements(self, plugin: object, hook: str) -> bool:
        names = {hook, *_old_names(hook)}
        return any(caller.name in names for caller in self.pm.get_hookcallers(plugin) or ())

    # --- enabling ----------------------------------------------------------------------

    def is_enabled(self, info: PluginInfo) -> bool:
        """Builtins and ``-p`` modules always are; an entry point when the
        configuration selects or lists it."""
        return info.origin in ALWAYS_ENABLED or info.name in self._enabled

    def enabled_names(self) -> set[str]:
        """The names of the enabled plugins, loaded or not (broken, say)."""
        always = {info.name for info in self.infos if info.origin in ALWAYS_ENABLED}
        return always | self._enabled

    def enable(self, config: Config) -> None:
        """Import and enable what ``config`` needs: the owners of the selected transport
        and retention, the ``notify`` and ``enable-plugins`` names. An
        ``enable-plugins`` name that is not installed is a configuration error."""
        listed = [*config.notify, *config.enable_plugins]
        self.load_plugins(listed)
        enabled = set(listed)
        for family, name in (("transport", config.transport), ("retention", config.retention)):
            owner = self.owner_of(family, name)
            if owner is not None:
                enabled.add(owner)
        loaded = {info.name for info in self.infos}
        for name in config.enable_plugins:
            if name not in loaded:
                known = loaded | {ep.name for ep in self.installed()}
                raise ConfigError(_not_installed(name, sorted(known)))
        self._enabled = enabled

    # --- notification --------------------------------------------------------------

    def notifier_names(self) -> list[str]:
        """Every plugin that implements ``dssframe_event``, of every installed one
        (imports them all)."""
        self.load_entry_points()
        return self._notifiers_loaded()

    def _notifiers_loaded(self) -> list[str]:
        return sorted(
            info.name
            for info in self.infos
            if self._implements(self._registered(info), "dssframe_event")
        )

    def select_notifiers(self, names: Iterable[str] | None, timeout: float) -> None:
        """Builtin notifiers and modules loaded with ``-p`` always hear events;
        entry-point ones only when listed in the ``notify`` option. An unknown name is
        an error listing the valid ones."""
        chosen = set(names or ())
        self.load_plugins(chosen)
        if not chosen <= set(self._notifiers_loaded()):
            valid = self.notifier_names()  # only to name the valid ones in the error
            unknown = sorted(chosen - set(valid))
            if unknown:
                raise UnknownNameError("notifier", unknown[0], valid)
        always = {info.name for info in self.infos if info.origin in ALWAYS_ENABLED}
        self._active_notifiers = always | chosen
        self._notify_timeout = float(timeout)
        if self._dispatcher is not None:
            self._dispatcher.timeout = self._notify_timeout

    def _notifiers(self) -> list[str]:
        """The notifiers that hear events now, in registration order."""
        active = self._active_notifiers
        return [
            info.name
            for info in self.infos
            if (info.name in active if active is not None else info.origin in ALWAYS_ENABLED)
            and self._implements(self._registered(info), "dssframe_event")
        ]

    def notify(self, event: Event) -> None:
        """Give ``event`` to every active notifier, through the dispatcher
        (:mod:`dssframe.plugins.notify`): in order per notifier, in the background while
        a command runs (the work never waits for a notifier), within one shared
        ``notify-timeout`` deadline; a notifier that raises or hangs is logged and never
        changes the outcome. Outside a command (a test, an embedding program) it
        returns once the event is delivered or its deadline passed."""
        names = self._notifiers()
        if SYNCHRONOUS_NOTIFIER in names:
            # dss's own log line: written now, in order with the other lines (and
            # before the command's exit), never lost to a deadline; it only logs.
            self._deliver(SYNCHRONOUS_NOTIFIER, event)
            names = [name for name in names if name != SYNCHRONOUS_NOTIFIER]
        if not names:
            return
        if any(info.origin != "builtin" for info in self.infos):
            logs.activate()  # a third-party notifier may import logging only now
        self._delivery().submit(event, names)

    def _delivery(self) -> Dispatcher:
        if self._dispatcher is None:
            from dssframe.plugins.notify import Dispatcher

            self._dispatcher = Dispatcher(self._deliver, self._notify_timeout)
            self._dispatcher.stop_by(self._stop_by)
        return self._dispatcher

    def _deliver(self, name: str, event: Event) -> None:
        """Hand ``event`` to the notifier ``name`` alone (a delivery thread calls it)."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.call("dssframe_event", plugin=plugin, event=event)

    def flush(self) -> bool:
        """Wait until every event is delivered, or its deadline (or the stop deadline)
        passed; True when nothing was given up on."""
        return self._dispatcher.flush() if self._dispatcher is not None else True

    def close(self) -> bool:
        """:meth:`flush` before the process exits, reporting the events lost."""
        return self._dispatcher.close() if self._dispatcher is not None else True

    # --- stopping ------------------------------------------------------------------

    def stop_by(self, deadline: float | None) -> None:
        """From now on no notifier is waited for beyond ``deadline``
        (``time.monotonic()`` seconds; None: only ``notify-timeout`` bounds it). The run
        loop sets it when it stops, so that no notifier holds the exiting process. It
        only assigns attributes: safe in a signal handler."""
        self._stop_by = deadline
        if self._dispatcher is not None:
            self._dispatcher.stop_by(deadline)

    def stop(self, within: float | None) -> None:
        """dss is stopping: every loaded plugin is told to end what it started within
        ``within`` seconds (``dssframe_stop``: running shell hooks are cut off), and no
        notifier is waited for beyond that (unless :meth:`stop_by` set an earlier
        deadline). None: a new run begins, forget the stop. Safe in a signal handler
        (the implementations only assign)."""
        if within is None:
            self.stop_by(None)
        else:
            end = time.monotonic() + within
            if self._stop_by is None or end < self._stop_by:
                self.stop_by(end)
        self.call("dssframe_stop", within=within)

    def wait_stopped(self, timeout: float) -> bool:
        """After :meth:`stop`: wait at most ``timeout`` seconds until nothing a plugin
        started runs any more (``dssframe_wait_stopped``); True when nothing does."""
        results = self.call("dssframe_wait_stopped", deadline=time.monotonic() + timeout)
        return False not in results

    def _registered(self, info: PluginInfo) -> object:
        """The object registered with pluggy for ``info`` (its module, or a hashable
        stand-in for it)."""
        return self.pm.get_plugin(info.name)

    def settings_declarations(self) -> list[PluginSettings]:
        """Every plugin's declared settings (``dssframe_plugin_settings``)."""
        declared = [d for d in self.call("dssframe_plugin_settings") if d is not None]
        if not declared:
            return []
        from dssframe.core.settings import check  # only when a plugin declares settings

        seen: dict[str, PluginSettings] = {}
        for declaration in declared:
            try:
                check(declaration)
            except ValueError as exc:
                raise PluginError(f"a plugin declares a bad setting: {exc}") from None
            if declaration.section in seen:
                raise PluginError(f"two plugins declare settings [plugins.{declaration.section}]")
            seen[declaration.section] = declaration
        return sorted(seen.values(), key=lambda d: d.section)

    def apply_settings(self, config: Config) -> Config:
        """``config`` with every ``[plugins.<section>]`` validated and defaults filled.

        The plugins ``config`` enables are imported first (:meth:`enable`); a table of
        an installed plugin that is not enabled is left as it is, with a warning.
        """
        self.enable(config)
        values: dict[str, dict[str, Any]] = {}
        declarations = self.settings_declarations()
        if declarations:
            from dssframe.core.settings import validate_section  # only when a plugin declares some
        for declaration in declarations:
            values[declaration.section] = validate_section(
                declaration, config.plugins.get(declaration.section)
            )
        for section, raw in config.plugins.items():
            if section not in values:
                values[section] = dict(raw)
                if section in self._warned_sections:
                    continue  # once per run, although configure() applies settings again
                self._warned_sections.add(section)
                if self.warn_sections:
                    log.warning("%s", self.section_problem(section))
        return config._replace(plugins=values)

    def section_problem(self, section: str) -> str:
        """Why no loaded plugin takes the ``[plugins.<section>]`` table (as
        :meth:`apply_settings` warns; ``dss configtest`` fails on it)."""
        idle = {ep.name for ep in self.installed()} - self._tried
        if section in idle:
            return (
                f"[plugins.{section}]: plugin {section!r} is installed but not enabled "
                "(select it, or list it in notify or enable-plugins)"
            )
        return f"[plugins.{section}]: no loaded plugin declares these settings"

    def transport_names_loaded(self) -> list[str]:
        """Transport names registered by the plugins loaded so far."""
        self._build_registries()
        return sorted(self._transports)

    def retention_names_loaded(self) -> list[str]:
        """Retention names registered by the plugins loaded so far."""
        self._build_registries()
        return sorted(self._retentions)

    def add_commands(self, app: Any) -> None:
        """Let plugins add commands to the typer ``app`` (``dssframe_cli_commands``),
        one plugin at a time: a command name that an earlier one defined is an error
        naming the plugin."""
        for plugin_name, plugin in self.pm.list_name_plugin():
            if not self._implements(plugin, "dssframe_cli_commands"):
                continue
            before = [command.name for command in app.registered_commands]
            self.call("dssframe_cli_commands", plugin=plugin, app=app)
            names = [command.name for command in app.registered_commands]
            for name in names[len(before) :]:
                if names.count(name) > 1:
                    raise PluginError(f"plugin {plugin_name!r} redefines command {name!r}")

    def configure(self, config: Config) -> None:
        """Hand the (re)loaded configuration to every enabled plugin
        (``dssframe_configure``, with this host's :meth:`notify`) and select the
        notifiers it lists."""
        config = self.apply_settings(config)  # imports and enables what it needs
        self.select_notifiers(config.notify, config.notify_timeout)
        self.call("dssframe_configure", enabled_only=True, config=config, notify=self.notify)

    def veto_create(self, config: Config, destination: str) -> str | None:
        """The first enabled plugin's reason not to create a snapshot into
        ``destination`` now (``dssframe_pre_create``), None when all allow it."""
        return _first(
            self.call("dssframe_pre_create", enabled_only=True, config=config,
                      destination=destination)
        )  # fmt: skip

    def veto_remove(self, config: Config, path: str) -> str | None:
        """The first enabled plugin's reason not to remove ``path`` now
        (``dssframe_pre_remove``), None when all allow it."""
        return _first(self.call("dssframe_pre_remove", enabled_only=True, config=config, path=path))

    def hook_names(self, info: PluginInfo) -> list[str]:
        """The hooks ``info``'s plugin implements."""
        callers = self.pm.get_hookcallers(self._registered(info)) or []
        return sorted(caller.name for caller in callers)


#: The last host made: the one of this run, which a signal handler reaches (:func:`current`).
_current: PluginHost | None = None


def current() -> PluginHost | None:
    """The plugin host of this run (the last one made), None before there is one."""
    return _current


def _old_names(hook: str) -> list[str]:
    """The deprecated names of ``hook`` still honoured (:data:`hookspecs.RENAMED`)."""
    renamed = hookspecs.RENAMED
    return [old for old, new in renamed.items() if new == hook] if renamed else []


def _key(name: str) -> str:
    """A plugin or registry name, compared loosely: ``keep-newest`` is ``keepnewest``."""
    return name.lower().replace("-", "").replace("_", "").replace(".", "")


def _not_installed(name: str, known: list[str]) -> str:
    import difflib  # only on this error

    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return (
        f"enable-plugins: no plugin {name!r} is installed{hint} "
        f"(installed: {', '.join(known) or 'none'})"
    )


def _hashable(target: object) -> ModuleType:
    """A stand-in for a plugin object that cannot be hashed (a ``SimpleNamespace`` of
    hook functions, say; pluggy's subset callers keep plugins in sets): a module
    holding the same hook functions (bound methods stay bound to ``target``)."""
    stand_in = ModuleType(f"dssframe plugin {target!r}"[:200])
    for name in dir(target):
        if name.startswith("dssframe_"):
            setattr(stand_in, name, getattr(target, name))
    return stand_in


def _first(results: Iterable[str | None]) -> str | None:
    for result in results:
        if result:
            return result
    return None


def _env_names(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def load_host(extra_modules: Iterable[str] = ()) -> PluginHost:
    """Build the plugin host for one run: builtins and ``-p`` modules now, entry-point
    plugins when the configuration enables them (:meth:`PluginHost.enable`)."""
    host = PluginHost()
    host.load_builtins()
    for dotted in extra_modules:
        host.load_module(dotted)
    host.finish()
    return host
