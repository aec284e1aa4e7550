"""The destination lock's key: readable, one-to-one, a valid file name."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from dssframe.store.lock import DestLock, LockedError, dest_key, lock_path


def test_keys_read_like_the_path() -> None:
    assert dest_key("/srv/backup/home") == "srv-backup-home"
    assert dest_key("/srv/my-backup") == "srv-my%2Dbackup"
    assert dest_key("/") == "-"
    assert dest_key("/.snapshots") == "%2Esnapshots"
    assert dest_key("/a b/$(x)") == "a%20b-%24%28x%29"


def test_keys_follow_symlinks_and_dots(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert dest_key(str(tmp_path / "link")) == dest_key(str(tmp_path / "real"))
    assert dest_key(str(tmp_path / "real" / ".." / "real")) == dest_key(str(tmp_path / "real"))


def test_tricky_neighbours_get_different_keys() -> None:
    paths = ["/a/b", "/a-b", "/a%2Db", "/a/-b", "/a-/b", "/-", "/a b", "/a%20b", "/a\nb"]
    keys = [dest_key(p) for p in paths]
    assert len(set(keys)) == len(paths), keys


segment = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="/\0"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))


@given(st.lists(segment, min_size=1, max_size=4), st.lists(segment, min_size=1, max_size=4))
def test_different_paths_different_keys(first: list[str], second: list[str]) -> None:
    if first != second:
        assert dest_key("/" + "/".join(first)) != dest_key("/" + "/".join(second))


@given(st.lists(segment, min_size=1, max_size=60))
def test_every_key_is_one_plain_file_name(parts: list[str]) -> None:
    key = dest_key("/" + "/".join(parts))
    assert "/" not in key and "\0" not in key and not key.startswith(".")
    assert 0 < len(key) <= 160
    assert key.isascii() and key.isprintable()


def test_a_long_path_ends_in_a_digest() -> None:
    long_a, long_b = "/" + "x" * 300 + "/a", "/" + "x" * 300 + "/b"
    assert dest_key(long_a) != dest_key(long_b)
    assert dest_key(long_a)[140] == "~" and len(dest_key(long_a)) == 157


def test_the_lock_lives_in_the_destination_and_names_its_holder(tmp_path: Path) -> None:
    dest = tmp_path / "my-dest"
    dest.mkdir()
    with DestLock(str(dest)) as lock:
        assert lock.path == lock_path(str(dest)) == str(dest / ".dssframe" / "lock")
        pid, who = Path(lock.path).read_text().split()
        assert pid == str(os.getpid()) and "@" in who
        assert Path(lock.path).stat().st_mode & 0o777 == 0o644  # who holds it: anyone can read
        try:
            DestLock(str(dest)).acquire()
        except LockedError as exc:
            assert f"pid {os.getpid()}, {who}" in str(exc)
        else:
            raise AssertionError("a second lock on the same destination was granted")
