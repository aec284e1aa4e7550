"""The plugin host: registers builtins and entry-point plugins alike, keeps the
transport and retention registries, and calls hooks through one typed facade."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import pluggy

from dssframe import logs
from dssframe.core.errors import PluginError, UnknownNameError
from dssframe.plugins import hookspecs

if TYPE_CHECKING:
    from dssframe.core.config import Config
    from dssframe.core.events import Event
    from dssframe.core.retention import RetentionPolicy
    from dssframe.core.settings import PluginSettings
    from dssframe.core.transport import Transport

log = logs.get("dssframe.plugins.host")

ENTRY_POINT_GROUP = "dssframe"
#: The builtins, registered exactly like third-party plugins: plugin name -> module.
DEFAULT_PLUGINS = {
    "rsync": "dssframe.builtin.rsync",
    "dyadic": "dssframe.builtin.dyadic_retention",
    "log_notify": "dssframe.builtin.log_notify",
    "hooks": "dssframe.builtin.shell_hooks",
}

F = TypeVar("F")


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
        self._entry_points_loaded = False

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
        self.pm.register(module, name=name)
        self.infos.append(PluginInfo(name, origin, dist, version, module))

    def load_builtins(self) -> None:
        import importlib

        from dssframe import __version__

        for name, dotted in DEFAULT_PLUGINS.items():
            module = importlib.import_module(dotted)
            self.register_module(module, name, "builtin", None, __version__)
        # The hooks plugin reports a hook that timed out (a ``hook-timeout`` event) but
        # cannot see the host: it gets this host's ``notify`` (the last host loaded
        # wins; there is one per run).
        from dssframe.builtin import shell_hooks as hooks

        hooks.set_reporter(self.notify)

    def load_entry_points(self) -> None:
        """Discover group ``dssframe`` (once); a plugin that fails to import only warns.

        Called lazily: a command that needs only builtins (``dss ls`` with the default
        retention) never pays for scanning the installed distributions.
        """
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        self._registries_built = False
        from dssframe.plugins.entrypoints import entry_points

        allow = _env_names("DSSFRAME_PLUGINS")
        deny = _env_names("DSSFRAME_DISABLE_PLUGINS") or set()
        for ep in entry_points(ENTRY_POINT_GROUP):
            if (allow is not None and ep.name not in allow) or ep.name in deny:
                continue
            dist, version = ep.distribution, ep.version
            try:
                module = ep.load()
                self.register_module(module, ep.name, "entry point", dist, version)
            except Exception as exc:  # noqa: BLE001 - isolate every third-party import
                error = f"{type(exc).__name__}: {exc}"
                self.broken.append(BrokenPlugin(ep.name, dist, error))
                log.warning("plugin %r (%s) failed to load: %s", ep.name, dist, error)
        logs.activate_if_loaded()  # a plugin that imported logging gets dss's setup
        self.finish()

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
        self._collect("transport", self.pm.hook.dssframe_register_transports, self._transports)
        self._collect("retention", self.pm.hook.dssframe_register_retention, self._retentions)

    def _collect(self, family: str, hook: Any, registry: dict[str, Any]) -> None:
        for impl in hook.get_hookimpls():
            owner = impl.plugin_name

            def register(name: str, factory: Callable[..., Any], owner: str = owner) -> None:
                if name in registry:
                    raise PluginError(
                        f"{family} {name!r} is registered twice "
                        f"(by {registry[name][1]!r} and {owner!r})"
                    )
                registry[name] = (factory, owner)

            impl.function(register=register)

    def transport_names(self) -> list[str]:
        self.load_entry_points()
        self._build_registries()
        return sorted(self._transports)

    def retention_names(self) -> list[str]:
        self.load_entry_points()
        self._build_registries()
        return sorted(self._retentions)

    def owner_of(self, family: str, name: str) -> str | None:
        self.load_entry_points()
        self._build_registries()
        registry = self._transports if family == "transport" else self._retentions
        entry = registry.get(name)
        return entry[1] if entry else None

    def _select(self, family: str, name: str, registry: dict[str, Any]) -> Any:
        self._build_registries()
        if name not in registry and not self._entry_points_loaded:
            self.load_entry_points()
            self._build_registries()
        if name not in registry:
            for broken in self.broken:
                if broken.name == name:
                    raise PluginError(
                        f"plugin {name!r} ({broken.distribution}) provides the selected "
                        f"{family} but failed to load: {broken.error}"
                    )
            raise UnknownNameError(family, name, list(registry))
        return registry[name][0]

    def transport(self, config: Config) -> Transport:
        factory = self._select("transport", config.transport, self._transports)
        result: Transport = factory(config)
        return result

    def retention(self, config: Config) -> RetentionPolicy:
        factory = self._select("retention", config.retention, self._retentions)
        result: RetentionPolicy = factory(config)
        return result

    # --- typed hook facade -------------------------------------------------------

    def notifier_names(self) -> list[str]:
        """Every loaded plugin that implements ``dssframe_event``."""
        self.load_entry_points()
        return sorted(impl.plugin_name for impl in self.pm.hook.dssframe_event.get_hookimpls())

    def select_notifiers(self, names: Iterable[str] | None, timeout: float) -> None:
        """Builtin notifiers and modules loaded with ``-p`` always hear events;
        entry-point ones only when listed in the ``notify`` option. An unknown name is
        an error listing the valid ones."""
        valid = self.notifier_names()
        chosen = set(names or ())
        unknown = sorted(chosen - set(valid))
        if unknown:
            raise UnknownNameError("notifier", unknown[0], valid)
        always = {info.name for info in self.infos if info.origin in ("builtin", "-p", "test")}
        self._active_notifiers = always | chosen
        self._notify_timeout = timeout

    def stop_by(self, deadline: float | None) -> None:
        """From now on ``notify`` waits for no notifier beyond ``deadline``
        (``time.monotonic()`` seconds; None: only ``notify-timeout`` bounds it). The run
        loop sets it when it stops, so that no notifier holds the exiting process. It
        only assigns an attribute: safe in a signal handler."""
        self._stop_by = deadline

    def notify(self, event: Event) -> None:
        """Give ``event`` to every active notifier, each in its own (daemon) thread,
        time-boxed; a notifier that raises or hangs is logged and never changes the
        outcome.

        One after the other, each given ``notify-timeout`` seconds; once a stop
        deadline is set (:meth:`stop_by`), side by side instead, and none is waited for
        beyond the deadline: the process goes on without it."""
        import threading
        import time

        self.load_entry_points()
        active = getattr(self, "_active_notifiers", None)
        timeout = getattr(self, "_notify_timeout", 30.0)
        if any(info.origin != "builtin" for info in self.infos):
            logs.activate()  # a third-party notifier may import logging only now
        started: list[tuple[threading.Thread, str, float]] = []
        for impl in reversed(self.pm.hook.dssframe_event.get_hookimpls()):
            if active is not None and impl.plugin_name not in active:
                continue

            def call(function: Any = impl.function, name: str = impl.plugin_name) -> None:
                try:
                    function(event=event)
                except Exception as exc:  # noqa: BLE001 - never mask the real outcome
                    log.error("notifier %r failed on %s: %s", name, event.kind.value, exc)

            worker = threading.Thread(target=call, name=f"notify-{impl.plugin_name}", daemon=True)
            worker.start()
            started.append((worker, impl.plugin_name, time.monotonic() + timeout))
            if getattr(self, "_stop_by", None) is None:
                self._join(*started.pop(), event, timeout)
        for worker, name, end in started:
            self._join(worker, name, end, event, timeout)

    def _join(self, worker: Any, name: str, end: float, event: Event, timeout: float) -> None:
        """Wait for ``worker`` until ``end`` or the stop deadline, in short slices (the
        deadline may be set while we wait)."""
        import time

        stop = getattr(self, "_stop_by", None)
        while worker.is_alive():
            stop = getattr(self, "_stop_by", None)
            limit = end if stop is None else min(end, stop)
            left = limit - time.monotonic()
            if left <= 0:
                break
            worker.join(min(left, 0.1))
        if not worker.is_alive():
            return
        if stop is not None and stop <= end:
            log.error(
                "notifier %r did not finish %s by the stop deadline; going on without it",
                name, event.kind.value,
            )  # fmt: skip
        else:
            log.error(
                "notifier %r did not finish %s within %gs; going on without it",
                name, event.kind.value, timeout,
            )  # fmt: skip

    def settings_declarations(self) -> list[PluginSettings]:
        """Every plugin's declared settings (``dssframe_plugin_settings``)."""
        declared = [d for d in self.pm.hook.dssframe_plugin_settings() if d is not None]
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

        Entry points are loaded first when the config names plugin settings or selects
        a transport/retention that no builtin provides.
        """
        builtin_names = set(self.transport_names_loaded()) | set(self.retention_names_loaded())
        if config.plugins or not {config.transport, config.retention} <= builtin_names:
            self.load_entry_points()
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
                log.warning("[plugins.%s]: no loaded plugin declares these settings", section)
                values[section] = dict(raw)
        return config._replace(plugins=values)

    def transport_names_loaded(self) -> list[str]:
        """Transport names registered by the plugins loaded so far."""
        self._build_registries()
        return sorted(self._transports)

    def retention_names_loaded(self) -> list[str]:
        """Retention names registered by the plugins loaded so far."""
        self._build_registries()
        return sorted(self._retentions)

    def add_commands(self, app: Any) -> None:
        """Let plugins add commands to the typer ``app`` (``dssframe_cli_commands``)."""
        for impl in self.pm.hook.dssframe_cli_commands.get_hookimpls():
            before = [info.name for info in app.registered_commands]
            impl.function(app=app)
            names = [info.name for info in app.registered_commands]
            for name in names[len(before) :]:
                if names.count(name) > 1:
                    raise PluginError(f"plugin {impl.plugin_name!r} redefines command {name!r}")

    def configure(self, config: Config) -> None:
        """Hand the (re)loaded configuration to every plugin (``dssframe_configure``)
        and select the notifiers it lists."""
        self.load_entry_points()
        self.select_notifiers(config.notify, config.notify_timeout)
        # Entry points loaded since the config was read get their defaults too.
        self.pm.hook.dssframe_configure(config=self.apply_settings(config))

    def veto_create(self, config: Config, destination: str) -> str | None:
        self.load_entry_points()
        return _first(self.pm.hook.dssframe_pre_create(config=config, destination=destination))

    def veto_remove(self, config: Config, path: str) -> str | None:
        self.load_entry_points()
        return _first(self.pm.hook.dssframe_pre_remove(config=config, path=path))

    def hook_names(self, info: PluginInfo) -> list[str]:
        """The hooks ``info``'s plugin implements."""
        callers = self.pm.get_hookcallers(info.module) or []
        return sorted(caller.name for caller in callers)


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
    plugins as soon as anything needs more than the builtins."""
    host = PluginHost()
    host.load_builtins()
    for dotted in extra_modules:
        host.load_module(dotted)
    host.finish()
    return host
