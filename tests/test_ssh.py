"""Snapshots over ssh through the real ``dss`` command, against a real sshd on 127.0.0.1
(the ``sshd`` fixture of tests/sshd.py): identity and hard links, literal remote paths,
and every way the connection can fail -- each must end with exit 1, ssh's own message
and no complete snapshot."""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import sshd as sshd_module
from dssframe.core.config import to_toml
from dsstest import RunDss, check_snapshot_pair, complete, make_tree, snapshots, tree_state
from sshd import SshServer, free_port, make_key

pytestmark = pytest.mark.usefixtures("rsync")


def incomplete(dest: Path) -> list[Path]:
    return [dest / s.name for s in snapshots(dest) if s.incomplete]


def write_config(path: Path, **values: Any) -> Path:
    path.write_text(to_toml({key.replace("_", "-"): value for key, value in values.items()}))
    return path


def ssh_config(
    tmp_path: Path, server: SshServer, source: Path, dest: Path, **values: Any
) -> Path:
    """A config that reaches ``source`` through ``server`` (overridable by ``values``)."""
    settings: dict[str, Any] = {
        "source_dir": str(source),
        "dest_dir": str(dest),
        "remote_host": server.host,
        "remote_user": server.user,
        "use_ssh": "always",
        "ssh_port": server.port,
        "ssh_identity": str(server.client_key),
        "ssh_option": server.ssh_options(),
        "ssh_connect_timeout": 5,
    }
    settings.update(values)
    return write_config(tmp_path / "dss.toml", **settings)


def error_line(stderr: str) -> str:
    """The one ``dss: error:`` line (there must be exactly one)."""
    lines = [line for line in stderr.splitlines() if line.startswith("dss: error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def assert_transport_failure(result: Any, dest: Path, ssh_message: str) -> str:
    assert result.returncode == 1, result.stderr
    line = error_line(result.stderr)
    assert "transport failure (ssh)" in line
    assert ssh_message in line
    assert complete(dest) == []
    assert len(incomplete(dest)) == 1  # kept for a resume
    return line


# --- copying ---------------------------------------------------------------------


def test_remote_snapshot_is_identical_and_hard_links_unchanged_files(
    run_dss: RunDss, sshd: SshServer, source: Path, dest: Path, tmp_path: Path
) -> None:
    cfg = ssh_config(tmp_path, sshd, source, dest)
    unchanged = ("sub/b.bin", "empty", "name with spaces & $(x)")
    check_snapshot_pair(run_dss, ["--config", str(cfg)], source, dest, unchanged)


def test_remote_path_with_shell_syntax_is_copied_literally(
    run_dss: RunDss, sshd: SshServer, dest: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    odd = tmp_path / (
        f"src dir $(touch {marker}); touch {marker}.2 `touch {marker}.3` "
        f"it's \"q\" | touch {marker}.4 &\nnewline [ab]*?"
    )
    make_tree(odd)
    # What the wildcards would match if the remote rsync expanded them:
    decoy = odd.with_name(odd.name.replace("[ab]*?", "a12"))
    decoy.mkdir()
    (decoy / "decoy.txt").write_text("must not be copied\n")

    cfg = ssh_config(tmp_path, sshd, odd, dest)
    # RSYNC_OLD_ARGS=1 asks rsync to hand the path to the remote shell unescaped: the
    # secluded-args protocol must keep it away from the shell even so.
    env = {**os.environ, "RSYNC_OLD_ARGS": "1"}
    run_dss("--config", str(cfg), "create", check=True, env=env)
    (snapshot,) = complete(dest)
    assert tree_state(snapshot) == tree_state(odd)
    assert not list(tmp_path.glob("marker*"))


# --- failures ----------------------------------------------------------------------


def test_wrong_key_is_a_transport_failure_reported_in_the_event(
    run_dss: RunDss, sshd: SshServer, source: Path, dest: Path, tmp_path: Path
) -> None:
    wrong = make_key(tmp_path / "wrong key")
    cfg = ssh_config(tmp_path, sshd, source, dest, ssh_identity=str(wrong))
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "record_events.py").write_text(
        textwrap.dedent(
            """
            import json, os
            from dssframe import hookimpl

            @hookimpl
            def dssframe_event(event):
                with open(os.environ["RECORD_EVENTS"], "a") as out:
                    record = {"kind": event.kind.value, "error": event.error,
                              "exit_status": event.exit_status}
                    out.write(json.dumps(record) + "\\n")
            """
        )
    )
    events = tmp_path / "events.jsonl"
    path = os.pathsep.join(filter(None, [str(plugin_dir), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "RECORD_EVENTS": str(events)}
    result = run_dss("-p", "record_events", "--config", str(cfg), "create", env=env)
    line = assert_transport_failure(result, dest, "Permission denied (publickey)")
    assert line.startswith("dss: error: create-failed ")
    recorded = [json.loads(text) for text in events.read_text().splitlines()]
    failed = [r for r in recorded if r["kind"] == "create-failed"]
    assert len(failed) == 1
    assert failed[0]["exit_status"] in (12, 255)  # rsync's status races with ssh's exit
    assert "Permission denied (publickey)" in failed[0]["error"]
    # ssh's own words are in that one line, not repeated raw beside it
    assert [log for log in result.stderr.splitlines() if "Permission denied" in log] == [line]


def test_refused_port_is_a_transport_failure(
    run_dss: RunDss, sshd: SshServer, source: Path, dest: Path, tmp_path: Path
) -> None:
    cfg = ssh_config(tmp_path, sshd, source, dest, ssh_port=free_port())
    result = run_dss("--config", str(cfg), "create")
    assert_transport_failure(result, dest, "Connection refused")


def test_silent_server_fails_within_the_connect_timeout(
    run_dss: RunDss, sshd: SshServer, source: Path, dest: Path, tmp_path: Path
) -> None:
    # Accepts TCP connections (the kernel does) but never says a word: ssh waits for the
    # banner until ConnectTimeout.
    with socket.socket() as silent:
        silent.bind((sshd.host, 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        cfg = ssh_config(tmp_path, sshd, source, dest, ssh_port=port, ssh_connect_timeout=1)
        started = time.monotonic()
        result = run_dss("--config", str(cfg), "create")
        elapsed = time.monotonic() - started
    assert_transport_failure(result, dest, "timed out")
    assert elapsed < 1 + 8, f"took {elapsed:.1f}s with ssh-connect-timeout = 1"


def test_unknown_host_key_fails_clearly_and_accept_new_works(
    run_dss: RunDss, sshd: SshServer, source: Path, dest: Path, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh_known_hosts"
    isolated = [f"UserKnownHostsFile={fresh}", "GlobalKnownHostsFile=/dev/null"]
    cfg = ssh_config(tmp_path, sshd, source, dest, ssh_option=isolated)
    result = run_dss("--config", str(cfg), "create")
    assert_transport_failure(result, dest, "Host key verification failed")
    assert not fresh.exists() or fresh.read_text() == ""

    cfg = ssh_config(
        tmp_path, sshd, source, dest, ssh_option=["StrictHostKeyChecking=accept-new", *isolated]
    )
    run_dss("--config", str(cfg), "create", check=True)  # resumes the incomplete dir
    (snapshot,) = complete(dest)
    assert incomplete(dest) == []
    assert tree_state(snapshot) == tree_state(source)
    host_key = sshd.host_key.with_suffix(".pub").read_text().split()[1]
    assert host_key in fresh.read_text()


def test_missing_remote_source_is_not_a_complete_snapshot(
    run_dss: RunDss, sshd: SshServer, dest: Path, tmp_path: Path
) -> None:
    # rsync says "partial transfer" (23), which would otherwise count as complete.
    cfg = ssh_config(tmp_path, sshd, tmp_path / "no such dir", dest)
    result = run_dss("--config", str(cfg), "create")
    assert result.returncode == 1, result.stderr
    assert "no such dir" in error_line(result.stderr)
    assert complete(dest) == []


# --- the command itself (no server needed) --------------------------------------------


FAKE_SSH = """\
import json, sys
with open(sys.argv[0] + ".argv", "w") as out:
    json.dump(sys.argv[1:], out)
print("fake-ssh: no route to nowhere", file=sys.stderr)
sys.exit(255)
"""


def test_ssh_arguments_reach_ssh_exactly(run_dss: RunDss, dest: Path, tmp_path: Path) -> None:
    """Through rsync's own -e splitting: every word arrives as one argument, unchanged."""
    bindir = tmp_path / "odd bin 'dir' $(x)"
    bindir.mkdir()
    fake = bindir / "fake ssh"
    fake.write_text(f"#!{sys.executable}\n{FAKE_SSH}")
    fake.chmod(0o755)
    options = ["UserKnownHostsFile=/k h/it's \"here\"", "SetEnv=A='b c' D=\"e\"", "", "x\ty\nz"]
    identity = str(tmp_path / "key ' \" $(touch boom) ; \\ end")
    cfg = write_config(
        tmp_path / "dss.toml",
        source_dir="/remote/src dir",
        dest_dir=str(dest),
        remote_host="backup.example",
        remote_user="alice",
        ssh_command=str(fake),
        ssh_identity=identity,
        ssh_option=options,
        ssh_port=2222,
        ssh_connect_timeout=7,
    )
    result = run_dss("--config", str(cfg), "create")
    assert "fake-ssh: no route to nowhere" in error_line(result.stderr)
    received = json.loads(Path(str(fake) + ".argv").read_text())
    expected = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=7", "-p", "2222", "-i", identity]
    for option in options:
        expected += ["-o", option]
    expected += ["-o", "IdentitiesOnly=yes"]
    assert received[: len(expected)] == expected
    remote_command = received[len(expected) :]
    assert remote_command[:5] == ["-l", "alice", "backup.example", "rsync", "--server"]
    # secluded args: the path is sent inside the protocol, never on ssh's command line
    assert not any("src dir" in word for word in remote_command)


def test_dry_run_prints_the_full_ssh_command(
    run_dss: RunDss, sshd: SshServer, source: Path, dest: Path, tmp_path: Path
) -> None:
    cfg = ssh_config(tmp_path, sshd, source, dest)
    result = run_dss("--dry-run", "--config", str(cfg), "create", check=True)
    argv = shlex.split(result.stdout.strip().splitlines()[-1])
    assert argv[-2] == f"{sshd.user}@{sshd.host}:{source}/"
    ssh = shlex.split(argv[argv.index("-e") + 1])
    assert ssh[:5] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
    assert ["-p", str(sshd.port)] == ssh[5:7]
    assert ["-i", str(sshd.client_key)] == ssh[7:9]
    assert f"UserKnownHostsFile={sshd.known_hosts}" in ssh
    assert "-s" in argv
    assert os.listdir(dest) == []


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_fixture_fails_in_ci_and_skips_elsewhere(
    ci: str, outcome: type[BaseException], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sshd_module, "SSHD", str(tmp_path / "no-sshd"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="sshd is not installed"):
        sshd_module.start_for_tests(tmp_path / "server")
