"""Reading configuration files: where the file is, TOML or an original ``.dssrc``, the
merge with the command line; and writing one (``dss config import-dssrc``). The option
table and its validation are pure, in :mod:`dssframe.core.config` and
:mod:`dssframe.core.dssrc`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dssframe.core.config import PATH_KEYS, Config, attribute_name, to_toml, validate
from dssframe.core.errors import ConfigError
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


def build(file_values: Mapping[str, Any], overrides: Mapping[str, Any], path: str | None) -> Config:
    """Merge file values and command-line overrides (which win) into a Config."""
    raw = dict(file_values)
    plugins = raw.pop("plugins", {})
    if not isinstance(plugins, dict) or not all(isinstance(v, dict) for v in plugins.values()):
        raise ConfigError(f"{path or 'config'}: [plugins] must hold one table per plugin")
    merged = validate(raw, str(path or "config"))
    given = validate(overrides, "command line")
    merged.update(given)
    for key in PATH_KEYS:
        value = given.get(key)
        if value and not os.path.isabs(value) and (key != "source-dir" or _maybe_local(merged)):
            # what the user typed in a shell: relative to its current directory (a
            # trailing slash stays: for source-dir it decides the snapshot's layout)
            slash = "/" if value.endswith("/") else ""
            merged[key] = os.path.abspath(value) + slash
    config = Config(**{attribute_name(k): v for k, v in merged.items()}, plugins=plugins, path=path)

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
    path, required = resolve_path(explicit)
    values = read_file(path, required)
    exists = required or os.path.exists(path)
    return build(values, overrides, path if exists else None)


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
