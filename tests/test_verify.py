"""``dss verify``: hashes built from real snapshots (real ``dss create``, real rsync),
silent corruption found by re-reading them, modified files told apart, the build
resumed after SIGKILL, ``--max-rate``, ``--json``, the events and verify-on-create."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dsstest import RunDss, complete

pytestmark = pytest.mark.usefixtures("rsync")


def flip_byte(path: Path, offset: int = 0) -> None:
    """Silent corruption: one bit of the content changes, size and times stay."""
    st = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns


def snapshot_series(run_dss: RunDss, source: Path, dest: Path, count: int) -> list[Path]:
    """``count`` snapshots of ``source``, a new file added before each after the first."""
    for number in range(count):
        if number:
            (source / f"new-{number}.txt").write_text(f"new {number}\n")
        run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create", check=True)
    return complete(dest)


def dss_json(run_dss: RunDss, dest: Path, *args: str, status: int = 0) -> Any:
    """``dss verify ARGS --json``'s document (its exit status must be ``status``)."""
    result = run_dss("--dest-dir", str(dest), "verify", *args, "--json")
    assert result.returncode == status, result.stderr
    return json.loads(result.stdout)


def test_a_flipped_byte_in_an_old_snapshot_is_found(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    (source / "only-old.bin").write_bytes(os.urandom(3000))
    snapshot_series(run_dss, source, dest, 1)
    (source / "only-old.bin").unlink()
    run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create", check=True)
    old, new = complete(dest)
    built = run_dss("--dest-dir", str(dest), "verify", "--build", check=True)
    assert f"hashed {old.name}" in built.stdout and f"hashed {new.name}" in built.stdout
    hashes = dest / ".dssframe" / "hashes"
    assert sorted(p.name for p in hashes.iterdir()) == sorted(
        f"{s.name.split('-')[0]}.b2" for s in (old, new)
    )
    assert not any(p.name.startswith(".") or "hash" in p.name for p in old.rglob("*"))
    clean = run_dss("--dest-dir", str(dest), "verify", check=True)
    assert clean.stdout.strip().endswith(": clean")

    flip_byte(old / "only-old.bin", 1234)
    result = run_dss("--dest-dir", str(dest), "verify")
    assert result.returncode == 1
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("corrupt")]
    assert "only-old.bin" in line and old.name in line and new.name not in line
    assert "corruption-found" in result.stderr  # the event, logged as a failure
    summary = json.loads((hashes / "last-verify.json").read_text())
    assert (summary["corrupt"], summary["modified"]) == (1, 0)
    # naming only the new snapshot leaves the corrupt file out
    run_dss("--dest-dir", str(dest), "verify", new.name, check=True)


def test_a_file_shared_by_hard_links_is_one_finding_naming_every_snapshot(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    snapshots = snapshot_series(run_dss, source, dest, 3)
    inodes = {(s / "sub" / "b.bin").stat().st_ino for s in snapshots}
    assert len(inodes) == 1  # rsync --link-dest shares it
    run_dss("--dest-dir", str(dest), "verify", "--build", check=True)
    flip_byte(snapshots[1] / "sub" / "b.bin", 4000)
    data = dss_json(run_dss, dest, status=1)
    findings = data["findings"]
    assert isinstance(findings, list) and len(findings) == 1
    (finding,) = findings
    assert finding["kind"] == "corrupt" and finding["path"] == "sub/b.bin"
    assert finding["snapshots"] == [s.name for s in snapshots]
    assert finding["expected"] != finding["actual"]
    assert data["counts"] == {"corrupt": 1, "modified": 0, "missing": 0, "unreadable": 0}
    assert data["inodes"] < data["files"]  # every shared inode read once


def test_a_changed_size_or_mtime_is_modified_not_corrupt(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    old, new = snapshot_series(run_dss, source, dest, 2)
    run_dss("--dest-dir", str(dest), "verify", "--build", check=True)
    (new / "new-1.txt").write_text("rewritten, longer\n")  # new's own file: size, mtime
    (old / "a.txt").unlink()  # old's path of a shared inode: replaced by a new file
    (old / "a.txt").write_text("alpha\n")  # with the same content
    os.utime(old / "empty", ns=(0, 10**9))  # only the mtime, of an inode both share
    result = run_dss("--dest-dir", str(dest), "verify")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert not [line for line in lines if line.startswith("corrupt")]
    modified = [line for line in lines if line.startswith("modified")]
    text = "\n".join(modified)
    assert any("new-1.txt" in line and "size 6 -> 18" in line for line in modified), text
    assert any("a.txt" in line and "replaced (inode" in line and old.name in line
               for line in modified), text  # fmt: skip
    assert any(line.split()[1] == "empty:" and f"2 snapshots: {old.name}, {new.name}" in line
               for line in modified), text  # fmt: skip
    assert "1 modified" not in lines[-1] and "3 modified" in lines[-1]


def test_json_of_a_clean_verify_and_of_a_build(run_dss: RunDss, source: Path, dest: Path) -> None:
    old, new = snapshot_series(run_dss, source, dest, 2)
    built = dss_json(run_dss, dest, "--build")
    assert [b["snapshot"] for b in built["built"]] == [old.name, new.name]
    first, second = built["built"]
    assert first["reused"] == 0 and second["hashed"] == 1  # new-1.txt: the one new inode
    assert built["hashed_inodes"] == first["hashed"] + second["hashed"]
    again = dss_json(run_dss, dest, "--build")
    assert again["built"] == [] and again["skipped"] == [old.name, new.name]
    data = dss_json(run_dss, dest)
    assert data["clean"] is True and data["findings"] == []
    assert data["snapshots"] == [old.name, new.name]


def test_verify_without_hashes_and_of_an_unknown_name(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    snapshot_series(run_dss, source, dest, 1)
    nothing = run_dss("--dest-dir", str(dest), "verify", check=True)
    assert "no snapshot has hashes" in nothing.stderr
    unknown = run_dss("--dest-dir", str(dest), "verify", "1234")
    assert unknown.returncode == 2 and "1234" in unknown.stderr
    both = run_dss("--dest-dir", str(dest), "verify", "--build", "--repair")
    assert both.returncode == 2
    rate = run_dss("--dest-dir", str(dest), "verify", "--max-rate", "fast")
    assert rate.returncode == 2 and "--max-rate" in rate.stderr


def test_max_rate_limits_the_reading(run_dss: RunDss, source: Path, dest: Path) -> None:
    for number in range(4):
        (source / f"half-{number}.bin").write_bytes(os.urandom(512 * 1024))
    snapshot_series(run_dss, source, dest, 1)
    started = time.monotonic()
    built = dss_json(run_dss, dest, "--build", "--max-rate", "1M")
    elapsed = time.monotonic() - started
    assert built["hashed_bytes"] >= 2 << 20
    assert elapsed >= 1.5, elapsed  # 2 MiB at 1 MiB/s


def test_a_killed_build_resumes_and_hashes_each_inode_once(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    for number in range(200):
        (source / f"f{number:03d}.bin").write_bytes(os.urandom(40_000))
    (snapshot,) = snapshot_series(run_dss, source, dest, 1)
    unique = {p.stat().st_ino for p in snapshot.rglob("*") if p.is_file() and not p.is_symlink()}
    hashes = dest / ".dssframe" / "hashes"
    process = subprocess.Popen(
        [sys.executable, "-m", "dssframe", "--dest-dir", str(dest), "verify", "--build",
         "--max-rate", "2M", "--jobs", "2"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not list(hashes.glob("*.part-*")) and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.05)
    time.sleep(0.6)  # one more part, most likely
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()  # type: ignore[union-attr]
    parts = list(hashes.glob("*.part-*"))
    assert parts and not list(hashes.glob("*.b2"))  # killed half-way

    resumed = dss_json(run_dss, dest, "--build")
    (built,) = resumed["built"]
    assert built["resumed"] > 0 and built["hashed"] > 0
    assert built["resumed"] + built["hashed"] == len(unique)  # each inode hashed once
    assert resumed["hashed_inodes"] == built["hashed"]
    assert not list(hashes.glob("*.part-*"))
    assert built["files"] == len(unique)
    run_dss("--dest-dir", str(dest), "verify", check=True)


def test_verify_on_create_hashes_only_the_new_inodes(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    config = tmp_path / "dss.toml"
    config.write_text(
        f'source-dir = "{source}/"\ndest-dir = "{dest}"\nverify-on-create = true\n'
    )
    first = run_dss("--config", str(config), "-vv", "create", check=True)
    assert "verify-on-create: hashed 5 new inodes" in first.stderr, first.stderr
    (old,) = complete(dest)
    assert (dest / ".dssframe" / "hashes" / f"{old.name.split('-')[0]}.b2").is_file()

    # Corrupt a file the next snapshot will share: it must reuse the stored hash, not
    # hash the damaged content again as if it were new.
    flip_byte(old / "sub" / "b.bin", 10)
    (source / "added.txt").write_text("added\n")
    second = run_dss("--config", str(config), "-vv", "create", check=True)
    assert "verify-on-create: hashed 1 new inodes" in second.stderr, second.stderr
    old, new = complete(dest)
    data = dss_json(run_dss, dest, "--config", str(config), status=1)
    (finding,) = data["findings"]
    assert finding["path"] == "sub/b.bin" and finding["snapshots"] == [old.name, new.name]


def test_a_corruption_event_reaches_the_notifiers(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path
) -> None:
    plugin = tmp_path / "plugins" / "recorder.py"
    plugin.parent.mkdir()
    record = tmp_path / "events.jsonl"
    plugin.write_text(
        "import json\nfrom dssframe import hookimpl\n\n@hookimpl\n"
        "def dssframe_event(event):\n"
        f"    with open({str(record)!r}, 'a') as out:\n"
        "        out.write(json.dumps({'kind': event.kind.value, 'snapshot': event.snapshot,"
        " 'path': event.path, 'reason': event.reason, 'error': event.error,"
        " 'failure': event.kind.is_failure}) + '\\n')\n"
    )
    (old,) = snapshot_series(run_dss, source, dest, 1)
    run_dss("--dest-dir", str(dest), "verify", "--build", check=True)
    flip_byte(old / "a.txt", 0)
    env = {**os.environ, "PYTHONPATH": str(plugin.parent)}
    result = run_dss("-p", "recorder", "--dest-dir", str(dest), "verify", env=env)
    assert result.returncode == 1
    (event,) = [json.loads(line) for line in record.read_text().splitlines()]
    assert event["kind"] == "corruption-found" and event["failure"] is True
    assert event["snapshot"] == old.name and event["path"] == str(old / "a.txt")
    assert event["reason"] == "corrupt" and "a.txt corrupt" in event["error"]


def test_progress_is_one_line_on_a_terminal_and_nothing_when_piped(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    import pty

    snapshot_series(run_dss, source, dest, 2)
    piped = run_dss("--dest-dir", str(dest), "verify", "--build", check=True)
    assert "\r" not in piped.stderr and "hashing" not in piped.stderr
    (dest / ".dssframe" / "hashes").rename(dest / "old-hashes")  # hash again, on a terminal
    master, slave = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "dssframe", "--dest-dir", str(dest), "verify", "--build"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, timeout=120,
        )  # fmt: skip
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the other end is closed
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    assert result.returncode == 0
    text = shown.decode()
    assert "\rhashing 1/2 " in text and "\rhashing 2/2 " in text, text
    assert text.rstrip(" ").endswith("\r") and "\n" not in text.replace("\r\n", "")  # cleared
    assert b"hashed" in result.stdout


def test_removing_a_snapshot_removes_its_hashes(run_dss: RunDss, source: Path, dest: Path) -> None:
    """A pruned or deleted snapshot's hash file goes with it (no stale hashes left)."""
    from dssframe.store import hashes

    first = run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create", check=True)
    time.sleep(1.05 - time.time() % 1)
    run_dss("--source-dir", f"{source}/", "--dest-dir", str(dest), "create", check=True)
    run_dss("--dest-dir", str(dest), "verify", "--build", check=True)
    assert len(hashes.keys(str(dest))) == 2
    name = Path(first.stdout.strip()).name
    run_dss("--dest-dir", str(dest), "delete", name, check=True)
    assert len(hashes.keys(str(dest))) == 1


def _linked_destination(root: Path) -> tuple[Path, int]:
    """Two snapshot directories as ``dss create`` leaves them (the second hard-links
    the unchanged files of the first), hard links inside each, an empty file, a
    symbolic link and a FIFO; and the number of distinct inodes of regular files."""
    import random

    from dssframe.core import naming

    content = random.Random(7).randbytes
    dest = root / "dest"
    one = dest / naming.complete_name(1_700_000_000, 1_700_000_060)
    two = dest / naming.complete_name(1_700_003_600, 1_700_003_660)
    for snapshot in (one, two):
        (snapshot / "sub").mkdir(parents=True)
    (one / "a").write_bytes(content(3000))
    (one / "b").write_bytes(content(70_000))
    os.link(one / "b", one / "sub" / "b2")
    (one / "c").write_bytes(b"c" * 10)
    (one / "e").write_bytes(b"")
    os.symlink("a", one / "link")
    os.mkfifo(one / "fifo")
    for name in ("a", "b"):
        os.link(one / name, two / name)
    (two / "d").write_bytes(content(2 << 20))
    os.link(two / "d", two / "sub" / "d2")
    return dest, 5


def _hash_files(dest: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in (dest / ".dssframe" / "hashes").glob("*.b2")}


@pytest.mark.parametrize(("jobs", "rate"), [(1, 0), (2, 0), (2, 1 << 30)])
def test_each_inode_is_hashed_once_whatever_the_workers(
    tmp_path: Path, jobs: int, rate: int
) -> None:
    """One worker, worker processes (which stat what they read) and threads (a rate):
    the same hash files, every inode read once, whatever its hard links."""
    from dssframe.engine import verify

    dest, inodes = _linked_destination(tmp_path)
    report = verify.build(str(dest), jobs=jobs, max_rate=rate)
    assert report.hashed == inodes
    assert [(b.files, b.hashed, b.reused, b.errors) for b in report.built] == [
        (5, 4, 0, ()),  # sub/b2: b's read
        (4, 1, 2, ()),  # a and b known from the first; sub/d2: d's read
    ]
    reference = tmp_path / "reference"
    reference_dest, _ = _linked_destination(reference)
    assert verify.build(str(reference_dest), jobs=1).hashed == inodes
    mine, theirs = _hash_files(dest), _hash_files(reference_dest)
    assert len(mine) == 2
    for name, text in mine.items():  # other inode numbers; the same paths and digests
        assert [(line.split(" ")[0], line.split(" ")[-1]) for line in text.splitlines()[1:-1]] \
            == [(line.split(" ")[0], line.split(" ")[-1])
                for line in theirs[name].splitlines()[1:-1]]  # fmt: skip
    assert not verify.verify(str(dest)).findings


def test_a_file_that_is_not_what_its_directory_said_is_looked_at_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that finds another file than the directory listed (replaced, a mount)
    says so; the file is then listed and hashed as usual, still once."""
    from dssframe.engine import verify

    dest, inodes = _linked_destination(tmp_path)
    real = verify.hash_unstated

    def fake(path: str, ino: int, device: int, limiter: object) -> verify.Result:
        if os.path.basename(path) in ("b", "c", "d"):  # b and d have hard links
            with open(tmp_path / "refused", "a") as log:  # in a worker process
                log.write(os.path.basename(path) + "\n")
            return ((ino, verify.UNSTATED, device), None, verify.RELIST)
        return real(path, ino, device, None)

    monkeypatch.setattr(verify, "hash_unstated", fake)  # the forked workers' too
    report = verify.build(str(dest), jobs=2)
    assert report.hashed == inodes
    assert [(b.files, b.hashed, b.errors) for b in report.built] == [(5, 4, ()), (4, 1, ())]
    monkeypatch.setattr(verify, "hash_unstated", real)
    assert sorted((tmp_path / "refused").read_text().split()) == ["b", "c", "d"]
    assert not verify.verify(str(dest)).findings


def test_an_unstated_file_is_hashed_with_what_fstat_says(tmp_path: Path) -> None:
    import hashlib

    from dssframe.engine import verify

    path = tmp_path / "f"
    path.write_bytes(b"x" * 5000)
    st = path.lstat()
    key, digest, error = verify.hash_unstated(str(path), st.st_ino, st.st_dev, None)
    assert (key, error) == ((st.st_ino, 5000, st.st_mtime_ns), None)
    assert digest == hashlib.blake2b(b"x" * 5000, digest_size=32).hexdigest()
    relisted = verify.RELIST
    assert verify.hash_unstated(str(path), st.st_ino + 1, st.st_dev, None)[2] == relisted
    assert verify.hash_unstated(str(path), st.st_ino, st.st_dev + 1, None)[2] == relisted
    assert verify.hash_unstated(str(tmp_path), tmp_path.stat().st_ino, st.st_dev,
                                None)[2] == relisted  # fmt: skip
    assert verify.hash_unstated(str(tmp_path / "gone"), 1, st.st_dev, None)[2] == relisted
    os.symlink("f", tmp_path / "link")
    link = tmp_path / "link"
    assert verify.hash_unstated(str(link), st.st_ino, st.st_dev, None)[2] == relisted
