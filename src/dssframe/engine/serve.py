"""``dss serve``: a read-only HTTP server showing every job's status -- ``/`` the page
(:mod:`dssframe.core.statuspage`), ``/api/status`` the same data as JSON
(:func:`dssframe.engine.status.fleet_status` with ``detail``).

It is the standard library's :class:`http.server.ThreadingHTTPServer`: no
dependency (dss installs with Python and rsync alone), and enough for a read-only
page of a few dozen kilobytes that a handful of people and monitors read every 30
seconds; a thread per request so that a slow client never holds the page from the
others. It speaks plain HTTP: beyond a trusted network, put it behind a reverse proxy
that adds TLS.

Rules:

- only ``GET`` and ``HEAD``; any other method is 405 (with ``Allow``);
- binding to an address that is not loopback requires ``serve-token``
  (:func:`check_exposure`, exit 2 otherwise);
- with a token, every request needs ``Authorization: Bearer TOKEN``, or basic auth
  with the token as the password (any user name), else 401 with ``WWW-Authenticate:
  Basic realm="dss"``; compared with :func:`hmac.compare_digest`;
- without a token (loopback only), a request's ``Host`` header, when it has one, must
  name a loopback host (a web page elsewhere cannot read it through DNS rebinding);
- every answer forbids scripts, frames and caching (``Content-Security-Policy``,
  ``Cache-Control: no-store``).

SIGTERM and SIGINT stop it cleanly (exit status 0).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, NamedTuple

from dssframe import logs
from dssframe.core.config import job_label
from dssframe.core.errors import ConfigError, DssError, UsageError

if TYPE_CHECKING:
    from dssframe.core.config import Config
    from dssframe.plugins.host import PluginHost

log = logs.get("dssframe.engine.serve")

DEFAULT_BIND = "127.0.0.1:8470"
ALLOWED = ("GET", "HEAD")
REALM = 'Basic realm="dss"'
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class Bind(NamedTuple):
    """Where the server listens."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_bind(text: str) -> Bind:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``:PORT`` (all addresses); port 0 picks a
    free one. A usage error otherwise."""
    value = text.strip()
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise UsageError(f"--bind {text!r}: expected [ADDRESS]:PORT")
        port_text = rest[1:]
    else:
        host, colon, port_text = value.rpartition(":")
        if not colon or ":" in host:
            raise UsageError(f"--bind {text!r}: expected HOST:PORT (an IPv6 address in [])")
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise UsageError(f"--bind {text!r}: the port must be 0..65535")
    return Bind(host or "0.0.0.0", int(port_text))


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost`` (a name that might
    resolve elsewhere is not)."""
    if host.lower().rstrip(".") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(bind: Bind, token: str | None) -> None:
    """Refuse (exit 2) to listen beyond loopback without a token."""
    if not token and not is_loopback(bind.host):
        raise UsageError(
            f"serve: {bind} is not a loopback address: set serve-token in the config file "
            "to listen there (every request then needs the token)"
        )


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token``: as a bearer token, or
    as the password of basic auth (any user name)."""
    if not header:
        return False
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    expected = token.encode("utf-8")
    if scheme.lower() == "bearer":
        # http.server decodes headers as latin-1: encoding back gives the bytes sent
        raw = credentials.encode("latin-1", errors="replace")
        return hmac.compare_digest(raw, expected)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return False
        _, colon, password = decoded.partition(b":")
        return bool(colon) and hmac.compare_digest(password, expected)
    return False


def _host_name(header: str | None) -> str:
    """The host of a ``Host`` header, without its port."""
    value = (header or "").strip()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def serve_settings(configs: Sequence[Config], bind: str | None) -> tuple[Bind, str | None]:
    """Where to listen (``--bind``, else ``serve-bind``, else :data:`DEFAULT_BIND`)
    and the token: one for the whole server, so every selected job must agree on both
    (set them at the top level of the config file)."""
    binds = {config.serve_bind for config in configs}
    tokens = {config.serve_token for config in configs}
    if len(tokens) > 1:
        raise ConfigError("serve-token differs between jobs: set it once, at the top level")
    if bind is None and len(binds) > 1:
        raise ConfigError("serve-bind differs between jobs: set it once, at the top level")
    chosen = bind or next(iter(binds)) or DEFAULT_BIND
    return parse_bind(chosen), next(iter(tokens)) or None


class StatusSource:
    """What the pages show, built for each request (one at a time) from the world;
    the retention pictures are simulated once per job and kept."""

    def __init__(
        self,
        configs: Sequence[Config],
        host: PluginHost,
        reload: Callable[[], list[Config]] | None = None,
    ) -> None:
        self.configs = list(configs)
        self.host = host
        self.lock = threading.Lock()
        self.pictures: dict[str, str | None] = {}
        self.reload = reload
        #: SIGHUP came: the next request reads the jobs again first.
        self.reload_requested = False

    def document(self, now: int | None = None) -> dict[str, Any]:
        from dssframe.engine.status import fleet_status

        with self.lock:
            self._reload_if_asked()
            return fleet_status(self.configs, self.host, now or int(time.time()), detail=True)

    def _reload_if_asked(self) -> None:
        """After SIGHUP: the config file's jobs again (kept as they were when it is
        invalid, with one error line); the retention pictures are drawn anew."""
        if not self.reload_requested or self.reload is None:
            return
        self.reload_requested = False
        try:
            configs = self.reload()
            for config in configs:
                config.require("dest-dir")
        except DssError as exc:
            log.error("reload rejected, keeping the old jobs: %s", exc)
            return
        self.configs = configs
        self.pictures.clear()
        log.log(logs.NOTICE, "serve: %d job(s) after reloading the configuration", len(configs))

    def page(self) -> str:
        from dssframe.core.statuspage import render
        from dssframe.store.lock import local_identity

        document = self.document()
        with self.lock:
            for config in self.configs:
                name = job_label(config)
                if name not in self.pictures:
                    self.pictures[name] = self._picture(config, int(document["generated"]))
        return render(document, self.pictures, host=local_identity()[0])

    def _picture(self, config: Config, now: int) -> str | None:
        from dssframe.core import health, schedule
        from dssframe.core.statuspage import retention_svg
        from dssframe.engine.status import policy_for

        policy = policy_for(config, self.host)
        if policy is None:
            return None
        period = health.snapshot_period(policy, config.unit_interval, config.num_intervals, now)
        settings = schedule.Settings.from_config(config)
        try:
            return retention_svg(policy, settings, period, now)
        except Exception as exc:  # a third-party policy's bug: no picture, still a page
            log.warning("no retention picture for job %s: %s", job_label(config), exc)
            return None


class Handler(BaseHTTPRequestHandler):
    """One request: authentication, then ``/`` or ``/api/status``."""

    server: StatusServer
    server_version = "dss"
    timeout = 30  # seconds a client may take to send its request

    def version_string(self) -> str:
        return self.server_version  # no Python version for the world to read

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(body=False)

    def __getattr__(self, name: str) -> Callable[[], None]:
        """Every other method (``do_POST``, ``do_PUT``, ...): 405, not http.server's 501."""
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        log.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, *, write: bool = True,
              headers: dict[str, str] | None = None) -> None:  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if write:
            self.wfile.write(body)

    def _text(self, status: int, text: str, **options: Any) -> None:
        self._send(status, (text + "\n").encode(), "text/plain; charset=utf-8", **options)

    def _allowed(self, write: bool) -> bool:
        """Authentication (with a token) or a loopback ``Host`` (without one)."""
        token = self.server.token
        if token:
            if authorized(self.headers.get("Authorization"), token):
                return True
            self._text(401, "401 unauthorized: a token is needed", write=write,
                       headers={"WWW-Authenticate": REALM})  # fmt: skip
            return False
        named = _host_name(self.headers.get("Host"))
        if named and not is_loopback(named):  # no Host at all: not a browser
            self._text(403, "403 forbidden: ask for a loopback host name", write=write)
            return False
        return True

    def _not_allowed(self) -> None:
        if self._allowed(write=True):
            self._text(405, f"405 method not allowed: {self.command}", headers={
                "Allow": ", ".join(ALLOWED)})  # fmt: skip

    def _answer(self, body: bool) -> None:
        if not self._allowed(write=body):
            return
        path = self.path.split("?", 1)[0]
        source = self.server.source
        try:
            if path in ("/", "/index.html"):
                page = source.page().encode("utf-8")
                self._send(200, page, "text/html; charset=utf-8", write=body)
            elif path in ("/api/status", "/api/status/"):
                data = json.dumps(source.document(), indent=2, sort_keys=True) + "\n"
                self._send(200, data.encode("utf-8"), "application/json", write=body)
            else:
                self._text(404, f"404 not found: {path} (try / or /api/status)", write=body)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away
        except Exception as exc:  # one bad request never ends the server
            log.error("%s %s: %s: %s", self.command, path, type(exc).__name__, exc)
            self._text(500, f"500 internal error: {type(exc).__name__}", write=body)


class StatusServer(ThreadingHTTPServer):
    """The HTTP server, with the status source and the token."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, bind: Bind, source: StatusSource, token: str | None) -> None:
        self.source = source
        self.token = token
        if ":" in bind.host:
            self.address_family = socket.AF_INET6
        super().__init__((bind.host, bind.port), Handler)

    @property
    def url(self) -> str:
        address = self.server_address
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        port = int(address[1])  # an AF_INET or AF_INET6 address
        return f"http://{Bind(host, port)}/"


def serve(
    configs: Sequence[Config],
    host: PluginHost,
    bind: str | None,
    announce: Callable[[str], None],
    reload: Callable[[], list[Config]] | None = None,
) -> int:
    """Serve until SIGTERM or SIGINT; 0. ``announce`` hears the address once it
    listens (with ``--bind HOST:0``, the port the system chose); SIGHUP makes the
    next request read the jobs again through ``reload``."""
    where, token = serve_settings(configs, bind)
    check_exposure(where, token)
    for config in configs:
        config.require("dest-dir")  # a job without one: exit 2 now, not 500 per request
    try:
        source = StatusSource(configs, host, reload)
        server = StatusServer(where, source, token)
    except OSError as exc:
        raise DssError(f"serve: cannot listen on {where}: {exc.strerror or exc}") from None
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            # shutdown() waits for serve_forever() to return: not in this thread.
            threading.Thread(target=server.shutdown, daemon=True).start()

    def hangup(signum: int, frame: object) -> None:
        source.reload_requested = True

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    old[signal.SIGHUP] = signal.signal(signal.SIGHUP, hangup)
    try:
        auth = "a token is required" if token else "no token: loopback only"
        announce(f"dss serve: listening on {server.url} ({len(configs)} job(s); {auth})")
        server.serve_forever(poll_interval=0.5)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        server.server_close()
    return 0
