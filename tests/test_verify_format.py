"""The hash files' format and the rates of ``dss verify`` (dssframe.core.verify, pure),
and the store's files (dssframe.store.hashes) on a real directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dssframe.core import verify as fmt
from dssframe.core.verify import FormatError, Record
from dssframe.store import hashes

NAME = "1700000000-1700000060.Tue_Nov_14_2023_22_13_20-Tue_Nov_14_2023_22_14_20"
DIGEST = "ab" * 32


@pytest.mark.parametrize(
    "path",
    ["a.txt", "name with spaces & $(x)", "new\nline", "back\\slash", "caf\u00e9",
     "bad-\udcff-byte", "tab\there", "\u2603/\U0001f600"],
)  # fmt: skip
def test_every_name_round_trips_as_one_ascii_line(path: str) -> None:
    record = Record(path, 12, 34, 1_700_000_000_123_456_789, DIGEST)
    line = fmt.record_line(record)
    assert line.isascii() and line.endswith("\n") and line.count("\n") == 1
    assert fmt.parse_record(line[:-1]) == record


def test_a_file_round_trips_and_names_its_snapshot() -> None:
    records = [Record("b", 2, 5, 7, DIGEST), Record("a b", 1, 0, 0, "cd" * 32)]
    text = fmt.render(NAME, records)
    assert text.startswith(f"dssframe-hashes 1 blake2b-256 {NAME}\n")
    assert text.splitlines()[-1].startswith("end 2 ")
    parsed = fmt.parse(text)
    assert (parsed.name, parsed.part, parsed.records) == (NAME, False, records)
    assert fmt.parse(fmt.render(NAME, records, part=True)).part


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t[: len(t) // 2],  # cut short
        lambda t: t.replace(DIGEST, "ac" + DIGEST[2:], 1),  # a flipped digit
        lambda t: t.rsplit("end ", 1)[0],  # no end line
        lambda t: "x" + t,  # no header
        lambda t: t.replace("end 1 ", "end 2 "),  # the wrong count
        lambda t: "",
    ],
)
def test_a_damaged_file_is_an_error_not_a_list_of_corrupt_files(damage: object) -> None:
    text = fmt.render(NAME, [Record("a", 1, 2, 3, DIGEST)])
    with pytest.raises(FormatError):
        fmt.parse(damage(text))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "rate"),
    [("0", 0), ("1000", 1000), ("1K", 1024), ("50M", 50 << 20), ("1.5M", 3 << 19),
     ("200MB", 200_000_000), ("1MiB", 1 << 20), ("2G/s", 2 << 30), (" 10 k ", 10240)],
)  # fmt: skip
def test_rates_read_like_rsyncs_bwlimit(text: str, rate: int) -> None:
    assert fmt.parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "fast", "-1M", "1X", "0.1"])
def test_a_bad_rate_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        fmt.parse_rate(text)


def test_stat_differences_say_what_changed() -> None:
    record = Record("a", 10, 100, 5_000_000_000, DIGEST)
    assert fmt.stat_difference(record, 10, 100, 5_000_000_000) is None
    assert fmt.stat_difference(record, 10, 101, 5_000_000_000) == "size 100 -> 101"
    assert "mtime 5.000000000 -> 6.000000000" in (
        fmt.stat_difference(record, 10, 100, 6_000_000_000) or ""
    )
    assert "replaced (inode 10 -> 11)" in (fmt.stat_difference(record, 11, 100, 5) or "")


def test_the_store_keeps_files_beside_the_snapshots(tmp_path: Path) -> None:
    records = [Record("a", 1, 2, 3, DIGEST)]
    path = hashes.write(str(tmp_path), 1700000000, NAME, records)
    assert path == str(tmp_path / ".dssframe" / "hashes" / "1700000000.b2")
    assert hashes.load(str(tmp_path), 1700000000, NAME).records == records
    assert hashes.load(str(tmp_path), 1700000000, "other").status == "stale"
    assert hashes.load(str(tmp_path), 1, NAME).status == "missing"
    Path(path).write_bytes(Path(path).read_bytes()[:-10])
    assert hashes.load(str(tmp_path), 1700000000, NAME).status == "corrupt"


def test_parts_are_read_back_and_merged(tmp_path: Path) -> None:
    dest = str(tmp_path)
    for i in range(3):
        hashes.write_part(dest, 5, NAME, [Record(f"f{i}", i, 1, 1, DIGEST)])
    assert [os.path.basename(p) for p in hashes.part_files(dest, 5)] == [
        "5.part-1", "5.part-2", "5.part-3",
    ]  # fmt: skip
    hashes.merge_parts(dest, 5, NAME)
    assert [os.path.basename(p) for p in hashes.part_files(dest, 5)] == ["5.part-4"]
    records, problems = hashes.read_parts(dest, 5, NAME)
    assert sorted(r.path for r in records) == ["f0", "f1", "f2"] and problems == []
    assert hashes.stale(dest, {5: NAME}) == []
    assert hashes.stale(dest, {}) == [str(tmp_path / ".dssframe" / "hashes" / "5.part-4")]
