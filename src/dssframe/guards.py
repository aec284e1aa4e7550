"""Configuration guards: mistakes that would damage snapshots or the source are refused
before anything is touched (exit 2, one line naming the key), and risky but legal set-ups
are warned about.

:func:`check_config` is pure (the values alone); :func:`check_paths` looks at the file
system (real paths, modes, mounts) once the transport has said whether the source is
local.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config


def check_config(config: Config) -> None:
    """Raise ConfigError for a value that can only do damage (pure)."""


def check_paths(config: Config, local_source: str | None) -> list[str]:
    """Raise ConfigError for source/destination mistakes; return warnings to show.

    ``local_source`` is the source directory when it is on this host (None: remote)."""
    return []
