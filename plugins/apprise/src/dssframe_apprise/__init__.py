"""dssframe plugin ``apprise``: tell people about snapshots through apprise (mail,
chat, push services, webhooks; https://github.com/caronc/apprise).

Configured under ``[plugins.apprise]``; see README.md. apprise is imported only when a
notification is actually sent: importing it costs more than ``dss ls`` may take.

Several jobs: ``dssframe_configure`` is called once per job of a ``dss run``; the
validated table is kept per ``config.name`` and an event goes to the URLs of
``event.job`` (:func:`routes_for`), its title naming the job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from dssframe import hookimpl
from dssframe.api import (
    Config,
    ConfigError,
    Event,
    EventKind,
    JobTable,
    PluginSettings,
    Setting,
    get_logger,
    validate_section,
)

__version__ = "0.1.0"

SECTION = "apprise"
log = get_logger("dssframe.apprise")  # imports logging only when it logs

SUCCESS_KINDS = frozenset({EventKind.SNAPSHOT_CREATED, EventKind.SNAPSHOT_REMOVED})
LOW_SPACE_KINDS = frozenset({EventKind.DISK_SPACE_LOW, EventKind.NO_SPACE})
_WARNING_KINDS = frozenset(
    {EventKind.CREATE_DEFERRED, EventKind.REMOVE_SKIPPED, EventKind.DISK_SPACE_LOW,
     EventKind.RUN_EXITING}
)

SETTINGS = PluginSettings(
    section=SECTION,
    settings=[
        Setting("urls", "list[str]", [], "apprise URLs told about every event"),
        Setting("on-failure", "list[str]", [],
                "apprise URLs told about failures (create-failed, remove-failed, no-space, "
                "snapshot-stale, ...)"),
        Setting("on-success", "list[str]", [],
                "apprise URLs told when a snapshot was created or removed"),
        Setting("on-low-space", "list[str]", [],
                "apprise URLs told when disk space runs low (disk-space-low, no-space)"),
        Setting("timeout", "float", 30.0,
                "seconds the deliveries of one event may take in all"),
        Setting("title-prefix", "str", "dss", "first word of every notification title"),
    ],
)


class Routes(NamedTuple):
    """Who hears what, from the validated ``[plugins.apprise]`` table."""

    every: tuple[str, ...] = ()
    failure: tuple[str, ...] = ()
    success: tuple[str, ...] = ()
    low_space: tuple[str, ...] = ()
    timeout: float = 30.0
    prefix: str = "dss"

    @classmethod
    def from_table(cls, raw: Mapping[str, Any] | None) -> Routes:
        values = validate_section(SETTINGS, raw)
        for key in ("urls", "on-failure", "on-success", "on-low-space"):
            for url in values[key]:
                if "://" not in url:
                    raise ConfigError(
                        f"[plugins.{SECTION}] {key}: {redact(url)!r} is not an apprise URL "
                        "(like mailto://user:password@example.com or json://host/path)"
                    )
        if not values["timeout"] > 0:
            raise ConfigError(f"[plugins.{SECTION}] timeout: must be positive")
        return cls(
            tuple(values["urls"]),
            tuple(values["on-failure"]),
            tuple(values["on-success"]),
            tuple(values["on-low-space"]),
            values["timeout"],
            values["title-prefix"],
        )

    def targets(self, kind: EventKind) -> list[str]:
        """The URLs that hear about ``kind``, each once, in configuration order."""
        urls = list(self.every)
        if kind.is_failure:
            urls += self.failure
        if kind in SUCCESS_KINDS:
            urls += self.success
        if kind in LOW_SPACE_KINDS:
            urls += self.low_space
        return list(dict.fromkeys(urls))


def redact(url: str) -> str:
    """A URL fit for a log line: only its scheme (apprise URLs carry secrets)."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://..." if sep else "(not a URL)"


def title(event: Event, prefix: str) -> str:
    """``dss: snapshot created``, ``dss: create failed``, ...; with the job when the
    event names one: ``dss [home]: snapshot stale``."""
    words = event.kind.value.replace("-", " ")
    head = " ".join(part for part in (prefix, f"[{event.job}]" if event.job else "") if part)
    return f"{head}: {words}" if head else words


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d} ({whole} s)"


def body(event: Event) -> str:
    """The plain-text message: one ``field: value`` line per known fact."""
    import socket  # lazily: plugin modules load on every dss command

    lines = [f"host: {socket.gethostname()}"]
    if event.job:
        lines.append(f"job: {event.job}")
    lines.append(f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z', time.localtime(event.time))}")
    if event.destination:
        lines.append(f"destination: {event.destination}")
    if event.source:
        lines.append(f"source: {event.source}")
    if event.snapshot:
        lines.append(f"snapshot: {event.snapshot}")
    if event.reason:
        lines.append(f"reason: {event.reason}")
    if event.duration is not None:
        lines.append(f"duration: {_duration(event.duration)}")
    if event.exit_status is not None:
        lines.append(f"exit status: {event.exit_status}")
    if event.error:
        lines.append(f"error: {event.error}")
    if event.stats:
        lines.append("stats: " + ", ".join(f"{k}={v}" for k, v in sorted(event.stats.items())))
    if event.dry_run:
        lines.append("(dry run: nothing was done)")
    return "\n".join(lines)


def notify_type(kind: EventKind) -> str:
    """apprise's notification type (it picks colours and icons by it)."""
    if kind.is_failure:
        return "failure"
    if kind in _WARNING_KINDS:
        return "warning"
    if kind in SUCCESS_KINDS:
        return "success"
    return "info"


def _route_library_log() -> None:
    """apprise's own log lines (they say why a delivery failed) go to dss's log."""
    import logging  # loaded by now: apprise itself uses it

    class Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            log.log(record.levelno, "apprise: %s", record.getMessage())

    library = logging.getLogger("apprise")
    if not any(type(h).__name__ == "Forward" for h in library.handlers):
        library.addHandler(Forward())
        library.propagate = False
    own = logging.getLogger(log.name).getEffectiveLevel()
    library.setLevel(max(own, logging.DEBUG))


def deliver(urls: Sequence[str], subject: str, text: str, kind: str, timeout: float) -> list[str]:
    """Send one notification to every URL in parallel, waiting at most ``timeout``
    seconds in all. Returns the (redacted) URLs that failed or timed out; every
    failure is logged, none is raised."""
    import apprise  # lazily: ~0.4 s of imports

    _route_library_log()
    results: dict[int, bool] = {}
    names: dict[int, str] = {}

    def send(index: int, url: str) -> None:
        results[index] = False
        try:
            service = apprise.Apprise()
            if not service.add(url):
                log.error("apprise: %s is not a URL apprise understands", redact(url))
                return
            names[index] = service[0].url(privacy=True)  # type: ignore[no-untyped-call]
            results[index] = bool(
                service.notify(
                    body=text,
                    title=subject,
                    notify_type=apprise.NotifyType(kind),
                    body_format=apprise.NotifyFormat.TEXT,
                )
            )
        except Exception as exc:  # noqa: BLE001 - a notifier must never raise
            log.error("apprise: %s: %s: %s", redact(url), type(exc).__name__, exc)

    threads = []
    for index, url in enumerate(urls):
        names[index] = redact(url)
        thread = threading.Thread(
            target=send, args=(index, url), name=f"dssframe-apprise-{index}", daemon=True
        )
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    failed = []
    for index, thread in enumerate(threads):
        if thread.is_alive():
            log.error("apprise: %r to %s timed out after %g s", subject, names[index], timeout)
            failed.append(names[index])
        elif not results.get(index):
            log.error("apprise: %r could not be delivered to %s", subject, names[index])
            failed.append(names[index])
    return failed


#: What dssframe_configure gave, per job (none yet: nothing is sent).
_jobs: JobTable[Routes] = JobTable()


def configure(config: Config) -> Routes:
    """Validate and keep ``config``'s ``[plugins.apprise]`` table as the one of its job
    (``config.name``), replacing an earlier one of that name."""
    routes = Routes.from_table(config.plugins.get(SECTION))
    _jobs.keep(config.name, routes)
    return routes


def routes_for(job: str) -> Routes | None:
    """The table of ``job``; for ``""`` (an event that names no job) the one configured
    last; None for a job never configured (its events go nowhere rather than to
    another job's URLs)."""
    found = _jobs.lookup(job)
    return found[1] if found else None


def notify(event: Event, routes: Routes | None = None) -> list[str]:
    """Deliver ``event`` to the URLs its job (:func:`routes_for`; ``routes``: these
    instead) configured for its kind (nothing for a dry run). Returns the URLs that
    failed."""
    routes = routes if routes is not None else routes_for(event.job)
    if routes is None or event.dry_run:
        return []
    urls = routes.targets(event.kind)
    if not urls:
        return []
    return deliver(urls, title(event, routes.prefix), body(event), notify_type(event.kind),
                   routes.timeout)


@hookimpl
def dssframe_configure(config: Config) -> None:
    configure(config)


@hookimpl
def dssframe_event(event: Event) -> None:
    notify(event)


# optionalhook: a dssframe without the settings hook (before 0.2) still loads this
# plugin; configure() validates the table itself either way.
@hookimpl(optionalhook=True)
def dssframe_plugin_settings() -> PluginSettings:
    return SETTINGS
