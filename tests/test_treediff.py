"""``dss diff``: agrees with ``diff -rq --no-dereference`` on random mutations of real
hard-linked snapshot pairs (hypothesis), says more (sizes, metadata-only changes,
JSON), and reads no file whose inode both snapshots share."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dssframe.engine import diff as treediff
from dsstest import RunDss, complete, require_tool

FILES = [f"d{d}/f{f}" for d in range(3) for f in range(4)] + ["top1", "top2"]
DIRS = ["d0", "d1", "d2"]

operation = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(FILES), st.binary(max_size=40)),
    st.tuples(st.just("same-size"), st.sampled_from(FILES)),
    st.tuples(st.just("touch"), st.sampled_from(FILES)),
    st.tuples(st.just("chmod"), st.sampled_from(FILES)),
    st.tuples(st.just("delete"), st.sampled_from(FILES)),
    st.tuples(st.just("add"), st.sampled_from(DIRS), st.sampled_from(["n1", "n2", "n 3"])),
    st.tuples(st.just("new-dir"), st.sampled_from(["e1", "d1/e2"])),
    st.tuples(st.just("rm-dir"), st.sampled_from(DIRS)),
    st.tuples(st.just("to-dir"), st.sampled_from(FILES)),
    st.tuples(st.just("to-symlink"), st.sampled_from(FILES)),
    st.tuples(st.just("retarget"), st.sampled_from(["l1", "d2/l2"])),
)


def base_tree(root: Path) -> None:
    for i, rel in enumerate(FILES):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([65 + i]) * (i + 1))
        os.utime(path, (1_600_000_000 + i, 1_600_000_000 + i))
    os.symlink("top1", root / "l1")
    os.symlink("f0", root / "d2" / "l2")


def mutate(root: Path, op: tuple[object, ...]) -> None:
    kind, where = op[0], str(op[1])
    path = root / where
    if kind in ("write", "same-size", "touch", "chmod", "delete", "to-dir", "to-symlink"):
        if not path.is_file() or path.is_symlink():
            return
        if kind == "write":
            assert isinstance(op[2], bytes)
            path.write_bytes(op[2])
        elif kind == "same-size":
            data = path.read_bytes()
            path.write_bytes(bytes(reversed(data)) if len(set(data)) > 1 else b"#" * len(data))
            os.utime(path, (1_700_000_000, 1_700_000_000))
        elif kind == "touch":
            os.utime(path, (1_700_000_001, 1_700_000_001))
        elif kind == "chmod":
            path.chmod(0o600)
        elif kind == "delete":
            path.unlink()
        elif kind == "to-dir":
            path.unlink()
            path.mkdir()
            (path / "inside").write_text("inside\n")
        else:
            path.unlink()
            os.symlink("somewhere", path)
    elif kind == "add" and path.is_dir():
        (path / str(op[2])).write_text(f"added {op[2]}\n")
    elif kind == "new-dir" and path.parent.is_dir() and not os.path.lexists(path):
        path.mkdir()
        (path / "x").write_text("x\n")
        (path / "sub").mkdir()
        (path / "sub" / "y").write_text("yy\n")
    elif kind == "rm-dir" and path.is_dir():
        subprocess.run(["rm", "-rf", str(path)], check=True)
    elif kind == "retarget" and path.is_symlink():
        path.unlink()
        os.symlink("elsewhere", path)


def gnu_diff(a: Path, b: Path) -> tuple[set[str], set[str], set[str]]:
    """(added, removed, changed) from ``diff -rq --no-dereference a b``."""
    result = subprocess.run(
        ["diff", "-rq", "--no-dereference", str(a), str(b)], capture_output=True, text=True
    )
    assert result.returncode in (0, 1), result.stderr
    added: set[str] = set()
    removed: set[str] = set()
    changed: set[str] = set()
    for line in result.stdout.splitlines():
        if line.startswith("Only in "):
            where, _, name = line[len("Only in "):].partition(": ")
            side = a if where == str(a) or where.startswith(f"{a}/") else b
            rel = os.path.relpath(os.path.join(where, name), side)
            (removed if side == a else added).add(rel)
        else:
            for prefix, separator in (("Files ", " and "), ("Symbolic links ", " and "),
                                      ("File ", " is a ")):
                if line.startswith(prefix):
                    first = line[len(prefix):].split(separator)[0]
                    changed.add(os.path.relpath(first, a))
                    break
            else:
                raise AssertionError(f"unexpected diff output: {line}")
    return added, removed, changed


def ours(result: treediff.TreeDiff) -> tuple[set[str], set[str], set[str]]:
    """Ours, shortened like diff -rq: an added/removed directory hides what is in it."""

    def top(kind: str) -> set[str]:
        paths = {d.path for d in result.of_kind(kind)}
        return {p for p in paths if not any(p.startswith(q + "/") for q in paths)}

    return top("added"), top("removed"), {d.path for d in result.of_kind("changed")}


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(operation, min_size=0, max_size=8))
def test_agrees_with_gnu_diff_on_random_mutations(
    rsync: str, ops: list[tuple[object, ...]]
) -> None:
    require_tool("diff")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src, a, b = root / "src", root / "A", root / "B"
        src.mkdir()
        base_tree(src)
        subprocess.run([rsync, "-a", f"{src}/", f"{a}/"], check=True)
        for op in ops:
            mutate(src, op)
        subprocess.run([rsync, "-a", "--delete", f"--link-dest={a}", f"{src}/", f"{b}/"],
                       check=True)
        result = treediff.diff_trees(str(a), str(b))
        assert ours(result) == gnu_diff(a, b)
        for d in result.differences:
            if d.kind == "metadata":  # rsync made a new copy, content is the same
                assert (a / d.path).read_bytes() == (b / d.path).read_bytes()


def test_sizes_kinds_and_hard_links_are_not_read(tmp_path: Path) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    (a / "dir").mkdir(parents=True)
    (a / "same").write_bytes(b"x" * 100)
    (a / "grow").write_bytes(b"g" * 10)
    (a / "gone").write_bytes(b"z" * 7)
    (a / "mode").write_bytes(b"m")
    (a / "dir" / "old").write_bytes(b"o" * 3)
    (b / "dir").mkdir(parents=True)
    os.link(a / "same", b / "same")
    (b / "grow").write_bytes(b"g" * 25)
    (b / "mode").write_bytes(b"m")
    os.utime(b / "mode", ns=(os.stat(a / "mode").st_mtime_ns,) * 2)
    (b / "mode").chmod(0o600)
    (b / "new").mkdir()
    (b / "new" / "n").write_bytes(b"n" * 4)
    (a / "same").chmod(0o000)  # unreadable: must not be opened (same inode)
    try:
        result = treediff.diff_trees(str(a), str(b))
    finally:
        (a / "same").chmod(0o644)
    rows = {(d.kind, d.path, d.old_size, d.new_size, d.detail) for d in result.differences}
    assert rows == {
        ("changed", "grow", 10, 25, "content"),
        ("removed", "gone", 7, None, ""),
        ("removed", "dir/old", 3, None, ""),
        ("metadata", "mode", 1, 1, "mode"),
        ("added", "new", None, None, ""),
        ("added", "new/n", None, 4, ""),
    }
    summary = result.summary()
    assert summary["added_bytes"] == 4 and summary["removed_bytes"] == 10
    text = treediff.format_text(result).splitlines()
    assert "~ grow (10 -> 25)" in text and "+ new/" in text and "+ new/n (4)" in text
    assert text[-1].startswith("# 2 added (4 B), 2 removed (10 B), 1 changed")


@pytest.mark.usefixtures("rsync")
def test_dss_diff_between_two_snapshots(run_dss: RunDss, source: Path, dest: Path) -> None:
    opts = ["--source-dir", f"{source}/", "--dest-dir", str(dest)]
    run_dss(*opts, "create", check=True)
    (source / "a.txt").write_text("a longer alpha\n")
    (source / "sub" / "deeper" / "c.txt").unlink()
    (source / "fresh").write_text("new\n")
    run_dss(*opts, "create", check=True)
    first, second = complete(dest)
    text = run_dss("--dest-dir", str(dest), "diff", first.name, second.name, check=True).stdout
    assert text.splitlines() == [
        "~ a.txt (6 -> 15)",
        "+ fresh (4)",
        "- sub/deeper/c.txt (6)",
        "# 1 added (4 B), 1 removed (6 B), 1 changed (6 B -> 15 B), 0 metadata only",
    ]
    creation = first.name.split("-")[0]
    out = run_dss("--dest-dir", str(dest), "diff", creation, second.name, "--json", check=True)
    data = json.loads(out.stdout)
    assert data["summary"]["added"] == 1 and data["summary"]["changed_new_bytes"] == 15
    assert {d["path"]: d["kind"] for d in data["differences"]} == {
        "a.txt": "changed", "fresh": "added", "sub/deeper/c.txt": "removed"
    }
    missing = run_dss("--dest-dir", str(dest), "diff", first.name, "999")
    assert missing.returncode == 2 and "no snapshot '999'" in missing.stderr
