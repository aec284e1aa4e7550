"""The one atomic writer: every file dss (or a plugin, through :mod:`dssframe.api`)
replaces goes through :func:`write_atomically`.

A reader sees the old content or the new one, never half a file, and after a crash or
power loss the new content is either complete on disk or absent:

1. the content goes to a new, exclusively created temporary file in the target's own
   directory (``.tmp-<pid>-<n><suffix>``, so a rename never crosses file systems and a
   scanner that ignores dot files ignores it);
2. the file is flushed and ``fsync``-ed, then given its mode;
3. ``os.replace`` renames it over the target (atomic on POSIX);
4. the directory is ``fsync``-ed, so the rename itself is durable.

On any failure the temporary file is removed and the target is untouched. Standard
library ``os`` only: ``tempfile`` alone would cost ``dss create`` 5 ms of start-up, and
``json`` is imported only by the JSON writer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any


def fsync_directory(path: str) -> None:
    """Make a rename or a new entry in directory ``path`` durable (best effort: some
    file systems refuse ``fsync`` on a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _create_temporary(directory: str, suffix: str) -> tuple[int, str]:
    """A new, exclusively created ``.tmp-<pid>-<n><suffix>`` in ``directory``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for attempt in range(1000):
        tmp = os.path.join(directory, f".tmp-{os.getpid()}-{attempt}{suffix}")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue  # left by a crashed process with the same pid
    raise FileExistsError(f"{directory}: no free temporary name")


def write_atomically(
    path: str,
    text: str,
    *,
    mode: int = 0o644,
    suffix: str = ".tmp",
    make_parents: bool = True,
    durable: bool = True,
) -> None:
    """Replace ``path`` by ``text`` (UTF-8): temporary file, fsync, rename, fsync of the
    directory. ``mode`` is the new file's permission bits; ``suffix`` ends the
    temporary name (a scanner of ``*.json`` files may want it to end differently).
    Without ``durable`` there is no fsync: readers still see the old or the new file,
    never a part, but a crash may lose the new one (for files rewritten all the time,
    like the run loop's state file)."""
    directory = os.path.dirname(os.path.abspath(path))
    if make_parents:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = _create_temporary(directory, suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_directory(directory)


def write_json_atomically(
    path: str,
    data: Mapping[str, Any],
    *,
    sort_keys: bool = False,
    mode: int = 0o644,
    suffix: str = ".tmp",
    durable: bool = True,
) -> None:
    """:func:`write_atomically` of ``data`` as JSON (indented, one trailing newline)."""
    import json  # not at module level: ``dss create`` reads its config before rsync starts

    text = json.dumps(data, indent=1, sort_keys=sort_keys) + "\n"
    write_atomically(path, text, mode=mode, suffix=suffix, durable=durable)
