"""The run-loop commands: ``run``, ``kill``, ``reload``, ``status``.

Registered on :data:`dssframe.cli.app` when the CLI module is imported. Only typer is
imported here at module level; everything else is imported inside the commands, so
``dss ls`` does not pay for them.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dssframe import hookimpl
from dssframe.cli.context import get_state

#: ``dss status`` exit status when no run loop is running (as LSB init scripts do).
NOT_RUNNING = 3


def run_command(
    ctx: typer.Context,
    daemon: Annotated[
        bool,
        typer.Option("--daemon", "-d", help="detach and log to the logfile option's file"),
    ] = False,
) -> None:
    """Create and prune snapshots forever, as the schedule says (SIGHUP: reload the
    config file; SIGTERM/SIGINT: stop cleanly)."""
    import functools

    from dssframe import logs
    from dssframe.core.errors import UsageError
    from dssframe.engine import daemon as daemon_module

    state = get_state(ctx)
    if state.dry_run:
        raise UsageError("run does not support --dry-run")
    config = state.config()
    reload = functools.partial(daemon_module.reload_config, state.config_file, state.overrides)
    logfile = None
    if daemon or config.daemon:
        logfile = config.logfile or daemon_module.default_logfile()
    loop = daemon_module.RunLoop(config, state.host(), reload, logfile=logfile)
    ready = None
    if logfile is not None:
        detached = daemon_module.detach(logfile)
        if not detached.is_daemon:
            raise typer.Exit(detached.exit_code)
        ready = detached.ready
        logs.setup(config.loglevel, logfile)
    raise typer.Exit(loop.run(ready))


def _dest(ctx: typer.Context) -> str:
    return get_state(ctx).config().require("dest-dir")


def kill_command(
    ctx: typer.Context,
    signal_name: Annotated[
        str, typer.Option("--signal", "-s", help="signal name or number")
    ] = "TERM",
    wait: Annotated[bool, typer.Option("--wait", "-w", help="wait until it has exited")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="only print the pid of the running dss")
    ] = False,
) -> None:
    """Send a signal (default SIGTERM) to the dss running on dest-dir."""
    from dssframe.store import control

    dest = _dest(ctx)
    sig = control.parse_signal(signal_name)
    if dry_run or get_state(ctx).dry_run:
        typer.echo(str(control.require_pid(dest)))
        return
    control.send(dest, sig)
    if wait:
        control.wait_gone(dest)


def reload_command(ctx: typer.Context) -> None:
    """Make the running dss re-read its config file (sends SIGHUP)."""
    kill_command(ctx, signal_name="HUP", wait=False, dry_run=False)


def _when(epoch: Any, now: float, due: bool = False) -> str:
    """``epoch`` as a local time and how far it is from ``now``, for people; a time
    something is ``due`` at that has passed is "due now" (the loop is about to act)."""
    import time

    from dssframe.core.durations import humane

    if not isinstance(epoch, int):
        return "-"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(epoch))
    delta = int(epoch - now)
    if delta > 0:
        return f"{stamp} (in {humane(delta)})"
    if delta == 0 or due:
        return f"{stamp} (due now)" if due else f"{stamp} (now)"
    return f"{stamp} ({humane(-delta)} ago)"


def _disk(ctx: typer.Context, dest: str) -> dict[str, Any]:
    from dssframe.store import diskspace

    config = get_state(ctx).config()
    limits = diskspace.Thresholds.from_config(config)
    try:
        space = diskspace.measure(dest)
    except OSError as exc:
        return diskspace.record(None, limits, error=str(exc.strerror or exc))
    return diskspace.record(space, limits)


def status_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Is dss running on dest-dir, what is it doing, what comes next (exit 3: not running)."""
    import time

    from dssframe.store import control

    dest = _dest(ctx)
    info = control.status(dest)
    info["disk"] = _disk(ctx, dest)
    if as_json:
        import json

        typer.echo(json.dumps(info, indent=2, sort_keys=True))
    else:
        now = time.time()
        if info["running"]:
            typer.echo(f"running: yes (pid {info['pid']}) on {info['dest_dir']}")
            typer.echo(f"activity: {info.get('activity', '?')}")
            creating = info.get("creating")
            if creating:
                checksum = " with --checksum" if creating.get("checksum") else ""
                typer.echo(
                    f"creating: {creating['snapshot']} (rsync pid {creating['pid']}{checksum})"
                )
            typer.echo(f"next snapshot: {_when(info.get('next_snapshot'), now, due=True)}")
            if info.get("retry_at"):
                typer.echo(f"retry after failure: {_when(info['retry_at'], now, due=True)}")
        else:
            typer.echo(f"running: no (dest-dir {info['dest_dir']})")
            if info.get("exit_reason"):
                typer.echo(f"last run exited: {info['exit_reason']}")
        last = info.get("last_result")
        if last:
            what = last.get("snapshot") or ""
            message = f": {last['message']}" if last.get("message") else ""
            typer.echo(
                f"last result: {last['result']} {what} {_when(last.get('time'), now)}{message}"
            )
        disk = info["disk"]
        if "error" in disk:
            typer.echo(f"disk: cannot read: {disk['error']}")
        else:
            verdict = "LOW: " + "; ".join(disk["shortages"]) if disk["low"] else "ok"
            typer.echo(
                f"disk: {disk['free_mb']} MiB free ({disk['percent_free']:.1f}%), "
                f"{disk['percent_free_inodes']:.1f}% inodes free; thresholds "
                f"{disk['min_free_mb']} MiB, {disk['min_free_percent']}%, "
                f"{disk['min_free_percent_inodes']}% inodes (0 = off): {verdict}"
            )
    if not info["running"]:
        raise typer.Exit(NOT_RUNNING)


@hookimpl
def dssframe_cli_commands(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("run")(run_command)
    app.command("kill")(kill_command)
    app.command("reload")(reload_command)
    app.command("status")(status_command)
