"""Builtin transport ``rsync``: local, or over ssh (argument lists only, never a shell)."""

from __future__ import annotations

import getpass
import os
import shlex
from collections.abc import Callable
from typing import Any

from dssframe import hookimpl
from dssframe.config import Config
from dssframe.errors import ConfigError
from dssframe.transport import CopyRequest, CopyResult, Outcome

COMPLETE_STATUSES = {0: "", 23: "partial transfer", 24: "source files vanished"}
RETRY_STATUSES = {12: "error in rsync protocol data stream", 13: "errors with program diagnostics"}
SSH_FAILURE = 255
LOCAL_HOSTS = ("localhost", "127.0.0.1")


def _safe_remote_word(key: str, value: str) -> str:
    if not value or value.startswith("-") or any(c.isspace() or ord(c) < 32 for c in value):
        raise ConfigError(f"{key}: {value!r} is not a valid host or user name")
    if any(c in value for c in "@:/"):
        raise ConfigError(f"{key}: {value!r} must not contain '@', ':' or '/'")
    return value


class RsyncTransport:
    name = "rsync"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.user = config.remote_user or getpass.getuser()
        self.remote = self._is_remote(config)
        if self.remote:
            _safe_remote_word("remote-host", config.remote_host)
            _safe_remote_word("remote-user", self.user)

    @staticmethod
    def _is_remote(config: Config) -> bool:
        if config.use_ssh == "always":
            return True
        if config.use_ssh == "never":
            return False
        local_user = config.remote_user in (None, getpass.getuser())
        return not (config.remote_host in LOCAL_HOSTS and local_user)

    def source_display(self) -> str:
        source = self.config.require("source-dir")
        if not self.remote:
            return os.path.join(os.path.abspath(source), "")
        return f"{self.user}@{self.config.remote_host}:{os.path.join(source, '')}"

    def local_source(self) -> str | None:
        return None if self.remote else os.path.abspath(self.config.require("source-dir"))

    def ssh_command(self) -> list[str]:
        """The ssh argument list rsync runs (given to rsync as one quoted ``-e`` value)."""
        c = self.config
        argv = [
            c.ssh_command,
            "-o",
            "BatchMode=yes",
            "-o",
            f"ConnectTimeout={c.ssh_connect_timeout}",
        ]
        if c.ssh_port:
            argv += ["-p", str(c.ssh_port)]
        if c.ssh_identity:
            argv += ["-i", os.path.abspath(os.path.expanduser(c.ssh_identity))]
        for option in c.ssh_option:
            argv += ["-o", option]
        return argv

    def command(self, request: CopyRequest) -> list[str]:
        c = self.config
        argv = [c.rsync_path, "-aq", "--delete"]
        if self.remote:
            # -s (protect-args): the remote path travels inside the protocol, so the
            # remote shell never sees (or splits, or expands) it.
            argv += ["-s", "-e", shlex.join(self.ssh_command())]
        argv += list(c.rsync_option)
        if request.checksum:
            argv.append("--checksum")
        if request.progress:
            argv.append("--info=progress2")
        if request.reference:
            argv.append(f"--link-dest={request.reference}")
        argv += [self.source_display(), os.path.join(request.destination, "")]
        return argv

    def classify(self, exit_status: int, stderr: str) -> CopyResult:
        message = _last_line(stderr)
        if exit_status in COMPLETE_STATUSES:
            note = COMPLETE_STATUSES[exit_status]
            return CopyResult(Outcome.COMPLETE, exit_status, note and f"{note}: {message}")
        if exit_status in RETRY_STATUSES:
            text = message or RETRY_STATUSES[exit_status]
            return CopyResult(Outcome.RETRY, exit_status, f"rsync exit {exit_status}: {text}")
        if exit_status < 0:
            return CopyResult(Outcome.ERROR, exit_status, f"rsync killed by signal {-exit_status}")
        if exit_status == SSH_FAILURE and self.remote:
            text = message or "ssh failed"
            return CopyResult(Outcome.ERROR, exit_status, f"transport failure (ssh): {text}")
        if exit_status == 127:
            return CopyResult(Outcome.ERROR, exit_status, message or "rsync not found")
        return CopyResult(
            Outcome.ERROR, exit_status, f"rsync exit {exit_status}: {message or 'failed'}"
        )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith("rsync error:")]
    return (useful or lines or [""])[-1]


@hookimpl
def dssframe_register_transports(register: Callable[[str, Any], None]) -> None:
    register("rsync", RsyncTransport)
