"""The run-loop commands: ``run``, ``kill``, ``reload``, ``status``.

Registered on :data:`dssframe.cli.app` when the CLI module is imported. Only typer is
imported here at module level; everything else is imported inside the commands, so
``dss ls`` does not pay for them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dssframe import hookimpl
from dssframe.cli.context import get_state

if TYPE_CHECKING:
    from dssframe.cli.invocation import Invocation
    from dssframe.core.config import Config

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
    from dssframe.core.errors import UsageError
    from dssframe.engine import daemon as daemon_module

    state = get_state(ctx)
    if state.dry_run:
        raise UsageError("run does not support --dry-run")
    configs = state.configs()
    if any(config.name for config in configs):  # [[job]] tables: one loop for them all
        _run_fleet(state, configs, daemon)
    config = configs[0]

    def reload() -> Config:  # SIGHUP: the file again (-v/-q shift its loglevel too)
        return state.shifted(daemon_module.reload_config(state.config_file, state.overrides))

    logfile = None
    if daemon or config.daemon:
        logfile = config.logfile or daemon_module.default_logfile(config.require("dest-dir"))
    _serve(daemon_module.RunLoop(config, state.host(), reload), config, logfile)


def _serve(loop: Any, config: Config, logfile: str | None) -> None:
    """Run ``loop`` (a RunLoop or a Fleet) in the foreground, or detached when it logs
    to ``logfile``; every line gets its time (journald's lines get a priority)."""
    from dssframe import logs
    from dssframe.engine import daemon as daemon_module

    ready = None
    if logfile is not None:
        detached = daemon_module.detach(logfile)
        if not detached.is_daemon:
            raise typer.Exit(detached.exit_code)
        ready = detached.ready
    logs.setup(config.loglevel, logfile, timestamps=True)
    raise typer.Exit(loop.run(ready))


def _run_fleet(state: Invocation, configs: list[Config], daemon: bool) -> None:
    """``dss run`` for the jobs of a config with ``[[job]]`` tables (all, or the
    ``--job`` ones): one process, :mod:`dssframe.engine.fleet`."""
    from dssframe.engine import fleet
    from dssframe.store import configfile

    def reload() -> list[Config]:  # SIGHUP: the file again, the same --job choice
        path, required = configfile.resolve_path(state.config_file)
        values = configfile.read_file(path, required)
        weaker = {key: value for key, value in state.overrides.items() if key not in values}
        exists = required or os.path.exists(path)
        jobs = configfile.build_jobs(values, weaker, path if exists else None)
        chosen = configfile.select_jobs(jobs, state.job_names)
        return [state.host().apply_settings(state.shifted(config)) for config in chosen]

    first = configs[0]
    logfile = None
    if daemon or first.daemon:
        logfile = first.logfile or fleet.default_logfile(first.path or "config")
    _serve(fleet.Fleet(configs, state.host(), reload), first, logfile)


def kill_command(
    ctx: typer.Context,
    signal_name: Annotated[
        str, typer.Option("--signal", "-s", metavar="SIGNAL", help="signal name or number")
    ] = "TERM",
    wait: Annotated[bool, typer.Option("--wait", "-w", help="wait until it has exited")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="only print the pid of the running dss")
    ] = False,
) -> None:
    """Send a signal (default SIGTERM) to the dss running on dest-dir (with jobs: on
    each chosen job's dest-dir, once per process -- one dss run runs them all)."""
    from dssframe.store import control
    from dssframe.store.control import NotRunningError

    dests = [config.require("dest-dir") for config in get_state(ctx).configs()]
    sig = control.parse_signal(signal_name)
    running = [dest for dest in dests if control.running_pid(dest) is not None]
    if not running:
        control.require_pid(dests[0])  # nothing running: its error (exit 3)
    targets: dict[int, str] = {}
    for dest in running:
        with_pid = control.running_pid(dest)
        if with_pid is not None:
            targets.setdefault(with_pid, dest)
    if dry_run or get_state(ctx).dry_run:
        for pid in targets:
            typer.echo(str(pid))
        return
    for dest in targets.values():
        try:
            control.send(dest, sig)
        except NotRunningError:
            continue  # it exited meanwhile
    if wait:
        for dest in targets.values():
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


def status_lines(entry: dict[str, Any], now: float) -> list[str]:
    """One job's block of ``dss status``: its name and state, then what the run loop
    does (or that none runs), the snapshots, staleness, disk space and fill forecast."""
    from dssframe.core.durations import humane
    from dssframe.core.health import forecast_text

    lines = [f"job {entry['name']}: {entry['state']}"]
    lines.append(f"source: {entry['source'] or '-'} -> {entry['destination']}")
    if entry["running"]:
        lines.append(f"running: yes (pid {entry['pid']}) on {entry['dest_dir']}")
        lines.append(f"activity: {entry.get('activity', '?')}")
        creating = entry.get("creating")
        if creating:
            checksum = " with --checksum" if creating.get("checksum") else ""
            lines.append(
                f"creating: {creating['snapshot']} (rsync pid {creating['pid']}{checksum})"
            )
        lines.append(f"next snapshot: {_when(entry.get('next_due'), now, due=True)}")
        if entry.get("retry_at"):
            lines.append(f"retry after failure: {_when(entry['retry_at'], now, due=True)}")
    else:
        lines.append(f"running: no (dest-dir {entry['dest_dir']})")
        if entry.get("exit_reason"):
            lines.append(f"last run exited: {entry['exit_reason']}")
        due = _when(entry.get("next_due"), now, due=True)
        lines.append(f"next snapshot: {due}, by the schedule (no run loop)")
    last = entry.get("last_result")
    if last:
        what = last.get("snapshot") or ""
        message = f": {last['message']}" if last.get("message") else ""
        lines.append(
            f"last result: {last['result']} {what} {_when(last.get('time'), now)}{message}"
        )
    newest = entry["last_snapshot"]
    if newest:
        lines.append(f"last snapshot: {newest['name']} (completed {humane(newest['age'])} ago)")
    else:
        lines.append("last snapshot: none")
    counts = entry["snapshots"]
    deleted = f", {counts['being_deleted']} being deleted" if counts["being_deleted"] else ""
    lines.append(
        f"snapshots: {counts['complete']} complete, {counts['incomplete']} incomplete{deleted}"
    )
    if entry.get("dest_error"):
        lines.append(f"destination: {entry['dest_error']}")
    failure = entry["last_failure"]
    if failure:
        lines.append(f"last failure: {_when(failure.get('time'), now)}: {failure.get('message')}")
    stale = "STALE" if entry["stale"] else "no"
    lines.append(
        f"stale: {stale} (no complete snapshot for {humane(entry['stale_after'])} is stale; "
        f"a snapshot every {humane(entry['period'])})"
    )
    disk = entry["disk"]
    if "error" in disk:
        lines.append(f"disk: cannot read: {disk['error']}")
    else:
        verdict = "LOW: " + "; ".join(disk["shortages"]) if disk["low"] else "ok"
        lines.append(
            f"disk: {disk['free_mb']} MiB free ({disk['percent_free']:.1f}%), "
            f"{disk['percent_free_inodes']:.1f}% inodes free; thresholds "
            f"{disk['min_free_mb']} MiB, {disk['min_free_percent']}%, "
            f"{disk['min_free_percent_inodes']}% inodes (0 = off): {verdict}"
        )
    lines.append(f"fill forecast: {forecast_text(entry['fill_forecast'])}")
    return lines


def status_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Is dss running on each job's dest-dir, what is it doing, what comes next, how
    fresh are the snapshots and how full the disk (every job, or those --job names;
    exit 3: no job has a running dss)."""
    import time

    from dssframe.engine.status import fleet_status

    state = get_state(ctx)
    configs = state.configs()
    now = time.time()
    document = fleet_status(configs, state.host(), int(now))
    jobs = document["jobs"]
    if as_json:
        import json

        if len(jobs) == 1:  # one job: its fields at the top too, as before fleets
            document = {**jobs[0], **document}
        typer.echo(json.dumps(document, indent=2, sort_keys=True))
    else:
        for index, entry in enumerate(jobs):
            if index:
                typer.echo("")
            for line in status_lines(entry, now):
                typer.echo(line)
    if not any(entry["running"] for entry in jobs):
        raise typer.Exit(NOT_RUNNING)


@hookimpl
def dssframe_cli_commands(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("run")(run_command)
    app.command("kill")(kill_command)
    app.command("reload")(reload_command)
    app.command("status")(status_command)
