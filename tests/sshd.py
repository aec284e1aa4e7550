"""A real, throw-away OpenSSH server on 127.0.0.1 for the ssh transport tests and the
ssh benchmark.

Everything lives in one temporary directory: a generated host key, a generated client
key (the only entry of ``authorized_keys``), ``sshd_config``, the pid file, the log and a
``known_hosts`` file for the host key. Nothing under ``~/.ssh`` is read or written by the
server; clients point ssh at the generated files with ``-i`` and
``-o UserKnownHostsFile=...``.

``start_sshd()`` / ``SshServer.stop()`` need no pytest (bench/bench_ssh.py imports them);
the session fixture ``sshd`` wraps them, failing in CI (``CI=true``) and skipping elsewhere
when the server cannot be started.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")
HOST = "127.0.0.1"
START_TIMEOUT = 10.0
PORT_ATTEMPTS = 5


class SshdUnavailable(Exception):
    """The test sshd could not be started (tool missing, no privilege, no port)."""


@dataclass
class SshServer:
    """A running test sshd and what a client needs to reach it."""

    host: str
    port: int
    user: str
    directory: Path
    client_key: Path  # private key; its public half is the only authorized key
    known_hosts: Path  # holds exactly the generated host key for [host]:port
    host_key: Path
    config_file: Path
    pid_file: Path
    log_file: Path
    process: subprocess.Popen[bytes] | None = None

    def ssh_options(self) -> list[str]:
        """``-o`` values that make ssh trust this server's key and nothing else."""
        return [
            f"UserKnownHostsFile={self.known_hosts}",
            "GlobalKnownHostsFile=/dev/null",
            "StrictHostKeyChecking=yes",
        ]

    def ssh_argv(self, ssh: str = "ssh") -> list[str]:
        """A plain ssh command line for this server (as used by the benchmark)."""
        argv = [ssh, "-p", str(self.port), "-i", str(self.client_key)]
        argv += ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
        for option in self.ssh_options():
            argv += ["-o", option]
        return argv

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and reap it."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _tool(name: str, fallback: str | None = None) -> str:
    path = shutil.which(name) or (fallback if fallback and os.access(fallback, os.X_OK) else None)
    if path is None:
        raise SshdUnavailable(f"{name} is not installed")
    return path


def make_key(path: Path, comment: str = "dssframe-test") -> Path:
    """Generate an unencrypted ed25519 key pair at ``path`` (+ ``.pub``)."""
    keygen = _tool("ssh-keygen")
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return path


def free_port(host: str = HOST) -> int:
    """A port nobody listens on right now (sshd may still lose a race for it: retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test run (or benchmark) dies, so no sshd lingers."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _write_config(server: SshServer, authorized_keys: Path) -> None:
    lines = [
        f"Port {server.port}",
        f"ListenAddress {server.host}",
        f"HostKey {server.host_key}",
        f"PidFile {server.pid_file}",
        f"AuthorizedKeysFile {authorized_keys}",
        "PermitRootLogin prohibit-password",
        "StrictModes no",
        "UsePAM no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitEmptyPasswords no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "PrintMotd no",
        "PrintLastLog no",
        "UseDNS no",
        "MaxStartups 50:30:100",
        "LogLevel INFO",
    ]
    server.config_file.write_text("\n".join(lines) + "\n")


def _write_known_hosts(server: SshServer) -> None:
    key_type, key_blob = server.host_key.with_suffix(".pub").read_text().split()[:2]
    server.known_hosts.write_text(f"[{server.host}]:{server.port} {key_type} {key_blob}\n")


def _wait_ready(server: SshServer, deadline: float) -> bool:
    """True once the server sends its banner; False if it exited (e.g. port taken)."""
    assert server.process is not None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(
            (server.host, server.port), timeout=1
        ) as sock:
            sock.settimeout(1)
            if sock.recv(64).startswith(b"SSH-"):
                return True
        time.sleep(0.05)
    raise SshdUnavailable(f"sshd did not answer within {START_TIMEOUT:.0f}s:\n{server.log_tail()}")


def start_sshd(directory: Path) -> SshServer:
    """Start a test sshd whose files all live in ``directory`` (created if missing)."""
    sshd = _tool("sshd", SSHD)
    _tool("ssh")
    directory.mkdir(parents=True, exist_ok=True)
    # sshd refuses to start without its privilege separation directory. Without the
    # right to create it, try anyway: sshd's log then says what is wrong.
    with contextlib.suppress(OSError):
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    host_key = make_key(directory / "ssh_host_ed25519_key", "dssframe-test-host")
    client_key = make_key(directory / "client_key", "dssframe-test-client")
    authorized_keys = directory / "authorized_keys"
    authorized_keys.write_text(client_key.with_suffix(".pub").read_text())
    server = SshServer(
        host=HOST,
        port=0,
        user=pwd.getpwuid(os.geteuid()).pw_name,
        directory=directory,
        client_key=client_key,
        known_hosts=directory / "known_hosts",
        host_key=host_key,
        config_file=directory / "sshd_config",
        pid_file=directory / "sshd.pid",
        log_file=directory / "sshd.log",
    )
    for _ in range(PORT_ATTEMPTS):
        server.port = free_port()
        _write_config(server, authorized_keys)
        check = subprocess.run(
            [sshd, "-t", "-f", str(server.config_file)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise SshdUnavailable(f"sshd rejects its test config: {check.stderr.strip()}")
        with open(server.log_file, "ab") as log:
            # -D: stay in the foreground (we own the process), -e: log to the log file.
            server.process = subprocess.Popen(
                [sshd, "-D", "-e", "-f", str(server.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        if _wait_ready(server, time.monotonic() + START_TIMEOUT):
            _write_known_hosts(server)
            return server
        server.stop()
    raise SshdUnavailable(f"sshd did not start:\n{server.log_tail()}")


@contextlib.contextmanager
def running_sshd(directory: Path) -> Iterator[SshServer]:
    server = start_sshd(directory)
    try:
        yield server
    finally:
        server.stop()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


try:
    import pytest
except ImportError:  # the benchmark runs without pytest
    pass
else:

    def start_for_tests(directory: Path) -> SshServer:
        """start_sshd, or fail the test in CI (CI=true) and skip it elsewhere."""
        try:
            return start_sshd(directory)
        except (SshdUnavailable, OSError, subprocess.CalledProcessError) as exc:
            message = f"cannot start a test sshd: {exc}"
            if in_ci():
                pytest.fail(message + " (CI must be able to run it)")
            pytest.skip(message)

    @pytest.fixture(scope="session")
    def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
        """A real sshd on 127.0.0.1 for the whole session, stopped at its end."""
        server = start_for_tests(tmp_path_factory.mktemp("sshd"))
        try:
            yield server
        finally:
            server.stop()


def source_config(
    tmp_path: Path, server: SshServer, source: Path, dest: Path, **extra: Any
) -> Path:
    """A config file whose source is ``source`` over ssh on ``server`` (always ssh, even
    to localhost), with ``extra`` keys (``rsync_option=[...]`` is ``rsync-option``)."""
    from dssframe.core.config import to_toml

    settings: dict[str, Any] = {
        "source-dir": f"{source}/",
        "dest-dir": str(dest),
        "remote-host": server.host,
        "remote-user": server.user,
        "use-ssh": "always",
        "ssh-port": server.port,
        "ssh-identity": str(server.client_key),
        "ssh-option": server.ssh_options(),
        "ssh-connect-timeout": 5,
        **{key.replace("_", "-"): value for key, value in extra.items()},
    }
    path = tmp_path / "ssh.toml"
    path.write_text(to_toml(settings))
    return path
