"""dssframe plugin ``ping``: monitoring pings on start, success and failure of a
snapshot (healthchecks.io, Uptime Kuma push monitors, ntfy, any HTTP endpoint).

Configured under ``[plugins.ping]``; see README.md. ``create-started`` pings the start
URL, ``snapshot-created`` the success URL, every failure kind (``event.kind.is_failure``:
``create-failed``, ``remove-failed``, ``no-space``, ``lock-refused``, ``hook-timeout``,
``snapshot-stale``) the failure URL, with the error line and the log tail (the last
events this process heard of that job) as the body. Requests go through the standard
library's ``urllib.request``, imported only when a ping is sent; nothing is ever raised
into dss.

Several jobs: ``dssframe_configure`` is called once per job of a ``dss run``; the
validated table is kept per ``config.name`` and an event pings the URLs of
``event.job`` (see :func:`pings_for`), so an event still queued when the next job is
configured goes to its own job's monitor.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from dssframe import hookimpl
from dssframe.api import (
    EVENT_API_VERSION,
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

SECTION = "ping"
log = get_logger("dssframe.ping")  # imports logging only when it logs

#: The most a ping's body may hold, in bytes of UTF-8 (healthchecks.io keeps up to
#: 100 kB of a ping's body; ntfy up to 4 kB as a message, more as an attachment).
MAX_BODY = 10_000
#: The most one line of the log tail may hold, in characters.
MAX_LINE = 500
#: Seconds before the first retry; each further retry waits twice as long.
RETRY_DELAY = 1.0
METHODS = ("POST", "GET")

SETTINGS = PluginSettings(
    section=SECTION,
    settings=[
        Setting("url", "str", "",
                "healthchecks-style base URL: start = url/start, success = url, "
                "failure = url/fail (empty: only the explicit URLs)"),
        Setting("on-start", "str", "", "URL pinged when a copy starts (wins over url)"),
        Setting("on-success", "str", "",
                "URL pinged when a snapshot was created (wins over url)"),
        Setting("on-failure", "str", "",
                "URL pinged on a failure, the error and log tail as the body (wins over url)"),
        Setting("method", "str", "POST", "POST (with a body) or GET (no body)"),
        Setting("timeout", "float", 10.0, "seconds one request may take"),
        Setting("retries", "int", 2, "retries of a request that failed (0: none)"),
        Setting("tail-lines", "int", 20, "events of the log tail a ping's body carries"),
    ],
)


def redact(url: str) -> str:
    """A URL fit for a log line: scheme and host only. The path and query of a ping
    URL are its secret (a healthchecks UUID, a push token, an ntfy topic), and a
    ``user:password@`` goes too."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "(not a URL)"
    netloc = rest
    for mark in "/?#":
        netloc = netloc.partition(mark)[0]
    host = netloc.rpartition("@")[2]
    return f"{scheme}://{host}/…" if netloc != rest else f"{scheme}://{host}"


def _check_url(key: str, url: str) -> str:
    scheme, sep, rest = url.partition("://")
    host = rest
    for mark in "/?#":
        host = host.partition(mark)[0]
    if not sep or scheme.lower() not in ("http", "https") or not host.rpartition("@")[2]:
        raise ConfigError(
            f"[plugins.{SECTION}] {key}: {redact(url)!r} is not an http:// or https:// URL"
        )
    return url


def _suffixed(url: str, suffix: str) -> str:
    """``url`` + ``/suffix`` before any query: ``https://hc/abc?rid=1`` ->
    ``https://hc/abc/fail?rid=1``."""
    base, sep, query = url.partition("?")
    return f"{base.rstrip('/')}/{suffix}{sep}{query}"


class Pings(NamedTuple):
    """The validated ``[plugins.ping]`` table: where each ping goes, and how."""

    start: str = ""
    success: str = ""
    failure: str = ""
    method: str = "POST"
    timeout: float = 10.0
    retries: int = 2
    tail_lines: int = 20

    @classmethod
    def from_table(cls, raw: Mapping[str, Any] | None) -> Pings:
        values = validate_section(SETTINGS, raw)
        base = values["url"]
        if base:
            _check_url("url", base)
        urls = {}
        for key, suffix in (("on-start", "start"), ("on-success", ""), ("on-failure", "fail")):
            explicit = values[key]
            if explicit:
                urls[key] = _check_url(key, explicit)
            elif base:
                urls[key] = _suffixed(base, suffix) if suffix else base
            else:
                urls[key] = ""
        if not any(urls.values()):
            raise ConfigError(
                f"[plugins.{SECTION}] url: set url, or one of on-start, on-success, on-failure "
                "(ping is listed in notify but has nowhere to send)"
            )
        method = values["method"].upper()
        if method not in METHODS:
            raise ConfigError(
                f"[plugins.{SECTION}] method: {values['method']!r} is not POST or GET"
            )
        if not values["timeout"] > 0:
            raise ConfigError(f"[plugins.{SECTION}] timeout: must be positive")
        if values["retries"] < 0:
            raise ConfigError(f"[plugins.{SECTION}] retries: must be 0 or more")
        if values["tail-lines"] < 0:
            raise ConfigError(f"[plugins.{SECTION}] tail-lines: must be 0 or more")
        return cls(urls["on-start"], urls["on-success"], urls["on-failure"], method,
                   values["timeout"], values["retries"], values["tail-lines"])

    def target(self, kind: EventKind) -> tuple[str, str] | None:
        """``(ping, url)`` for an event of ``kind``: ``start``, ``success`` or
        ``failure``; None when that kind pings nothing here."""
        if kind is EventKind.CREATE_STARTED:
            ping, url = "start", self.start
        elif kind is EventKind.SNAPSHOT_CREATED:
            ping, url = "success", self.success
        elif kind.is_failure:
            ping, url = "failure", self.failure
        else:
            return None
        return (ping, url) if url else None


def describe(event: Event) -> str:
    """One line for an event: ``create-failed 1700000000-incomplete in 2.0s: rsync
    exit 12: ...`` (dss's own log line, :meth:`Event.describe`)."""
    return event.describe()


def tail_line(event: Event) -> str:
    """A line of the log tail: local time and :func:`describe`, at most MAX_LINE."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.time))
    line = " ".join(f"{stamp} {describe(event)}".split())  # one line, whatever the error
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def _fit(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8 (an ellipsis marks the cut)."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: max(0, limit - 3)].decode("utf-8", "ignore") + "…"


def body(event: Event, tail: Iterable[str], limit: int = MAX_BODY) -> str:
    """A ping's body: the headline (the error line of a failure, else the event),
    the facts of the event, then the log tail, oldest first; at most ``limit`` bytes,
    older tail lines left out first."""
    import socket  # lazily: plugin modules load on every dss command

    head = [event.error.strip() if event.error else describe(event),
            f"host: {socket.gethostname()}"]
    if event.job:
        head.append(f"job: {event.job}")
    head.append(f"event: {event.kind.value}")
    if event.source:
        head.append(f"source: {event.source}")
    if event.destination:
        head.append(f"destination: {event.destination}")
    if event.snapshot:
        head.append(f"snapshot: {event.snapshot}")
    if event.exit_status is not None:
        head.append(f"exit status: {event.exit_status}")
    if event.duration is not None:
        head.append(f"duration: {event.duration:.1f} s")
    tolerated = event.stats.get("source_error_lines") or ()
    if tolerated:
        count = event.stats.get("source_errors", len(tolerated))
        head.append(f"source errors tolerated: {count}")
        head.extend(f"  {' '.join(str(line).split())[:MAX_LINE]}" for line in tolerated)
    text = _fit("\n".join(head), limit // 2)
    lines = list(tail)
    if not lines:
        return text
    title = "\n\nrecent events, oldest first:"
    room = limit - len(text.encode("utf-8")) - len(title.encode("utf-8")) - 40
    kept: list[str] = []
    for line in reversed(lines):
        size = len(line.encode("utf-8")) + 1
        if size > room:
            break
        kept.append(line)
        room -= size
    left_out = len(lines) - len(kept)
    if left_out:
        kept.append(f"({left_out} older events left out)")
    return text + title + "".join(f"\n{line}" for line in reversed(kept))


class _Failure(Exception):
    """A request that did not get through: ``retry`` says whether another try may help."""

    def __init__(self, text: str, retry: bool) -> None:
        super().__init__(text)
        self.retry = retry


def request(url: str, method: str, text: str, timeout: float) -> int:
    """One HTTP request; the status (2xx, 3xx after redirects). Raises _Failure."""
    import urllib.error  # lazily: about 20 ms of imports that dss ls never needs
    import urllib.request

    data = text.encode("utf-8") if method == "POST" else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "User-Agent": f"dssframe-ping/{__version__}",
        **({"Content-Type": "text/plain; charset=utf-8"} if data is not None else {}),
    })
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310 - http(s) only
            response.read(65536)
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        retry = exc.code >= 500 or exc.code == 429  # a client error stays one
        raise _Failure(f"HTTP {exc.code} {exc.reason}", retry) from None
    except urllib.error.URLError as exc:
        raise _Failure(str(exc.reason), True) from None
    except TimeoutError:
        raise _Failure(f"no answer within {timeout:g} s", True) from None
    except Exception as exc:  # noqa: BLE001 - OSError, http.client.HTTPException, ...
        raise _Failure(f"{type(exc).__name__}: {exc}", True) from None


#: What dssframe_configure gave, per job (none yet: nothing is sent).
_jobs: JobTable[Pings] = JobTable()
#: The log tail of each job: one line per event heard, newest last. Only the delivery
#: thread (dssframe_event) touches it.
_tails: dict[str, deque[str]] = {}
#: The jobs whose ping failed and was warned about; further failures log at info
#: level until one gets through (one warning per outage, not one per event).
_failing: set[str] = set()


def configure(config: Config) -> Pings:
    """Validate and keep ``config``'s ``[plugins.ping]`` table as the one of its job
    (``config.name``; a reload replaces it; the job's tail survives, cut to the new
    ``tail-lines`` when the next event is heard)."""
    pings = Pings.from_table(config.plugins.get(SECTION))
    _jobs.keep(config.name, pings)
    return pings


def pings_for(job: str) -> tuple[str, Pings] | None:
    """``(job name, table)`` for an event of ``job``: that job's table; for ``""`` (an
    event that names no job) the one configured last; None for a job never configured
    (its events ping nothing rather than another job's monitor)."""
    return _jobs.lookup(job)


def _tail_of(job: str, size: int) -> deque[str]:
    tail = _tails.get(job)
    if tail is None or tail.maxlen != size:
        tail = _tails[job] = deque(tail or (), maxlen=size)
    return tail


def send(ping: str, url: str, text: str, pings: Pings, job: str = "") -> bool:
    """Ping ``url`` (retrying as configured); True when it got through. Failures are
    logged (the URL redacted), never raised; an outage is warned about once per job."""
    delay = RETRY_DELAY
    attempts = 0
    while True:
        attempts += 1
        try:
            status = request(url, pings.method, text, pings.timeout)
        except _Failure as exc:
            reason = str(exc).replace(url, redact(url))
            if exc.retry and attempts <= pings.retries:
                log.info("ping: %s ping to %s: %s; retrying in %g s", ping, redact(url),
                         reason, delay)
                time.sleep(delay)
                delay *= 2
                continue
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            if job in _failing:
                log.info("ping: %s%s ping to %s failed%s: %s", _of(job), ping, redact(url),
                         tries, reason)
            else:
                log.warning("ping: %s%s ping to %s failed%s: %s (further failures are "
                            "logged at info level until a ping gets through)",
                            _of(job), ping, redact(url), tries, reason)
                _failing.add(job)
            return False
        if job in _failing:
            log.warning("ping: %s%s ping to %s got through again (HTTP %d)", _of(job), ping,
                        redact(url), status)
            _failing.discard(job)
        else:
            log.info("ping: %s ping to %s: HTTP %d", ping, redact(url), status)
        return True


def _of(job: str) -> str:
    """``job web1: `` for a log line, nothing for a config without jobs."""
    return f"job {job}: " if job else ""


def notify(event: Event, pings: Pings | None = None) -> bool | None:
    """Remember ``event`` in its job's log tail and send its ping, if it has one, to
    the URLs of ``event.job`` (:func:`pings_for`; ``pings``: to those instead); True
    when sent, False when it failed, None when there was nothing to send."""
    if pings is not None:
        job = event.job
    else:
        found = pings_for(event.job)
        if found is None:
            return None
        job, pings = found
    if event.dry_run or event.api_version != EVENT_API_VERSION:
        return None
    tail = _tail_of(job, pings.tail_lines)
    tail.append(tail_line(event))
    target = pings.target(event.kind)
    if target is None:
        return None
    ping, url = target
    return send(ping, url, body(event, tail), pings, job)


@hookimpl
def dssframe_configure(config: Config) -> None:
    configure(config)


@hookimpl
def dssframe_event(event: Event) -> None:
    try:
        notify(event)
    except Exception as exc:  # noqa: BLE001 - a notifier must never raise into dss
        log.warning("ping: %s: %s: %s", event.kind.value, type(exc).__name__, exc)


@hookimpl(optionalhook=True)
def dssframe_plugin_settings() -> PluginSettings:
    return SETTINGS
