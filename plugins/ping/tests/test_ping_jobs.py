"""The ping notifier with several jobs in one process (one ``dss run`` of a config file
with ``[[job]]`` tables): each job's events ping that job's own URLs, with its own log
tail, however the configurations interleave with the deliveries."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import dssframe_ping
from dssframe_ping import dssframe_event

from dssframe.api import Config, Event, EventKind
from dssframe.plugins import notify
from dssframe.plugins.host import PluginHost
from dssframe.store.configfile import load_jobs

if TYPE_CHECKING:  # the fixtures' types; conftest is not imported at run time
    from plugins.ping.tests.conftest import PingServer

NOW = 1_700_000_000


def job(name: str, url: str, **table: object) -> Config:
    raw = {"url": url, **{key.replace("_", "-"): value for key, value in table.items()}}
    return Config(name=name, dest_dir=f"/srv/{name}", plugins={"ping": raw})


def event(kind: EventKind, name: str, **fields: object) -> Event:
    return Event(kind, NOW, destination=f"/srv/{name}", job=name, **fields)  # type: ignore[arg-type]


def test_two_jobs_ping_their_own_urls(ping_server: PingServer) -> None:
    dssframe_ping.configure(job("web", ping_server.url("/web")))
    dssframe_ping.configure(job("db", ping_server.url("/db")))  # configured last
    dssframe_event(event(EventKind.CREATE_STARTED, "web", snapshot="1-incomplete"))
    dssframe_event(event(EventKind.SNAPSHOT_CREATED, "db", snapshot="2-3.x"))
    dssframe_event(event(EventKind.SNAPSHOT_REMOVED, "db", snapshot="0-1.x"))
    dssframe_event(event(EventKind.CREATE_FAILED, "web", error="rsync exit 12"))
    why = "no complete snapshot for 2d 3h (stale-after = 1d)"
    dssframe_event(event(EventKind.SNAPSHOT_STALE, "db", snapshot="2-3.x", reason=why,
                         error=why))
    assert ping_server.paths() == ["/web/start", "/db", "/web/fail", "/db/fail"]
    start, created, failed, stale = ping_server.received
    assert "job: web" in start.body.splitlines()
    assert "job: db" in created.body.splitlines()
    # each job's tail holds that job's events only
    tail = failed.body.partition("recent events, oldest first:\n")[2].splitlines()
    assert [line.split(" ", 2)[2] for line in tail] == [
        "create-started 1-incomplete", "create-failed: rsync exit 12"]
    assert stale.body.splitlines()[0] == why
    assert "event: snapshot-stale" in stale.body.splitlines()
    tail = stale.body.partition("recent events, oldest first:\n")[2].splitlines()
    assert [line.split(" ", 3)[2] for line in tail] == [
        "snapshot-created", "snapshot-removed", "snapshot-stale"]


def test_an_event_without_a_job_and_one_of_an_unknown_job(ping_server: PingServer) -> None:
    dssframe_ping.configure(job("web", ping_server.url("/web")))
    dssframe_ping.configure(job("db", ping_server.url("/db")))
    dssframe_event(Event(EventKind.SNAPSHOT_CREATED, NOW))  # names no job: the last one
    dssframe_event(event(EventKind.CREATE_FAILED, "mail", error="x"))  # never configured
    assert ping_server.paths() == ["/db"]
    assert not any(line.startswith("job:") for line in ping_server.received[0].body.splitlines())
    # a reload of one job replaces its table only
    dssframe_ping.configure(job("web", ping_server.url("/web2")))
    dssframe_event(event(EventKind.SNAPSHOT_CREATED, "web"))
    dssframe_event(event(EventKind.SNAPSHOT_CREATED, "db"))
    assert ping_server.paths()[1:] == ["/web2", "/db"]


def test_a_jobs_table_overrides_the_top_level_one(
    ping_server: PingServer, tmp_path: Path
) -> None:
    """Through the real loader: ``[plugins.ping]`` is every job's default, a job's
    ``[job.plugins.ping]`` overrides it key by key."""
    config = tmp_path / "dss.toml"
    config.write_text(
        'notify = ["ping"]\n'
        "[plugins.ping]\n"
        f'url = "{ping_server.url("/shared")}"\n'
        "[[job]]\n"
        'name = "web"\n'
        f'dest-dir = "{tmp_path / "web"}"\n'
        "[job.plugins.ping]\n"
        f'url = "{ping_server.url("/web")}"\n'
        "[[job]]\n"
        'name = "db"\n'
        f'dest-dir = "{tmp_path / "db"}"\n'
    )
    web, db = load_jobs(str(config), {})
    dssframe_ping.configure(web)
    dssframe_ping.configure(db)
    for name in ("web", "db"):
        dssframe_event(event(EventKind.CREATE_STARTED, name))
        dssframe_event(event(EventKind.CREATE_FAILED, name, error="x"))
    assert ping_server.paths() == ["/web/start", "/web/fail", "/shared/start", "/shared/fail"]


def test_configuring_the_next_job_during_a_slow_delivery(
    ping_server: PingServer, dss_register_plugin: Callable[..., PluginHost]
) -> None:
    """Delivery is asynchronous: job db is configured while web's first ping is still
    on its way (a slow monitor) and web's second event waits in the queue. Both still
    go to web's URLs; db's event to db's."""
    host = dss_register_plugin(dssframe_ping, "ping")
    ping_server.held["/web/start"] = release = threading.Event()
    with notify.background():  # as under the command line: notify returns at once
        host.configure(job("web", ping_server.url("/web")))
        host.notify(event(EventKind.CREATE_STARTED, "web"))
        host.notify(event(EventKind.SNAPSHOT_CREATED, "web"))
        assert ping_server.arrived.wait(10), "web's first ping is on its way"
        host.configure(job("db", ping_server.url("/db")))  # the loop moves on to db
        host.notify(event(EventKind.CREATE_FAILED, "db", error="x"))
        assert ping_server.received == []
        release.set()
    assert host.flush()
    assert ping_server.paths() == ["/web/start", "/web", "/db/fail"]
