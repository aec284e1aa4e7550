"""The pre-flight checks of ``dss configtest``: the same checks ``create`` makes before
anything is copied, each reported as a :class:`Check` instead of stopping at the first.

Source reachable (:func:`dssframe.engine.job.source_problem` for a local source; an
ssh ``BatchMode`` probe within the connect timeout for a remote one, built by the
transport's ``probe_command()``), destination usable
(:meth:`dssframe.store.destination.Destination.open`, plus writable), the path guards
and the root-exposure warning (:func:`dssframe.engine.preflight.check_paths`), every
``[plugins.*]`` table taken by a plugin and every configured notifier enabled.
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING, NamedTuple

from dssframe.core.errors import DssError

if TYPE_CHECKING:
    from dssframe.core.config import Config
    from dssframe.core.transport import Transport
    from dssframe.plugins.host import PluginHost

OK, FAIL, WARN = "ok", "fail", "warn"


class Check(NamedTuple):
    """One check: its name, ``ok``/``fail``/``warn`` and what it found."""

    name: str
    level: str
    message: str

    @property
    def ok(self) -> bool:
        return self.level != FAIL

    def line(self) -> str:
        """``ok    source-dir /data/ exists``, ``FAIL  dest-dir /backup does not exist``."""
        label = "FAIL" if self.level == FAIL else self.level
        # not "dest-dir dest-dir ..." nor "plugins.x [plugins.x]: ..."
        message = self.message.removeprefix(f"{self.name} ").removeprefix(f"[{self.name}]: ")
        return f"{label:<5} {self.name} {message}"

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "level": self.level, "message": self.message}


def source_checks(
    config: Config, transport: Transport, timeout: float | None = None
) -> list[Check]:
    """Whether the source can be read: locally as ``create`` checks it, remotely by
    running the transport's probe (``probe_command()``) within ``timeout`` seconds
    (default: the connect timeout and a few seconds)."""
    from dssframe.engine.job import source_problem

    if not config.source_dir:
        return [Check("source-dir", FAIL, "is not set")]
    local = transport.local_source()
    if local is not None:
        problem, _ = source_problem(config, transport)
        if problem is not None:
            return [Check("source-dir", FAIL, problem)]
        return [Check("source-dir", OK, f"{transport.source_display()} exists")]
    from dssframe.core.transport import ProbingTransport

    argv = transport.probe_command() if isinstance(transport, ProbingTransport) else None
    shown = transport.source_display()
    if not argv:
        return [Check("source-dir", WARN, f"{shown}: the transport cannot check it beforehand")]
    limit = timeout if timeout is not None else config.ssh_connect_timeout + 10
    return [_probe(list(argv), shown, limit)]


def _probe(argv: list[str], shown: str, limit: float) -> Check:
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=limit
        )
    except FileNotFoundError as exc:
        return Check("source-dir", FAIL, f"{shown}: cannot run {argv[0]}: {exc.strerror}")
    except subprocess.TimeoutExpired:
        return Check("source-dir", FAIL, f"{shown}: no answer within {limit:g} s")
    if done.returncode == 0:
        return Check("source-dir", OK, f"{shown} is reachable and exists")
    if done.returncode == 255:  # ssh's own failure: not connected or not logged in
        lines = done.stderr.strip().splitlines()
        why = lines[-1] if lines else f"{argv[0]} exited with 255"
        return Check("source-dir", FAIL, f"{shown} is not reachable: {why}")
    return Check("source-dir", FAIL, f"{shown} does not exist or is not a directory")


def dest_checks(config: Config) -> list[Check]:
    """Whether the destination exists, is a directory, is on its mount
    (``mountpoint``) and can be written."""
    from dssframe.store.destination import Destination

    dest = config.dest_dir
    if not dest:
        return [Check("dest-dir", FAIL, "is not set")]
    path = os.path.abspath(dest)
    if not os.path.lexists(path):
        return [Check("dest-dir", FAIL, f"{path} does not exist")]
    try:
        Destination.open(path, config.mountpoint)  # what every command opens it with
    except DssError as exc:
        return [Check("dest-dir", FAIL, str(exc).removeprefix("dest-dir "))]
    found = [Check("dest-dir", OK, f"{path} is a directory")]
    if config.mountpoint:
        found.append(Check("mountpoint", OK, f"{path} is a mount point"))
    if os.access(path, os.W_OK | os.X_OK):
        found.append(Check("dest-writable", OK, f"{path} is writable"))
    else:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
        why = "is on a read-only file system" if read_only else "is not writable"
        found.append(Check("dest-writable", FAIL, f"{path} {why}"))
    return found


def exposure_checks(config: Config, warnings: list[str]) -> list[Check]:
    """The warnings of :func:`~dssframe.engine.preflight.check_paths`, as checks."""
    if not warnings:
        if config.dest_dir and os.path.isdir(config.dest_dir):
            return [Check("dest-exposure", OK, f"{config.dest_dir} is not open to other users")]
        return []
    return [Check("dest-exposure", WARN, warning) for warning in warnings]


def plugin_checks(config: Config, host: PluginHost) -> list[Check]:
    """Every ``[plugins.*]`` table belongs to an enabled plugin, and every installed
    notifier with a table or in ``enable-plugins`` is listed in ``notify`` (otherwise it
    would never notify). Imports every installed plugin."""
    import difflib

    problems = {section: host.section_problem(section) for section in config.plugins}
    notifiers = set(host.notifier_names())  # imports every installed plugin
    declared = {d.section for d in host.settings_declarations()}
    known = sorted({info.name for info in host.infos} | {ep.name for ep in host.installed()})
    enabled = host.enabled_names()
    from dssframe.plugins.host import ALWAYS_ENABLED

    # builtins and -p modules hear every event; an installed one only when in notify
    always = {info.name for info in host.infos if info.origin in ALWAYS_ENABLED}
    notifiers -= always
    found: list[Check] = []
    for section in sorted(config.plugins):
        name = f"plugins.{section}"
        if section in notifiers and section not in config.notify:
            found.append(Check(name, FAIL, _never_notifies(section)))
        elif section in declared and (section in enabled or section not in known):
            found.append(Check(name, OK, f"[plugins.{section}] is taken by its plugin"))
        elif section in known:
            found.append(Check(name, FAIL, problems[section]))
        else:
            close = difflib.get_close_matches(section, known, n=1)
            hint = f"; did you mean [plugins.{close[0]}]?" if close else ""
            found.append(
                Check(name, FAIL, f"[plugins.{section}]: no installed plugin {section!r}{hint}")
            )
    for plugin in sorted(set(config.enable_plugins) - set(config.plugins)):
        if plugin in notifiers and plugin not in config.notify:
            found.append(Check(f"plugins.{plugin}", FAIL, _never_notifies(plugin)))
    for plugin in config.notify:
        found.append(Check("notify", OK, f"notifier {plugin} is enabled"))
    return found


def _never_notifies(plugin: str) -> str:
    return (
        f"notifier {plugin!r} is configured but not listed in notify: it would never "
        f'notify (add notify = ["{plugin}"])'
    )


def failed(checks: list[Check]) -> int:
    """How many of ``checks`` failed."""
    return sum(not check.ok for check in checks)
