"""Reading an original dss config file (``~/.dssrc``) and writing ours."""

from __future__ import annotations

import shlex
from typing import Any

from dssframe.core.config import OPTION_BY_KEY, validate
from dssframe.core.errors import ConfigError

#: dss options with no value: present means true.
FLAGS = {"keep-redundant", "no-resume", "mountpoint", "dry-run", "daemon"}
REPEATABLE = {"rsync-option"}
#: Options of the original that no dssframe key can carry, with why.
UNMAPPABLE = {
    "config-file": "a config file cannot name another one; import that file instead",
}


def parse_raw(text: str, origin: str) -> dict[str, Any]:
    """The options of an original option file as raw values (not yet validated).

    gengetopt's config syntax: ``option value``, ``option = value``, ``option "a b"``,
    ``# comment``; a flag alone means true. Every option of the original's
    ``dss.ggo`` (0.1.4, and 1.0's min-complete, max-rsync-errors, checksum,
    mountpoint) maps to the dssframe key of the same name; anything else -- an
    unknown option, one that cannot be mapped -- is refused, naming the line.
    Hooks keep their meaning: dssframe, like the original, appends the snapshot's
    path to the hook's command line."""
    values: dict[str, Any] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" in line.split()[0]:
            key, _, rest = line.partition("=")
        else:  # the name ends at the first blank, a space or a tab
            key, rest = (line.split(None, 1) + [""])[:2]
        key = key.strip().rstrip("=").strip()
        rest = rest.strip().removeprefix("=").strip()
        where = f"{origin}:{number}"
        try:
            words = shlex.split(rest, comments=True)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        value: Any = " ".join(words) if words else None
        if key == "exclude-patterns":
            if value is None:
                raise ConfigError(f"{where}: option {key!r} needs a value")
            values.setdefault("rsync-option", []).extend(["--exclude-from", value])
            continue
        if key in UNMAPPABLE:
            raise ConfigError(f"{where}: {key}: {UNMAPPABLE[key]}")
        if key not in OPTION_BY_KEY:
            raise ConfigError(f"{where}: unknown dss option {key!r}")
        if key in FLAGS:
            values[key] = True if value is None else value
        elif value is None:
            raise ConfigError(f"{where}: option {key!r} needs a value")
        elif key in REPEATABLE:
            values.setdefault(key, []).append(value)
        else:
            values[key] = value
    return values


def parse_dssrc(text: str, origin: str) -> dict[str, Any]:
    """The options of an original option file, validated (keys keep their dashes)."""
    return validate(parse_raw(text, origin), origin)


