"""dssframe: dyadic hard-link snapshots with rsync, every part a pluggy plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pluggy

    #: Marker for hook implementations: ``@dssframe.hookimpl``.
    hookimpl: pluggy.HookimplMarker

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str) -> object:
    """``hookimpl`` is made on first use, so that ``dss`` decides when pluggy is
    imported (its start-up runs with the garbage collector paused, see
    :func:`dssframe.cli.entry.main`)."""
    if name == "hookimpl":
        import pluggy

        marker = pluggy.HookimplMarker("dssframe")
        globals()["hookimpl"] = marker
        return marker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
