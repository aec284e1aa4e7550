"""Snapshot directory names: the original dss grammar, written and read back."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dssframe.core import naming
from dssframe.core.naming import SnapshotName, State

# Epochs up to the year 9999 so that strftime can render the human part.
MAX_EPOCH = 253_402_300_000
NOW = 1_700_000_000

# --- an independent oracle for the grammar -------------------------------------------

_EPOCH = r"(?:0|[1-9][0-9]{0,17})"  # canonical ASCII decimal, at most 18 digits
_GRAMMAR = re.compile(
    rf"(?P<creation>{_EPOCH})-"
    rf"(?:(?P<incomplete>incomplete)(?P<inc_del>\.being_deleted)?"
    rf"|(?P<completion>{_EPOCH})\.(?P<suffix>.+))",
    re.DOTALL,
)


def oracle(name: str, now: int | None) -> tuple[int, int | None, State] | None:
    """What ``naming.parse`` must return, computed from the regular grammar."""
    match = _GRAMMAR.fullmatch(name)
    if match is None:
        return None
    creation = int(match["creation"])
    if now is not None and creation > now:
        return None
    if match["incomplete"]:
        state = State.INCOMPLETE_BEING_DELETED if match["inc_del"] else State.INCOMPLETE
        return creation, None, state
    completion = int(match["completion"])
    if completion < creation or (now is not None and completion > now):
        return None
    if match["suffix"] == "being_deleted":
        return creation, completion, State.COMPLETE_BEING_DELETED
    return creation, completion, State.COMPLETE


def observed(name: str, now: int | None) -> tuple[int, int | None, State] | None:
    parsed = naming.parse(name, now)
    if parsed is None:
        return None
    assert parsed.name == name
    return parsed.creation, parsed.completion, parsed.state


FRAGMENTS = [
    "0", "1", "2", "7", "9", "00", "10", "1204565370", "1204565971", "99999999999999999999",
    "-", "-", "-", ".", ".", "_", "a", "Z", "x", " ", "+", "\n", "\t", "/",
    "incomplete", "being_deleted", ".being_deleted", "-incomplete", "Sun_Mar_02_2008_14_29",
    "١", "٣", "²", "０", "é",
]  # fmt: skip
garbage = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=8).map("".join),
    st.text(max_size=40),
    st.text(alphabet="0123456789-._abincomplete", max_size=30),
)
nows = st.one_of(st.none(), st.integers(0, 10**19))


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC for the duration of the test."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# --- explicit examples from the specification ----------------------------------------

SPEC_COMPLETE = "1204565370-1204565971.Sun_Mar_02_2008_14_29-Sun_Mar_02_2008_14_39"


def test_spec_complete_example() -> None:
    parsed = naming.parse(SPEC_COMPLETE, NOW)
    assert parsed == SnapshotName(SPEC_COMPLETE, 1204565370, 1204565971, State.COMPLETE)
    assert parsed.complete and not parsed.incomplete and not parsed.being_deleted
    assert parsed.duration == 601


def test_spec_other_states() -> None:
    assert naming.parse("1204565370-incomplete", NOW) == SnapshotName(
        "1204565370-incomplete", 1204565370, None, State.INCOMPLETE
    )
    assert naming.parse("1204565370-1204565971.being_deleted", NOW) == SnapshotName(
        "1204565370-1204565971.being_deleted", 1204565370, 1204565971, State.COMPLETE_BEING_DELETED
    )
    assert naming.parse("1204565370-incomplete.being_deleted", NOW) == SnapshotName(
        "1204565370-incomplete.being_deleted", 1204565370, None, State.INCOMPLETE_BEING_DELETED
    )


def test_state_properties() -> None:
    incomplete = naming.parse("5-incomplete")
    assert incomplete is not None
    assert incomplete.incomplete and not incomplete.complete and not incomplete.being_deleted
    assert incomplete.duration is None
    gone = naming.parse("5-incomplete.being_deleted")
    assert gone is not None
    assert gone.being_deleted and not gone.incomplete and not gone.complete
    assert gone.duration is None
    complete_gone = naming.parse("5-9.being_deleted")
    assert complete_gone is not None
    assert complete_gone.being_deleted and not complete_gone.complete
    assert complete_gone.duration == 4
    assert [s.being_deleted for s in State] == [False, False, True, True]


def test_writers_use_the_dss_spelling(utc: None) -> None:
    assert naming.incomplete_name(1204565370) == "1204565370-incomplete"
    # The human part is local time; the SPEC example was written in another zone.
    assert naming.human_time(1204565370) == "Mon_Mar_03_2008_17_29_30"
    assert (
        naming.complete_name(1204565370, 1204565971)
        == "1204565370-1204565971.Mon_Mar_03_2008_17_29_30-Mon_Mar_03_2008_17_39_31"
    )
    complete = naming.parse(naming.complete_name(1204565370, 1204565971))
    assert complete is not None
    assert naming.being_deleted_name(complete) == "1204565370-1204565971.being_deleted"
    incomplete = naming.parse("1204565370-incomplete")
    assert incomplete is not None
    assert naming.being_deleted_name(incomplete) == "1204565370-incomplete.being_deleted"


def test_human_follows_local_time() -> None:
    # exactly the original's strftime("%a_%b_%d_%Y_%H_%M_%S") in local time (snap.c)
    assert naming.human_time(1204565370) == time.strftime(
        "%a_%b_%d_%Y_%H_%M_%S", time.localtime(1204565370)
    )
    assert re.fullmatch(
        r"[A-Z][a-z]{2}_[A-Z][a-z]{2}_\d\d_\d{4}_\d\d_\d\d_\d\d", naming.human_time(0)
    )


def test_names_without_seconds_and_any_suffix_still_parse() -> None:
    for suffix in ("Mon_Mar_03_2008_17_29-Mon_Mar_03_2008_17_39", "x", "backup.2008"):
        parsed = naming.parse(f"1204565370-1204565971.{suffix}", now=1204565971)
        assert parsed is not None and parsed.complete and parsed.completion == 1204565971


def test_a_completion_in_the_future_is_not_a_snapshot() -> None:
    now = 1_800_000_000
    name = naming.complete_name(now - 3 * 86400, now + 86400)
    assert naming.parse(name, now=now) is None
    assert naming.parse(name, now=now + 86400) is not None  # once its time has come
    assert naming.parse(f"{now - 5}-{now + 1}.being_deleted", now=now) is None


# --- round trips ----------------------------------------------------------------------

creations = st.integers(0, MAX_EPOCH - 10**7)


@settings(max_examples=200)
@given(creation=creations, duration=st.integers(0, 10**7))
def test_complete_round_trip(creation: int, duration: int) -> None:
    completion = creation + duration
    name = naming.complete_name(creation, completion)
    parsed = naming.parse(name, now=completion)
    assert parsed == SnapshotName(name, creation, completion, State.COMPLETE)
    assert parsed.duration == duration
    gone_name = naming.being_deleted_name(parsed)
    assert gone_name == f"{creation}-{completion}.being_deleted"
    gone = naming.parse(gone_name, now=completion)
    assert gone == SnapshotName(gone_name, creation, completion, State.COMPLETE_BEING_DELETED)
    # A snapshot that is already being deleted keeps its name.
    assert naming.being_deleted_name(gone) == gone_name


@settings(max_examples=200)
@given(creation=st.integers(0, 10**18 - 1))
def test_incomplete_round_trip(creation: int) -> None:
    name = naming.incomplete_name(creation)
    parsed = naming.parse(name, now=creation)
    assert parsed == SnapshotName(name, creation, None, State.INCOMPLETE)
    gone_name = naming.being_deleted_name(parsed)
    gone = naming.parse(gone_name, now=creation)
    assert gone == SnapshotName(gone_name, creation, None, State.INCOMPLETE_BEING_DELETED)
    assert naming.being_deleted_name(gone) == gone_name


@settings(max_examples=100)
@given(a=creations, b=creations)
def test_names_sort_apart_by_creation_identity(a: int, b: int) -> None:
    """Different creations never produce the same name in any state."""
    if a == b:
        return
    assert naming.incomplete_name(a) != naming.incomplete_name(b)
    assert naming.complete_name(a, a) != naming.complete_name(b, b)


# --- garbage against the oracle -------------------------------------------------------


@settings(max_examples=600)
@given(name=garbage, now=nows)
@example(name=SPEC_COMPLETE, now=None)
@example(name="0-0.x", now=0)
@example(name="5-incomplete\n", now=None)
@example(name="5-6.x\n", now=None)
@example(name="5-6.\n", now=None)
@example(name="123456789012345678-123456789012345678.x", now=None)
@example(name="1234567890123456789-incomplete", now=None)
def test_garbage_matches_oracle(name: str, now: int | None) -> None:
    assert observed(name, now) == oracle(name, now)


mutations = st.sampled_from(["insert", "delete", "replace"])


@settings(max_examples=400)
@given(
    creation=st.integers(0, 2 * 10**9),
    duration=st.integers(0, 10**6),
    which=st.integers(0, 3),
    edits=st.lists(
        st.tuples(mutations, st.integers(0, 80), st.sampled_from(FRAGMENTS)), max_size=3
    ),
    now=nows,
)
def test_mutated_names_match_oracle(
    creation: int, duration: int, which: int, edits: list[tuple[str, int, str]], now: int | None
) -> None:
    """Small edits of real names sit right at the edge of the grammar."""
    name = [
        naming.incomplete_name(creation),
        f"{creation}-incomplete.being_deleted",
        f"{creation}-{creation + duration}.being_deleted",
        f"{creation}-{creation + duration}.Sun_Mar_02_2008_14_29-Sun_Mar_02_2008_14_39",
    ][which]
    for kind, position, fragment in edits:
        i = position % (len(name) + 1)
        if kind == "insert":
            name = name[:i] + fragment + name[i:]
        elif kind == "delete":
            name = name[:i] + name[i + 1 :]
        else:
            name = name[:i] + fragment[:1] + name[i + 1 :]
    assert observed(name, now) == oracle(name, now)


# --- specific rejections ---------------------------------------------------------------


def test_future_creation_is_rejected() -> None:
    assert naming.parse("1001-incomplete", now=1000) is None
    assert naming.parse("1001-1002.x", now=1000) is None
    assert naming.parse("1001-incomplete.being_deleted", now=1000) is None
    assert naming.parse("1001-1002.being_deleted", now=1000) is None
    # exactly now is fine, and without a clock nothing is "future"
    assert naming.parse("1000-incomplete", now=1000) is not None
    assert naming.parse("1000-1000.x", now=1000) is not None
    assert naming.parse("1001-incomplete") is not None


@settings(max_examples=100)
@given(now=st.integers(0, MAX_EPOCH), ahead=st.integers(1, 10**6))
def test_future_creation_property(now: int, ahead: int) -> None:
    creation = now + ahead
    assert naming.parse(naming.incomplete_name(creation), now) is None
    assert naming.parse(naming.complete_name(creation, creation + 5), now) is None
    assert naming.parse(naming.complete_name(creation, creation + 5), creation + 5) is not None
    assert naming.parse(naming.complete_name(creation, creation + 5), creation + 4) is None


@settings(max_examples=100)
@given(completion=st.integers(0, 10**12), before=st.integers(1, 10**6))
def test_completion_before_creation_is_rejected(completion: int, before: int) -> None:
    creation = completion + before
    assert naming.parse(f"{creation}-{completion}.x") is None
    assert naming.parse(f"{creation}-{completion}.being_deleted") is None
    assert naming.parse(f"{creation}-{creation}.x") is not None


@pytest.mark.parametrize(
    "name",
    [
        "1-2.",  # empty suffix
        "1-2",  # no dot
        "1-",
        "1",
        "-incomplete",
        "",
        "-",
        ".",
        "1-.x",
        "1-incomplete.",
    ],
)
def test_incomplete_grammar_is_rejected(name: str) -> None:
    assert naming.parse(name) is None


def test_any_nonempty_suffix_is_accepted() -> None:
    for suffix in (".", "x", "being_deleted.", "being_deletedx", "a-b.c", " ", "incomplete"):
        parsed = naming.parse(f"1-2.{suffix}")
        assert parsed is not None and parsed.state is State.COMPLETE, suffix


@pytest.mark.parametrize(
    "name",
    [
        "01-incomplete",  # leading zeros
        "00-incomplete",
        "1-02.x",
        "0001204565370-1204565971.x",
        "+1-incomplete",  # signs
        "1-+2.x",
        "-1-incomplete",
        "1--2.x",
        " 1-incomplete",  # spaces
        "1 -incomplete",
        "1- 2.x",
        "1-2 .x",
        "1-incomplete ",
        "1-incomplete.being_deleted ",
        " 1-2.x",
        "\t1-incomplete",
        "١-incomplete",  # non-ASCII digits
        "1-٢.x",
        "１-incomplete",
        "²-incomplete",
        "1-²³.x",
        "1_000-incomplete",
        "0x10-incomplete",
        "1e3-incomplete",
        "1-incomplete.being_deleted.x",
        "1-incomplete.x",
        "1-Incomplete",
        "1-incomplete\n",
        "12345678901234567890-incomplete",  # more digits than any int64 epoch
    ],
)
def test_non_canonical_names_are_rejected(name: str) -> None:
    assert naming.parse(name) is None
    assert naming.parse(name, now=10**19) is None


def test_names_with_zero_epoch_are_canonical() -> None:
    assert naming.parse("0-incomplete") == SnapshotName("0-incomplete", 0, None, State.INCOMPLETE)
    assert naming.parse("0-0.x") == SnapshotName("0-0.x", 0, 0, State.COMPLETE)
