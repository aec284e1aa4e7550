"""The builtin ``hooks`` plugin: dss's shell-command hooks, run without a shell unless
the value needs one, the path or reason always a separate, literal argument."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dssframe.builtin import shell_hooks as hooks
from dssframe.core.config import Config
from dssframe.core.events import Event, EventKind
from dssframe.plugins.host import load_host
from dsstest import RunDss, require_tool

ODD = "name with spaces $(touch PWNED) `touch PWNED2` ; echo hi"


@pytest.fixture(autouse=True)
def unconfigured_hooks() -> Iterator[None]:
    """The plugin keeps the configuration module-wide: never leak it into other tests."""
    yield
    hooks.dssframe_configure(Config(), None)


@pytest.fixture
def recorder(tmp_path: Path) -> tuple[str, Path]:
    """A program that appends its arguments, as JSON, to a file; exits with $REC_EXIT."""
    out = tmp_path / "calls.jsonl"
    script = tmp_path / "bin dir" / "record hook"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(out)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "sys.exit(int(os.environ.get('REC_EXIT', '0')))\n"
    )
    script.chmod(0o755)
    return shlex.quote(str(script)), out


def calls(out: Path) -> list[list[str]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines()]


# --- how a value becomes an argument list ---------------------------------------------


def test_plain_values_are_split_without_a_shell() -> None:
    assert hooks.command("/bin/hook --flag 'two words'", "/p a/t h") == [
        "/bin/hook",
        "--flag",
        "two words",
        "/p a/t h",
    ]
    assert hooks.command("true") == ["true"]


@pytest.mark.parametrize(
    "value",
    [
        "echo x | logger",
        "mail -s done root < /dev/null",
        "notify $HOME",
        "a; b",
        "a && b",
        "~/bin/hook",
        "rm *.tmp",
        "LANG=C hook",
        "hook 'unbalanced",
    ],
)
def test_values_that_need_a_shell_get_one_with_the_argument_as_dollar_1(value: str) -> None:
    assert hooks.command(value, "/the/path") == ["/bin/sh", "-c", value, "dss-hook", "/the/path"]


# --- running: the argument arrives literally ----------------------------------------------


def test_plain_hook_gets_the_path_literally(
    recorder: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, out = recorder
    path = str(tmp_path / ODD)
    monkeypatch.chdir(tmp_path)
    assert hooks.run("post-create-hook", f"{script} --snapshot", path) == 0
    assert calls(out) == [["--snapshot", path]]
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "PWNED2").exists()


def test_shell_hook_gets_the_path_as_dollar_1(
    recorder: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, out = recorder
    path = str(tmp_path / ODD)
    monkeypatch.chdir(tmp_path)
    value = f'{script} "$1" "$0" && {script} second'
    assert hooks.needs_shell(value)
    assert hooks.run("post-remove-hook", value, path) == 0
    assert calls(out) == [[path, "dss-hook"], ["second"]]
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "PWNED2").exists()


def test_a_hook_that_cannot_start_reports_127() -> None:
    assert hooks.run("pre-create-hook", "/nonexistent/hook") == 127


# --- the hookimpls ----------------------------------------------------------------------


def test_pre_create_hook_vetoes_on_nonzero_exit(
    recorder: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    script, out = recorder
    config = Config(pre_create_hook=script)
    assert hooks.dssframe_pre_create(config, "/d/1-incomplete") is None
    assert calls(out) == [[]]  # dss passes no argument to the pre-create hook
    monkeypatch.setenv("REC_EXIT", "3")
    veto = hooks.dssframe_pre_create(config, "/d/1-incomplete")
    assert veto == "pre-create-hook exited with status 3"
    assert hooks.dssframe_pre_create(Config(), "/d/1-incomplete") is None


def test_pre_remove_hook_gets_the_path_and_vetoes(recorder: tuple[str, Path]) -> None:
    script, out = recorder
    assert hooks.dssframe_pre_remove(Config(pre_remove_hook=script), "/d/" + ODD) is None
    assert calls(out) == [["/d/" + ODD]]
    veto = hooks.dssframe_pre_remove(Config(pre_remove_hook="kill -TERM $$"), "/d/p")
    assert veto is not None and "signal" in veto


def test_event_hooks_through_the_plugin_host(recorder: tuple[str, Path]) -> None:
    script, out = recorder
    host = load_host()
    assert "hooks" in [info.name for info in host.infos]
    host.configure(
        Config(
            post_create_hook=f"{script} created",
            post_remove_hook=f"{script} removed",
            exit_hook=f"{script} exit",
        )
    )
    host.notify(Event(EventKind.SNAPSHOT_CREATED, 1, path="/d/" + ODD))
    host.notify(Event(EventKind.SNAPSHOT_REMOVED, 2, path="/d/old one"))
    host.notify(Event(EventKind.RUN_EXITING, 3, reason="caught signal SIGTERM"))
    host.notify(Event(EventKind.SNAPSHOT_CREATED, 4, path="/d/x", dry_run=True))
    host.notify(Event(EventKind.CREATE_STARTED, 5, path="/d/y"))
    assert calls(out) == [
        ["created", "/d/" + ODD],
        ["removed", "/d/old one"],
        ["exit", "caught signal SIGTERM"],
    ]
    host.configure(Config())  # a reload that drops the hooks
    host.notify(Event(EventKind.SNAPSHOT_CREATED, 6, path="/d/z"))
    assert len(calls(out)) == 3


def test_a_failing_post_hook_changes_nothing(
    run_dss: RunDss, recorder: tuple[str, Path], tmp_path: Path, source: Path, dest: Path
) -> None:
    """A post-create or post-remove hook that fails is reported, and that is all: the
    command succeeds, the new snapshot stays complete and as copied, the removed one
    stays removed, and no other snapshot is touched."""
    from dssframe.core import naming
    from dsstest import tree_state

    require_tool("rsync")
    script, out = recorder
    failing = f'REC_EXIT=1 {script} "$1"'
    host = load_host()  # in-process: notify returns normally, the hook did run
    host.configure(Config(post_create_hook=failing))
    host.notify(Event(EventKind.SNAPSHOT_CREATED, 1, path="/d/x"))
    assert calls(out) == [["/d/x"]]
    out.unlink()

    config = _config(tmp_path, source, dest, **{"post-create-hook": failing})
    first = run_dss("-c", str(config), "create", check=True, cwd=tmp_path).stdout.strip()
    second = run_dss("-c", str(config), "create", cwd=tmp_path)
    assert second.returncode == 0
    assert "post-create-hook exited with status 1" in second.stderr
    created = second.stdout.strip()
    assert calls(out) == [[first], [created]]
    for path in (first, created):
        name = naming.parse(Path(path).name)
        assert Path(path).parent == dest and name is not None and name.complete
        assert tree_state(Path(path, source.name)) == tree_state(source)  # as copied
    assert sorted(os.listdir(dest)) == sorted([".dssframe", Path(first).name, Path(created).name])

    config = _config(tmp_path, source, dest, **{"post-remove-hook": failing})
    removed = run_dss("-c", str(config), "delete", Path(first).name, cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert "post-remove-hook exited with status 1" in removed.stderr
    assert calls(out)[2:] == [[first]]
    assert sorted(os.listdir(dest)) == sorted([".dssframe", Path(created).name])
    assert tree_state(Path(created, source.name)) == tree_state(source)


# --- end to end through the dss command -----------------------------------------------------


def _config(tmp_path: Path, source: Path, dest: Path, **extra: str) -> Path:
    lines = [f"source-dir = {json.dumps(str(source))}", f"dest-dir = {json.dumps(str(dest))}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    path = tmp_path / "dss.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_dss_create_runs_the_post_create_hook_with_the_snapshot_path(
    run_dss: RunDss, recorder: tuple[str, Path], tmp_path: Path, source: Path
) -> None:
    require_tool("rsync")
    script, out = recorder
    dest = tmp_path / ODD
    dest.mkdir()
    config = _config(tmp_path, source, dest, **{"post-create-hook": script})
    result = run_dss("-c", str(config), "create", check=True, cwd=tmp_path)
    created = result.stdout.strip()
    assert calls(out) == [[created]]
    assert Path(created).parent == dest and Path(created).is_dir()
    assert not (tmp_path / "PWNED").exists()


def test_dss_create_is_deferred_by_the_pre_create_hook(
    run_dss: RunDss, tmp_path: Path, source: Path, dest: Path
) -> None:
    config = _config(tmp_path, source, dest, **{"pre-create-hook": "false"})
    result = run_dss("-c", str(config), "create")
    assert result.returncode == 1
    assert "pre-create-hook exited with status 1" in result.stderr
    assert os.listdir(dest) in ([], [".dssframe"])  # at most the lock


def test_dss_prune_asks_the_pre_remove_hook(
    run_dss: RunDss, recorder: tuple[str, Path], tmp_path: Path, source: Path, dest: Path
) -> None:
    script, out = recorder
    (dest / "100-incomplete.being_deleted").mkdir()  # an orphan
    config = _config(
        tmp_path,
        source,
        dest,
        **{"pre-remove-hook": f'REC_EXIT=1 {script} pre "$1"', "post-remove-hook": script},
    )
    run_dss("-c", str(config), "prune", cwd=tmp_path)
    orphan = str(dest / "100-incomplete.being_deleted")
    assert calls(out) == [["pre", orphan]]
    assert os.path.isdir(orphan)  # vetoed: kept
    config = _config(tmp_path, source, dest, **{"post-remove-hook": script})
    run_dss("-c", str(config), "prune", check=True, cwd=tmp_path)
    assert calls(out)[1:] == [[orphan]]
    assert not os.path.exists(orphan)
