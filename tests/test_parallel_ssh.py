"""``parallel`` = N over ssh: the plan reads the remote source through rsync's own
listing (``--list-only`` over the copy's ssh), each part is an rsync over its own ssh
connection, and the snapshot is exactly the one one rsync over ssh makes.

The listing is checked against the local scan on the same trees (odd names included:
rsync escapes a newline as ``\\#012``), a listing that fails or hangs must leave the
copy to one rsync, and real copies through the test sshd on 127.0.0.1 are compared
with ``rsync -anic --delete`` and by hard-link structure, as in test_parallel.py.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from dssframe.builtin.rsync import RsyncTransport, parallel
from dssframe.core.transport import CopyRequest, parse_group
from dssframe.store import configfile
from dsstest import RunDss, complete, snapshots
from sshd import SshServer, source_config
from test_daemon import wait_until
from test_parallel import (
    _rsyncs_writing_into,
    _slow_source,
    assert_one_rsync_snapshots,
    build_tree,
    differences,
    mutate,
    newest,
)

pytestmark = pytest.mark.usefixtures("rsync")


def local_listing(root: Path) -> parallel._Listing:
    """A listing of a local directory by the same rsync command but for the ssh."""

    def command(path: str) -> list[str]:
        return ["rsync", "--list-only", "-a", "--no-h", "--exclude=/*/*/*",
                os.path.join(root, path, "")]  # fmt: skip

    return parallel._Listing(command, timeout=30)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_the_listing_reads_what_the_scan_reads(tmp_path: Path, seed: int) -> None:
    """Every directory the plan asks for, with odd names (newlines, wildcards,
    backslashes, leading dashes and pluses, non-ASCII): the same entries, sizes and
    subdirectories from rsync's listing as from scandir."""
    root = tmp_path / "src"
    build_tree(root, random.Random(seed))
    mutate(root, random.Random(seed + 50))
    (root / "q\\#123").write_text("a backslash before #123, which rsync escapes")
    (root / " leading space").mkdir()
    scan = parallel._Scan(str(root))
    scan.budget = 10**9
    listing = local_listing(root)
    asked = [""] + list(scan.dir("").subdirs)  # type: ignore[union-attr]
    for name in scan.dir("").subdirs:  # type: ignore[union-attr]
        asked += [f"{name}/{sub}" for sub in scan.dir(name).subdirs]  # type: ignore[union-attr]
    assert len(asked) > 10
    for path in asked:
        assert listing.dir(path) == scan.dir(path), path
    assert listing.dir("no such dir") is None
    for count in (2, 3, 4):
        assert parallel.plan(local_listing(root), count) == parallel.plan(str(root), count)


def test_a_listing_that_fails_or_hangs_leaves_the_copy_to_one_rsync(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dssframe")
    failing = parallel._Listing(lambda path: ["sh", "-c", "echo 'rsync: bad' >&2; exit 12"], 5)
    assert parallel.plan(failing, 2) is None
    (warned,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "listing the remote source failed (rsync exit 12: rsync: bad)" in warned.message
    # ssh itself failed: so will the copy, whose one error line says why (info only)
    no_ssh = parallel._Listing(lambda path: ["sh", "-c", "echo 'ssh: no route' >&2; exit 255"], 5)
    assert parallel.plan(no_ssh, 2) is None
    assert [r.levelno for r in caplog.records if "exit 255" in r.message] == [logging.INFO]
    # a listing that hangs, with a child of its own holding the output pipe open
    hanging = parallel._Listing(lambda path: ["sh", "-c", "sleep 60 & exec sleep 60"], 0.5)
    started = time.monotonic()
    assert parallel.plan(hanging, 2) is None
    assert time.monotonic() - started < 10
    assert "listing the remote source took more than 0.5s; copying with one rsync" in (
        caplog.text
    )
    # a split directory that cannot be listed: its subdirectories weigh the average
    caplog.clear()
    root = tmp_path / "tree"
    for name in ("small", "big/a", "big/b", "big/c"):
        (root / name).mkdir(parents=True)
    for number in range(40):
        (root / "big" / "a" / f"f{number}").write_text("x")
    works = local_listing(root).list_command

    def only_the_top(path: str) -> list[str]:
        return works(path) if path == "" else ["sh", "-c", "exit 12"]

    partition = parallel.plan(parallel._Listing(only_the_top, 5), 2)
    assert partition is not None
    assert sorted(partition.units()) == ["big/a", "big/b", "big/c", "small"]
    assert "planning big without its sizes" in caplog.text


def test_the_listing_passes_on_how_to_reach_the_remote_side() -> None:
    options = ["--rsync-path=/opt/rsync", "-M", "--fake-super", "-4", "--exclude=x", "-av",
               "-e", "ssh -p 2", "--timeout", "30", "--iconv=utf8,latin1", "--bwlimit=9",
               "-M--x", "--", "--rsync-path=not-an-option"]  # fmt: skip
    assert parallel.listing_options(options) == [
        "--rsync-path=/opt/rsync", "--remote-option=--fake-super", "--ipv4",
        "--rsh=ssh -p 2", "--timeout=30", "--iconv=utf8,latin1", "--remote-option=--x",
    ]  # fmt: skip


def ssh_transport(server: SshServer, source: Path, **values: object) -> RsyncTransport:
    raw = {
        "source-dir": f"{source}/", "dest-dir": "/snap", "remote-host": server.host,
        "remote-user": server.user, "use-ssh": "always", "ssh-port": server.port,
        "ssh-identity": str(server.client_key), "ssh-option": server.ssh_options(),
        "ssh-connect-timeout": 5, **values,
    }  # fmt: skip
    return RsyncTransport(configfile.build(raw, {}, None))


def test_the_plan_over_ssh_is_the_local_plan(sshd: SshServer, tmp_path: Path) -> None:
    """The same tree read through the test sshd and read locally: the same units in
    the same parts; the command is a group whose every rsync goes over ssh with ``-s``."""
    root = tmp_path / "s p a c e [and] *wild*"
    build_tree(root, random.Random(7))
    for count in (2, 4):
        transport = ssh_transport(sshd, root, parallel=count)
        request = CopyRequest(destination="/snap/1-incomplete", reference=None, log_file=None)
        listing = parallel.scanner(transport, request)
        assert parallel.plan(listing, count) == parallel.plan(str(root), count)
        # with a reference snapshot the plan reads it instead (no connection at all),
        # but not for a copy into a resumed or recycled directory
        into_empty = request._replace(reference=str(root), fresh=True)
        assert parallel.scanner(transport, into_empty) == str(root)
        for other in (into_empty._replace(fresh=False), into_empty._replace(reference="/0")):
            assert isinstance(parallel.scanner(transport, other), parallel._Listing)
        group = parse_group(transport.command(request))
        assert group is not None
        assert len(group.stages[1]) == count
        for command in group.commands():
            assert command[3:5] == ("-s", "-e")
            assert command[-2] == transport.source_argument()


def connections(server: SshServer) -> int:
    """How many logins the test sshd has accepted so far."""
    return server.log_file.read_text(errors="replace").count("Accepted publickey for ")


@pytest.mark.parametrize(
    ("seed", "options", "resume"),
    [
        (11, [], True),  # into a resumed directory: the plan lists the source
        (12, ["--exclude=/a*/", "-x"], True),
        (13, [], False),  # into an empty one: the plan reads the reference snapshot
        (14, ["--exclude=/b*/"], False),
    ],
)
def test_parallel_snapshots_over_ssh_are_the_one_rsync_snapshot(
    run_dss: RunDss,
    sshd: SshServer,
    tmp_path: Path,
    seed: int,
    options: list[str],
    resume: bool,
) -> None:
    """As test_parallel's test of the same name, through the test sshd: a reference
    snapshot, random changes (top-level directories become files and the other way
    round, some vanish, some are new), and with ``resume`` an interrupted copy of an
    older tree left to resume; then parallel 1, 2 and 4 over ssh into three copies of
    the destination, all rsync processes of a copy through one ssh connection."""
    rng = random.Random(seed)
    source = tmp_path / "src"
    build_tree(source, rng)
    dests = {n: tmp_path / f"dest{n}" for n in (1, 2, 4)}
    configs = {}
    for n, dest in dests.items():
        directory = tmp_path / f"config{n}"
        directory.mkdir()
        configs[n] = source_config(
            directory, sshd, source, dest, parallel=n, rsync_option=options, min_shrink_percent=0
        )
    dests[1].mkdir(mode=0o700)
    run_dss("--config", str(configs[1]), "create", check=True)
    (reference,) = complete(dests[1])
    if resume:
        leftover = dests[1] / f"{snapshots(dests[1])[-1].completion}-incomplete"
        shutil.copytree(source, leftover, symlinks=True)
        mutate(leftover, random.Random(seed + 100))
    mutate(source, rng)
    for n in (2, 4):
        subprocess.run(["cp", "-a", str(dests[1]), str(dests[n])], check=True)
    made = {}
    for n in (1, 2, 4):
        before = connections(sshd)
        result = run_dss("--config", str(configs[n]), "create", check=True)
        logins = connections(sshd) - before
        # one rsync, one login; parallel: one shared connection, which the second
        # parallel create finds still up (ControlPersist)
        assert logins == (1 if n < 4 else 0), (n, logins)
        made[n] = Path(result.stdout.strip())
        assert made[n] == newest(dests[n])
        assert [s.complete for s in snapshots(dests[n])] == [True, True]
        assert not list((dests[n] / ".dssframe").glob("rsync*.log"))
    if not options:
        assert differences(source, made[1]) == ""
    assert_one_rsync_snapshots(made, dests, reference.name)


def test_a_missing_remote_source_fails_as_with_one_rsync(
    run_dss: RunDss, sshd: SshServer, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o700)
    config = source_config(tmp_path, sshd, tmp_path / "no such dir", dest, parallel=2)
    result = run_dss("--config", str(config), "create")
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "no such dir" in result.stderr
    assert complete(dest) == []


def test_a_wrong_key_is_one_transport_failure_line(
    run_dss: RunDss, sshd: SshServer, source: Path, tmp_path: Path
) -> None:
    from sshd import make_key

    dest = tmp_path / "dest"
    dest.mkdir(mode=0o700)
    wrong = make_key(tmp_path / "wrong-key")
    config = source_config(tmp_path, sshd, source, dest, parallel=2, ssh_identity=str(wrong))
    result = run_dss("--config", str(config), "create")
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "transport failure (ssh)" in line and "Permission denied" in line, line
    assert complete(dest) == []


def test_a_unit_that_became_a_file_since_the_reference_is_copied_exactly(
    run_dss: RunDss, sshd: SshServer, tmp_path: Path
) -> None:
    """The plan of a remote source comes from the reference snapshot: a directory
    there that is a file in the source now, over a resumed copy that still holds the
    old directory and its contents. The copy may take one more run (the top pass cannot
    delete the old contents, which the part then replaces), never more, and the result
    is the source."""
    source = tmp_path / "src"
    for name in ("a", "b", "c", "unit"):
        (source / name / "deep").mkdir(parents=True)
        for number in range(5):
            (source / name / "deep" / f"f{number}").write_text(f"{name} {number}")
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o700)
    config = source_config(tmp_path, sshd, source, dest, parallel=2, min_shrink_percent=0)
    run_dss("--config", str(config), "create", check=True)
    leftover = dest / f"{snapshots(dest)[-1].completion}-incomplete"
    shutil.copytree(source, leftover, symlinks=True)
    shutil.rmtree(source / "unit")
    (source / "unit").write_text("a file now")
    runs = []
    for _ in range(3):
        runs.append(run_dss("--config", str(config), "create").returncode)
        if runs[-1] == 0:
            break
    assert runs in ([0], [1, 0]), runs
    assert differences(source, newest(dest)) == ""


def test_each_rsync_logs_in_by_itself_when_the_user_says_controlmaster_no(
    run_dss: RunDss, sshd: SshServer, tmp_path: Path
) -> None:
    """The user's ssh-option values come first and win in ssh: ``ControlMaster=no``
    gives a connection each (the top pass, the parts; the listing when resumed)."""
    source = tmp_path / "src"
    build_tree(source, random.Random(21))
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o700)
    options = [*sshd.ssh_options(), "ControlMaster=no"]
    config = source_config(tmp_path, sshd, source, dest, parallel=2, ssh_option=options)
    run_dss("--config", str(config), "create", check=True)  # listing, top pass, 2 parts
    mutate(source, random.Random(22))
    before = connections(sshd)
    run_dss("--config", str(config), "create", check=True)  # from the reference: no listing
    assert connections(sshd) - before == 3
    assert differences(source, newest(dest)) == ""


def test_the_control_socket_goes_only_into_a_private_directory(
    sshd: SshServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    transport = ssh_transport(sshd, tmp_path, parallel=2)
    runtime = Path(tempfile.mkdtemp(prefix="run", dir="/tmp"))  # short, as a socket needs
    request.addfinalizer(lambda: shutil.rmtree(runtime))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / ("long" * 20)))
    assert not parallel.shared_connection(transport)[3].startswith(f"ControlPath={tmp_path}")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    options = parallel.shared_connection(transport)
    assert options[:2] == ["-o", "ControlMaster=auto"]
    path = options[3].removeprefix("ControlPath=")
    assert Path(path).parent == runtime / "dssframe"
    assert (runtime / "dssframe").stat().st_mode & 0o777 == 0o700
    # another source, other options: another socket; the same: the same one
    assert parallel.shared_connection(ssh_transport(sshd, tmp_path / "x", parallel=2)) != options
    assert parallel.shared_connection(transport) == options
    # a directory others may enter, or a link, is not private: the next candidate
    (runtime / "dssframe").chmod(0o755)
    assert not parallel.private_dir(str(runtime / "dssframe"))
    (runtime / "dssframe").rmdir()
    (runtime / "dssframe").symlink_to(tmp_path)
    assert not parallel.private_dir(str(runtime / "dssframe"))
    fallback = parallel.shared_connection(transport)[3].removeprefix("ControlPath=")
    assert Path(fallback).parent == Path(f"/tmp/dssframe-{os.geteuid()}")
    assert not parallel.private_dir("/tmp/with space")
    assert not parallel.private_dir("/tmp/percent%h")
    # not OpenSSH's ssh: no ssh options it may not know
    other = ssh_transport(sshd, tmp_path, parallel=2, **{"ssh-command": "/usr/bin/dbclient"})
    assert parallel.shared_connection(other) == []


def test_a_killed_parallel_create_over_ssh_resumes_to_the_one_rsync_snapshot(
    run_dss: RunDss, sshd: SshServer, tmp_path: Path
) -> None:
    """SIGKILL of dss while its parts copy over the shared connection: the local rsync
    processes die with it, the incomplete directory stays, and the next create
    resumes it (listing the source) into exactly what one rsync over ssh makes."""
    source = _slow_source(tmp_path / "src")
    dest, plain = tmp_path / "dest", tmp_path / "plain"
    dest.mkdir(mode=0o700)
    plain.mkdir(mode=0o700)
    (tmp_path / "slow").mkdir()
    slow = source_config(
        tmp_path / "slow", sshd, source, dest, parallel=2, rsync_option=["--bwlimit=3000"]
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "dssframe", "--config", str(slow), "create"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    wait_until(lambda: len(_rsyncs_writing_into(dest)) >= 2, what="the parts' rsync")
    time.sleep(0.3)
    process.kill()
    process.wait(10)
    wait_until(lambda: not _rsyncs_writing_into(dest), what="the rsync processes to die")
    (left,) = snapshots(dest)
    assert left.incomplete

    (tmp_path / "fast").mkdir()
    fast = source_config(tmp_path / "fast", sshd, source, dest, parallel=2)
    result = run_dss("--config", str(fast), "create", check=True)
    (snapshot,) = complete(dest)
    assert [s.complete for s in snapshots(dest)] == [True]  # the incomplete one was reused
    assert Path(result.stdout.strip()) == snapshot
    (tmp_path / "one").mkdir()
    one = source_config(tmp_path / "one", sshd, source, plain)
    run_dss("--config", str(one), "create", check=True)
    assert differences(newest(plain), snapshot) == ""
    assert differences(snapshot, newest(plain)) == ""
