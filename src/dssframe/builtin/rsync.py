"""Builtin transport ``rsync``: local, or over ssh (argument lists only, never a shell).

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
"""

from __future__ import annotations

import enum
import os
import re
import shlex
from collections.abc import Callable
from typing import Any

from dssframe import hookimpl
from dssframe.core.config import Config
from dssframe.core.errors import ConfigError
from dssframe.core.transport import CopyRequest, CopyResult, Outcome

COMPLETE_STATUSES = {0: "", 23: "partial transfer", 24: "source files vanished"}
RETRY_STATUSES = {12: "error in rsync protocol data stream", 13: "errors with program diagnostics"}
SSH_FAILURE = 255
REMOTE_COMMAND_NOT_FOUND = 127
LOCAL_HOSTS = ("localhost", "127.0.0.1")

# Conservative on purpose: a host or user name may end up in a ProxyCommand or a
# Match exec of the user's ssh config (%h, %r), which a shell runs.
_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\Z")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\$?\Z")
_WILDCARDS = re.compile(r"[*?\[]")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
# rsync could not enter the top of the source: nothing was copied, yet rsync exits 23
# ("partial transfer"), which must not count as a complete snapshot.
_SOURCE_UNREADABLE = re.compile(r'rsync: (?:\[sender\] )?change_dir "(?P<dir>.*)" failed: ')
_EXEC_FAILED = re.compile(r"rsync: (?:\[\w+\] )?Failed to exec ")
# Nothing ever came back from the remote rsync: ssh (or the login) failed. rsync exits
# 255 or 12 for this depending on a race with ssh's exit, so the text decides.
_NEVER_CONNECTED = "connection unexpectedly closed (0 bytes received so far)"
_SSH_CHATTER = ("Warning: Permanently added ",)


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


def current_user() -> str:
    """The user this process runs as (not $USER, which ``su`` leaves unchanged)."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        import getpass

        return getpass.getuser()


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


class RsyncTransport:
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

    @staticmethod
    def _is_remote(config: Config) -> bool:
        if config.use_ssh == "always":
            return True
        if config.use_ssh == "never":
            return False
        local_user = config.remote_user in (None, current_user())
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

    def source_argument(self) -> str:
        """The source operand exactly as rsync must receive it."""
        if not self.remote:
            return self.source_display()
        return self._remote_spec(remote_path(os.path.join(self.config.require("source-dir"), "")))

    def command(self, request: CopyRequest) -> list[str]:
        c = self.config
        argv = [c.rsync_path, "-aq", "--delete"]
        if self.remote:
            # -s (secluded/protect args): the remote path travels inside the protocol,
            # so the remote shell never sees (or splits, or expands) it.
            argv += ["-s", "-e", shlex.join(self.ssh_command())]
        argv += list(c.rsync_option)
        if request.checksum:
            argv.append("--checksum")
        if request.progress:
            argv.append("--info=progress2")
        if request.reference:
            argv.append(f"--link-dest={request.reference}")
        argv += [self.source_argument(), os.path.join(request.destination, "")]
        return argv

    def classify(self, exit_status: int, stderr: str) -> CopyResult:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        message = _last_line(lines)
        if exit_status < 0:
            return CopyResult(Outcome.ERROR, exit_status, f"rsync killed by signal {-exit_status}")
        if self.remote and exit_status != 0:
            failure = self._transport_failure(exit_status, lines)
            if failure is not None:
                return CopyResult(Outcome.ERROR, exit_status, failure)
        if exit_status == 0:
            return CopyResult(Outcome.COMPLETE, 0, "")
        if exit_status in COMPLETE_STATUSES:
            unreadable = _source_unreadable(lines)
            if unreadable is not None:
                return CopyResult(
                    Outcome.ERROR, exit_status, f"cannot read the source directory: {unreadable}"
                )
            tolerated = tolerated_lines(lines)
            if tolerated is not None:
                note = COMPLETE_STATUSES[exit_status]
                return CopyResult(
                    Outcome.COMPLETE,
                    exit_status,
                    f"{note}: {message}",
                    tolerated_count=len(tolerated),
                    tolerated=tuple(tolerated[:TOLERATED_KEPT]),
                )
        cause = failure_cause(lines)
        if cause is None and self.remote:
            # The remote side's own words (its shell, ssh) say more than rsync's
            # "connection unexpectedly closed".
            cause = _foreign_line(lines)
        message = cause or message
        if exit_status in RETRY_STATUSES:
            text = message or RETRY_STATUSES[exit_status]
            return CopyResult(Outcome.RETRY, exit_status, f"rsync exit {exit_status}: {text}")
        if exit_status == REMOTE_COMMAND_NOT_FOUND:
            text = f"rsync exit 127 (command not found): {message or 'rsync'}"
            return CopyResult(Outcome.ERROR, exit_status, text)
        return CopyResult(
            Outcome.ERROR, exit_status, f"rsync exit {exit_status}: {message or 'failed'}"
        )

    def _transport_failure(self, exit_status: int, lines: list[str]) -> str | None:
        """The message of a failed ssh connection (or ssh not running), else None."""
        for line in lines:
            if _EXEC_FAILED.match(line):
                return f"transport failure: cannot run ssh-command: {line}"
        never_connected = any(_NEVER_CONNECTED in line for line in lines)
        if exit_status == SSH_FAILURE or (
            never_connected and exit_status != REMOTE_COMMAND_NOT_FOUND
        ):
            text = _foreign_line(lines) or _last_line(lines) or "ssh exited with status 255"
            return f"transport failure (ssh): {text}"
        return None


def _last_line(lines: list[str]) -> str:
    useful = [line for line in lines if not line.startswith(("rsync error:", "rsync warning:"))]
    return (useful or lines or [""])[-1]


def _foreign_line(lines: list[str]) -> str | None:
    """The last line that rsync did not write: ssh's (or the remote shell's) message."""
    foreign = [
        line
        for line in lines
        if not line.startswith(("rsync:", "rsync error:", "rsync warning:"))
        and not line.startswith(_SSH_CHATTER)
    ]
    return foreign[-1] if foreign else None


def _source_unreadable(lines: list[str]) -> str | None:
    for line in lines:
        if _SOURCE_UNREADABLE.match(line):
            return line.removeprefix("rsync: ").removeprefix("[sender] ")
    return None


# --- what rsync's error lines say -------------------------------------------------
#
# Exit 23 ("partial transfer") and 24 ("vanished") mean a complete snapshot only when
# every error rsync printed is about the source: a file the sender could not read, or
# one that vanished while it was copied. rsync 3.x tags a line with the process that
# wrote it ("rsync: [sender] ...", "[receiver]", "[generator]"; "[Receiver]" before the
# receiver forks); the receiver and the generator work on the destination, so any line
# of theirs means a copy with holes (a full disk, an undeletable file, ...).


class Side(enum.Enum):
    """Whose failure one stderr line reports."""

    NONE = "none"  # not an error: summaries ("rsync error: ..."), ssh chatter, notices
    SOURCE = "source"  # the source could not be read (tolerated by a complete copy)
    DESTINATION = "destination"  # the destination (or a disk) failed: the copy has holes
    CONSEQUENCE = "consequence"  # the other process died (broken pipe): never the cause
    UNKNOWN = "unknown"  # an rsync error not understood: never tolerated


TOLERATED_KEPT = 5  # tolerated lines kept in a CopyResult (all are counted)

# errno values after which the destination cannot hold a faithful copy, by the text
# strerror gives them and by their Linux numbers (rsync prints both: "... (28)").
DEVICE_ERRORS = {
    "No space left on device": 28,  # ENOSPC (blocks or inodes)
    "Disk quota exceeded": 122,  # EDQUOT
    "Read-only file system": 30,  # EROFS
    "Input/output error": 5,  # EIO
}
_ERRNO_NAMES = {number: text for text, number in DEVICE_ERRORS.items()}
# The tail rsync puts on a failed system call: ": No space left on device (28)".
_ERRNO_TAIL = re.compile(r': (?P<text>[^:"]+?) \((?P<number>\d+)\)\Z')
_TAG = re.compile(r"rsync: \[(?P<who>\w+)\] ")
_DESTINATION_WORDS = ("delete_file:", "unlink")
# What a process prints when its peer has died; the peer's own line has the cause.
_PEER_DIED = re.compile(
    r"Broken pipe|connection unexpectedly closed|Connection reset by peer|\((?:32|104)\)\Z"
)
# Source errors as rsync before 3.2.4 wrote them (without a "[sender]" tag).
_UNTAGGED_SOURCE = re.compile(
    r"rsync: (?:send_files failed to open|opendir|readlink_stat|link_stat|readdir"
    r"|read errors mapping) "
)
_VANISHED = "file has vanished: "
_QUOTED = re.compile(r'"[^"]*"')


def _unquoted(line: str) -> str:
    """``line`` without its quoted file names (a file may be called "unlink")."""
    return _QUOTED.sub('""', line)


def device_error(line: str) -> str | None:
    """The strerror text of a disk-killing errno in ``line`` (ENOSPC, EDQUOT, EROFS,
    EIO), else None."""
    bare = _unquoted(line)
    for text in DEVICE_ERRORS:
        if text in bare:
            return text
    tail = _ERRNO_TAIL.search(bare)
    if tail is not None:
        return _ERRNO_NAMES.get(int(tail["number"]))
    return None


def line_side(line: str) -> Side:
    """Whose failure ``line`` (one stripped stderr line of rsync) reports.

    A device error (a full disk, EIO) counts as the destination's whoever reports it:
    the copy cannot be trusted either way."""
    if line.startswith(("rsync error:", "rsync warning:")):
        return Side.NONE
    if line.startswith(_VANISHED):
        return Side.SOURCE
    bare = _unquoted(line)
    if _PEER_DIED.search(bare):
        return Side.CONSEQUENCE
    tag = _TAG.match(line)
    who = tag["who"].lower() if tag else None
    if (
        who in ("receiver", "generator")
        or any(word in bare for word in _DESTINATION_WORDS)
        or device_error(line) is not None
    ):
        return Side.DESTINATION
    if who == "sender" or _UNTAGGED_SOURCE.match(line):
        return Side.SOURCE
    if line.startswith("rsync:"):
        return Side.UNKNOWN
    return Side.NONE  # ssh's or the remote shell's words, rsync's notices


def tolerated_lines(lines: list[str]) -> list[str] | None:
    """The source-side error lines of a copy rsync called partial (exit 23 or 24), or
    None when some line is not source-side: then the copy is not complete."""
    tolerated = []
    for line in lines:
        side = line_side(line)
        if side is Side.SOURCE:
            tolerated.append(line)
        elif side is not Side.NONE:
            return None
    return tolerated


def failure_cause(lines: list[str]) -> str | None:
    """A one-line description of what failed on the destination (or a disk), or None.

    The first line with a device error (a full disk, ...) wins over the first other
    destination-side line; lines of a process that merely saw its peer die ("Broken
    pipe") never count. A device error the sender reports is labelled "source"."""
    candidates = [line for line in lines if line_side(line) is Side.DESTINATION]
    for line in candidates:
        text = device_error(line)
        if text is not None:
            side = "source" if line.startswith("rsync: [sender] ") else "destination"
            return f"{side}: {text}: {line}"
    if not candidates:
        return None
    first = candidates[0]
    tail = _ERRNO_TAIL.search(_unquoted(first))
    return f"destination: {tail['text']}: {first}" if tail else f"destination: {first}"


@hookimpl
def dssframe_register_transports(register: Callable[[str, Any], None]) -> None:
    register("rsync", RsyncTransport)
