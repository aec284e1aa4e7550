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

#: The level set by :func:`setup` (until then logging's default, WARNING).
_threshold = WARNING
#: (level, logfile) of a :func:`setup` not yet applied to the logging module.
_pending: tuple[str, str | None] | None = None


def setup(level: str, logfile: str | None = None) -> None:
    """Log to stderr (or ``logfile``) at ``level`` and above: now if the logging
    module is loaded, else when the first message at that level comes."""
    global _threshold, _pending
    _threshold = LEVELS[level]
    _pending = (level, logfile)
    if "logging" in sys.modules:
        activate()


def activate() -> logging.Logger:
    """Import logging and apply the pending :func:`setup`; the ``dssframe`` logger.
    The plugin host calls this before it imports a third-party plugin."""
    global _pending
    import logging

    root = logging.getLogger("dssframe")
    if _pending is not None:
        level, logfile = _pending
        _pending = None
        logging.addLevelName(NOTICE, "NOTICE")
        logging.addLevelName(EMERG, "EMERG")
        handler: logging.Handler
        if logfile:
            handler = logging.FileHandler(logfile)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        else:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("dss: %(message)s"))
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

    def log(self, level: int, msg: str, *args: Any) -> None:
        if "logging" not in sys.modules and level < _threshold:
            return  # nobody could have lowered a level: logging is not even loaded
        activate()
        import logging

        logging.getLogger(self.name).log(level, msg, *args)

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
