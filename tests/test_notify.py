"""Event delivery (dssframe.plugins.notify): in the background, in order per notifier,
one shared deadline, a hanging notifier given up on with one line and never waited for
again. Real threads and real (short) sleeps; the notifiers are plain functions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from dssframe.core.events import Event, EventKind
from dssframe.plugins import notify
from dssframe.plugins.notify import Dispatcher, background

KINDS = [EventKind.CREATE_STARTED, EventKind.SNAPSHOT_CREATED, EventKind.SNAPSHOT_REMOVED]


class Lines:
    """Stands in for the module's logger: what it would have written."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.infos: list[str] = []

    def error(self, message: str, *args: object) -> None:
        self.errors.append(message % args)

    def info(self, message: str, *args: object) -> None:
        self.infos.append(message % args)


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Lines:
    recorded = Lines()
    monkeypatch.setattr(notify, "log", recorded)
    return recorded


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of the test: hanging notifiers return, their threads end."""
    event = threading.Event()
    yield event
    event.set()


def events(count: int = 3) -> list[Event]:
    return [Event(KINDS[i % len(KINDS)], i) for i in range(count)]


def notifiers(**functions: Callable[[Event], object]) -> Callable[[str, Event], object]:
    return lambda name, event: functions[name](event)


def test_background_submit_returns_at_once_and_close_waits_in_order(lines: Lines) -> None:
    heard: list[int] = []

    def slow(event: Event) -> None:
        time.sleep(0.2)
        heard.append(event.time)

    dispatcher = Dispatcher(notifiers(slow=slow), timeout=10)
    with background():
        started = time.monotonic()
        for event in events(3):
            dispatcher.submit(event, ["slow"])
        assert time.monotonic() - started < 0.15  # nobody waited for the notifier
        assert heard == []
    # leaving the block closed the dispatcher: everything was delivered, in order
    assert heard == [0, 1, 2]
    assert lines.errors == []


def test_a_hanging_notifier_costs_one_deadline_and_delays_no_other(
    lines: Lines, release: threading.Event
) -> None:
    quick: list[str] = []
    dispatcher = Dispatcher(
        notifiers(hang=lambda event: release.wait(60), quick=lambda e: quick.append(e.kind.value)),
        timeout=1,
    )
    with background():
        for event in events(3):
            dispatcher.submit(event, ["hang", "quick"])
        started = time.monotonic()
    waited = time.monotonic() - started
    assert 0.8 < waited < 1.8, waited  # one notify-timeout, not one per event
    assert quick == ["create-started", "snapshot-created", "snapshot-removed"]
    assert lines.errors == [
        "notifier 'hang' did not finish create-started within 1s; going on without it "
        "(2 events dropped: snapshot-created, snapshot-removed)"
    ]
    # given up on: later events are dropped without waiting, and said so when it closes
    with background():
        started = time.monotonic()
        dispatcher.submit(events(1)[0], ["hang", "quick"])
    assert time.monotonic() - started < 0.5
    assert lines.errors[1:] == ["notifier 'hang' is still stuck; 1 event dropped: create-started"]
    # once it returns, it hears events again
    release.set()
    deadline = time.monotonic() + 5
    while lines.infos == [] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lines.infos and lines.infos[0].startswith("notifier 'hang' finished create-started")
    heard: list[str] = []
    dispatcher._deliver = notifiers(hang=lambda e: heard.append(e.kind.value))
    dispatcher.submit(events(1)[0], ["hang"])  # outside background(): waits for delivery
    assert heard == ["create-started"]


def test_an_event_after_the_deadline_passed_starts_a_new_one(lines: Lines) -> None:
    """A copy longer than notify-timeout does not cost the success notice: the deadline
    counts the time dss waits for its notifiers, not the time it works."""
    heard: list[int] = []

    def slowish(event: Event) -> None:
        time.sleep(0.4)
        heard.append(event.time)

    dispatcher = Dispatcher(notifiers(slowish=slowish), timeout=0.6)
    first, second = events(2)
    with background():
        dispatcher.submit(first, ["slowish"])
        time.sleep(0.8)  # "the copy": the first deadline passes meanwhile
        dispatcher.submit(second, ["slowish"])
    assert heard == [0, 1]
    assert lines.errors == []


def test_the_stop_deadline_bounds_the_wait(lines: Lines, release: threading.Event) -> None:
    dispatcher = Dispatcher(notifiers(hang=lambda event: release.wait(60)), timeout=60)
    with background():
        dispatcher.submit(Event(EventKind.RUN_EXITING, 1), ["hang"])
        dispatcher.stop_by(time.monotonic() + 0.3)
        started = time.monotonic()
    assert time.monotonic() - started < 1.5
    assert lines.errors == [
        "notifier 'hang' did not finish run-exiting by the stop deadline; going on without it"
    ]


def test_outside_a_command_submit_waits_for_the_delivery(lines: Lines) -> None:
    heard: list[str] = []

    def failing(event: Event) -> None:
        raise RuntimeError("boom")

    dispatcher = Dispatcher(notifiers(rec=lambda e: heard.append(e.kind.value), bad=failing))
    dispatcher.submit(Event(EventKind.SNAPSHOT_CREATED, 1), ["bad", "rec"])
    assert heard == ["snapshot-created"]
    assert lines.errors == ["notifier 'bad' failed on snapshot-created: boom"]
    assert dispatcher.flush()
