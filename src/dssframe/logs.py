"""Log levels of the original dss (0..6) on top of the logging module, which is
imported only when a message is actually logged.

``dss create`` logs nothing at the default level when all goes well, and importing
``logging`` (with traceback, string and weakref) would cost it 6 ms before rsync
starts. So dssframe's own modules log through :func:`get`, a small stand-in for
``logging.getLogger``: below the configured level a message costs one comparison;
the first one at or above it imports logging and applies the pending
:func:`setup`. Once logging is loaded -- by that, by a plugin or by anyone else --
every message goes through it as usual, so its own level and handler settings
(pytest's ``caplog``, say) are honoured. The plugin host applies the setup as soon as
a plugin has loaded logging (:func:`activate_if_loaded`), and before it hands an
event to a third-party notifier (:func:`activate`), so plugins that log straight
through ``logging`` are formatted and filtered like dss itself; plugins can also use
:func:`get` and pay nothing while they stay silent.
"""

from __future__ import annotations

import contextvars
import os
import sys
from typing import TYPE_CHECKING, Any

from dssframe.core.config import LOGLEVELS

if TYPE_CHECKING:
    import logging

DEBUG = 10
INFO = 20
NOTICE = 25
WARNING = 30
ERROR = 40
CRIT = 50
EMERG = 60
#: The ``loglevel`` option's names (:data:`dssframe.core.config.LOGLEVELS`, 0..6) and
#: the logging module's numbers for them.
LEVELS = dict(zip(LOGLEVELS, (DEBUG, INFO, NOTICE, WARNING, ERROR, CRIT, EMERG), strict=True))

#: syslog priorities of the levels (what journald reads from a ``<N>`` line prefix).
PRIORITIES = {DEBUG: 7, INFO: 6, NOTICE: 5, WARNING: 4, ERROR: 3, CRIT: 2, EMERG: 0}

#: How a plain stderr line (``dss: ...``) names its level; lower levels are unnamed.
_PLAIN_LABELS = {WARNING: "warning", ERROR: "error", CRIT: "critical", EMERG: "emergency"}

#: The level set by :func:`setup` (until then logging's default, WARNING).
_threshold = WARNING
#: (level, logfile, timestamps) of a :func:`setup` not yet applied to logging.
_pending: tuple[str, str | None, bool] | None = None
#: The job the current thread works for: named in every line when set (``[name]``).
_job: contextvars.ContextVar[str] = contextvars.ContextVar("dssframe_job", default="")


def setup(level: str, logfile: str | None = None, *, timestamps: bool = False) -> None:
    """Log to stderr (or ``logfile``) at ``level`` and above: now if the logging
    module is loaded, else when the first message at that level comes.

    Lines in ``logfile`` start with the time (ISO 8601, with the UTC offset) and the
    level name. On stderr they start with ``dss:``; with ``timestamps`` (``dss run``
    in the foreground) with the time and level like the file's -- unless stderr is
    journald's (:func:`under_journald`), which records the time itself: there each
    line starts with its syslog priority (``<3>``), so ``journalctl -p err`` works."""
    global _threshold, _pending
    _threshold = LEVELS[level]
    _pending = (level, logfile, timestamps)
    if "logging" in sys.modules:
        activate()


def set_level(level: str) -> None:
    """Change the level, keeping where and how lines are written (a reload)."""
    global _threshold, _pending
    _threshold = LEVELS[level]
    if _pending is not None:
        _pending = (level, *_pending[1:])
    elif "logging" in sys.modules:
        import logging

        logging.getLogger("dssframe").setLevel(_threshold)


def under_journald() -> bool:
    """Whether stderr is the journal stream systemd gave this service (its
    ``JOURNAL_STREAM`` names stderr's device and inode; a child that inherited the
    variable but writes elsewhere is not)."""
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat(2)
    except OSError:
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))


class job_named:  # noqa: N801 - used like a contextlib.contextmanager function
    """``with job_named(name):`` names job ``name`` in every line logged inside
    (``[name] message``); a fleet's run loop wraps each job's work in it. (Not a
    contextlib function: ``dss create`` does not import contextlib.)"""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        self.token = _job.set(self.name)

    def __exit__(self, *exc: object) -> None:
        _job.reset(self.token)


def _formatter(style: str) -> logging.Formatter:
    """The formatter of a handler: ``"file"`` (time and level), ``"journal"``
    (syslog priority) or ``"plain"`` (``dss:``); each names the job, if any."""
    import datetime
    import logging

    class Formatter(logging.Formatter):
        def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
            moment = datetime.datetime.fromtimestamp(record.created).astimezone()
            return moment.isoformat(timespec="seconds")

        def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
            job = getattr(record, "dss_job", None) or _job.get()
            message = f"[{job}] {record.message}" if job else record.message
            if style == "file":
                return f"{record.asctime} {record.levelname} {message}"
            if style == "journal":
                return f"<{PRIORITIES.get(record.levelno, 6)}>{message}"
            label = _PLAIN_LABELS.get(record.levelno)
            return f"dss: {label}: {message}" if label else f"dss: {message}"

    return Formatter("%(asctime)s" if style == "file" else "%(message)s")


def activate() -> logging.Logger:
    """Import logging and apply the pending :func:`setup`; the ``dssframe`` logger.
    The plugin host calls this before it imports a third-party plugin."""
    global _pending
    import logging

    root = logging.getLogger("dssframe")
    if _pending is not None:
        level, logfile, timestamps = _pending
        _pending = None
        logging.addLevelName(NOTICE, "NOTICE")
        logging.addLevelName(EMERG, "EMERG")
        handler: logging.Handler
        if logfile:
            handler = logging.FileHandler(logfile)
            style = "file"
        else:
            handler = logging.StreamHandler(sys.stderr)
            style = "journal" if under_journald() else "file" if timestamps else "plain"
        handler.setFormatter(_formatter(style))
        root.handlers[:] = [handler]
        root.setLevel(LEVELS[level])
        root.propagate = False
    return root


def activate_if_loaded() -> None:
    """:func:`activate` if the logging module is loaded (say, by a plugin just
    imported), so that messages sent straight through it are formatted and
    filtered like dss's own."""
    if "logging" in sys.modules:
        activate()


class Logger:
    """What dssframe uses of ``logging.Logger``, loading logging on demand."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def log(self, level: int, msg: str, *args: Any, job: str | None = None) -> None:
        """Log ``msg % args`` at ``level``; ``job`` names the job concerned (else the
        job of :func:`job_named`, if any)."""
        if "logging" not in sys.modules and level < _threshold:
            return  # nobody could have lowered a level: logging is not even loaded
        activate()
        import logging

        extra = {"dss_job": job} if job else None
        logging.getLogger(self.name).log(level, msg, *args, extra=extra)

    def debug(self, msg: str, *args: Any) -> None:
        self.log(DEBUG, msg, *args)

    def info(self, msg: str, *args: Any) -> None:
        self.log(INFO, msg, *args)

    def warning(self, msg: str, *args: Any) -> None:
        self.log(WARNING, msg, *args)

    def error(self, msg: str, *args: Any) -> None:
        self.log(ERROR, msg, *args)


def get(name: str) -> Logger:
    """The logger ``name`` (a ``dssframe.*`` name), as :class:`Logger`."""
    return Logger(name)
