"""Fixtures of the ping plugin's tests: a real HTTP server on 127.0.0.1, a port nobody
listens on, isolated XDG dirs, the real CLI."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dssframe_ping
import pytest

from dssframe.api import JobTable


@pytest.fixture(autouse=True)
def isolated_dirs(dss_isolated: Path) -> Path:
    """Keep every test away from the user's config and state (dssframe.testing)."""
    return dss_isolated


@pytest.fixture(autouse=True)
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without a configuration, a tail or an outage of the plugin's,
    with quick retries, and talks to 127.0.0.1 directly (no proxy from the
    environment)."""
    monkeypatch.setattr(dssframe_ping, "_jobs", JobTable())
    monkeypatch.setattr(dssframe_ping, "_tails", {})
    monkeypatch.setattr(dssframe_ping, "_failing", set())
    monkeypatch.setattr(dssframe_ping, "RETRY_DELAY", 0.05)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Request:
    method: str
    path: str  # with the query
    body: str
    headers: dict[str, str]


@dataclass
class PingServer:
    """A monitoring endpoint on 127.0.0.1 that records every request, in order."""

    port: int
    received: list[Request] = field(default_factory=list)
    #: path -> statuses to answer, one per request, then 200.
    answers: dict[str, list[int]] = field(default_factory=dict)
    #: path -> an event a request of that path waits for (10 s at most) before it is
    #: recorded and answered: a slow monitor. ``arrived`` is set when one is waiting.
    held: dict[str, threading.Event] = field(default_factory=dict)
    arrived: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        return [r.path for r in self.received]


@pytest.fixture
def ping_server() -> Iterator[PingServer]:
    server_state = PingServer(0)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            text = self.rfile.read(length).decode("utf-8") if length else ""
            hold = server_state.held.get(self.path.partition("?")[0])
            if hold is not None:
                server_state.arrived.set()
                hold.wait(10)
            with lock:
                server_state.received.append(
                    Request(self.command, self.path, text, dict(self.headers.items()))
                )
                queued = server_state.answers.get(self.path.partition("?")[0], [])
                status = queued.pop(0) if queued else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        do_GET = do_POST = _answer  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server_state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server_state
    for hold in server_state.held.values():
        hold.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


RunDss = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_dss(dss_cli: RunDss) -> RunDss:
    """Run the real ``dss`` command in a child process (dssframe.testing's dss_cli)."""
    return dss_cli
