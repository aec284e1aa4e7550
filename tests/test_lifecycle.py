"""The lifecycle API and its commands: describe, the tree (ls --tree and filters),
delete with or without descendants or only metadata, adopt of an original-dss
destination, and the refusal to delete what a running ``dss run`` is creating."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dssframe.core import naming
from dssframe.core.config import to_toml
from dssframe.engine.lifecycle import SnapshotStore
from dssframe.store import control, metadata
from dssframe.store.metadata import Link, Metadata
from dsstest import RunDss, require_tool

HOUR = 3600


def make_snapshot(dest: Path, creation: int, parent: str | None = None, meta: bool = True) -> str:
    """A complete snapshot dir with one file; its document names ``parent``."""
    name = naming.complete_name(creation, creation + 60)
    (dest / name).mkdir()
    (dest / name / "data").write_text(name)
    if meta:
        link = None
        if parent is not None:
            link = Link(int(parent.split("-")[0]), parent)
        metadata.write(
            str(dest), Metadata(creation, name, completion=creation + 60, parent=link,
                                reference=link, source="/src/", exit_status=0, checksum=False,
                                stats={"files": 2}, versions={"dssframe": "0.1.0"},
                                plugins={"rsync": "0.1.0"})
        )
    return name


def branching(dest: Path) -> dict[str, str]:
    """root -> a -> a1, a -> a2, root -> b -> b1 (b branched off root by a restore)."""
    now = int(time.time())
    s: dict[str, str] = {}
    s["root"] = make_snapshot(dest, now - 10 * HOUR)
    s["a"] = make_snapshot(dest, now - 9 * HOUR, s["root"])
    s["a1"] = make_snapshot(dest, now - 8 * HOUR, s["a"])
    s["a2"] = make_snapshot(dest, now - 7 * HOUR, s["a"])
    s["b"] = make_snapshot(dest, now - 6 * HOUR, s["root"])
    s["b1"] = make_snapshot(dest, now - 5 * HOUR, s["b"])
    return s


def names(dest: Path) -> list[str]:
    found = [naming.parse(n) for n in os.listdir(dest)]
    return sorted(s.name for s in found if s)


def test_the_python_api_sees_the_tree(dest: Path) -> None:
    s = branching(dest)
    store = SnapshotStore.open(str(dest))
    assert [x.name for x in store] == [s[k] for k in ("root", "a", "a1", "a2", "b", "b1")]
    root = store.get(s["root"])
    assert store.get(str(root.creation)) is root
    assert root.parent is None and [c.name for c in root.children] == [s["a"], s["b"]]
    assert [d.name for d in root.descendants] == [s[k] for k in ("a", "a1", "a2", "b", "b1")]
    assert store.get(s["a2"]).parent is store.get(s["a"])
    assert [x.name for x in store.roots()] == [s["root"]]
    assert [x.name for x in store.leaves()] == [s["a1"], s["a2"], s["b1"]]
    assert store.current() is store.get(s["b1"])


def test_ls_tree_and_filters(run_dss: RunDss, dest: Path) -> None:
    s = branching(dest)
    opts = ["--dest-dir", str(dest)]
    tree = run_dss(*opts, "ls", "--tree", check=True).stdout.splitlines()
    assert tree == [
        s["root"],
        f"|-- {s['a']}",
        f"|   |-- {s['a1']}",
        f"|   `-- {s['a2']}",
        f"`-- {s['b']}",
        f"    `-- {s['b1']} *current",
    ]
    sub = run_dss(*opts, "ls", "--tree", "--descendants", s["a"], check=True).stdout
    assert sub.splitlines() == [s["a"], f"|-- {s['a1']}", f"`-- {s['a2']}"]

    def listed(*flags: str) -> list[str]:
        out = run_dss(*opts, "ls", *flags, check=True).stdout
        return [line.split("\t")[1] for line in out.splitlines()]

    assert listed("--roots") == [s["root"]]
    assert listed("--leaves") == [s["a1"], s["a2"], s["b1"]]
    assert listed("--descendants", s["b"]) == [s["b1"]]
    os.unlink(dest / ".dssframe" / "meta" / f"{s['b'].split('-')[0]}.json")
    assert s["b"] not in listed("--with-metadata") and len(listed("--with-metadata")) == 5
    records = json.loads(run_dss(*opts, "ls", "--json", "--leaves", check=True).stdout)
    # without its document, b's parent is inferred: the previous complete one, a2
    assert [r["name"] for r in records] == [s["a1"], s["b1"]]
    bad = run_dss(*opts, "ls", "--tree", "--roots")
    assert bad.returncode == 2 and "--tree combines only with --descendants" in bad.stderr


def test_describe_json_and_well_formed_xml(run_dss: RunDss, dest: Path) -> None:
    s = branching(dest)
    opts = ["--dest-dir", str(dest)]
    doc = json.loads(run_dss(*opts, "describe", s["a"], check=True).stdout)
    assert doc["name"] == s["a"] and doc["state"] == "complete" and doc["current"] is False
    assert doc["parent"]["name"] == s["root"] and doc["parent"]["inferred"] is False
    assert [c["name"] for c in doc["children"]] == [s["a1"], s["a2"]]
    assert doc["metadata"]["status"] == "ok" and doc["stats"] == {"files": 2}
    assert doc["interval"] == 0 and doc["source"] == "/src/"
    text = run_dss(*opts, "describe", s["a"], "--format", "xml", check=True).stdout
    root = ET.fromstring(text)
    assert root.tag == "snapshot" and root.get("schema") == "1"
    assert root.findtext("name") == s["a"] and root.findtext("current") == "false"
    parent = root.find("parent")
    assert parent is not None and parent.text == s["root"] and parent.get("inferred") == "false"
    assert [c.text for c in root.iterfind("children/child")] == [s["a1"], s["a2"]]
    assert root.find("metadata") is not None and root.find("metadata").get("status") == "ok"  # type: ignore[union-attr]
    assert root.find("stats/stat[@name='files']").text == "2"  # type: ignore[union-attr]
    assert root.find("plugins/plugin[@name='rsync']").text == "0.1.0"  # type: ignore[union-attr]
    assert root.findtext("source") == "/src/" and root.findtext("checksum") == "false"
    # odd characters stay well-formed
    meta = metadata.load(str(dest), int(s["a"].split("-")[0])).metadata
    assert meta is not None
    metadata.write(str(dest), Metadata(meta.creation, meta.name, source="/s\x01rc/\udcff<&>"))
    odd = run_dss(*opts, "describe", s["a"], "--format=xml", check=True).stdout
    assert ET.fromstring(odd).findtext("source") == "/s\\x01rc/\\udcff<&>"
    unknown = run_dss(*opts, "describe", s["a"], "--format", "yaml")
    assert unknown.returncode == 2 and "unknown format" in unknown.stderr
    missing = run_dss(*opts, "describe", "123")
    assert missing.returncode == 2 and "no snapshot '123'" in missing.stderr  # usage error


def _hook(tmp_path: Path) -> tuple[Path, Path]:
    calls = tmp_path / "removed.txt"
    hook = tmp_path / "post-remove"
    hook.write_text(f'#!/bin/sh\necho "$1" >> "{calls}"\n')
    hook.chmod(0o755)
    return hook, calls


def test_delete_children_deletes_exactly_the_descendants(
    run_dss: RunDss, dest: Path, tmp_path: Path
) -> None:
    s = branching(dest)
    hook, calls = _hook(tmp_path)
    opts = ["--dest-dir", str(dest)]
    (dest / "lost+found").mkdir()
    dry = run_dss(*opts, "delete", s["a"], "--children", "--dry-run", check=True)
    assert dry.stdout.splitlines() == [f"would delete {s[k]}" for k in ("a", "a1", "a2")]
    assert len(names(dest)) == 6
    config = tmp_path / "c.toml"
    config.write_text(to_toml({"dest-dir": str(dest), "post-remove-hook": str(hook)}))
    result = run_dss("-c", str(config), "delete", s["a"], "--children", check=True)
    assert result.stdout.splitlines() == [f"deleted {s[k]}" for k in ("a", "a1", "a2")]
    assert names(dest) == sorted([s["root"], s["b"], s["b1"]])
    assert (dest / "lost+found").is_dir()
    # the normal removal path: the post-remove hook ran for each, children first
    assert calls.read_text().splitlines() == [str(dest / s[k]) for k in ("a2", "a1", "a")]
    assert metadata.keys(str(dest)) == {int(s[k].split("-")[0]) for k in ("root", "b", "b1")}


def test_delete_children_only_keeps_the_snapshot_and_plain_delete_re_points_children(
    run_dss: RunDss, dest: Path
) -> None:
    s = branching(dest)
    opts = ["--dest-dir", str(dest)]
    refused = run_dss(*opts, "delete", s["b"], "--children-only")  # b1: the newest
    assert refused.returncode == 1 and "it is the newest complete snapshot" in refused.stderr
    assert "--force" in refused.stderr and len(names(dest)) == 6
    run_dss(*opts, "delete", s["b"], "--children-only", "--force", check=True)
    assert names(dest) == sorted([s[k] for k in ("root", "a", "a1", "a2", "b")])
    run_dss(*opts, "delete", s["a"], check=True)
    store = SnapshotStore.open(str(dest))
    assert [c.name for c in store.get(s["root"]).children] == [s["a1"], s["a2"], s["b"]]
    both = run_dss(*opts, "delete", s["b"], "--children", "--children-only")
    assert both.returncode == 2


def test_delete_metadata_only_keeps_the_data(run_dss: RunDss, dest: Path) -> None:
    s = branching(dest)
    opts = ["--dest-dir", str(dest)]
    result = run_dss(*opts, "delete", s["b"], "--children", "--metadata-only", check=True)
    assert result.stdout.splitlines() == [f"deleted metadata of {s['b']}",
                                          f"deleted metadata of {s['b1']}"]
    assert len(names(dest)) == 6
    assert (dest / s["b1"] / "data").read_text() == s["b1"]
    assert metadata.keys(str(dest)) == {int(s[k].split("-")[0]) for k in ("root", "a", "a1", "a2")}


def test_adopt_an_original_dss_destination(run_dss: RunDss, dest: Path) -> None:
    now = int(time.time())
    s = [make_snapshot(dest, now - k * HOUR, meta=False) for k in (9, 8, 7)]
    aborted = f"{now - 6 * HOUR}-incomplete"
    (dest / aborted).mkdir()
    newest = make_snapshot(dest, now - 5 * HOUR, meta=False)
    (dest / "notes.txt").write_text("junk")
    (dest / "123-incomplete.bak").mkdir()
    opts = ["--dest-dir", str(dest), "--source-dir", "/data/"]
    dry = run_dss(*opts, "adopt", "--dry-run", check=True)
    assert len(dry.stdout.splitlines()) == 5 and not (dest / ".dssframe").exists()
    result = run_dss(*opts, "adopt", check=True)
    assert f"adopted {s[1]} (parent {s[0]})" in result.stdout
    assert f"adopted {newest} (parent {s[2]})" in result.stdout  # not the aborted one
    assert f"adopted {aborted} (parent {s[2]})" in result.stdout
    doc = json.loads((dest / ".dssframe" / "meta" / f"{s[2].split('-')[0]}.json").read_text())
    assert doc["origin"] == "adopted" and doc["parent_inferred"] is True
    assert doc["parent"]["name"] == s[1] and doc["completion"] == now - 7 * HOUR + 60
    assert doc["source"] == "/data/"
    assert run_dss(*opts, "adopt", check=True).stderr.strip() == "every snapshot has metadata"
    tree = run_dss(*opts, "ls", "--tree", check=True).stdout.splitlines()
    assert tree[0] == f"{s[0]} (adopted)" and len(tree) == 5
    assert sorted(os.listdir(dest)) == sorted([*s, aborted, newest, "notes.txt",
                                               "123-incomplete.bak", ".dssframe"])
    # a named adopt rewrites (redefines) that document; stale documents are dropped
    metadata.write(str(dest), Metadata(42, "42-43.gone"))
    redo = run_dss(*opts, "adopt", s[0], check=True)
    assert redo.stdout.strip() == f"adopted {s[0]}"
    assert "removed stale metadata 42.json" in run_dss(*opts, "adopt", check=True).stdout


def test_delete_refuses_what_a_running_dss_run_is_creating(
    run_dss: RunDss, dest: Path, source: Path, tmp_path: Path
) -> None:
    require_tool("rsync")
    now = int(time.time())
    old = make_snapshot(dest, now - 2 * HOUR)
    reference = make_snapshot(dest, now - HOUR, old)
    slow = tmp_path / "rsync-slow"
    slow.write_text("#!/bin/sh\nexec sleep 60\n")
    slow.chmod(0o755)
    config = tmp_path / "run.toml"
    config.write_text(to_toml({
        "source-dir": f"{source}/", "dest-dir": str(dest), "rsync-path": str(slow),
        "unit-interval": "1h", "num-intervals": 3, "min-free-mb": 0, "min-free-percent": 0,
    }))
    run = subprocess.Popen(
        [sys.executable, "-m", "dssframe", "-c", str(config), "run"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        state = None
        while time.monotonic() < deadline:
            state = control.read_state(str(dest))
            if state and state.get("creating"):
                break
            assert run.poll() is None, run.stderr.read() if run.stderr else ""
            time.sleep(0.05)
        assert state and state["creating"], "dss run did not start creating"
        creating = state["creating"]["snapshot"]
        assert state["creating"]["reference"] == reference
        for busy in (creating, reference):
            refused = run_dss("-c", str(config), "delete", busy)
            assert refused.returncode == 1, refused.stderr
            assert "refusing to delete" in refused.stderr and f"pid {run.pid}" in refused.stderr
            assert (dest / busy).is_dir()
        dry = run_dss("-c", str(config), "delete", reference, "--dry-run")
        assert dry.returncode == 1 and "refusing to delete" in dry.stderr
        run_dss("-c", str(config), "delete", old, check=True)  # not busy: goes
        assert not (dest / old).exists()
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(15)
        if run.stderr:
            run.stderr.close()


@pytest.mark.usefixtures("rsync")
def test_deleting_through_the_api_emits_events(dest: Path) -> None:
    from dssframe.core.events import EventKind
    from dssframe.plugins.host import load_host
    from dssframe.testing import HookRecorder

    s = branching(dest)
    host = load_host()
    recorder = HookRecorder()
    host.register_module(recorder, "recorder", "test", None, None)
    from dssframe.core.config import Config

    store = SnapshotStore.from_config(Config(dest_dir=str(dest)), host)
    result = store.get(s["a2"]).delete()
    assert result.removed == (s["a2"],)
    removed = [e for e in recorder.events() if e.kind is EventKind.SNAPSHOT_REMOVED]
    assert [(e.snapshot, e.reason) for e in removed] == [(s["a2"], "requested")]
    assert [x.name for x in store] == [s[k] for k in ("root", "a", "a1", "b", "b1")]
