"""Log levels of the original dss (0..6) on top of the logging module."""

from __future__ import annotations

import logging
import sys

NOTICE = 25
CRIT = logging.CRITICAL
EMERG = logging.CRITICAL + 10
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": NOTICE,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "crit": CRIT,
    "emerg": EMERG,
}
logging.addLevelName(NOTICE, "NOTICE")
logging.addLevelName(EMERG, "EMERG")


def setup(level: str, logfile: str | None = None) -> None:
    """Log to stderr (or ``logfile``) at ``level`` and above."""
    handler: logging.Handler
    if logfile:
        handler = logging.FileHandler(logfile)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("dss: %(message)s"))
    root = logging.getLogger("dssframe")
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    root.propagate = False
