"""The transport boundary: a transport written against ``dssframe.api`` alone
(``tests/pycopy_transport.py``, loaded with ``-p``) makes snapshots that hard-link
unchanged files, reports their statistics into the metadata (where the shrink guard
reads them) and restores them, through the optional protocols of
:mod:`dssframe.core.transport`; a capability it lacks is refused in one line naming
it. And no module but the rsync builtin knows rsync's options.

Real processes throughout: the ``dss`` command, the transport's copying program, rsync.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from dssframe.builtin.rsync import RsyncTransport
from dssframe.core import transport as protocols
from dssframe.store.configfile import build
from dsstest import RunDss, complete, snapshots, tree_state

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "src" / "dssframe"
PLUGIN = "pycopy_transport"


@pytest.fixture
def env() -> dict[str, str]:
    """The environment of a ``dss`` that can import the test transport."""
    path = [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def opts(transport: str, source: Path, dest: Path) -> list[str]:
    return ["-p", PLUGIN, "--transport", transport, "--source-dir", f"{source}/",
            "--dest-dir", str(dest)]  # fmt: skip


def document(dest: Path, snapshot: Path) -> dict[str, object]:
    creation = snapshot.name.split("-")[0]
    text = (dest / ".dssframe" / "meta" / f"{creation}.json").read_text()
    return dict(json.loads(text))


def entries(root: Path) -> int:
    """Entries below ``root`` plus ``root`` itself (how the shrink guard counts)."""
    return 1 + sum(len(dirs) + len(files) for _, dirs, files in os.walk(root))


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


# --- a third-party transport: create, stats, restore -------------------------------


def test_a_third_party_transport_makes_linked_snapshots_and_records_its_stats(
    run_dss: RunDss, source: Path, dest: Path, env: dict[str, str]
) -> None:
    o = opts("pycopy", source, dest)
    run_dss(*o, "create", check=True, env=env)
    (source / "sub" / "deeper" / "c.txt").write_text("gamma, changed\n")
    dry = run_dss(*o, "--dry-run", "create", check=True, env=env)
    argv = shlex.split(last_line(dry.stdout))
    creation = os.path.basename(argv[4].rstrip("/")).split("-")[0]
    # the transport's own command, with the log file the host gave it
    assert argv[2:4] == ["copy", str(source)]
    assert argv[-2:] == ["--log", f"{dest}/.dssframe/pycopy-{creation}.log"]
    run_dss(*o, "create", check=True, env=env)

    first, second = complete(dest)
    assert tree_state(second) == tree_state(source)
    assert (first / "a.txt").stat().st_ino == (second / "a.txt").stat().st_ino
    assert (first / "sub/deeper/c.txt").read_text() == "gamma\n"  # never written in place
    for snap, copied in ((first, 5), (second, 1)):  # all five regular files, then c.txt
        doc = document(dest, snap)
        assert doc["transport"] == "pycopy"
        stats = doc["stats"]
        assert isinstance(stats, dict)
        assert stats["files"] == entries(source)
        assert stats["regular_files_transferred"] == copied
    assert sorted(os.listdir(dest / ".dssframe")) == ["lock", "meta"]  # the log is gone


def test_the_shrink_guard_reads_a_third_party_transport_s_stats(
    run_dss: RunDss, source: Path, dest: Path, env: dict[str, str]
) -> None:
    o = opts("pycopy", source, dest)
    run_dss(*o, "create", check=True, env=env)
    for name in ("sub", "empty", "name with spaces & $(x)", "link-to-a"):
        path = source / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    result = run_dss(*o, "create", env=env)
    assert result.returncode == 1
    assert "holds 2 entries but its reference" in last_line(result.stderr)
    assert len(complete(dest)) == 1
    assert snapshots(dest)[-1].incomplete


def test_a_third_party_transport_restores_to_a_target_and_to_the_source(
    run_dss: RunDss, source: Path, dest: Path, env: dict[str, str], tmp_path: Path
) -> None:
    o = opts("pycopy", source, dest)
    run_dss(*o, "create", check=True, env=env)
    (snapshot,) = complete(dest)
    saved = tree_state(snapshot)
    target = tmp_path / "restored"
    run_dss(*o, "restore", snapshot.name, "--target", str(target), check=True, env=env)
    assert tree_state(target) == saved

    (source / "a.txt").write_text("lost work\n")
    (source / "new file").write_text("not in the snapshot\n")
    result = run_dss(*o, "restore", snapshot.name, check=True, env=env)
    assert "is now current" in result.stdout
    assert tree_state(source) == saved
    safety = [s for s in complete(dest) if s != snapshot]
    assert len(safety) == 1  # the state before the restore, copied by pycopy too
    assert (safety[0] / "new file").read_text() == "not in the snapshot\n"
    assert document(dest, safety[0])["origin"] == "safety"


def test_a_missing_capability_is_refused_in_one_line_naming_it(
    run_dss: RunDss, source: Path, dest: Path, env: dict[str, str], tmp_path: Path
) -> None:
    run_dss(*opts("pycopy-basic", source, dest), "create", check=True, env=env)
    (snapshot,) = complete(dest)
    assert document(dest, snapshot)["stats"] == {}  # no StatsSource: no statistics, no log
    assert sorted(os.listdir(dest / ".dssframe")) == ["lock", "meta"]

    target = str(tmp_path / "t")
    basic = run_dss(*opts("pycopy-basic", source, dest), "restore", snapshot.name,
                    "--target", target, env=env)  # fmt: skip
    assert basic.returncode == 2
    assert basic.stderr == (
        "dss: error: transport 'pycopy-basic' cannot restore: it has no restore_command "
        "(the RestoringTransport capability)\n"
    )
    assert not os.path.exists(target)

    o = opts("pycopy", source, dest)
    dry = run_dss(*o, "restore", snapshot.name, "--dry-run", env=env)
    assert dry.returncode == 2
    assert dry.stderr == (
        "dss: error: transport 'pycopy' cannot preview a restore: it has no "
        "preview_command (the PreviewingTransport capability)\n"
    )
    (source / "a.txt").write_text("unsaved\n")
    unsafe = run_dss(*o, "restore", snapshot.name, "--no-safety-snapshot", env=env)
    assert unsafe.returncode == 1
    assert len(unsafe.stderr.strip().splitlines()) == 1
    assert "cannot list changes: it has no preview_command (the PreviewingTransport " \
        "capability)); --force restores without comparing" in unsafe.stderr
    assert (source / "a.txt").read_text() == "unsaved\n"
    run_dss(*o, "restore", snapshot.name, "--no-safety-snapshot", "--force", check=True,
            env=env)  # fmt: skip
    assert tree_state(source) == tree_state(snapshot)


# --- the protocols --------------------------------------------------------------------


def test_capabilities_are_protocols_checked_with_isinstance(source: Path, dest: Path) -> None:
    import sys

    sys.path.insert(0, str(TESTS))
    try:
        import pycopy_transport as plugin
    finally:
        sys.path.remove(str(TESTS))
    config = build({"source-dir": f"{source}/", "dest-dir": str(dest)}, {}, None)
    optional = (
        protocols.RemoteTransport, protocols.LayoutTransport, protocols.StatsSource,
        protocols.ProgressSource, protocols.RestoringTransport,
        protocols.PreviewingTransport,
    )  # fmt: skip
    rsync = RsyncTransport(config)
    assert all(isinstance(rsync, capability) for capability in optional)
    assert [isinstance(plugin.PyCopy(config), c) for c in optional] == [False] * 6
    assert [isinstance(plugin.PyCopyRestoring(config), c) for c in optional] == [
        False, False, True, False, True, False,
    ]  # fmt: skip
    assert not protocols.is_remote(plugin.PyCopy(config)) and not protocols.is_remote(rsync)
    assert protocols.source_top(plugin.PyCopy(config)) is None
    wrapped = RsyncTransport(config._replace(source_dir=str(source)))
    assert protocols.source_top(wrapped) == source.name


def test_rsync_progress_is_read_from_real_rsync_output(
    rsync: str, source: Path, tmp_path: Path
) -> None:
    (source / "big").write_bytes(os.urandom(1 << 20))
    out = subprocess.run(
        [rsync, "-a", "--info=progress2", f"{source}/", str(tmp_path / "copy")],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    config = build({"source-dir": f"{source}/", "dest-dir": str(tmp_path)}, {}, None)
    reading = RsyncTransport(config).parse_progress(out[-512:].decode())
    assert reading is not None  # the final line: everything sent (rsync may say 99%)
    assert reading.percent is not None and 90 <= reading.percent <= 100
    assert reading.bytes_done is not None and reading.bytes_done >= 1 << 20
    assert reading.rate is not None and reading.eta == 0
    assert RsyncTransport(config).parse_progress("sending incremental file list\n") is None


def test_rsync_reports_stats_and_refuses_a_copy_without_them(tmp_path: Path) -> None:
    config = build({"source-dir": "/data/", "dest-dir": str(tmp_path)}, {}, None)
    rsync = RsyncTransport(config)
    log = tmp_path / "rsync-1.log"
    request = protocols.CopyRequest(str(tmp_path / "1-incomplete"), log_file=str(log))
    complete_copy = protocols.CopyResult(protocols.Outcome.COMPLETE, 0, "")
    log.write_text("2026/01/01 00:00:00 [1] Number of files: 3 (reg: 2, dir: 1)\n")
    result = rsync.add_stats(request, complete_copy)
    assert result.outcome is protocols.Outcome.COMPLETE
    assert result.stats == protocols.CopyStats(files=3)
    assert result.stats.as_dict() == {"files": 3}
    log.write_text("")
    refused = rsync.add_stats(request, complete_copy)
    assert refused.outcome is protocols.Outcome.ERROR
    assert "reported no transfer statistics" in refused.message


# --- only the rsync builtin knows rsync ------------------------------------------------

#: rsync's options that dss itself passes or parses: only builtin/rsync/ may spell them.
RSYNC_OPTIONS = re.compile(
    r"(?<![\w-])(?:--stats|--link-dest|--itemize-changes|--log-file|--log-file-format"
    r"|--out-format|--info=progress2|--filter|--secluded-args|-aH|-aq)(?![\w-])"
)
#: Where rsync's option names may appear anyway, and why (None: the whole module).
ALLOWED: dict[str, set[str] | None] = {
    # refuses rsync-option values that would damage snapshots, when the configuration
    # loads -- before any transport exists (rsync-option is the original dss's option)
    "core/guards.py": None,
    # the program's one-line description
    "cli/app.py": {"Dyadic hard-link snapshots of a directory with rsync --link-dest."},
}
#: Modules whose docstrings may name an rsync option when they explain a concept.
DOCSTRINGS_ALLOWED = {
    "core/schedule.py",  # Activity.reference: "its --link-dest base"
}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def test_no_module_but_the_rsync_builtin_spells_rsync_options() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("builtin/rsync/") or (rel in ALLOWED and ALLOWED[rel] is None):
            continue
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            allowed = ALLOWED.get(rel) or set()
            if node.value in allowed or not RSYNC_OPTIONS.search(node.value):
                continue
            where = "docstring" if id(node) in docs else "string"
            if where == "docstring" and rel in DOCSTRINGS_ALLOWED:
                continue
            found.append(f"{rel}:{node.lineno}: {where} {node.value[:60]!r}")
        for number, line in enumerate(text.splitlines(), 1):
            comment = line.partition("#")[2] if "#" in line else ""
            if RSYNC_OPTIONS.search(comment) and '"' not in line and "'" not in line:
                found.append(f"{rel}:{number}: comment {comment.strip()[:60]!r}")
    assert found == []
