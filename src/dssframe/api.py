"""The public plugin API: everything a plugin needs, in one place.

Import from here, never from the modules behind it: ``dssframe.api`` is the contract,
the layout under it may change between releases. The plugins shipped in ``plugins/``
and the authoring guide's example (``docs/examples``) import only from this module and
``dssframe.hookimpl`` (``tests/test_public_api.py`` checks it), so a third-party plugin
needs nothing else either. (The builtins in :mod:`dssframe.builtin` are part of
dssframe and may use the core directly.)

What is here, by family (the reference in ``docs/`` documents every name):

- hooks: :data:`hookimpl`, the marker for hook implementations;
- events (notifiers): :class:`Event`, :class:`EventKind`, :data:`EVENT_API_VERSION`;
- snapshot names: :class:`SnapshotName`, :class:`State`, :func:`parse_name`,
  :func:`list_snapshots`;
- retention: :class:`RetentionPolicy`, :class:`SchedulingPolicy`,
  :class:`ExplainingPolicy`, :class:`Removal`, :class:`Reason`;
- transports: :class:`Transport`, :class:`CopyRequest`, :class:`CopyResult`,
  :class:`CopyStats`, :class:`Outcome`, :class:`Progress`, :class:`RestoreRequest`,
  :class:`Change`, and the optional capabilities :class:`RemoteTransport`,
  :class:`ProbingTransport`,
  :class:`LayoutTransport`, :class:`StatsSource`, :class:`ProgressSource`,
  :class:`RestoringTransport`, :class:`PreviewingTransport`;
- configuration: :class:`Config`, :class:`Setting`, :class:`PluginSettings`,
  :func:`validate_section`, :class:`JobTable`;
- errors: :class:`DssError` and its subclasses;
- files: :func:`write_atomically`, :func:`write_json_atomically`;
- logging: :func:`get_logger`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dssframe.core.config import Config
from dssframe.core.errors import (
    ConfigError,
    DssError,
    PluginError,
    SnapshotError,
    TransportError,
    UnknownNameError,
    UsageError,
)
from dssframe.core.events import EVENT_API_VERSION, Event, EventKind
from dssframe.core.naming import SnapshotName, State
from dssframe.core.naming import parse as parse_name
from dssframe.core.retention import (
    ExplainingPolicy,
    Reason,
    Removal,
    RetentionPolicy,
    SchedulingPolicy,
)
from dssframe.core.settings import JobTable, PluginSettings, Setting, validate_section
from dssframe.core.transport import (
    Change,
    CopyRequest,
    CopyResult,
    CopyStats,
    LayoutTransport,
    Outcome,
    PreviewingTransport,
    ProbingTransport,
    Progress,
    ProgressSource,
    RemoteTransport,
    RestoreRequest,
    RestoringTransport,
    StatsSource,
    Transport,
)
from dssframe.logs import get as get_logger
from dssframe.store.atomic import write_atomically, write_json_atomically

if TYPE_CHECKING:
    import pluggy

    #: Marker for hook implementations: ``@hookimpl`` (the same object as
    #: ``dssframe.hookimpl``).
    hookimpl: pluggy.HookimplMarker


def list_snapshots(dest_dir: str, now: int | None = None) -> list[SnapshotName]:
    """Every snapshot directory of ``dest_dir``, oldest first, all states (complete,
    incomplete, being deleted); names that are not snapshots are ignored. ``now``
    (epoch seconds, default: the clock) decides which names are too far in the future
    to be trusted."""
    import time

    from dssframe.store.destination import Destination

    return Destination(dest_dir).scan(int(time.time()) if now is None else now)


def __getattr__(name: str) -> object:
    """``hookimpl`` comes from :mod:`dssframe` (made on first use, with pluggy)."""
    if name == "hookimpl":
        import dssframe

        return dssframe.hookimpl
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EVENT_API_VERSION",
    "Change",
    "Config",
    "ConfigError",
    "CopyRequest",
    "CopyResult",
    "CopyStats",
    "DssError",
    "Event",
    "EventKind",
    "LayoutTransport",
    "Outcome",
    "PluginError",
    "JobTable",
    "PluginSettings",
    "PreviewingTransport",
    "ProbingTransport",
    "Progress",
    "ProgressSource",
    "Reason",
    "RemoteTransport",
    "Removal",
    "RestoreRequest",
    "RestoringTransport",
    "RetentionPolicy",
    "SchedulingPolicy",
    "ExplainingPolicy",
    "Setting",
    "SnapshotError",
    "SnapshotName",
    "State",
    "StatsSource",
    "Transport",
    "TransportError",
    "UnknownNameError",
    "UsageError",
    "get_logger",
    "hookimpl",
    "list_snapshots",
    "parse_name",
    "validate_section",
    "write_atomically",
    "write_json_atomically",
]
