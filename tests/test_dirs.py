"""dssframe.store.dirs computes the XDG directories itself on Linux: they must be exactly
what platformdirs says, for every way the environment can set them."""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable

import platformdirs
import pytest

from dssframe.store import dirs

PAIRS: list[tuple[Callable[[], str], Callable[[str], str], str]] = [
    (dirs.config_dir, platformdirs.user_config_dir, "XDG_CONFIG_HOME"),
    (dirs.state_dir, platformdirs.user_state_dir, "XDG_STATE_HOME"),
    (dirs.data_dir, platformdirs.user_data_dir, "XDG_DATA_HOME"),
]

HOMES = ["/home/alice", "/root/", None, "relative/home", ""]
XDG_VALUES = [None, "", "/srv/xdg", "/srv/xdg/", "relative/xdg", "  "]


@pytest.mark.parametrize("home", HOMES)
@pytest.mark.parametrize("xdg", XDG_VALUES)
@pytest.mark.parametrize(("ours", "theirs", "variable"), PAIRS)
def test_same_directory_as_platformdirs(
    monkeypatch: pytest.MonkeyPatch,
    ours: Callable[[], str],
    theirs: Callable[[str], str],
    variable: str,
    home: str | None,
    xdg: str | None,
) -> None:
    for name, value in (("HOME", home), (variable, xdg)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert ours() == theirs("dssframe")


def test_the_linux_rule_is_the_one_in_use() -> None:
    """On this (Linux) machine the module must not fall back to platformdirs."""
    assert dirs._LINUX


def test_no_home_variable_means_the_password_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOME")
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    home = pwd.getpwuid(os.getuid()).pw_dir
    assert dirs.state_dir() == os.path.join(home, ".local", "state", "dssframe")
