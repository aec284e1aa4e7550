"""What a command finds in typer's context: the :class:`~dssframe.cli.invocation.Invocation`
(global options; configuration and plugin host loaded on demand)."""

from __future__ import annotations

import typer

from dssframe.cli.invocation import Invocation


def get_state(ctx: typer.Context) -> Invocation:
    """The invocation of the running command: ``get_state(ctx).config()``, ``.host()``,
    ``.job()``. (Commands added by plugins may use it too, or ``ctx.obj``, which is the
    same object.)"""
    state = ctx.obj
    assert isinstance(state, Invocation)
    return state
