"""Where dssframe keeps its own files: the user's config, state and data directories.

These are platformdirs' ``user_config_dir``, ``user_state_dir`` and ``user_data_dir``
for the app name ``dssframe``. On Linux they are the XDG base directories, which
this module computes itself: importing platformdirs costs every ``dss create`` about
6 ms, a tenth of its whole start-up budget. Elsewhere (and on Android) it asks
platformdirs. ``tests/test_dirs.py`` checks that both give the same answers.

The XDG rule (the Base Directory Specification, as platformdirs implements it): an
``XDG_*_HOME`` variable is used when it holds an absolute path; a relative or empty
one is ignored. The fallback is under the home directory: ``$HOME`` when it is
absolute, otherwise the home directory of the real user id in the password database.
"""

from __future__ import annotations

import os
import sys

APP = "dssframe"

_LINUX = sys.platform == "linux" and "ANDROID_DATA" not in os.environ


def _home() -> str:
    home = os.environ.get("HOME", "")
    if os.path.isabs(home):
        return home
    import pwd

    return pwd.getpwuid(os.getuid()).pw_dir


def _xdg(variable: str, fallback: str) -> str:
    base = os.environ.get(variable, "")
    if not os.path.isabs(base):
        base = os.path.join(_home(), fallback)
    return os.path.join(base, APP)


def config_dir() -> str:
    """``~/.config/dssframe`` or ``$XDG_CONFIG_HOME/dssframe``."""
    if _LINUX:
        return _xdg("XDG_CONFIG_HOME", ".config")
    from platformdirs import user_config_dir

    return user_config_dir(APP)


def state_dir() -> str:
    """``~/.local/state/dssframe`` or ``$XDG_STATE_HOME/dssframe``: locks, the run
    loop's state file, rsync's statistics log while it copies, the daemon's log."""
    if _LINUX:
        return _xdg("XDG_STATE_HOME", os.path.join(".local", "state"))
    from platformdirs import user_state_dir

    return user_state_dir(APP)


def data_dir() -> str:
    """``~/.local/share/dssframe`` or ``$XDG_DATA_HOME/dssframe`` (the demo)."""
    if _LINUX:
        return _xdg("XDG_DATA_HOME", os.path.join(".local", "share"))
    from platformdirs import user_data_dir

    return user_data_dir(APP)
