"""dssframe: dyadic hard-link snapshots with rsync, every part a pluggy plugin."""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Marker for hook implementations: ``@dssframe.hookimpl``.
hookimpl = pluggy.HookimplMarker("dssframe")

__all__ = ["__version__", "hookimpl"]
