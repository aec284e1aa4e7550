"""Builtin transport ``rsync``: local, or over ssh (argument lists only, never a shell).

This package is the only part of dssframe that knows rsync: its options, exit
statuses, error lines, ``--stats`` log, progress output and itemized changes. The
engine sees only the protocols of :mod:`dssframe.core.transport`, which
:class:`RsyncTransport` implements all of.

Remote sources are copied with ``-s`` (``--secluded-args``): the source path travels
inside the rsync protocol, so the remote login shell never sees, splits or expands it.
rsync still expands wildcards in it, so :func:`remote_path` escapes them. The ssh
command is an argument list too; rsync gets it as one ``-e`` value quoted with
:func:`shlex.join`, which rsync's own splitter (spaces separate, single and double
quotes group) reads back into the same list.

ssh always runs with ``BatchMode=yes`` (never a password or host-key prompt) and a
connect timeout. ``-o`` values given first win in ssh, so those two come before the
user's ``ssh-option`` values, and ``IdentitiesOnly=yes`` (only with ``ssh-identity``)
comes after them, where the user can override it. Host keys are checked as ssh's
configuration says (nothing turns ``StrictHostKeyChecking`` off).

The package itself holds what ``dss create`` needs before rsync starts (the argument
list); the rest is loaded on first use, after rsync has started or for other commands:
:mod:`~dssframe.builtin.rsync.verdict` (what an exit status and rsync's error lines
mean), :mod:`~dssframe.builtin.rsync.stats` (the ``--stats`` log),
:mod:`~dssframe.builtin.rsync.progress` (``--info=progress2``) and
:mod:`~dssframe.builtin.rsync.restore` (restore, its dry run, the comparison of the
source with a snapshot, and rsync's itemized output).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from typing import Any

from dssframe import hookimpl
from dssframe.core.config import Config
from dssframe.core.errors import ConfigError
from dssframe.core.transport import (
    Change,
    CopyRequest,
    CopyResult,
    LayoutTransport,
    PreviewingTransport,
    ProbingTransport,
    Progress,
    ProgressSource,
    RemoteTransport,
    RestoreRequest,
    StatsSource,
)

LOCAL_HOSTS = ("localhost", "127.0.0.1")

# Conservative on purpose: a host or user name may end up in a ProxyCommand or a
# Match exec of the user's ssh config (%h, %r), which a shell runs.
_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\Z")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\$?\Z")
_WILDCARDS = re.compile(r"[*?\[]")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def check_host(host: str) -> str:
    """``host`` as it goes into the rsync source spec (IPv6 addresses in brackets)."""
    if _HOST.match(host):
        return host
    import ipaddress  # only here: it costs more start-up time than this whole module

    try:
        return f"[{ipaddress.IPv6Address(host).compressed}]"
    except ValueError:
        pass
    raise ConfigError(
        f"remote-host: {host!r} is not a valid host name or address "
        "(letters, digits, '.', '-', '_', or an IPv6 address)"
    )


def check_user(user: str) -> str:
    if not _USER.match(user):
        raise ConfigError(
            f"remote-user: {user!r} is not a valid user name (letters, digits, '.', '-', '_')"
        )
    return user


def remote_path(path: str) -> str:
    """``path`` spelled so that the remote rsync reads exactly ``path``.

    Even with ``-s`` the remote rsync expands ``*``, ``?`` and ``[`` in each path
    component that contains one (a component without them is taken literally,
    backslashes included), so such components get those and ``]`` and ``\\``
    backslash-escaped. A leading ``:`` would make ``host::path`` the daemon syntax.
    """
    parts = [
        _GLOB_SPECIAL.sub(r"\\\1", part) if _WILDCARDS.search(part) else part
        for part in path.split("/")
    ]
    escaped = "/".join(parts)
    return "./" + escaped if escaped.startswith(":") else escaped


class RsyncTransport(
    RemoteTransport,
    ProbingTransport,
    LayoutTransport,
    StatsSource,
    ProgressSource,
    PreviewingTransport,
):
    """The ``rsync`` transport. (It subclasses the optional protocols it implements:
    ``isinstance`` then answers from the class, without inspecting the instance.)"""

    name = "rsync"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.remote = self._is_remote(config)
        # No remote-user: no "user@", so ssh's config (User) or the local name applies.
        self.user = config.remote_user
        if self.remote:
            self.host_spec = check_host(config.remote_host)
            if self.user is not None:
                check_user(self.user)
        #: The part logs and the entries counted twice of each parallel copy, by its
        #: log file (see :mod:`~dssframe.builtin.rsync.parallel`).
        self.groups: dict[str, tuple[list[str], Callable[[], int]]] = {}

    @staticmethod
    def _is_remote(config: Config) -> bool:
        if config.use_ssh == "always":
            return True
        if config.use_ssh == "never":
            return False
        from dssframe.store.lock import user_name  # the one user lookup

        local_user = config.remote_user in (None, user_name())
        return not (config.remote_host in LOCAL_HOSTS and local_user)

    def _remote_spec(self, path: str) -> str:
        login = f"{self.user}@" if self.user else ""
        return f"{login}{self.host_spec}:{path}"

    def source_display(self) -> str:
        """A local source exactly as configured (made absolute), with or without its
        trailing slash; a remote one as ``user@host:dir/`` (the original always adds
        the slash there)."""
        configured = self.config.require("source-dir")
        if not self.remote:
            absolute = os.path.abspath(configured)
            slash = "/" if configured.endswith("/") and absolute != "/" else ""
            return absolute + slash
        return self._remote_spec(os.path.join(configured, ""))

    def source_top(self) -> str | None:
        """The one directory each snapshot holds the source in, or None when it holds
        the source's own entries. Like the original, a local source goes to rsync as
        written: without a trailing slash rsync copies the directory itself, so the
        snapshot holds ``<basename>/...``."""
        if self.remote:
            return None
        display = self.source_display()
        if display.endswith("/"):
            return None
        return os.path.basename(display)

    def local_source(self) -> str | None:
        return None if self.remote else os.path.abspath(self.config.require("source-dir"))

    def ssh_command(self) -> list[str]:
        """The ssh argument list rsync runs (given to rsync as one quoted ``-e`` value)."""
        c = self.config
        argv = [c.ssh_command, "-o", "BatchMode=yes"]
        argv += ["-o", f"ConnectTimeout={c.ssh_connect_timeout}"]
        if c.ssh_port:
            argv += ["-p", str(c.ssh_port)]
        if c.ssh_identity:
            argv += ["-i", os.path.abspath(os.path.expanduser(c.ssh_identity))]
        for option in c.ssh_option:
            argv += ["-o", option]
        if c.ssh_identity:
            # Only the named key: agent keys tried first could use up MaxAuthTries.
            argv += ["-o", "IdentitiesOnly=yes"]
        return argv

    def probe_command(self) -> list[str] | None:
        """For a remote source, the ssh command that exits 0 when the source directory
        exists over there (``dss configtest``): the same ssh options rsync gets
        (``BatchMode=yes``, the connect timeout), then ``test -d PATH``, the path
        shell-quoted because ssh hands the remote command to the login shell. None
        for a local source."""
        if not self.remote:
            return None
        argv = self.ssh_command()
        if self.user:
            argv += ["-l", self.user]
        host = self.host_spec.strip("[]")  # ssh takes an IPv6 address bare
        path = os.path.join(self.config.require("source-dir"), "")
        return [*argv, "--", host, "test", "-d", shlex.quote(path)]

    def source_argument(self) -> str:
        """The source operand exactly as rsync must receive it."""
        if not self.remote:
            return self.source_display()
        return self.remote_source("")

    def remote_source(self, path: str) -> str:
        """The operand of the remote directory ``path`` (relative to the source's top,
        ``""`` the top), with its trailing slash."""
        return self._remote_spec(
            remote_path(os.path.join(self.config.require("source-dir"), path, ""))
        )

    def command(self, request: CopyRequest) -> list[str]:
        """``rsync -aq --delete [-s -e SSH] [rsync-option ...] [--checksum]
        [--link-dest=REF] --stats --log-file=LOG SOURCE DEST/``.

        With ``request.progress`` it is ``-a --info=progress2`` instead of ``-aq``:
        ``-q`` silences the progress lines too. rsync then also writes what ``-q``
        kept quiet (its ``--stats`` report, notes such as "created directory") on
        standard output, which the host reads for progress and never shows; errors
        and warnings go to standard error as always, and the ``--stats`` log file is
        the same. (``--no-inc-recursive``, which would make the percentage exact from
        the start, is not added: it changes how rsync copies -- the whole file list
        in memory before the first file -- and a terminal must not change the copy.)

        With ``parallel`` > 1 it is a command group of several such rsync processes
        (:mod:`~dssframe.builtin.rsync.parallel`; each over its own ssh connection for
        a remote source), or this one rsync when the source has nothing to share out.
        """
        if self.config.parallel > 1:
            from dssframe.builtin.rsync import parallel

            return parallel.command(self, request)
        return self.rsync_command(request)

    def rsync_command(
        self,
        request: CopyRequest,
        log_file: str | None = None,
        rules: list[str] | None = None,
        ssh_options: list[str] | None = None,
    ) -> list[str]:
        """One rsync of ``request``: :meth:`command`'s, with its ``--stats`` log in
        ``log_file`` (default: the request's), filter ``rules`` after the user's
        options, right before the operands, and ``ssh_options`` after ssh's own."""
        c = self.config
        argv = [c.rsync_path, "-a" if request.progress else "-aq", "--delete"]
        if self.remote:
            # -s (secluded/protect args): the remote path travels inside the protocol,
            # so the remote shell never sees (or splits, or expands) it.
            argv += ["-s", "-e", shlex.join([*self.ssh_command(), *(ssh_options or [])])]
        argv += list(c.rsync_option)
        if request.checksum:
            argv.append("--checksum")
        if request.progress:
            argv.append("--info=progress2")
        if request.reference:
            argv.append(f"--link-dest={request.reference}")
        log_file = request.log_file if log_file is None else log_file
        if log_file is not None:
            # The figures the metadata records, and the proof that rsync copied.
            argv += ["--stats", f"--log-file={log_file}", "--log-file-format="]
        if rules:
            argv += rules
        argv += [self.source_argument(), os.path.join(request.destination, "")]
        return argv

    def classify(self, exit_status: int, stderr: str) -> CopyResult:
        from dssframe.builtin.rsync.verdict import classify, classify_group
        from dssframe.core.transport import split_group_stderr

        reports = split_group_stderr(stderr)
        if reports is not None:  # parallel: every rsync judged, the worst one decides
            return classify_group(exit_status, reports, self.remote)
        return classify(exit_status, stderr, self.remote)

    def add_stats(self, request: CopyRequest, result: CopyResult) -> CopyResult:
        from dssframe.builtin.rsync.stats import add_stats

        group = self.groups.pop(request.log_file, None) if request.log_file else None
        if group is not None:
            parts, overlap = group
            return add_stats(request, result, self.config.rsync_path, parts, overlap())
        return add_stats(request, result, self.config.rsync_path)

    def parse_progress(self, output: str) -> Progress | None:
        from dssframe.builtin.rsync.progress import parse_progress

        return parse_progress(output)

    def restore_command(self, request: RestoreRequest) -> list[str]:
        from dssframe.builtin.rsync import restore

        return restore.restore_command(self, request)

    def preview_command(self, request: RestoreRequest) -> list[str]:
        from dssframe.builtin.rsync import restore

        return restore.preview_command(self, request)

    def compare_command(self, request: RestoreRequest) -> list[str]:
        from dssframe.builtin.rsync import restore

        return restore.compare_command(self, request)

    def parse_changes(self, exit_status: int, stdout: bytes, stderr: str) -> list[Change]:
        from dssframe.builtin.rsync import restore

        return restore.parse_changes(exit_status, stdout, stderr)


@hookimpl
def dssframe_register_transports(register: Callable[[str, Any], None]) -> None:
    register("rsync", RsyncTransport)
