"""The apprise notifier with several jobs in one process (one ``dss run`` of a config
file with ``[[job]]`` tables): each job's events go to that job's own URLs, titled with
the job, however the configurations interleave with the deliveries."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import dssframe_apprise
from dssframe_apprise import dssframe_event

from dssframe.core.config import Config
from dssframe.core.events import Event, EventKind
from dssframe.plugins import notify
from dssframe.plugins.host import PluginHost

if TYPE_CHECKING:  # the fixtures' types; conftest is not imported at run time
    from plugins.apprise.tests.conftest import HttpSink

NOW = 1_700_000_000


def job(name: str, sink: HttpSink, **table: object) -> Config:
    raw = {"on-failure": [sink.url(f"/{name}-fail")], "on-success": [sink.url(f"/{name}-ok")],
           **{key.replace("_", "-"): value for key, value in table.items()}}
    return Config(name=name, dest_dir=f"/srv/{name}", plugins={"apprise": raw})


def event(kind: EventKind, name: str, **fields: object) -> Event:
    return Event(kind, NOW, destination=f"/srv/{name}", job=name, **fields)  # type: ignore[arg-type]


def test_two_jobs_notify_their_own_urls(http_sink: HttpSink) -> None:
    dssframe_apprise.configure(job("web", http_sink))
    dssframe_apprise.configure(job("db", http_sink, title_prefix="backup"))  # last
    dssframe_event(event(EventKind.SNAPSHOT_CREATED, "web", snapshot="1-2.x"))
    dssframe_event(event(EventKind.CREATE_FAILED, "db", error="rsync exit 12"))
    why = "no complete snapshot for 2d 3h (stale-after = 1d)"
    dssframe_event(event(EventKind.SNAPSHOT_STALE, "web", snapshot="1-2.x", reason=why,
                         error=why))
    assert [p["title"] for p in http_sink.at("/web-ok")] == ["dss [web]: snapshot created"]
    assert [p["title"] for p in http_sink.at("/web-fail")] == ["dss [web]: snapshot stale"]
    assert [p["title"] for p in http_sink.at("/db-fail")] == ["backup [db]: create failed"]
    assert http_sink.at("/db-ok") == []
    [stale] = http_sink.at("/web-fail")
    assert stale["type"] == "failure"
    lines = stale["message"].splitlines()
    assert "job: web" in lines and "destination: /srv/web" in lines
    assert f"error: {why}" in lines and "snapshot: 1-2.x" in lines


def test_an_event_without_a_job_and_one_of_an_unknown_job(http_sink: HttpSink) -> None:
    dssframe_apprise.configure(job("web", http_sink))
    dssframe_apprise.configure(job("db", http_sink))
    dssframe_event(Event(EventKind.CREATE_FAILED, NOW, error="x"))  # no job: the last one
    dssframe_event(event(EventKind.CREATE_FAILED, "mail", error="x"))  # never configured
    assert [(path, p["title"]) for path, p in http_sink.received] == [
        ("/db-fail", "dss: create failed")]
    dssframe_apprise.configure(job("web", http_sink, on_failure=[http_sink.url("/web-2")]))
    dssframe_event(event(EventKind.CREATE_FAILED, "web", error="x"))
    assert [p["title"] for p in http_sink.at("/web-2")] == ["dss [web]: create failed"]
    assert http_sink.at("/web-fail") == []


def test_configuring_the_next_job_during_a_slow_delivery(
    http_sink: HttpSink, dss_register_plugin: Callable[..., PluginHost]
) -> None:
    """Delivery is asynchronous: job db is configured while web's first notification
    is still on its way (a slow service) and web's second event waits in the queue.
    Both still go to web's URL; db's event to db's."""
    host = dss_register_plugin(dssframe_apprise, "apprise")
    http_sink.stalled_paths.add("/web-fail")
    with notify.background():  # as under the command line: notify returns at once
        host.configure(job("web", http_sink))
        host.notify(event(EventKind.CREATE_FAILED, "web", error="first"))
        host.notify(event(EventKind.CREATE_FAILED, "web", error="second"))
        assert http_sink.arrived.wait(10), "web's first notification is on its way"
        host.configure(job("db", http_sink))  # the loop moves on to db
        host.notify(event(EventKind.CREATE_FAILED, "db", error="third"))
        http_sink.stall.set()
    assert host.flush()
    errors = {path: [p["message"].splitlines()[-1] for p in http_sink.at(path)]
              for path in ("/web-fail", "/db-fail")}
    assert errors == {"/web-fail": ["error: first", "error: second"],
                      "/db-fail": ["error: third"]}
