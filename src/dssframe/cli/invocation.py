"""What the global options said, with the configuration and the plugin host loaded on
demand. Shared by the typer commands and the lean start-up path (no typer here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dssframe.core.config import Config
    from dssframe.engine.job import Job
    from dssframe.plugins.host import PluginHost


class Invocation:
    """Global options of one ``dss`` invocation.

    (A plain class, like the other records ``dss create`` needs before rsync starts:
    each dataclass costs about half a millisecond of start-up on Python 3.11.)"""

    def __init__(
        self,
        config_file: str | None = None,
        overrides: dict[str, Any] | None = None,
        dry_run: bool = False,
        plugin_modules: list[str] | None = None,
    ) -> None:
        self.config_file = config_file
        self.overrides: dict[str, Any] = {} if overrides is None else overrides
        self.dry_run = dry_run
        self.plugin_modules: list[str] = [] if plugin_modules is None else plugin_modules
        self._config: Config | None = None
        self._host: PluginHost | None = None

    def config(self) -> Config:
        """The effective configuration (file + command line + plugin settings)."""
        if self._config is None:
            from dssframe import logs
            from dssframe.store import configfile

            loaded = configfile.load(self.config_file, self.overrides)
            logs.setup(loaded.loglevel)
            self._config = self.host().apply_settings(loaded)
            self.dry_run = self.dry_run or loaded.dry_run  # dry-run in the file (.dssrc)
        return self._config

    def host(self) -> PluginHost:
        """The plugin host: builtins and ``-p`` modules, entry points when needed."""
        if self._host is None:
            from dssframe.plugins.host import load_host

            self._host = load_host(self.plugin_modules)
        return self._host

    def job(self) -> Job:
        """A snapshot job for the configured destination, plugins configured."""
        from dssframe.engine.job import Job

        config, host = self.config(), self.host()
        host.configure(config)
        return Job.from_config(config, host)
