"""``dss systemd``: systemd units for this installation of ``dss``.

``--service`` prints ``dss.service``, which runs ``dss run`` under systemd's
supervision; ``--timer`` prints ``dss-snapshot.service`` and ``dss-snapshot.timer``, a
oneshot ``dss create`` then ``dss prune`` started once per period of the schedule (the
alternative to a run loop). Every ``ExecStart`` names the absolute path of the ``dss``
that prints the units (a venv's ``bin/dss`` is not on systemd's ``PATH``) and the config
file it read, also as an absolute path. ``--output DIR`` writes the files (atomically)
instead of printing them.

Only typer is imported at module level, as in every command module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from dssframe import hookimpl
from dssframe.cli.context import get_state

if TYPE_CHECKING:
    from dssframe.cli.invocation import Invocation

#: The service's unit file name; the timer's pair is TIMER_NAME + .service / .timer.
SERVICE_NAME = "dss.service"
TIMER_NAME = "dss-snapshot"

#: systemd's first version with RestartSteps= and RestartMaxDelaySec= (back-off).
BACKOFF_VERSION = 254

#: ``dss run`` exits within 10 s of SIGTERM; systemd waits a little longer, then kills.
TIMEOUT_STOP = "20s"

#: Restart delays: with back-off, from RESTART_FIRST up to RESTART_MAX in RESTART_STEPS
#: steps; without (systemd < 254), RESTART_FIXED every time. Never given up
#: (StartLimitIntervalSec=0): an unreachable source must not stop backups for good.
RESTART_FIRST = "30s"
RESTART_MAX = "1h"
RESTART_STEPS = 6
RESTART_FIXED = "5min"

#: Directories ProtectSystem=full makes read-only: no hardening when dest-dir is in one.
READ_ONLY_UNDER_FULL = ("/usr", "/boot", "/efi", "/etc")

DAY = 86400


class Unit(NamedTuple):
    """One unit file: its name and its text."""

    name: str
    text: str


def dss_executable() -> list[str]:
    """The absolute command of the ``dss`` that is running: ``sys.argv[0]`` when it is
    the console script, else the ``dss`` beside the interpreter (a venv's ``bin/dss``,
    also when started as ``python -m dssframe``), else the interpreter with ``-m
    dssframe``. The interpreter's path is not resolved: a venv's ``python`` is a
    symbolic link, and resolving it would leave the venv."""
    import os
    import sys

    def runnable(path: str) -> bool:
        return os.path.isfile(path) and os.access(path, os.X_OK)

    argv0 = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if os.path.basename(argv0) == "dss" and runnable(argv0):
        return [argv0]
    beside = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "dss")
    if runnable(beside):
        return [beside]
    return [os.path.abspath(sys.executable), "-m", "dssframe"]


def quote(arg: str) -> str:
    """``arg`` as one word of a systemd command line: ``%`` and ``$`` doubled (no
    specifier or variable expansion), double quotes around anything unusual."""
    import re

    text = arg.replace("%", "%%").replace("$", "$$")
    if text and re.fullmatch(r"[A-Za-z0-9_./:=@+,%$-]+", text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def global_options(state: Invocation, config_path: str | None) -> list[str]:
    """The global options the units repeat: the config file (absolute), the command
    line's overrides and ``-p`` modules, so the units run what this command saw."""
    import os

    args: list[str] = []
    if config_path:
        args += ["--config", os.path.abspath(config_path)]
    for key, value in state.overrides.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            args += [f"--{key}", str(item)]
    for module in state.plugin_modules:
        args += ["--plugin", module]
    for name in state.job_names:  # --job: the units run the jobs this command chose
        args += ["--job", name]
    if state.verbosity:  # -v/-q: the units log at the level this command does
        args.append("-" + ("v" if state.verbosity > 0 else "q") * abs(state.verbosity))
    return args


def systemd_version() -> int | None:
    """The installed systemd's version (``systemctl --version``), None when unknown."""
    import re
    import shutil
    import subprocess

    for program in ("systemctl", "systemd"):
        path = shutil.which(program) or (
            f"/usr/bin/{program}" if program == "systemctl" else "/usr/lib/systemd/systemd"
        )
        try:
            out = subprocess.run(
                [path, "--version"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        match = re.match(r"systemd (\d+)", out)
        if match:
            return int(match.group(1))
    return None


def seconds_text(seconds: int) -> str:
    """A systemd time span: ``1h 30min``."""
    parts = []
    for size, suffix in ((DAY, "d"), (3600, "h"), (60, "min"), (1, "s")):
        if seconds >= size:
            parts.append(f"{seconds // size}{suffix}")
            seconds %= size
    return " ".join(parts) or "0"


def calendar_events(period: int) -> list[str] | None:
    """``OnCalendar=`` expressions that fire every ``period`` seconds from local
    midnight, when whole minutes of ``period`` divide a day (90 min: ``00/3:00`` and
    ``01/3:30``); None otherwise (a monotonic timer then)."""
    import math

    if period <= 0 or period % 60 or DAY % period:
        return None
    minutes = period // 60
    if 60 % minutes == 0:
        return [f"*-*-* *:00/{minutes}:00" if minutes < 60 else "*-*-* *:00:00"]
    if minutes % 60 == 0:
        hours = minutes // 60
        return ["*-*-* 00:00:00" if hours == 24 else f"*-*-* 00/{hours}:00:00"]
    cycle = math.lcm(minutes, 60)  # minutes until the pattern repeats on the hour
    events = []
    for k in range(cycle // minutes):
        hour, minute = divmod(k * minutes, 60)
        events.append(f"*-*-* {hour:02d}/{cycle // 60}:{minute:02d}:00")
    return events


class Context(NamedTuple):
    """What the units are made of."""

    command: list[str]  # dss and its global options, quoted
    user: bool  # user units, else system units
    dest: str | None
    source: str | None
    account: str | None  # User= of a system unit run by someone else than root


def _unit_section(description: str, ctx: Context, limit: bool) -> list[str]:
    lines = ["[Unit]", f"Description={description}"]
    if ctx.user:  # a user manager has no network-online.target
        lines.append("After=default.target")
    else:
        lines += ["After=local-fs.target network-online.target", "Wants=network-online.target"]
    if ctx.dest and not ctx.user and not any(c.isspace() or c in "\\\"'" for c in ctx.dest):
        lines.append("RequiresMountsFor=" + ctx.dest.replace("%", "%%"))
    if limit:
        lines.append("# never give up restarting: backups must resume by themselves")
        lines.append("StartLimitIntervalSec=0")
    return lines


def _under(path: str, roots: tuple[str, ...]) -> bool:
    import os

    path = os.path.normpath(path)
    return any(path == root or path.startswith(root + "/") for root in roots)


def _hardening(ctx: Context) -> list[str]:
    """Protections that cannot break a backup: system units only (a user manager may
    lack the namespaces they need), ProtectSystem=full only when dest-dir is known
    and outside what it makes read-only. /home stays writable: it is often the source
    or the destination."""
    if ctx.user:
        return []
    lines = ["ProtectKernelTunables=true", "ProtectControlGroups=true"]
    dest = ctx.dest
    paths = [path for path in (ctx.dest, ctx.source) if path]
    if len(paths) == 2 and not any(_under(path, ("/tmp", "/var/tmp")) for path in paths):
        lines.append("PrivateTmp=true")  # not when the snapshots go to (or come from) /tmp
    if dest and not _under(dest, READ_ONLY_UNDER_FULL):
        lines.append("ProtectSystem=full")
    return lines


def _exec(ctx: Context, *args: str) -> str:
    return "ExecStart=" + " ".join([*ctx.command, *args])


def service_unit(ctx: Context, version: int | None) -> Unit:
    """``dss.service``: ``dss run`` supervised, restarted on failure with back-off."""
    what = f" of {ctx.source}" if ctx.source else ""
    lines = _unit_section(f"dssframe snapshot scheduler{what} (dss run)", ctx, limit=True)
    lines += ["", "[Service]", "Type=simple"]
    if ctx.account:
        lines.append(f"User={ctx.account}")
    lines += [
        _exec(ctx, "run"),
        "ExecReload=/bin/kill -HUP $MAINPID",
        "# SIGTERM to dss only: it stops rsync itself (the copy is resumed next time)",
        "# and runs the exit hook, within 10 s",
        "KillMode=mixed",
        "KillSignal=SIGTERM",
        f"TimeoutStopSec={TIMEOUT_STOP}",
        "# exit 1 after max-rsync-errors failures (an unreachable source), a crash, a",
        "# kill: start again later",
        "Restart=on-failure",
    ]
    if version is not None and version >= BACKOFF_VERSION:
        lines += [
            f"RestartSec={RESTART_FIRST}",
            f"RestartSteps={RESTART_STEPS}",
            f"RestartMaxDelaySec={RESTART_MAX}",
        ]
    else:
        lines.append(
            f"# systemd {version or '?'} < {BACKOFF_VERSION}: no RestartSteps=, a fixed delay"
        )
        lines.append(f"RestartSec={RESTART_FIXED}")
    lines += ["Nice=10", "IOSchedulingClass=idle", *_hardening(ctx)]
    lines += ["", "[Install]", f"WantedBy={'default.target' if ctx.user else 'multi-user.target'}"]
    return Unit(SERVICE_NAME, "\n".join(lines) + "\n")


def timer_units(ctx: Context, period: int) -> list[Unit]:
    """``dss-snapshot.service`` (oneshot: create, then prune) and its timer."""
    what = f" of {ctx.source}" if ctx.source else ""
    lines = _unit_section(f"dssframe snapshot{what} (dss create, then dss prune)", ctx, False)
    lines += ["", "[Service]", "Type=oneshot"]
    if ctx.account:
        lines.append(f"User={ctx.account}")
    lines += [
        _exec(ctx, "create"),
        _exec(ctx, "prune"),
        "Nice=10",
        "IOSchedulingClass=idle",
        *_hardening(ctx),
    ]
    service = Unit(f"{TIMER_NAME}.service", "\n".join(lines) + "\n")

    span = seconds_text(period)
    timer = ["[Unit]", f"Description=dssframe snapshot every {span} (the schedule's period)"]
    timer += ["", "[Timer]"]
    events = calendar_events(period)
    if events:
        timer.append(f"# every {span} from local midnight")
        timer += [f"OnCalendar={event}" for event in events]
        timer.append("# a run missed while the machine was off happens at once")
    else:
        timer.append(f"# every {span} from the last run (and 5 min after boot)")
        timer += ["OnBootSec=5min", f"OnUnitActiveSec={span}"]
    timer += ["Persistent=true", "AccuracySec=1min", f"Unit={TIMER_NAME}.service"]
    timer += ["", "[Install]", "WantedBy=timers.target"]
    return [service, Unit(f"{TIMER_NAME}.timer", "\n".join(timer) + "\n")]


def _context(state: Invocation, user: bool) -> tuple[Context, Any]:
    import getpass
    import os

    configs = state.configs()
    config = configs[0]
    command = [quote(arg) for arg in dss_executable() + global_options(state, config.path)]
    account = None
    if not user and os.getuid() != 0:
        account = getpass.getuser()
    dest = config.get("dest-dir") or None
    source = config.get("source-dir") or None
    if len(configs) > 1:  # several jobs: no path-specific mounts or hardening
        dest = source = None
    return Context(command, user, dest, source, account), config


def systemd_command(
    ctx: typer.Context,
    service: Annotated[
        bool, typer.Option("--service", help="dss.service: dss run, restarted on failure")
    ] = False,
    timer: Annotated[
        bool,
        typer.Option("--timer", help="dss-snapshot.service and .timer: create, then prune"),
    ] = False,
    user: Annotated[
        bool, typer.Option("--user", help="user units (default.target), not system units")
    ] = False,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="DIR", help="write the unit files into DIR"),
    ] = None,
    systemd: Annotated[
        int | None,
        typer.Option(
            "--systemd-version", metavar="N", help="the target's systemd (default: this one's)"
        ),
    ] = None,
) -> None:
    """Print systemd units that run this dss (absolute paths) with this configuration."""
    import os
    import time

    from dssframe.core.errors import UsageError

    if not (service or timer):
        raise UsageError("systemd needs --service or --timer (or both)")
    state = get_state(ctx)
    context, config = _context(state, user)
    units: list[Unit] = []
    if service:
        units.append(service_unit(context, systemd if systemd is not None else systemd_version()))
    if timer:
        from dssframe.core import retention

        policy = state.host().retention(config)
        period = retention.schedule_period(
            policy, config.unit_interval, config.num_intervals, int(time.time())
        )
        units += timer_units(context, period)
    if output is None:
        for index, unit in enumerate(units):
            if len(units) > 1:
                typer.echo(("\n" if index else "") + f"# ---- {unit.name} ----")
            typer.echo(unit.text, nl=False)
        return
    from dssframe.store.atomic import write_atomically

    for unit in units:
        path = os.path.join(os.path.abspath(output), unit.name)
        write_atomically(path, unit.text, mode=0o644)
        typer.echo(path)


@hookimpl
def dssframe_cli_commands(app: typer.Typer) -> None:
    """Add ``dss systemd`` to ``app``."""
    app.command("systemd")(systemd_command)
