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
        verbosity: int = 0,
        job_names: list[str] | None = None,
    ) -> None:
        self.config_file = config_file
        self.overrides: dict[str, Any] = {} if overrides is None else overrides
        self.dry_run = dry_run
        self.plugin_modules: list[str] = [] if plugin_modules is None else plugin_modules
        #: ``-v`` minus ``-q``: log levels to move below (towards debug) the configured one.
        self.verbosity = verbosity
        #: The ``--job`` names (empty: every job).
        self.job_names: list[str] = [] if job_names is None else job_names
        self._config: Config | None = None
        self._configs: list[Config] | None = None
        self._host: PluginHost | None = None

    def config(self) -> Config:
        """The effective configuration (file + command line + plugin settings) of the
        one job a command works on: the config's only job, or the one ``--job`` chose;
        several is a usage error asking for ``--job NAME``."""
        if self._config is None:
            configs = self.configs()
            if len(configs) > 1:
                from dssframe.core.errors import UsageError

                names = ", ".join(config.name for config in configs)
                raise UsageError(
                    f"{configs[0].path or 'the config'} has {len(configs)} jobs ({names}); "
                    "this command works on one: choose it with --job NAME"
                )
            self._config = configs[0]
        return self._config

    def configs(self) -> list[Config]:
        """The effective configuration of every job ``--job`` chose (all of them when
        it was not given), in config order; a config without jobs is one."""
        if self._configs is None:
            from dssframe import logs
            from dssframe.store import configfile

            loaded = configfile.load_jobs(self.config_file, self.overrides)
            chosen = [self.shifted(c) for c in configfile.select_jobs(loaded, self.job_names)]
            logs.setup(chosen[0].loglevel)
            host = self.host()
            self._configs = [host.apply_settings(config) for config in chosen]
            self.dry_run = self.dry_run or chosen[0].dry_run  # dry-run in the file (.dssrc)
        return self._configs

    def shifted(self, config: Config) -> Config:
        """``config`` with its loglevel moved by ``-v``/``-q`` (:attr:`verbosity`): the
        command line's shift applies on top of ``--loglevel`` or the file's level, also
        after a reload of the file."""
        if not self.verbosity:
            return config
        return config._replace(loglevel=shift_loglevel(config.loglevel, self.verbosity))

    def host(self) -> PluginHost:
        """The plugin host: builtins and ``-p`` modules, entry points when needed."""
        if self._host is None:
            from dssframe.plugins.host import load_host

            self._host = load_host(self.plugin_modules)
        return self._host

    def job(self, config: Config | None = None) -> Job:
        """A snapshot job for ``config`` (default: :meth:`config`), plugins
        configured for it."""
        from dssframe.engine.job import Job

        config, host = config or self.config(), self.host()
        host.configure(config)
        return Job.from_config(config, host)


def shift_loglevel(level: str, verbosity: int) -> str:
    """``level`` moved ``verbosity`` steps towards debug (negative: towards emerg),
    clamped at both ends of :data:`~dssframe.core.config.LOGLEVELS`."""
    from dssframe.core.config import LOGLEVELS

    index = LOGLEVELS.index(level) - verbosity
    return LOGLEVELS[min(max(index, 0), len(LOGLEVELS) - 1)]
