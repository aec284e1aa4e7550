"""Reading configuration files: where the file is, TOML or an original ``.dssrc``, the
merge with the command line; and writing one (``dss config import-dssrc``). The option
table and its validation are pure, in :mod:`dssframe.core.config` and
:mod:`dssframe.core.dssrc`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dssframe.core.config import (
    PATH_KEYS,
    Config,
    attribute_name,
    job_name_problem,
    to_toml,
    validate,
)
from dssframe.core.errors import ConfigError, UsageError
from dssframe.core.guards import check_config

# Paths here are strings, not pathlib objects: ``dss create`` reads its config before
# rsync starts, and importing pathlib would cost it 3 ms.


def default_path() -> str:
    from dssframe.store.dirs import config_dir

    return os.path.join(config_dir(), "config.toml")


def resolve_path(explicit: str | None) -> tuple[str, bool]:
    """The config file to read and whether it must exist (an explicit choice must)."""
    if explicit:
        return explicit, True
    env = os.environ.get("DSSFRAME_CONFIG")
    if env:
        return env, True
    return default_path(), False


def read_file(path: str, required: bool) -> dict[str, Any]:
    """The raw table of ``path`` ({} when optional and missing): TOML, or an original
    dss option file (``~/.dssrc``: ``option value`` lines), which is read directly
    when the text is not TOML but is a valid option file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    import tomllib  # only when there is a file to parse

    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        from dssframe.core.dssrc import parse_raw

        try:
            raw = parse_raw(data.decode("utf-8"), path)
            validate(raw, path)  # only a valid option file is taken for one
        except ConfigError:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        return raw


def build(
    file_values: Mapping[str, Any],
    overrides: Mapping[str, Any],
    path: str | None,
    name: str = "",
) -> Config:
    """Merge file values and command-line overrides (which win) into a Config (of the
    job ``name``, whose values ``file_values`` already holds: see :func:`build_jobs`).
    A file with ``[[job]]`` tables is refused here: it has several configurations."""
    raw = dict(file_values)
    origin = f"{path or 'config'}" + (f" [job {name}]" if name else "")
    if "job" in raw:
        names = ", ".join(n for n, _ in _job_tables(raw["job"], origin)) or "none"
        raise UsageError(
            f"{origin} defines several jobs ({names}); choose one with --job NAME"
        )
    plugins = raw.pop("plugins", {})
    if not isinstance(plugins, dict) or not all(isinstance(v, dict) for v in plugins.values()):
        raise ConfigError(f"{origin}: [plugins] must hold one table per plugin")
    merged = validate(raw, origin)
    given = validate(overrides, "command line")
    merged.update(given)
    for key in PATH_KEYS:
        value = given.get(key)
        if value and not os.path.isabs(value) and (key != "source-dir" or _maybe_local(merged)):
            # what the user typed in a shell: relative to its current directory (a
            # trailing slash stays: for source-dir it decides the snapshot's layout)
            slash = "/" if value.endswith("/") else ""
            merged[key] = os.path.abspath(value) + slash
    config = Config(
        **{attribute_name(k): v for k, v in merged.items()}, plugins=plugins, path=path, name=name
    )

    check_config(config)
    return config


def _maybe_local(values: Mapping[str, Any]) -> bool:
    """Whether the source may be on this host, as the rsync transport decides it: a
    relative remote source-dir is relative to the remote home and is left alone."""
    use_ssh = values.get("use-ssh", "auto")
    if use_ssh != "auto":
        return bool(use_ssh == "never")
    if values.get("remote-host", "localhost") not in ("localhost", "127.0.0.1"):
        return False
    user = values.get("remote-user")
    if user is None:
        return True
    from dssframe.store.lock import user_name

    return bool(user == user_name())


def load(explicit: str | None, overrides: Mapping[str, Any]) -> Config:
    """The one configuration of the config file (and the command line); a file with
    several jobs is a usage error asking for ``--job``."""
    path, required = resolve_path(explicit)
    values = read_file(path, required)
    exists = required or os.path.exists(path)
    return build(values, overrides, path if exists else None)


def load_jobs(explicit: str | None, overrides: Mapping[str, Any]) -> list[Config]:
    """Every job of the config file, each merged with the command line
    (:func:`build_jobs`)."""
    path, required = resolve_path(explicit)
    values = read_file(path, required)
    exists = required or os.path.exists(path)
    return build_jobs(values, overrides, path if exists else None)


def build_jobs(
    file_values: Mapping[str, Any], overrides: Mapping[str, Any], path: str | None
) -> list[Config]:
    """The jobs of a config file: its top-level keys are the defaults, each ``[[job]]``
    (or ``[job.NAME]``) table a job that overrides any of them -- ``[plugins.X]`` keys
    one by one -- and the command line wins over both. Without job tables, the file is
    one job, named "". Names must be distinct, and so must destinations: two jobs
    writing into one directory would share its lock and prune each other's snapshots
    (exit 2)."""
    raw = dict(file_values)
    tables = raw.pop("job", None)
    if tables is None:
        return [build(raw, overrides, path)]
    origin = path or "config"
    defaults_plugins = raw.pop("plugins", {})
    configs: list[Config] = []
    for name, table in _job_tables(tables, origin):
        values = {**raw, **{key: value for key, value in table.items() if key != "plugins"}}
        values["plugins"] = _merge_plugins(defaults_plugins, table.get("plugins", {}), origin)
        configs.append(build(values, overrides, path, name))
    _check_distinct(configs, origin)
    return configs


def _job_tables(tables: Any, origin: str) -> list[tuple[str, dict[str, Any]]]:
    """``[[job]]`` (a list of tables with ``name``) or ``[job.NAME]`` (a table of
    tables) as (name, table without ``name``) pairs, in file order."""
    pairs: list[tuple[Any, Any]]  # (name, table) as written: checked below
    if isinstance(tables, list):
        pairs = [(t.get("name") if isinstance(t, dict) else None, t) for t in tables]
    elif isinstance(tables, dict):
        pairs = list(tables.items())
        for name, table in pairs:
            if isinstance(table, dict) and table.get("name", name) != name:
                raise ConfigError(f"{origin}: [job.{name}] has another name, {table['name']!r}")
    else:
        raise ConfigError(f"{origin}: job must be [[job]] tables or [job.NAME] tables")
    if not pairs:
        raise ConfigError(f"{origin}: job = [] defines no job")
    result = []
    seen: set[str] = set()
    for name, table in pairs:
        if not isinstance(table, dict):
            raise ConfigError(f"{origin}: each job must be a table")
        problem = job_name_problem(name)
        if problem is not None:
            raise ConfigError(f"{origin}: {problem}")
        if name in seen:
            raise ConfigError(f"{origin}: two jobs are named {name!r}")
        seen.add(name)
        result.append((name, {k: v for k, v in table.items() if k != "name"}))
    return result


def _merge_plugins(defaults: Any, overrides: Any, origin: str) -> dict[str, Any]:
    """A job's ``[plugins.X]`` tables: the top-level ones with the job's keys on top."""
    for tables in (defaults, overrides):
        if not isinstance(tables, dict) or not all(isinstance(v, dict) for v in tables.values()):
            raise ConfigError(f"{origin}: [plugins] must hold one table per plugin")
    merged = {section: dict(values) for section, values in defaults.items()}
    for section, values in overrides.items():
        merged[section] = {**merged.get(section, {}), **values}
    return merged


def _check_distinct(configs: list[Config], origin: str) -> None:
    """No two jobs share a destination (compared as real paths)."""
    owner: dict[str, str] = {}
    for config in configs:
        if not config.dest_dir:
            raise ConfigError(f"{origin} [job {config.name}]: dest-dir is not set")
        real = os.path.realpath(config.dest_dir)
        if real in owner:
            raise ConfigError(
                f"{origin}: jobs {owner[real]!r} and {config.name!r} share dest-dir {real}; "
                "each job needs its own destination"
            )
        owner[real] = config.name


def select_jobs(configs: list[Config], names: list[str]) -> list[Config]:
    """The jobs named ``names`` (all of them when empty), in config order; an unknown
    name is a usage error listing the known ones."""
    if not names:
        return configs
    known = [config.name for config in configs]
    unknown = [name for name in names if name not in known]
    if unknown:
        listed = ", ".join(n for n in known if n) or "none: the config has no [[job]] tables"
        raise UsageError(f"unknown job {unknown[0]!r}; jobs: {listed}")
    return [config for config in configs if config.name in names]


def convert_dssrc(path: str) -> str:
    """The TOML text of the original dss option file ``path``."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a UTF-8 text file") from None
    from dssframe.core.dssrc import parse_dssrc

    values = parse_dssrc(text, path)
    header = f"# dssframe configuration imported from {path}\n"
    return header + to_toml(values)


def write_config(path: str, text: str, force: bool) -> None:
    """Write ``text`` to ``path`` atomically; never clobber an existing file unless
    ``force``."""
    if os.path.exists(path) and not force:
        raise ConfigError(f"{path} exists; use --force to overwrite it")
    from dssframe.store.atomic import write_atomically

    write_atomically(path, text)
