"""The builtin rsync transport without running anything: the argument list (local and
over ssh), the quoting of the ``-e`` value and of remote paths, and the classification
of finished copies (stderr samples are what rsync 3.x and OpenSSH really print)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dssframe.builtin.rsync import RsyncTransport, remote_path
from dssframe.core.errors import ConfigError
from dssframe.core.transport import CopyRequest, Outcome
from dssframe.store import configfile as config_module
from dssframe.store.lock import user_name as current_user

REQUEST = CopyRequest(destination="/snap/1700000000-incomplete")


def transport(**values: Any) -> RsyncTransport:
    raw = {"source-dir": "/data", "dest-dir": "/snap", **values}
    return RsyncTransport(config_module.build(raw, {}, None))


def remote(**values: Any) -> RsyncTransport:
    return transport(**{"remote-host": "backup.example", "remote-user": "alice", **values})


def rsync_split(command: str) -> list[str]:
    """A model of how rsync (main.c, do_cmd) splits the ``-e`` value into argv: words
    are separated by spaces only; inside '...' or "..." everything is literal except
    that a doubled quote character stands for one quote."""
    args: list[str] = []
    i, n = 0, len(command)
    while i < n:
        if command[i] == " ":
            i += 1
            continue
        word: list[str] = []
        quote = ""
        while i < n and (command[i] != " " or quote):
            c = command[i]
            if c in "'\"":
                if not quote:
                    quote = c
                    i += 1
                    continue
                if c == quote:
                    i += 1
                    if i >= n or command[i] != quote:
                        quote = ""
                        continue
                    c = command[i]
            word.append(c)
            i += 1
        assert not quote, f"rsync would reject {command!r}: missing trailing quote"
        args.append("".join(word))
    return args


def ssh_argv(argv: list[str]) -> list[str]:
    return rsync_split(argv[argv.index("-e") + 1])


def glob_unescape(path: str) -> str:
    """What the remote rsync makes of a path: a component with an (unescaped or
    escaped) wildcard character is a pattern in which a backslash quotes the next
    character; other components are literal."""
    parts = []
    for part in path.split("/"):
        if any(c in part for c in "*?["):
            out, i = [], 0
            while i < len(part):
                if part[i] == "\\" and i + 1 < len(part):
                    i += 1
                else:
                    assert part[i] not in "*?[", f"unescaped wildcard in {part!r}"
                out.append(part[i])
                i += 1
            part = "".join(out)
        parts.append(part)
    return "/".join(parts)


# --- local or remote ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "is_remote"),
    [
        ({}, False),
        ({"remote-host": "127.0.0.1"}, False),
        ({"remote-host": "localhost", "remote-user": current_user()}, False),
        ({"remote-host": "localhost", "remote-user": "somebody-else"}, True),
        ({"remote-host": "backup.example"}, True),
        ({"remote-host": "localhost", "use-ssh": "always"}, True),
        ({"remote-host": "backup.example", "use-ssh": "never"}, False),
    ],
)
def test_auto_is_local_only_for_localhost_and_the_current_user(
    values: dict[str, str], is_remote: bool
) -> None:
    t = transport(**values)
    assert t.remote is is_remote
    assert (t.local_source() is None) is is_remote


def test_local_command_has_no_ssh_and_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    t = transport(**{"source-dir": "rel/src dir/", "rsync-option": ["--exclude=*.tmp"]})
    request = CopyRequest("/snap/1-incomplete", "/snap/0-1", checksum=True, progress=True)
    assert t.command(request) == [
        "rsync", "-a", "--delete", "--exclude=*.tmp", "--checksum", "--info=progress2",
        "--link-dest=/snap/0-1", f"{tmp_path}/rel/src dir/", "/snap/1-incomplete/",
    ]  # fmt: skip
    # no -q with progress: it would silence the progress lines
    assert t.command(request._replace(progress=False))[:2] == ["rsync", "-aq"]
    assert t.source_display() == f"{tmp_path}/rel/src dir/"


def test_local_source_with_wildcards_and_colon_is_literal() -> None:
    # local rsync never expands wildcards; an absolute path has no host part
    t = transport(**{"source-dir": "/data/[ab]*:x"})
    assert t.command(REQUEST)[-2] == "/data/[ab]*:x"  # as written: no slash added


@pytest.mark.parametrize(
    "written, operand, top",
    [
        ("/data", "/data", "data"),
        ("/data/", "/data/", None),
        ("/srv/my data//", "/srv/my data/", None),
        ("/", "/", None),
    ],
)
def test_a_local_source_goes_to_rsync_as_written(
    written: str, operand: str, top: str | None
) -> None:
    """Like the original: without a trailing slash rsync copies the directory itself,
    so each snapshot holds <basename>/...; with one, the directory's entries."""
    t = transport(**{"source-dir": written})
    assert t.command(REQUEST)[-2] == operand
    assert t.source_top() == top


def test_a_remote_source_always_gets_the_slash() -> None:
    for written in ("/data", "/data/"):
        t = remote(**{"source-dir": written})
        assert t.command(REQUEST)[-2] == "alice@backup.example:/data/"
        assert t.source_top() is None


# --- the remote command -------------------------------------------------------------


def test_remote_command_layout() -> None:
    t = remote(**{"ssh-port": 2222, "rsync-option": ["--numeric-ids"]})
    argv = t.command(CopyRequest("/snap/1-incomplete", "/snap/0-1"))
    e = argv.index("-e")
    assert argv[:e] == ["rsync", "-aq", "--delete", "-s"]
    assert argv[e + 2 :] == [
        "--numeric-ids", "--link-dest=/snap/0-1", "alice@backup.example:/data/",
        "/snap/1-incomplete/",
    ]  # fmt: skip
    assert ssh_argv(argv) == [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "-p", "2222",
    ]  # fmt: skip


def test_ssh_defaults_never_disable_host_key_checking() -> None:
    ssh = ssh_argv(remote().command(REQUEST))
    assert ssh == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30"]
    assert not any("StrictHostKeyChecking" in word for word in ssh)
    assert not any("KnownHostsFile" in word for word in ssh)  # ~/.ssh/known_hosts applies


def test_ssh_options_identity_and_timeout_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    t = remote(
        **{
            "ssh-command": "/opt/my ssh/ssh",
            "ssh-identity": "keys/id it's",
            "ssh-option": ["UserKnownHostsFile=/k h/known", "ConnectTimeout=99"],
            "ssh-connect-timeout": 3,
        }
    )
    assert ssh_argv(t.command(REQUEST)) == [
        "/opt/my ssh/ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3",
        "-i", f"{tmp_path}/keys/id it's",
        "-o", "UserKnownHostsFile=/k h/known", "-o", "ConnectTimeout=99",
        "-o", "IdentitiesOnly=yes",
    ]  # fmt: skip
    # ssh keeps the first value of an option: BatchMode and the timeout come first.
    assert t.ssh_command() == ssh_argv(t.command(REQUEST))


def test_identity_expands_the_home_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/alice")
    ssh = remote(**{"ssh-identity": "~/.ssh/backup"}).ssh_command()
    assert ssh[ssh.index("-i") + 1] == "/home/alice/.ssh/backup"


def test_no_remote_user_leaves_the_user_to_ssh() -> None:
    t = transport(**{"remote-host": "backup.example"})
    assert t.command(REQUEST)[-2] == "backup.example:/data/"
    assert t.source_display() == "backup.example:/data/"


def test_ipv6_host_is_bracketed() -> None:
    t = remote(**{"remote-host": "::1", "use-ssh": "always"})
    assert t.command(REQUEST)[-2] == "alice@[::1]:/data/"


@pytest.mark.parametrize(
    "path",
    [
        "/data/with space",
        "/data/semi;colon",
        "/data/$(touch /tmp/x)",
        "/data/`id`",
        "/data/it's \"quoted\"",
        "/data/new\nline",
        "/data/back\\slash",
        "-rf",
        "/data/a:b",
    ],
)
def test_remote_path_without_wildcards_is_passed_unchanged(path: str) -> None:
    t = remote(**{"source-dir": path})
    argv = t.command(REQUEST)
    assert argv[-2] == f"alice@backup.example:{path}/"
    assert "-s" in argv  # the path goes through the protocol, not the remote shell
    assert t.source_display() == f"alice@backup.example:{path}/"


@pytest.mark.parametrize(
    ("path", "spelled"),
    [
        ("/data/[ab]/", "/data/\\[ab\\]/"),
        ("/data/st*r/x", "/data/st\\*r/x"),
        ("/data/what?/", "/data/what\\?/"),
        ("/a\\b/c\\d*/", "/a\\b/c\\\\d\\*/"),  # backslash escaped only next to a wildcard
        (":daemon/", "./:daemon/"),  # host::path would select the rsync daemon protocol
        ("relative/dir/", "relative/dir/"),
    ],
)
def test_remote_path_escapes_wildcards_per_component(path: str, spelled: str) -> None:
    assert remote_path(path) == spelled
    assert glob_unescape(spelled).removeprefix("./") == path


def test_display_shows_the_unescaped_remote_path() -> None:
    t = remote(**{"source-dir": "/data/[ab]"})
    assert t.source_display() == "alice@backup.example:/data/[ab]/"
    assert t.command(REQUEST)[-2] == "alice@backup.example:/data/\\[ab\\]/"


@given(st.text(alphabet=st.characters(blacklist_characters="\0"), min_size=1))
def test_remote_path_round_trips_through_rsync_globbing(path: str) -> None:
    assert glob_unescape(remote_path(path)).removeprefix("./") == path


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\0")), max_size=6))
def test_ssh_words_survive_rsync_splitting(words: list[str]) -> None:
    t = remote(**{"ssh-command": "ssh", "ssh-option": words})
    ssh = ssh_argv(t.command(REQUEST))
    assert ssh[6::2] == words
    assert ssh == t.ssh_command()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("remote-host", "-oProxyCommand=touch /tmp/x"),
        ("remote-host", "host;id"),
        ("remote-host", "$(id)"),
        ("remote-host", "a b"),
        ("remote-host", "user@host"),
        ("remote-host", "host:22"),
        ("remote-host", "host/x"),
        ("remote-host", "host\n"),
        ("remote-host", "[::1]"),
        ("remote-user", "-l"),
        ("remote-user", "a b"),
        ("remote-user", "$(id)"),
        ("remote-user", "root@evil"),
        ("remote-user", "x`id`"),
    ],
)
def test_unsafe_host_or_user_is_a_config_error(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        remote(**{key: value})


def test_host_and_user_are_only_checked_when_remote() -> None:
    assert not transport(**{"remote-host": "x;y", "use-ssh": "never"}).remote


# --- classification -------------------------------------------------------------------

REFUSED = """ssh: connect to host 127.0.0.1 port 1: Connection refused
rsync: connection unexpectedly closed (0 bytes received so far) [Receiver]
rsync error: unexplained error (code 255) at io.c(285) [Receiver=3.5.0]"""
DENIED = """root@127.0.0.1: Permission denied (publickey).
rsync: connection unexpectedly closed (0 bytes received so far) [Receiver]
rsync error: unexplained error (code 255) at io.c(285) [Receiver=3.5.0]"""
HOST_KEY = (
    "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\n"
) + """Host key verification failed.
rsync: connection unexpectedly closed (0 bytes received so far) [Receiver]
rsync error: unexplained error (code 255) at io.c(285) [Receiver=3.5.0]"""
UNRESOLVED = """ssh: Could not resolve hostname nowhere.invalid: Name or service not known
rsync: connection unexpectedly closed (0 bytes received so far) [Receiver]
rsync error: unexplained error (code 255) at io.c(232) [Receiver=3.2.7]"""
TIMEOUT = """Warning: Permanently added '[127.0.0.1]:2222' (ED25519) to the list of known hosts.
Connection timed out during banner exchange
Connection to 127.0.0.1 port 2222 timed out
rsync: connection unexpectedly closed (0 bytes received so far) [Receiver]
rsync error: unexplained error (code 255) at io.c(285) [Receiver=3.5.0]"""
NO_SSH = """rsync: [Receiver] Failed to exec nossh: No such file or directory (2)
rsync error: error in IPC code (code 14) at pipe.c(85) [Receiver=3.5.0]
rsync: [Receiver] safe_write failed to write 6 bytes to fd 4: Broken pipe (32)
rsync error: error in rsync protocol data stream (code 12) at io.c(387) [Receiver=3.5.0]"""
NO_REMOTE_RSYNC = """bash: line 1: rsync: command not found
rsync: connection unexpectedly closed (0 bytes received so far) [Receiver]
rsync error: remote command not found (code 127) at io.c(285) [Receiver=3.5.0]"""
NOT_TRANSFERRED = (
    "rsync error: some files/attrs were not transferred (see previous errors) (code 23)"
)
NO_SOURCE = f"""rsync: [sender] change_dir "/srv/data" failed: No such file or directory (2)
{NOT_TRANSFERRED} at main.c(1956) [Receiver=3.5.0]
rsync: [Receiver] write error: Broken pipe (32)"""
PARTIAL = f"""rsync: [sender] opendir "/srv/data/private" failed: Permission denied (13)
{NOT_TRANSFERRED} at main.c(1338) [sender=3.2.7]"""
NOLOGIN = """This account is currently not available.
rsync: connection unexpectedly closed (0 bytes received so far) [Receiver]
rsync error: error in rsync protocol data stream (code 12) at io.c(232) [Receiver=3.2.7]"""


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (REFUSED, "ssh: connect to host 127.0.0.1 port 1: Connection refused"),
        (DENIED, "root@127.0.0.1: Permission denied (publickey)."),
        (HOST_KEY, "Host key verification failed."),
        (UNRESOLVED, "Could not resolve hostname nowhere.invalid"),
        (TIMEOUT, "Connection to 127.0.0.1 port 2222 timed out"),
        ("", "ssh exited with status 255"),
    ],
)
def test_exit_255_is_a_transport_failure_with_ssh_s_message(stderr: str, expected: str) -> None:
    result = remote().classify(255, stderr)
    assert result.outcome is Outcome.ERROR
    assert result.exit_status == 255
    assert result.message.startswith("transport failure (ssh): ")
    assert expected in result.message
    assert "\n" not in result.message


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (REFUSED, "Connection refused"),
        (DENIED, "Permission denied (publickey)."),
        (HOST_KEY, "Host key verification failed."),
        (NOLOGIN, "This account is currently not available."),
    ],
)
def test_connection_that_never_came_up_is_a_transport_failure_even_with_exit_12(
    stderr: str, expected: str
) -> None:
    # rsync exits 12 or 255 for the same ssh failure, depending on a race with ssh.
    result = remote().classify(12, stderr.replace("code 255", "code 12"))
    assert result.outcome is Outcome.ERROR
    assert result.message.startswith("transport failure (ssh): ")
    assert expected in result.message


def test_connection_lost_mid_transfer_is_retried() -> None:
    stderr = "\n".join(
        [
            "client_loop: send disconnect: Broken pipe",
            "rsync: connection unexpectedly closed (48213 bytes received so far) [receiver]",
            "rsync error: error in rsync protocol data stream (code 12) at io.c(232)",
        ]
    )
    result = remote().classify(12, stderr)
    assert result.outcome is Outcome.RETRY
    assert "client_loop: send disconnect: Broken pipe" in result.message


def test_ssh_that_cannot_be_run_is_an_error_not_a_retry() -> None:
    result = remote().classify(12, NO_SSH)
    assert result.outcome is Outcome.ERROR
    assert "cannot run ssh-command" in result.message
    assert "Failed to exec nossh" in result.message


def test_missing_remote_rsync_reports_the_remote_shell() -> None:
    result = remote().classify(127, NO_REMOTE_RSYNC)
    assert result.outcome is Outcome.ERROR
    assert "bash: line 1: rsync: command not found" in result.message


@pytest.mark.parametrize("is_remote", [True, False])
def test_unreadable_source_root_is_never_complete(is_remote: bool) -> None:
    t = remote() if is_remote else transport()
    result = t.classify(23, NO_SOURCE)
    assert result.outcome is Outcome.ERROR
    assert 'change_dir "/srv/data" failed: No such file or directory' in result.message


@pytest.mark.parametrize(
    ("status", "stderr", "outcome"),
    [
        (0, "", Outcome.COMPLETE),
        (0, "Warning: Permanently added '[h]:22' (ED25519) to the list of known hosts.",
         Outcome.COMPLETE),
        (23, PARTIAL, Outcome.COMPLETE),
        (24, "file has vanished: \"/srv/data/tmp.1\"", Outcome.COMPLETE),
        (12, NOLOGIN.replace("(0 bytes", "(9 bytes"), Outcome.RETRY),
        (13, "", Outcome.RETRY),
        (11, "rsync: mkdir failed", Outcome.ERROR),
        (-9, "", Outcome.ERROR),
    ],
)  # fmt: skip
def test_rsync_statuses(status: int, stderr: str, outcome: Outcome) -> None:
    for t in (remote(), transport()):
        result = t.classify(status, stderr)
        assert result.outcome is outcome
        assert result.exit_status == status
    if status == 0:
        assert remote().classify(status, stderr).message == ""


def test_retry_message_prefers_the_remote_side_s_words() -> None:
    stderr = NOLOGIN.replace("(0 bytes", "(9 bytes")
    assert "currently not available" in remote().classify(12, stderr).message
    assert "connection unexpectedly closed" in transport().classify(12, stderr).message


def test_exit_255_of_a_local_copy_is_a_plain_error() -> None:
    result = transport().classify(255, "rsync: something odd")
    assert result.outcome is Outcome.ERROR
    assert "transport failure" not in result.message


# --- whose error: a partial transfer is complete only when the source caused it -----
# (lines as rsync 3.5.0 printed them on a full tmpfs, a read-only one, an ext4 image
# with an immutable file, and for an unreadable or vanished source file)

SUMMARY_23 = f"{NOT_TRANSFERRED} at main.c(1394) [sender=3.5.0]"
SUMMARY_11 = "rsync error: error in file IO (code 11) at receiver.c(657) [receiver=3.5.0]"
MKSTEMP_ENOSPC = 'rsync: [receiver] mkstemp "/mnt/d/.f98.Vk" failed: No space left on device (28)'
WRITE_ENOSPC = 'rsync: [receiver] write failed on "/mnt/d/f191": No space left on device (28)'
SENDER_EPIPE = "rsync: [sender] write error: Broken pipe (32)"
EDQUOT = 'rsync: [receiver] write failed on "/home/d/big": Disk quota exceeded (122)'
EROFS_TIMES = 'rsync: [generator] failed to set times on "/mnt/d/.": Read-only file system (30)'
EROFS_MKSTEMP = 'rsync: [receiver] mkstemp "/mnt/d/.a.2ffU1T" failed: Read-only file system (30)'
EIO = 'rsync: [receiver] write failed on "/mnt/d/f7": Input/output error (5)'
UNLINK = "rsync: [generator] delete_file: unlink(i) failed: Operation not permitted (1)"
OPENDIR = 'rsync: [sender] opendir "/srv/data/pd" failed: Permission denied (13)'
SEND_FILES = 'rsync: [sender] send_files failed to open "/srv/data/secret": Permission denied (13)'
READLINK = 'rsync: [sender] readlink_stat("/srv/data/l") failed: Permission denied (13)'
VANISHED = 'file has vanished: "/srv/data/tmp.1"'
VANISHED_SUMMARY = (
    "rsync warning: some files vanished before they could be transferred (code 24) "
    "at main.c(1394) [sender=3.5.0]"
)


def stderr_of(*lines: str) -> str:
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("status", "stderr", "cause"),
    [
        pytest.param(23, stderr_of(MKSTEMP_ENOSPC, MKSTEMP_ENOSPC, SUMMARY_23),
                     "No space left on device", id="enospc-inodes"),
        pytest.param(11, stderr_of(WRITE_ENOSPC, SUMMARY_11, SENDER_EPIPE),
                     "No space left on device", id="enospc-receiver-death"),
        pytest.param(23, stderr_of(EDQUOT, SUMMARY_23), "Disk quota exceeded", id="edquot"),
        pytest.param(23, stderr_of(EROFS_TIMES, EROFS_MKSTEMP, SUMMARY_23),
                     "Read-only file system", id="erofs"),
        pytest.param(23, stderr_of(EIO, SUMMARY_23), "Input/output error", id="eio"),
        pytest.param(23, stderr_of(UNLINK, SUMMARY_23), "unlink(i) failed", id="unlink"),
        pytest.param(23, stderr_of(OPENDIR, WRITE_ENOSPC, SEND_FILES, SUMMARY_23),
                     "No space left on device", id="mixed-sender-receiver"),
        pytest.param(24, stderr_of(VANISHED, UNLINK, VANISHED_SUMMARY),
                     "Operation not permitted", id="vanished-and-unlink"),
        pytest.param(23, stderr_of(SEND_FILES, SENDER_EPIPE, SUMMARY_23),
                     "Broken pipe", id="sender-broken-pipe"),
        pytest.param(23, stderr_of("rsync: [generator] some new complaint", SUMMARY_23),
                     "some new complaint", id="unknown-generator"),
        pytest.param(23, stderr_of(SEND_FILES, "rsync: something odd", SUMMARY_23),
                     "something odd", id="unknown-untagged"),
        pytest.param(23, stderr_of('rsync: [sender] read errors mapping "/srv/f": '
                                   "Input/output error (5)", SUMMARY_23),
                     "Input/output error", id="sender-eio"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("is_remote", [False, True])
def test_destination_side_errors_are_never_complete(
    status: int, stderr: str, cause: str, is_remote: bool
) -> None:
    result = (remote() if is_remote else transport()).classify(status, stderr)
    assert result.outcome is Outcome.ERROR
    assert result.exit_status == status
    assert cause in result.message
    assert "\n" not in result.message
    assert result.tolerated_count == 0 and result.tolerated == ()


@pytest.mark.parametrize("status", [11, 12, 23, 30])
def test_the_message_names_the_full_disk_not_the_broken_pipe(status: int) -> None:
    for t in (transport(), remote()):
        result = t.classify(status, stderr_of(WRITE_ENOSPC, SUMMARY_11, SENDER_EPIPE))
        assert "No space left on device" in result.message
        assert "Broken pipe" not in result.message
        assert result.message == (
            f"rsync exit {status}: destination: No space left on device: {WRITE_ENOSPC}"
        )
    retried = transport().classify(12, stderr_of(WRITE_ENOSPC, SENDER_EPIPE))
    assert retried.outcome is Outcome.RETRY  # the status still decides retry or not


def test_the_first_device_error_wins_over_earlier_destination_lines() -> None:
    stderr = stderr_of(UNLINK, EROFS_TIMES, WRITE_ENOSPC, SUMMARY_23)
    result = transport().classify(23, stderr)
    assert result.message == f"rsync exit 23: destination: Read-only file system: {EROFS_TIMES}"
    unlink = transport().classify(23, stderr_of(UNLINK, SUMMARY_23))
    assert unlink.message == f"rsync exit 23: destination: Operation not permitted: {UNLINK}"


@pytest.mark.parametrize(
    ("status", "lines", "note"),
    [
        pytest.param(23, [OPENDIR, SEND_FILES], "partial transfer", id="unreadable"),
        pytest.param(23, [READLINK], "partial transfer", id="readlink"),
        pytest.param(23, ['rsync: send_files failed to open "/srv/x": Permission denied (13)'],
                     "partial transfer", id="untagged-old-rsync"),
        pytest.param(24, [VANISHED, 'file has vanished: "/srv/data/c/z"'],
                     "source files vanished", id="vanished"),
        pytest.param(23, [VANISHED, SEND_FILES], "partial transfer", id="vanished-and-unreadable"),
        pytest.param(23, ['rsync: [sender] send_files failed to open "/srv/No space left '
                          'on device/unlink": Permission denied (13)'],
                     "partial transfer", id="odd-file-name"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("is_remote", [False, True])
def test_source_side_errors_are_tolerated_and_counted(
    status: int, lines: list[str], note: str, is_remote: bool
) -> None:
    summary = VANISHED_SUMMARY if status == 24 else SUMMARY_23
    chatter = "Warning: Permanently added '[h]:22' (ED25519) to the list of known hosts."
    stderr = stderr_of(chatter, *lines, summary)
    result = (remote() if is_remote else transport()).classify(status, stderr)
    assert result.outcome is Outcome.COMPLETE
    assert result.message == f"{note}: {lines[-1]}"
    assert result.tolerated_count == len(lines)
    assert result.tolerated == tuple(lines)


def test_only_the_first_tolerated_lines_are_kept() -> None:
    lines = [f'rsync: [sender] send_files failed to open "/srv/f{i}": Permission denied (13)'
             for i in range(12)]  # fmt: skip
    result = transport().classify(23, stderr_of(*lines, SUMMARY_23))
    assert result.outcome is Outcome.COMPLETE
    assert result.tolerated_count == 12
    assert result.tolerated == tuple(lines[:5])


def test_a_partial_transfer_without_any_error_line_stays_complete() -> None:
    # what rsync says is all there is; only a line naming the destination overrules it
    result = transport().classify(23, "")
    assert result.outcome is Outcome.COMPLETE
    assert result.tolerated_count == 0
