"""Every hook specification is documented, shown in the reference, called by the host
and exercised by a test (as datasette checks its plugin hooks).

A new hook in ``dssframe.plugins.hookspecs`` fails here until it has a docstring that
says what its return value means, a row in ``docs/reference/hooks.md``, an entry in
``TRIGGERS`` below (how the host calls it) and a test that implements it. The
``HookRecorder`` of the testing kit records every hook by itself
(``tests/test_testing_kit.py`` checks that); ``tests/test_docs.py`` checks that the built
site renders each one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from dssframe.core.config import Config
from dssframe.core.events import Event, EventKind
from dssframe.plugins import hookspecs
from dssframe.plugins.host import PluginHost
from dssframe.testing import HookRecorder, hookspec_names

ROOT = Path(__file__).resolve().parent.parent
HOOKS = hookspec_names()


def test_the_hookspecs_are_found() -> None:
    assert "dssframe_event" in HOOKS and "dssframe_pre_create" in HOOKS
    assert len(HOOKS) == len(set(HOOKS)) >= 8


@pytest.mark.parametrize("name", HOOKS)
def test_every_hookspec_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert len(doc) >= 80, f"{name} needs a docstring: when it is called, what it gets"
    assert "return" in doc.lower(), f"{name}'s docstring must say what its return value means"


def test_every_hookspec_is_in_the_hooks_page() -> None:
    source = (ROOT / "docs" / "reference" / "hooks.md").read_text(encoding="utf-8")
    assert "::: dssframe.plugins.hookspecs" in source  # renders every docstring
    missing = [name for name in HOOKS if f"| `{name}` |" not in source]
    assert missing == [], "hooks missing from the table of docs/reference/hooks.md"


def test_every_hookspec_is_exercised_by_a_test() -> None:
    """Some test outside this file implements or calls each hook by name."""
    sources = [
        path.read_text(encoding="utf-8")
        for pattern in ("tests/**/*.py", "plugins/*/tests/**/*.py")
        for path in ROOT.glob(pattern)
        if path.name != Path(__file__).name
    ]
    missing = [name for name in HOOKS if not any(name in text for text in sources)]
    assert missing == [], "no test exercises these hooks"


# How the host calls each hook, through its facade; each trigger returns nothing.
Trigger = Callable[[PluginHost, Config], object]
TRIGGERS: dict[str, Trigger] = {
    "dssframe_register_transports": lambda host, config: host.transport_names(),
    "dssframe_register_retention": lambda host, config: host.retention_names(),
    "dssframe_event": lambda host, config: host.notify(Event(EventKind.CREATE_STARTED, 1)),
    "dssframe_pre_create": lambda host, config: host.veto_create(config, "/d/1-incomplete"),
    "dssframe_pre_remove": lambda host, config: host.veto_remove(config, "/d/1-2.x"),
    "dssframe_configure": lambda host, config: host.configure(config),
    "dssframe_plugin_settings": lambda host, config: host.apply_settings(config),
    "dssframe_cli_commands": lambda host, config: host.add_commands(typer.Typer()),
    "dssframe_stop": lambda host, config: host.stop(None),  # None: no stop left behind
    "dssframe_wait_stopped": lambda host, config: host.wait_stopped(0),
}


def test_every_hookspec_has_a_trigger() -> None:
    assert sorted(TRIGGERS) == sorted(HOOKS), "add how the host calls the new hook to TRIGGERS"


@pytest.mark.parametrize("name", HOOKS)
def test_the_host_calls_every_hook(
    name: str,
    dss_plugin_host: PluginHost,
    dss_hook_recorder: HookRecorder,
    dss_config: Callable[..., Config],
    tmp_path: Path,
) -> None:
    if name not in TRIGGERS:
        pytest.fail(f"no trigger for {name} in TRIGGERS")
    config = dss_config(dest_dir=tmp_path)
    dss_hook_recorder.calls.clear()
    TRIGGERS[name](dss_plugin_host, config)
    calls = dss_hook_recorder.calls_to(name)
    assert calls, f"the host did not call {name}"
    parameters = list(inspect.signature(getattr(hookspecs, name)).parameters)
    assert all(list(arguments) == parameters for arguments in calls)
