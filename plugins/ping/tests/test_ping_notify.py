"""The ping notifier against a real HTTP server on 127.0.0.1: which event pings which
URL, the body (error line, log tail, size limit), retries, failures that are warned
about once and never raised, the settings' validation."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import dssframe_ping
import pytest
from dssframe_ping import MAX_BODY, Pings, dssframe_event, redact

from dssframe.api import Config, ConfigError, Event, EventKind

if TYPE_CHECKING:  # the fixtures' types; conftest is not imported at run time
    from plugins.ping.tests.conftest import PingServer

NOW = 1_700_000_000
DEST = "/srv/snapshots"


def configure(**table: object) -> Pings:
    """Hand the plugin a config with ``[plugins.ping]`` = ``table`` (``_`` -> ``-``)."""
    raw = {key.replace("_", "-"): value for key, value in table.items()}
    return dssframe_ping.configure(Config(dest_dir=DEST, plugins={"ping": raw}))


def event(kind: EventKind, **fields: object) -> Event:
    return Event(kind, NOW, source="/home/", destination=DEST, **fields)  # type: ignore[arg-type]


STARTED = event(EventKind.CREATE_STARTED, snapshot="1700000000-incomplete")
CREATED = event(EventKind.SNAPSHOT_CREATED, snapshot="1700000000-1700000090.x-y",
                duration=90.0, exit_status=0)
FAILED = event(EventKind.CREATE_FAILED, snapshot="1700000000-incomplete", duration=12.5,
               exit_status=12, error="rsync exit 12: error in rsync protocol data stream")


def test_healthchecks_style_start_success_and_failure(ping_server: PingServer) -> None:
    configure(url=ping_server.url("/ping/abc-uuid"))
    for each in (STARTED, CREATED, event(EventKind.SNAPSHOT_REMOVED, snapshot="old"),
                 STARTED, FAILED):
        dssframe_event(each)
    assert [(r.method, r.path) for r in ping_server.received] == [
        ("POST", "/ping/abc-uuid/start"),
        ("POST", "/ping/abc-uuid"),
        ("POST", "/ping/abc-uuid/start"),
        ("POST", "/ping/abc-uuid/fail"),
    ]
    success, failure = ping_server.received[1], ping_server.received[3]
    assert success.body.splitlines()[0] == "snapshot-created 1700000000-1700000090.x-y in 90.0s"
    assert success.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert success.headers["User-Agent"].startswith("dssframe-ping/")
    lines = failure.body.splitlines()
    assert lines[0] == "rsync exit 12: error in rsync protocol data stream"
    assert "event: create-failed" in lines
    assert f"destination: {DEST}" in lines and "exit status: 12" in lines
    tail = lines[lines.index("recent events, oldest first:") + 1:]
    assert [line.split(" ", 2)[2] for line in tail] == [
        "create-started 1700000000-incomplete",
        "snapshot-created 1700000000-1700000090.x-y in 90.0s",
        "snapshot-removed old",
        "create-started 1700000000-incomplete",
        "create-failed 1700000000-incomplete in 12.5s: rsync exit 12: error in rsync "
        "protocol data stream",
    ]


def test_every_failure_kind_pings_the_failure_url(ping_server: PingServer) -> None:
    configure(on_failure=ping_server.url("/fail"))
    for kind in EventKind:
        dssframe_event(event(kind, error=f"{kind.value} went wrong"))
    assert sorted(r.body.splitlines()[0] for r in ping_server.received) == sorted(
        f"{kind.value} went wrong" for kind in EventKind if kind.is_failure
    )
    assert set(ping_server.paths()) == {"/fail"}


def test_explicit_urls_win_and_a_query_stays_last(ping_server: PingServer) -> None:
    pings = configure(url=ping_server.url("/hc/uuid/?rid=7"),
                      on_success=ping_server.url("/other"))
    assert pings.start == ping_server.url("/hc/uuid/start?rid=7")
    assert pings.failure == ping_server.url("/hc/uuid/fail?rid=7")
    for each in (STARTED, CREATED, FAILED):
        dssframe_event(each)
    assert ping_server.paths() == ["/hc/uuid/start?rid=7", "/other", "/hc/uuid/fail?rid=7"]


def test_tolerated_source_errors_are_in_the_success_body(ping_server: PingServer) -> None:
    configure(on_success=ping_server.url("/ok"))
    dssframe_event(CREATED._replace(stats={
        "files": 3, "source_errors": 7,
        "source_error_lines": ('rsync: [sender] send_files failed to open "/home/x":\n'
                               "Permission denied (13)",),
    }))
    lines = ping_server.received[0].body.splitlines()
    assert "source errors tolerated: 7" in lines
    assert '  rsync: [sender] send_files failed to open "/home/x": Permission denied (13)' in lines


def test_only_the_configured_pings_are_sent(ping_server: PingServer) -> None:
    configure(on_failure=ping_server.url("/fail"))
    dssframe_event(STARTED)
    dssframe_event(CREATED)
    assert ping_server.received == []
    dssframe_event(FAILED)
    assert ping_server.paths() == ["/fail"]
    # the tail holds what was heard, pinged or not
    assert "create-started 1700000000-incomplete" in ping_server.received[0].body


def test_uptime_kuma_style_get(ping_server: PingServer) -> None:
    push = ping_server.url("/api/push/T0k3n")
    configure(on_success=push + "?status=up&msg=OK", on_failure=push + "?status=down&msg=failed",
              method="get")
    dssframe_event(CREATED)
    dssframe_event(FAILED)
    assert [(r.method, r.path, r.body) for r in ping_server.received] == [
        ("GET", "/api/push/T0k3n?status=up&msg=OK", ""),
        ("GET", "/api/push/T0k3n?status=down&msg=failed", ""),
    ]


def test_dry_runs_other_api_versions_and_an_unconfigured_plugin_send_nothing(
    ping_server: PingServer,
) -> None:
    dssframe_event(FAILED)  # no configuration yet
    configure(url=ping_server.url("/x"))
    dssframe_event(FAILED._replace(dry_run=True))
    dssframe_event(FAILED._replace(api_version=99))
    assert ping_server.received == []


def test_the_body_is_size_limited_newest_tail_lines_kept(ping_server: PingServer) -> None:
    configure(on_failure=ping_server.url("/fail"), tail_lines=1000)
    for number in range(400):
        dssframe_event(event(EventKind.SNAPSHOT_REMOVED, snapshot=f"snap-{number:04d}",
                             reason="redundant " + "x" * 40))
    dssframe_event(FAILED._replace(error="E" * 50_000))
    [request] = ping_server.received
    assert len(request.body.encode("utf-8")) <= MAX_BODY
    lines = request.body.splitlines()
    assert lines[0].startswith("EEEE") and lines[0].endswith("…")
    assert "snap-0399" in request.body and "snap-0000" not in request.body
    assert any(line.endswith("older events left out)") for line in lines)
    assert lines[-1].split(" ", 2)[2].startswith("create-failed 1700000000-incomplete")
    assert all(len(line) <= dssframe_ping.MAX_LINE for line in lines[1:])


def test_the_tail_keeps_tail_lines_events(ping_server: PingServer) -> None:
    configure(on_failure=ping_server.url("/fail"), tail_lines=2)
    for number in range(5):
        dssframe_event(event(EventKind.SNAPSHOT_REMOVED, snapshot=f"snap-{number}"))
    dssframe_event(FAILED)
    tail = ping_server.received[0].body.partition("recent events, oldest first:\n")[2]
    assert [line.split(" ", 2)[2] for line in tail.splitlines()] == [
        "snapshot-removed snap-4", dssframe_ping.describe(FAILED)]


def test_server_errors_are_retried(
    ping_server: PingServer, caplog: pytest.LogCaptureFixture
) -> None:
    ping_server.answers["/ok"] = [500, 503]
    configure(on_success=ping_server.url("/ok"), retries=2)
    with caplog.at_level(logging.INFO, logger="dssframe.ping"):
        assert dssframe_ping.notify(CREATED) is True
    assert ping_server.paths() == ["/ok"] * 3
    assert [r.levelno for r in caplog.records] == [logging.INFO] * 3  # 2 retries, 1 success


def test_client_errors_are_not_retried(
    ping_server: PingServer, caplog: pytest.LogCaptureFixture
) -> None:
    ping_server.answers["/ok"] = [404]
    configure(on_success=ping_server.url("/ok"), retries=2)
    assert dssframe_ping.notify(CREATED) is False
    assert ping_server.paths() == ["/ok"]
    assert "success ping to http://127.0.0.1:" in caplog.text and "HTTP 404" in caplog.text


def test_an_unreachable_server_is_warned_about_once_never_raised(
    closed_port: int, ping_server: PingServer, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://user:s3cr3t@127.0.0.1:{closed_port}/ping/secret-uuid?token=hush"
    configure(url=dead, retries=1)
    with caplog.at_level(logging.WARNING, logger="dssframe.ping"):
        for each in (STARTED, CREATED, STARTED, FAILED):
            dssframe_event(each)  # raises nothing
    [warning] = caplog.records
    assert warning.getMessage().startswith(
        f"ping: start ping to http://127.0.0.1:{closed_port}/… failed after 2 attempts: ")
    for secret in ("s3cr3t", "secret-uuid", "hush", "user"):
        assert secret not in caplog.text
    # it comes back: one line says so, and the next outage is warned about again
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dssframe.ping"):
        configure(url=ping_server.url("/hc"), retries=0)
        dssframe_event(CREATED)
        configure(url=dead, retries=0)
        dssframe_event(FAILED)
    assert [r.getMessage().split(" (")[0].split(": ")[1] for r in caplog.records] == [
        f"success ping to http://127.0.0.1:{ping_server.port}/… got through again",
        f"failure ping to http://127.0.0.1:{closed_port}/… failed",
    ]


def test_a_slow_server_times_out(caplog: pytest.LogCaptureFixture) -> None:
    import socket
    import time

    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        configure(on_failure=f"http://127.0.0.1:{listener.getsockname()[1]}/f", timeout=0.3,
                  retries=0)
        started = time.monotonic()
        assert dssframe_ping.notify(FAILED) is False
        assert time.monotonic() - started < 3
    assert "failure ping to" in caplog.text


def test_redact_keeps_scheme_and_host_only() -> None:
    assert redact("https://hc-ping.com/0f3c-uuid") == "https://hc-ping.com/…"
    assert redact("https://u:pw@kuma.example:3001/api/push/T?status=up") == (
        "https://kuma.example:3001/…")
    assert redact("http://ntfy.sh") == "http://ntfy.sh"
    assert redact("hc-ping.com/uuid") == "(not a URL)"


def test_the_table_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"\[plugins.ping\] on-failure: 'ftp://host/…' is not"):
        configure(on_failure="ftp://host/secret")
    with pytest.raises(ConfigError, match="url: '.not a URL.' is not an http"):
        configure(url="hc-ping.com/uuid")
    with pytest.raises(ConfigError, match="on-start: 'http://' is not"):
        configure(url="https://hc-ping.com/u", on_start="http://")
    with pytest.raises(ConfigError, match="unknown key 'on-fail'"):
        configure(on_fail="https://x/y")
    with pytest.raises(ConfigError, match="url: set url, or one of on-start"):
        configure()
    with pytest.raises(ConfigError, match="method: 'PUT' is not POST or GET"):
        configure(url="https://x/y", method="PUT")
    with pytest.raises(ConfigError, match="timeout: must be positive"):
        configure(url="https://x/y", timeout=0)
    with pytest.raises(ConfigError, match="retries: must be 0 or more"):
        configure(url="https://x/y", retries=-1)
    with pytest.raises(ConfigError, match="retries: expected int"):
        configure(url="https://x/y", retries="2")
    assert configure(url="https://hc-ping.com/u/") == Pings(
        "https://hc-ping.com/u/start", "https://hc-ping.com/u/", "https://hc-ping.com/u/fail")


def test_the_loader_checks_the_table(dss_config: Callable[..., Config]) -> None:
    make = dss_config
    config = make(notify=("ping",), plugins={"ping": {"url": "https://hc-ping.com/u"}})
    assert config.plugins["ping"]["timeout"] == 10.0
    assert config.plugins["ping"]["retries"] == 2
    with pytest.raises(ConfigError, match="timeout: expected float"):
        make(notify=("ping",), plugins={"ping": {"timeout": "soon"}})


def test_urllib_is_imported_only_to_ping() -> None:
    code = ("import sys, dssframe_ping\n"
            "from dssframe.api import Config\n"
            "dssframe_ping.configure(Config(plugins={'ping': {'url': 'https://x/y'}}))\n"
            "print('urllib.request' in sys.modules, 'socket' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["False", "False"]
