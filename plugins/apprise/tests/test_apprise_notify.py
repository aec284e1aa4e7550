"""The apprise notifier against real servers on 127.0.0.1: routing by event kind,
message contents, failures and time-outs that are logged and never raised."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import dssframe_apprise
import pytest
from dssframe_apprise import Routes, dssframe_event

from dssframe.core.config import Config
from dssframe.core.errors import ConfigError
from dssframe.core.events import Event, EventKind
from dssframe.plugins.host import load_host

if TYPE_CHECKING:  # the fixtures' types; conftest is not imported at run time
    from plugins.apprise.tests.conftest import HttpSink, SmtpSink

NOW = 1_700_000_000
DEST = "/srv/snapshots"


def configure(**table: object) -> Routes:
    """Hand the plugin a config with ``[plugins.apprise]`` = ``table`` (``_`` -> ``-``)."""
    raw = {key.replace("_", "-"): value for key, value in table.items()}
    return dssframe_apprise.configure(Config(dest_dir=DEST, plugins={"apprise": raw}))


def event(kind: EventKind, **fields: object) -> Event:
    return Event(kind, NOW, source="/home", destination=DEST, **fields)  # type: ignore[arg-type]


FAILED = event(
    EventKind.CREATE_FAILED,
    snapshot="1700000000-incomplete",
    path=DEST + "/1700000000-incomplete",
    duration=12.5,
    exit_status=12,
    error="rsync exited with status 12",
)
CREATED = event(
    EventKind.SNAPSHOT_CREATED,
    snapshot="1699999000-1699999090.x-y",
    duration=90.0,
    exit_status=0,
)


def test_failures_reach_mail_and_webhook_and_successes_go_nowhere(
    http_sink: HttpSink, smtp_sink: SmtpSink
) -> None:
    configure(on_failure=[http_sink.url("/fail"), smtp_sink.url()])
    dssframe_event(CREATED)
    assert http_sink.received == [] and smtp_sink.received == []

    dssframe_event(FAILED)
    [payload] = http_sink.at("/fail")
    assert payload["title"] == "dss: create failed"
    assert payload["type"] == "failure"
    [mail] = smtp_sink.received
    assert mail.subject == "dss: create failed"
    assert (mail.sender, mail.recipients) == ("dss@example.com", ["ops@example.com"])
    for text in (payload["message"], mail.text):
        lines = text.splitlines()
        assert f"destination: {DEST}" in lines
        assert "source: /home" in lines
        assert "snapshot: 1700000000-incomplete" in lines
        assert "duration: 12.5 s" in lines
        assert "exit status: 12" in lines
        assert "error: rsync exited with status 12" in lines


def test_each_kind_goes_where_it_is_configured(http_sink: HttpSink) -> None:
    url = http_sink.url
    configure(urls=[url("/all")], on_failure=[url("/fail"), url("/all")],
              on_success=[url("/ok")], on_low_space=[url("/low")])
    for kind in EventKind:
        dssframe_event(event(kind, snapshot="s"))
    titles = {path: sorted(p["title"] for p in http_sink.at(path))
              for path in ("/all", "/fail", "/ok", "/low")}
    assert titles["/all"] == sorted(f"dss: {k.value.replace('-', ' ')}" for k in EventKind)
    assert titles["/fail"] == sorted(
        f"dss: {k.value.replace('-', ' ')}" for k in EventKind if k.is_failure)
    assert {"dss: create failed", "dss: corruption found", "dss: snapshot stale"} <= set(
        titles["/fail"])
    assert titles["/ok"] == ["dss: snapshot created", "dss: snapshot removed"]
    assert titles["/low"] == ["dss: disk space low", "dss: no space"]
    types = {p["title"]: p["type"] for p in http_sink.at("/all")}
    assert types["dss: snapshot created"] == "success"
    assert types["dss: disk space low"] == "warning"
    assert types["dss: remove failed"] == "failure"
    assert types["dss: create started"] == "info"


def test_dry_runs_and_an_unconfigured_plugin_send_nothing(http_sink: HttpSink) -> None:
    dssframe_event(FAILED)  # no dssframe_configure yet
    configure(urls=[http_sink.url("/all")], title_prefix="backup@web1")
    dssframe_event(event(EventKind.SNAPSHOT_REMOVED, snapshot="s", dry_run=True))
    assert http_sink.received == []
    dssframe_event(event(EventKind.SNAPSHOT_REMOVED, snapshot="s", reason="redundant"))
    [payload] = http_sink.at("/all")
    assert payload["title"] == "backup@web1: snapshot removed"
    assert "reason: redundant" in payload["message"].splitlines()


def test_a_failed_delivery_is_logged_never_raised(
    http_sink: HttpSink, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    dead = f"json://hook:s3cr3t@127.0.0.1:{closed}/x"
    configure(on_failure=[dead, http_sink.url("/fail")])
    with caplog.at_level(logging.INFO):
        dssframe_event(FAILED)
    assert len(http_sink.at("/fail")) == 1, "one dead URL does not stop the others"
    assert "could not be delivered to json://" in caplog.text
    assert "s3cr3t" not in caplog.text


def test_delivery_is_time_boxed(http_sink: HttpSink, caplog: pytest.LogCaptureFixture) -> None:
    http_sink.stalled_paths.add("/slow")
    configure(on_failure=[http_sink.url("/slow"), http_sink.url("/fast")], timeout=0.5)
    started = time.monotonic()
    failed = dssframe_apprise.notify(FAILED)
    assert time.monotonic() - started < 3
    assert len(failed) == 1 and "127.0.0.1" in failed[0]
    assert len(http_sink.at("/fast")) == 1
    assert "timed out after 0.5 s" in caplog.text


def test_the_table_is_validated() -> None:
    with pytest.raises(ConfigError, match="unknown key 'on-fail'"):
        configure(on_fail=["json://x"])
    with pytest.raises(ConfigError, match=r"urls: 'secret\?' is not|\(not a URL\)"):
        configure(urls=["secret?"])
    with pytest.raises(ConfigError, match="on-success: expected list"):
        configure(on_success="json://x")
    with pytest.raises(ConfigError, match="timeout: must be positive"):
        configure(timeout=0)
    routes = configure(urls=["json://a", "json://b"], on_failure=["json://b", "json://c"])
    assert routes.targets(EventKind.CREATE_FAILED) == ["json://a", "json://b", "json://c"]
    assert routes.targets(EventKind.CREATE_STARTED) == ["json://a", "json://b"]


def test_delivery_through_the_plugin_host(
    http_sink: HttpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSSFRAME_PLUGINS", "apprise")
    host = load_host()
    host.load_entry_points()
    assert any(info.name == "apprise" for info in host.infos)
    host.configure(Config(dest_dir=DEST, notify=("apprise",), plugins={"apprise": {"on-failure": [
        http_sink.url("/fail")]}}))
    host.notify(FAILED)
    assert [p["title"] for p in http_sink.at("/fail")] == ["dss: create failed"]


def test_apprise_is_imported_only_to_deliver() -> None:
    code = ("import sys, dssframe_apprise\n"
            "from dssframe.core.config import Config\n"
            "dssframe_apprise.configure(Config(plugins={'apprise': {'urls': ['json://x']}}))\n"
            "print('apprise' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
