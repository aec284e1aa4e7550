"""The textfile with several jobs (a config file with ``[[job]]`` tables): every series
labelled ``job``, one file holding the series of every job that writes it -- in one
process or in several --, staleness, and configurations that interleave with the
deliveries."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import dssframe_prometheus
from dssframe_prometheus import dssframe_event

from dssframe.core import naming
from dssframe.core.config import Config
from dssframe.core.events import Event, EventKind
from dssframe.plugins import notify
from dssframe.plugins.host import PluginHost

if TYPE_CHECKING:  # the fixture's type; conftest is not imported at run time
    from plugins.prometheus.tests.conftest import Metrics

Read = Callable[[Path], "Metrics"]
T0 = 1_700_000_000


def job(tmp_path: Path, name: str, textfile: Path, complete: int = 0) -> tuple[Config, str]:
    """Job ``name`` with a destination of its own holding ``complete`` snapshots, its
    metrics going to ``textfile``; its config and destination."""
    dest = tmp_path / f"dest-{name}"
    dest.mkdir(exist_ok=True)
    for number in range(complete):
        (dest / naming.complete_name(T0 + 100 * number, T0 + 100 * number + 10)).mkdir()
    textfile.parent.mkdir(exist_ok=True)
    plugins = {"prometheus": {"textfile": str(textfile)}}
    return Config(name=name, dest_dir=str(dest), plugins=plugins), str(dest)


def event(kind: EventKind, name: str, dest: str, **fields: object) -> Event:
    return Event(kind, T0 + 1000, destination=dest, job=name, **fields)  # type: ignore[arg-type]


def test_one_textfile_holds_every_jobs_labelled_series(
    tmp_path: Path, read_metrics: Read
) -> None:
    textfile = tmp_path / "collector" / "dss.prom"
    web, web_dest = job(tmp_path, "web", textfile, complete=2)
    db, db_dest = job(tmp_path, "db", textfile, complete=1)
    dssframe_prometheus.configure(web)
    dssframe_prometheus.configure(db)  # configured last
    dssframe_event(event(EventKind.SNAPSHOT_CREATED, "web", web_dest, duration=5.0,
                         exit_status=0))
    dssframe_event(event(EventKind.CREATE_FAILED, "db", db_dest, exit_status=12, error="x"))
    m = read_metrics(textfile)
    assert m.jobs() == {"web", "db"}, "db wrote last, web's series are still there"
    assert m.value("snapshots", web_dest, "web", state="complete") == 2
    assert m.value("snapshots", db_dest, "db", state="complete") == 1
    assert m.value("last_create_success", web_dest, "web") == 1
    assert m.value("last_create_success", db_dest, "db") == 0
    assert m.value("consecutive_create_failures", web_dest, "web") == 0
    assert m.value("consecutive_create_failures", db_dest, "db") == 1
    assert m.value("newest_snapshot_timestamp_seconds", web_dest, "web") == T0 + 100
    for family in m.families.values():  # every sample carries its job and destination
        assert {(s.labels["job"], s.labels["dest"]) for s in family.samples} <= {
            ("web", web_dest), ("db", db_dest)}
    names = re.findall(r"^# HELP (\S+) ", m.text, re.MULTILINE)
    assert len(names) == len(set(names)), "each metric once, its jobs' samples together"

    dssframe_event(event(EventKind.CREATE_FAILED, "db", db_dest, exit_status=12, error="x"))
    m = read_metrics(textfile)
    assert m.value("consecutive_create_failures", db_dest, "db") == 2
    assert m.value("last_create_success", web_dest, "web") == 1


def test_staleness(tmp_path: Path, read_metrics: Read) -> None:
    textfile = tmp_path / "collector" / "dss.prom"
    web, web_dest = job(tmp_path, "web", textfile, complete=1)
    db, db_dest = job(tmp_path, "db", textfile, complete=1)
    dssframe_prometheus.configure(web)
    dssframe_prometheus.configure(db)
    dssframe_event(event(EventKind.SNAPSHOT_REMOVED, "db", db_dest, snapshot="x"))
    assert read_metrics(textfile).value("snapshot_stale", db_dest, "db") == 0
    why = "no complete snapshot for 2d 3h (stale-after = 1d)"
    dssframe_event(event(EventKind.SNAPSHOT_STALE, "web", web_dest, snapshot="s", reason=why,
                         error=why))
    m = read_metrics(textfile)
    assert m.value("snapshot_stale", web_dest, "web") == 1
    assert m.value("snapshot_stale", db_dest, "db") == 0
    assert m.value("last_event_timestamp_seconds", web_dest, "web",
                   kind="snapshot-stale") == T0 + 1000
    dssframe_event(event(EventKind.CREATE_FAILED, "web", web_dest, error="x"))
    assert read_metrics(textfile).value("snapshot_stale", web_dest, "web") == 1
    dssframe_event(event(EventKind.SNAPSHOT_CREATED, "web", web_dest, duration=1.0))
    assert read_metrics(textfile).value("snapshot_stale", web_dest, "web") == 0


def test_another_process_writing_one_job_keeps_the_others(
    tmp_path: Path, read_metrics: Read
) -> None:
    """``dss create --job db`` configures db alone: the file it writes still holds
    web's series (and web's staleness) as web's last write left them."""
    textfile = tmp_path / "collector" / "dss.prom"
    web, web_dest = job(tmp_path, "web", textfile, complete=1)
    db, db_dest = job(tmp_path, "db", textfile)
    dssframe_prometheus.configure(web)
    dssframe_event(event(EventKind.SNAPSHOT_STALE, "web", web_dest, reason="old"))
    dssframe_prometheus.forget_jobs()  # a new process
    dssframe_prometheus.configure(db)
    dssframe_event(event(EventKind.CREATE_FAILED, "db", db_dest, error="x"))
    m = read_metrics(textfile)
    assert m.jobs() == {"web", "db"}
    assert m.value("snapshot_stale", web_dest, "web") == 1
    assert m.value("snapshots", web_dest, "web", state="complete") == 1
    assert m.value("consecutive_create_failures", db_dest, "db") == 1


def test_jobs_with_their_own_textfiles(tmp_path: Path, read_metrics: Read) -> None:
    shared = tmp_path / "collector" / "dss.prom"
    own = tmp_path / "collector" / "mail.prom"
    web, web_dest = job(tmp_path, "web", shared)
    db, db_dest = job(tmp_path, "db", shared)
    mail, mail_dest = job(tmp_path, "mail", own)
    for config in (web, db, mail):
        dssframe_prometheus.configure(config)
    for name, dest in (("web", web_dest), ("db", db_dest), ("mail", mail_dest)):
        dssframe_event(event(EventKind.SNAPSHOT_REMOVED, name, dest, snapshot="x"))
    assert read_metrics(shared).jobs() == {"web", "db"}
    assert read_metrics(own).jobs() == {"mail"}

    # a reload that moves db to mail's file, then one that turns web's metrics off:
    # each leaves the shared file at its next write
    db_moved = db._replace(plugins={"prometheus": {"textfile": str(own)}})
    dssframe_prometheus.configure(db_moved)
    dssframe_event(event(EventKind.SNAPSHOT_REMOVED, "db", db_dest, snapshot="x"))
    assert read_metrics(own).jobs() == {"mail", "db"}
    dssframe_event(event(EventKind.SNAPSHOT_REMOVED, "web", web_dest, snapshot="x"))
    assert read_metrics(shared).jobs() == {"web"}
    dssframe_prometheus.configure(web._replace(plugins={"prometheus": {"textfile": ""}}))
    dssframe_event(event(EventKind.SNAPSHOT_REMOVED, "web", web_dest, snapshot="y"))
    assert read_metrics(shared).jobs() == {"web"}, "off: web writes nothing any more"
    dssframe_event(event(EventKind.SNAPSHOT_REMOVED, "mail", mail_dest, snapshot="y"))
    assert read_metrics(own).jobs() == {"mail", "db"}


def test_unknown_jobs_and_events_without_a_job(tmp_path: Path, read_metrics: Read) -> None:
    textfile = tmp_path / "collector" / "dss.prom"
    web, web_dest = job(tmp_path, "web", textfile)
    dssframe_prometheus.configure(web)
    dssframe_event(event(EventKind.CREATE_FAILED, "mail", web_dest, error="x"))
    assert not textfile.exists(), "a job never configured writes nothing"
    dssframe_event(event(EventKind.CREATE_FAILED, "", web_dest, error="x"))  # the last one
    assert read_metrics(textfile).value("consecutive_create_failures", web_dest, "web") == 1


def test_a_state_file_of_one_destination_is_taken_over(
    tmp_path: Path, read_metrics: Read
) -> None:
    """A state file of the plugin before jobs (version 1: one destination) becomes the
    state of the job of that destination."""
    textfile = tmp_path / "collector" / "dss.prom"
    web, web_dest = job(tmp_path, "web", textfile)
    old = {"version": 1, "dest": web_dest, "consecutive_failures": 4, "last_create": None,
           "last_event": {"create-failed": T0}}
    (textfile.parent / ".dss.prom.state.json").write_text(json.dumps(old))
    dssframe_prometheus.configure(web)
    dssframe_event(event(EventKind.CREATE_FAILED, "web", web_dest, error="x"))
    assert read_metrics(textfile).value("consecutive_create_failures", web_dest, "web") == 5


def test_configuring_the_next_job_during_a_slow_delivery(
    tmp_path: Path, read_metrics: Read, dss_register_plugin: Callable[..., PluginHost]
) -> None:
    """Delivery is asynchronous: job db (its own textfile) is configured while web's
    events are still being delivered -- the first one held up in its write, the
    second queued. Both still update web's series in web's file."""
    web, web_dest = job(tmp_path, "web", tmp_path / "collector" / "web.prom", complete=1)
    db, db_dest = job(tmp_path, "db", tmp_path / "collector" / "db.prom")
    host = dss_register_plugin(dssframe_prometheus, "prometheus")
    with notify.background():  # as under the command line: notify returns at once
        with dssframe_prometheus._lock:  # holds up web's first write: a slow delivery
            host.configure(web)
            host.notify(event(EventKind.CREATE_FAILED, "web", web_dest, error="x"))
            host.notify(event(EventKind.CREATE_FAILED, "web", web_dest, error="y"))
            host.configure(db)  # the loop moves on to db
        assert host.flush()
    m = read_metrics(tmp_path / "collector" / "web.prom")
    assert m.jobs() == {"web"}
    assert m.value("consecutive_create_failures", web_dest, "web") == 2
    assert not (tmp_path / "collector" / "db.prom").exists()
