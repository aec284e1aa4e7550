"""Plugin-owned settings: a plugin declares them, the host validates the
``[plugins.<section>]`` table of the config file against the declaration (pure).

A plugin returns a :class:`PluginSettings` from its ``dssframe_plugin_settings`` hook::

    @hookimpl
    def dssframe_plugin_settings():
        return PluginSettings("keepnewest", [Setting("count", "int", 10, "snapshots to keep")])

and reads the checked values, defaults filled in, from ``config.plugins["keepnewest"]``
(a dict) in its factory or its ``dssframe_configure`` hook. An unknown key or a value
of the wrong type in the config file is a :class:`~dssframe.core.errors.ConfigError`
naming the key (``dss configtest`` shows it), before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Generic, NamedTuple, TypeVar

from dssframe.core.errors import ConfigError

T = TypeVar("T")

TYPES = ("str", "int", "float", "bool", "list[str]")
"""The types a :class:`Setting` may declare."""


class Setting(NamedTuple):
    """One key of a plugin's config table: ``name`` (dashed, like ``keep-daily``),
    ``type`` (one of ``str``, ``int``, ``float``, ``bool``, ``list[str]``), the
    ``default`` used when the key is absent, and a one-line ``help``. The host
    rejects an unknown ``type`` when it collects the declarations (:func:`check`)."""

    name: str
    """The key as written in ``[plugins.<section>]``, dashed like ``keep-daily``."""
    type: str
    """One of :data:`TYPES`. ``float`` accepts integers too (converted); ``bool``
    accepts only ``true``/``false``; ``int`` refuses booleans."""
    default: Any
    """The value the plugin gets when the key is absent (not checked against
    ``type``: None is a valid "not set")."""
    help: str = ""
    """One line saying what the setting does, for people reading the declaration."""


def check(declared: PluginSettings) -> None:
    """Raise ValueError unless every setting of ``declared`` has a known type."""
    for setting in declared.settings:
        if setting.type not in TYPES:
            raise ValueError(
                f"[plugins.{declared.section}] {setting.name}: type {setting.type!r} "
                f"is not one of {', '.join(TYPES)}"
            )


class PluginSettings(NamedTuple):
    """What a plugin returns from ``dssframe_plugin_settings``: its config section
    (normally its entry-point name) and its settings."""

    section: str
    """The table's name: ``[plugins.<section>]`` in the file, ``config.plugins[section]``
    in code. Two plugins declaring the same section is a plugin error."""
    settings: Sequence[Setting]
    """Every key the table may hold."""


def _check(section: str, setting: Setting, value: Any) -> Any:
    where = f"[plugins.{section}] {setting.name}"
    kind = setting.type
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "list[str]": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[kind]
    if not ok:
        raise ConfigError(f"{where}: expected {kind}, got {value!r}")
    return float(value) if kind == "float" else value


def validate_section(
    declared: PluginSettings, raw: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Every declared setting with its value (default when absent); unknown keys and
    values of the wrong type are errors naming the key."""
    raw = dict(raw or {})
    known = {s.name: s for s in declared.settings}
    for key in raw:
        if key not in known:
            valid = ", ".join(sorted(known)) or "(none)"
            raise ConfigError(
                f"[plugins.{declared.section}]: unknown key {key!r} (valid: {valid})"
            )
    return {
        name: _check(declared.section, s, raw[name]) if name in raw else s.default
        for name, s in known.items()
    }


class JobTable(Generic[T]):
    """What ``dssframe_configure`` gave a plugin, per job: one value per
    ``config.name`` (the latest call for a name replaces it) and the job configured
    last. One ``dss run`` runs many jobs and configures the plugins for each before its
    work, while events are delivered on other threads: :meth:`keep` builds a new table
    and swaps it in with one assignment, so :meth:`lookup` sees the old table or the
    new one, never a part."""

    def __init__(self) -> None:
        self._state: tuple[Mapping[str, T], str | None] = (MappingProxyType({}), None)

    def keep(self, name: str, value: T) -> None:
        """``value`` is job ``name``'s, and ``name`` the job configured last."""
        table = self._state[0]
        self._state = (MappingProxyType({**table, name: value}), name)

    def lookup(self, job: str) -> tuple[str, T] | None:
        """``(name, value)`` for an event of ``job``: that job's value; for ``""`` (an
        event that names no job) the last configured job's; None for a job never
        configured (its events go nowhere rather than to another job's settings)."""
        table, last = self._state
        if job in table:
            return job, table[job]
        if not job and last is not None:
            return last, table[last]
        return None

    @property
    def by_name(self) -> Mapping[str, T]:
        """Every job's value, by name (a read-only snapshot)."""
        return self._state[0]

    def clear(self) -> None:
        """Forget every job (tests; a new process in all but name)."""
        self._state = (MappingProxyType({}), None)
