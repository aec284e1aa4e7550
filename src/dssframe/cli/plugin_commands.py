"""``dss plugins``: what is installed, where it came from, what it implements, and
whether the configuration enables it (installed is not enabled)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from dssframe import hookimpl
from dssframe.cli.context import get_state

KIND_BY_HOOK = {
    "dssframe_register_transports": "transport",
    "dssframe_register_retention": "retention",
    "dssframe_event": "notify",
}


def plugins_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable records")] = False,
) -> None:
    """List every plugin: name, kind, version, origin, hooks; marks the enabled and the
    selected ones."""
    state = get_state(ctx)
    config = state.config()
    host = state.host()
    host.load_entry_points()  # everything installed, enabled or not
    enabled = host.enabled_names()
    selected = {
        host.owner_of("transport", config.transport): f"transport {config.transport}",
        host.owner_of("retention", config.retention): f"retention {config.retention}",
    }
    records: list[dict[str, Any]] = []
    for info in host.infos:
        hooks = host.hook_names(info)
        kinds = sorted({KIND_BY_HOOK[h] for h in hooks if h in KIND_BY_HOOK}) or ["other"]
        origin = info.origin
        if info.distribution:
            origin += f" ({info.distribution})"
        records.append(
            {
                "name": info.name,
                "kind": kinds,
                "version": info.version,
                "origin": origin,
                "hooks": hooks,
                "enabled": host.is_enabled(info),
                "selected": selected.get(info.name),
            }
        )
    for broken in host.broken:
        records.append(
            {
                "name": broken.name,
                "kind": [],
                "version": None,
                "origin": f"entry point ({broken.distribution})",
                "hooks": [],
                "enabled": broken.name in enabled,
                "selected": None,
                "error": broken.error,
            }
        )
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    for r in records:
        mark = "  [enabled]" if r["enabled"] else "  [not enabled]"
        if r["selected"]:
            mark += f" [selected {r['selected']}]"
        typer.echo(
            f"{r['name']} {r['version'] or '?'} ({'/'.join(r['kind']) or 'broken'}) "
            f"from {r['origin']}{mark}"
        )
        if r.get("error"):
            typer.echo(f"    failed to load: {r['error']}")
        else:
            typer.echo(f"    hooks: {', '.join(r['hooks'])}")


@hookimpl
def dssframe_cli_commands(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("plugins")(plugins_command)
