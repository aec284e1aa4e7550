"""unit-interval values: plain days (as dss) or a number with a unit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dssframe.core.durations import DAY, format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (4, 4 * DAY),
        ("4", 4 * DAY),
        (1, DAY),
        ("0.5", DAY // 2),
        (0.5, DAY // 2),
        ("4d", 4 * DAY),
        ("6h", 6 * 3600),
        ("30m", 1800),
        ("2w", 14 * DAY),
        ("90s", 90),
        ("1s", 1),
        ("1.5h", 5400),
        (" 6h ", 6 * 3600),
        ("6 h", 6 * 3600),
        ("10", 10 * DAY),
        ("007", 7 * DAY),
        ("1.5s", 1),  # fractions of a second are dropped
    ],
)
def test_parse_duration(value: str | int | float, seconds: int) -> None:
    result = parse_duration(value)
    assert result == seconds
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "abc",
        "-1",
        "-1d",
        "0",
        "0d",
        "0.0",
        "0s",
        "0.5s",  # rounds to nothing
        "0.00001",  # less than a second of a day
        0,
        -1,
        -0.5,
        "4x",
        "4dd",
        "d",
        "4 d h",
        "1e3",
        "4D",
        "4H",
        ".5",
        "5.",
        "+4",
        "4,5",
        "inf",
        "nan",
        "٤",  # non-ASCII digits
        "４h",
        "²",
        float("nan"),
        float("inf"),
        float("-inf"),
        "9" * 400,  # a float overflow
        True,
        False,
    ],
)
def test_parse_duration_rejects(value: Any) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value)


@pytest.mark.parametrize("value", [None, [4], {"d": 4}, b"4"])
def test_parse_duration_rejects_other_types_with_value_error(value: Any) -> None:
    with pytest.raises(ValueError, match="number of days"):
        parse_duration(value)


def test_error_messages_say_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="6h"):
        parse_duration("abc")
    with pytest.raises(ValueError, match="at least one second"):
        parse_duration("0")
    with pytest.raises(ValueError, match="6h"):
        parse_duration(True)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (4 * DAY, "4d"),
        (7 * DAY, "1w"),
        (14 * DAY, "2w"),
        (8 * DAY, "8d"),
        (6 * 3600, "6h"),
        (1800, "30m"),
        (3600, "1h"),
        (60, "1m"),
        (90, "90s"),
        (1, "1s"),
        (DAY + 1, f"{DAY + 1}s"),
        (DAY + 60, "1441m"),
    ],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


@settings(max_examples=300)
@given(st.integers(1, 10**12))
def test_format_then_parse_round_trips(seconds: int) -> None:
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    number, unit = int(text[:-1]), text[-1]
    sizes = {"s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}
    # the largest unit that divides exactly
    assert number * sizes[unit] == seconds
    assert all(seconds % size for u, size in sizes.items() if size > sizes[unit])


@settings(max_examples=200)
@given(st.integers(1, 10**6), st.sampled_from(["", "s", "m", "h", "d", "w"]))
def test_whole_numbers_with_units(number: int, unit: str) -> None:
    sizes = {"": DAY, "s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}
    assert parse_duration(f"{number}{unit}") == number * sizes[unit]
    if not unit:
        assert parse_duration(number) == number * DAY


def test_humane_durations_show_the_two_largest_units() -> None:
    from dssframe.core.durations import humane

    assert [humane(s) for s in (0, 9, 60, 61, 3600, 21592, 90061, -45)] == [
        "0s", "9s", "1m", "1m 1s", "1h", "5h 59m", "1d 1h", "45s",
    ]


def test_status_says_when_for_people() -> None:
    from dssframe.cli.daemon_commands import _when

    now = 1_700_000_000
    assert _when(now + 21592, now).endswith("(in 5h 59m)")
    assert _when(now - 9, now).endswith("(9s ago)")
    assert _when(now - 9, now, due=True).endswith("(due now)")  # a next time that passed
    assert _when(None, now) == "-"
