"""Fixtures of the apprise plugin's tests: real HTTP and SMTP servers on 127.0.0.1,
isolated XDG dirs, the real CLI."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dssframe_apprise
import pytest

from dssframe.api import JobTable


@pytest.fixture(autouse=True)
def isolated_dirs(dss_isolated: Path) -> Path:
    """Keep every test away from the user's config and state (dssframe.testing)."""
    return dss_isolated


@pytest.fixture(autouse=True)
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without a configuration captured by the plugin."""
    monkeypatch.setattr(dssframe_apprise, "_jobs", JobTable())


@dataclass
class HttpSink:
    """What a webhook receiver on 127.0.0.1 was sent."""

    port: int
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    stall: threading.Event = field(default_factory=threading.Event)  # set: answer at once
    stalled_paths: set[str] = field(default_factory=set)
    arrived: threading.Event = field(default_factory=threading.Event)  # set: one stalls

    def url(self, path: str) -> str:
        """The apprise URL that posts JSON to ``path`` of this server."""
        return f"json://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def at(self, path: str) -> list[dict[str, Any]]:
        return [payload for where, payload in self.received if where == path]


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink(0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            payload = json.loads(self.rfile.read(length) or b"{}")
            if self.path in sink.stalled_paths:
                sink.arrived.set()
                sink.stall.wait(10)
            sink.received.append((self.path, payload))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sink
    sink.stall.set()
    server.shutdown()
    server.server_close()


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    subject: str
    text: str


@dataclass
class SmtpSink:
    """What a mail server on 127.0.0.1 was sent."""

    port: int
    received: list[Mail] = field(default_factory=list)

    def url(self, to: str = "ops@example.com") -> str:
        """The apprise URL that mails ``to`` through this server, without TLS or login."""
        return (f"mailto://127.0.0.1:{self.port}?smtp=127.0.0.1&from=dss@example.com"
                f"&to={to}&mode=insecure")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller

    sink = SmtpSink(_free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            part = message.get_body(preferencelist=("plain",))
            text = part.get_content() if part is not None else ""
            sink.received.append(
                Mail(envelope.mail_from, list(envelope.rcpt_tos), str(message["Subject"]), text)
            )
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()


RunDss = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_dss(dss_cli: RunDss) -> RunDss:
    """Run the real ``dss`` command in a child process (dssframe.testing's dss_cli)."""
    return dss_cli
