"""Restoring with rsync: ``rsync -aH --delete`` from the snapshot to the target, its
dry run, the comparison of the source with a snapshot, and rsync's itemized output.

For a remote source (``target=None``) the command is the reverse of the copy, built
from the same parts: :meth:`RsyncTransport.source_argument` (the escaped
``user@host:path/`` operand), :meth:`RsyncTransport.ssh_command` (one ``-e`` value)
and ``-s`` (the remote path travels inside the rsync protocol). The user's
``rsync-option`` values apply as they do to snapshots, so an ``--exclude`` that kept
files out of the snapshots also keeps a restore from deleting them. ``-H`` keeps hard
links inside the tree (snapshots hold them only when created with ``-H``). Paths to
keep (:attr:`RestoreRequest.keep <dssframe.core.transport.RestoreRequest.keep>`) are
protected (``P``) in a restore and excluded (``-``) from a comparison.

A dry run (``-n --out-format='%i %n'``) lists every path rsync would create, change or
delete.

A restore of chosen paths (:attr:`RestoreRequest.paths
<dssframe.core.transport.RestoreRequest.paths>`) is one rsync with ``--relative
--no-implied-dirs`` and a ``SNAPSHOT/./PATH`` source operand per path: rsync recreates
each path under the target's top, deletes only inside the directories among them, and
leaves the directories leading to them as they are. The operands are local (the
snapshot), so nothing in them reaches a shell or a remote rsync's wildcard expansion."""

from __future__ import annotations

import os
import re
import shlex
from typing import TYPE_CHECKING

from dssframe.core.errors import TransportError
from dssframe.core.transport import Change, RestoreRequest

if TYPE_CHECKING:
    from dssframe.builtin.rsync import RsyncTransport

_ESCAPE = re.compile(rb"\\#([0-7]{3})")
#: What makes a command a dry run that itemizes its changes on standard output.
DRY_RUN = ("-n", "--out-format=%i %n")


def _over_ssh(transport: RsyncTransport, request: RestoreRequest) -> list[str]:
    if request.target is None and transport.remote:
        return ["-s", "-e", shlex.join(transport.ssh_command())]
    return []


def _target(transport: RsyncTransport, request: RestoreRequest) -> str:
    """The target operand: the local directory, or the configured source."""
    if request.target is not None:
        return request.target
    if transport.remote:
        return transport.source_argument()
    return os.path.join(transport.local_source() or "", "")


def _filters(request: RestoreRequest, rule: str) -> list[str]:
    return [f"--filter={rule} /{path}/" for path in request.keep]


def _restore_options(transport: RsyncTransport, request: RestoreRequest) -> list[str]:
    """``rsync -aH --delete [--filter=P ...] [-s -e SSH] [rsync-option ...]``."""
    config = transport.config
    argv = [config.rsync_path, "-aH", "--delete", *_filters(request, "P")]
    return argv + _over_ssh(transport, request) + list(config.rsync_option)


def _operands(transport: RsyncTransport, request: RestoreRequest) -> list[str]:
    """``[--relative --no-implied-dirs] SOURCE... TARGET``: the snapshot's top, or
    ``SNAPSHOT/./PATH`` for each chosen path."""
    target = _target(transport, request)
    if not request.paths:
        return [request.snapshot, target]
    top = os.path.join(request.snapshot, "")
    sources = [f"{top}./{path}" for path in request.paths]
    return ["--relative", "--no-implied-dirs", *sources, target]


def restore_command(transport: RsyncTransport, request: RestoreRequest) -> list[str]:
    progress = ["--info=progress2"] if request.progress else []
    operands = _operands(transport, request)
    return [*_restore_options(transport, request), *progress, *operands]


def preview_command(transport: RsyncTransport, request: RestoreRequest) -> list[str]:
    operands = _operands(transport, request)
    return [*_restore_options(transport, request), *DRY_RUN, *operands]


def compare_command(transport: RsyncTransport, request: RestoreRequest) -> list[str]:
    """A dry run of the copy direction: the target (the source) into the snapshot."""
    config = transport.config
    argv = [config.rsync_path, "-a", "--delete", *DRY_RUN]
    argv += _over_ssh(transport, request) + list(config.rsync_option)
    argv += _filters(request, "-")
    return [*argv, _target(transport, request), request.snapshot]


def parse_itemized(output: bytes) -> list[Change]:
    """rsync ``--out-format='%i %n'`` lines as changes (other lines are ignored)."""
    changes = []
    for raw in output.split(b"\n"):
        if len(raw) < 13 or raw[11:12] != b" ":
            continue
        code = raw[:11].decode("ascii", "replace")
        path = os.fsdecode(_ESCAPE.sub(lambda m: bytes([int(m[1], 8)]), raw[12:]))
        if code == "*deleting  ":
            changes.append(Change("delete", path, "*deleting"))
        elif code[0] in "<>ch." and code[1] in "fdLDS":
            kind = "create" if code[2:] == "+" * 9 else "change"
            # ".d..t......": a directory whose only difference is its mtime
            times_only = code.startswith(".d") and set(code[2:]) <= {".", "t", "T"}
            changes.append(Change(kind, path, code, times_only))
    return changes


def parse_changes(exit_status: int, stdout: bytes, stderr: str) -> list[Change]:
    """The itemized changes of a finished dry run; TransportError when it failed."""
    if exit_status != 0:
        lines = [x for x in stderr.splitlines() if x.strip()]
        useful = [x for x in lines if not x.startswith("rsync error:")] or lines
        detail = useful[-1] if useful else "no message"
        raise TransportError(f"rsync -n exited with status {exit_status}: {detail}")
    return parse_itemized(stdout)
