"""Handing events to the notifiers without ever delaying the work.

The plugin host gives every event to a :class:`Dispatcher`. Each notifier has its own
queue and its own delivery thread, so it hears its events in order, a slow notifier
delays no other one, and a notifier that hangs delays nobody: the work (the copy, the
next removal, the run loop's next step) never waits for a notifier.

The deadline. Delivery has one shared deadline, ``notify-timeout`` seconds after the
first event of a run: every event queued while that deadline is still ahead shares it
(not notify-timeout per event per notifier). An event queued after the deadline has
passed -- the process was busy with its own work meanwhile, a copy of an hour, say, not
waiting for its notifiers -- starts the next deadline, notify-timeout from then. So:

- a one-shot command (``dss create``, ``dss prune``, ...) waits for its notifiers at most
  notify-timeout in all, when it is done (:meth:`Dispatcher.close`, called by
  ``dssframe.cli.report.reporting_errors`` before the command returns): a hanging
  notifier costs it notify-timeout once, never once per event;
- the run loop (``dss run``) never waits for a notifier while it runs; each event is
  delivered within notify-timeout of being queued at the latest, and when it stops it
  waits for them only until its stop deadline (:meth:`Dispatcher.stop_by`).

A notifier that misses the deadline is given up on: the events still queued for it are
dropped, and one error line names the notifier, the event it is stuck in and the events
it lost. It hears nothing more until that call returns (a thread cannot be killed; the
delivery threads are daemon threads, so a hung one never holds the exiting process);
then it is back, with one more line if it lost events meanwhile. An exception in a
notifier is logged and changes nothing.

Outside a command (``with background():``, which the command line enters), for an
in-process caller such as a test or an embedding program, :meth:`Dispatcher.submit`
waits until the event is delivered (or its deadline passed): what the caller sees next
already reflects it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from dssframe import logs

if TYPE_CHECKING:
    from dssframe.core.events import Event

log = logs.get("dssframe.plugins.notify")

#: Seconds between two looks at a running delivery (its end, its deadline, a stop).
SLICE = 0.1

#: Inside :class:`background` (a depth: it nests).
_background = 0
#: Dispatchers that queued events in the background and are not closed yet.
_open: list[Dispatcher] = []


class background:  # noqa: N801 - used like a contextlib.contextmanager function
    """``with background(): ...``: while the block runs, every dispatcher delivers in
    the background (``submit`` returns at once); when it ends, however it ends, each
    one that queued something is closed: it waits until its events are delivered or
    the deadline (or a stop deadline) passed. The command line runs every command in
    it. (contextlib is not imported for this: ``dss create`` does not need it.)"""

    def __enter__(self) -> None:
        global _background
        _background += 1

    def __exit__(self, *exc: object) -> None:
        global _background
        _background -= 1
        if _background == 0:
            close_all()


def close_all() -> None:
    """:meth:`Dispatcher.close` every dispatcher that has queued events in the background."""
    while _open:
        _open[-1].close()


class _Notifier:
    """One notifier's queue and delivery state (guarded by the dispatcher's lock)."""

    __slots__ = ("current", "dropped", "given_up", "name", "queue", "thread")

    def __init__(self, name: str) -> None:
        self.name = name
        #: Events waiting for delivery, each with its deadline (``time.monotonic()``).
        self.queue: deque[tuple[Event, float]] = deque()
        #: The event being delivered now, with its deadline.
        self.current: tuple[Event, float] | None = None
        #: The current delivery missed its deadline: events are dropped until it returns.
        self.given_up = False
        #: The kinds of the events dropped since the last line that reported drops.
        self.dropped: list[str] = []
        self.thread: threading.Thread | None = None


class Dispatcher:
    """Delivers events to named notifiers: ``deliver(name, event)`` hands one event to
    one notifier (the host calls that plugin's ``dssframe_event`` through pluggy);
    what it raises is logged."""

    def __init__(self, deliver: Callable[[str, Event], object], timeout: float = 30.0) -> None:
        self._deliver = deliver
        self._cond = threading.Condition()
        self._notifiers: dict[str, _Notifier] = {}
        #: notify-timeout, seconds.
        self.timeout = float(timeout)
        #: Nothing is waited for beyond this (``time.monotonic()``), None: no stop.
        self.stop_at: float | None = None
        #: The current shared deadline (``time.monotonic()``).
        self._deadline = -math.inf

    def stop_by(self, deadline: float | None) -> None:
        """From now on no delivery is waited for beyond ``deadline``
        (``time.monotonic()``; None: only the notify-timeout deadline counts). It only
        assigns an attribute: safe in a signal handler."""
        self.stop_at = deadline

    def submit(self, event: Event, names: Iterable[str]) -> None:
        """Queue ``event`` for the notifiers ``names``; in the background return at
        once, else when it is delivered (or its deadline passed)."""
        now = time.monotonic()
        with self._cond:
            if now >= self._deadline or not _background:
                self._deadline = now + self.timeout
            deadline = self._deadline
            for name in names:
                notifier = self._notifiers.get(name)
                if notifier is None:
                    notifier = self._notifiers[name] = _Notifier(name)
                if notifier.given_up:
                    notifier.dropped.append(event.kind.value)
                    continue
                notifier.queue.append((event, deadline))
                if notifier.thread is None or not notifier.thread.is_alive():
                    notifier.thread = threading.Thread(
                        target=self._work, args=(notifier,), name=f"notify-{name}", daemon=True
                    )
                    notifier.thread.start()
            self._cond.notify_all()
            if _background and self not in _open:
                _open.append(self)
        if not _background:
            self.flush()

    def flush(self) -> bool:
        """Wait until every queued event is delivered, or given up on at its deadline
        or the stop deadline; True when nothing was given up on."""
        with self._cond:
            while True:
                busy = [n for n in self._notifiers.values() if _pending(n)]
                if not busy:
                    break
                now = time.monotonic()
                limit = self._limit(max(_last_deadline(n) for n in busy))
                if now >= limit:
                    for notifier in busy:
                        self._give_up(notifier)
                    break
                self._cond.wait(min(limit - now, SLICE))
            return not any(n.given_up for n in self._notifiers.values())

    def close(self) -> bool:
        """:meth:`flush`, and one line for each notifier that lost events after it was
        given up on (the process goes on, or exits, without them); True when every
        event was delivered."""
        try:
            delivered = self.flush()
        finally:
            if self in _open:
                _open.remove(self)
        with self._cond:
            for notifier in self._notifiers.values():
                if notifier.given_up and notifier.dropped:
                    log.error(
                        "notifier %r is still stuck; %s dropped: %s",
                        notifier.name, _events(len(notifier.dropped)),
                        ", ".join(notifier.dropped),
                    )  # fmt: skip
                    notifier.dropped = []
        return delivered

    # --- the delivery threads ---------------------------------------------------------

    def _limit(self, deadline: float) -> float:
        stop = self.stop_at
        return deadline if stop is None else min(deadline, stop)

    def _work(self, notifier: _Notifier) -> None:
        """One notifier's delivery thread: its events in order, each in a thread of its
        own that is waited for until its deadline; exits when the queue is empty."""
        while True:
            with self._cond:
                if not notifier.queue:
                    notifier.thread = None
                    notifier.given_up = False  # given up on before it began: not stuck
                    self._cond.notify_all()
                    return
                event, deadline = notifier.queue.popleft()
                notifier.current = (event, deadline)
            call = threading.Thread(
                target=self._call, args=(notifier.name, event), name=f"notify-{notifier.name}",
                daemon=True,
            )  # fmt: skip
            call.start()
            late_since: float | None = None
            while call.is_alive():
                left = self._limit(deadline) - time.monotonic()
                if left <= 0:
                    with self._cond:
                        self._give_up(notifier)
                    late_since = time.monotonic()
                    call.join()  # however long it takes: events meanwhile are dropped
                    break
                call.join(min(left, SLICE))
            with self._cond:
                notifier.current = None
                was_given_up, notifier.given_up = notifier.given_up, False
                dropped, notifier.dropped = notifier.dropped, []
                self._cond.notify_all()
            if was_given_up:
                late = 0.0 if late_since is None else time.monotonic() - late_since
                _back(notifier.name, event, late, dropped)

    def _call(self, name: str, event: Event) -> None:
        try:
            self._deliver(name, event)
        except Exception as exc:  # noqa: BLE001 - never mask the real outcome
            log.error("notifier %r failed on %s: %s", name, event.kind.value, exc)

    def _give_up(self, notifier: _Notifier) -> None:
        """The one line for a notifier that missed its deadline; what is queued for it
        is dropped. Called with the lock held; once per hang."""
        if notifier.given_up:
            return
        if notifier.current is not None:
            (event, deadline), verb = notifier.current, "did not finish"
        elif notifier.queue:
            (event, deadline), verb = notifier.queue.popleft(), "did not get to"
        else:
            return  # nothing to give up on
        notifier.given_up = True
        dropped = [e.kind.value for e, _ in notifier.queue]
        notifier.queue.clear()
        notifier.dropped = []
        stop = self.stop_at
        why = "by the stop deadline" if stop is not None and stop < deadline else (
            f"within {self.timeout:g}s"
        )
        lost = f" ({_events(len(dropped))} dropped: {', '.join(dropped)})" if dropped else ""
        log.error(
            "notifier %r %s %s %s; going on without it%s",
            notifier.name, verb, event.kind.value, why, lost,
        )  # fmt: skip


def _back(name: str, event: Event, late: float, dropped: list[str]) -> None:
    """A notifier given up on has returned: it hears events again."""
    if dropped:
        log.error(
            "notifier %r finished %s %.0fs late; %s dropped meanwhile: %s",
            name, event.kind.value, late, _events(len(dropped)), ", ".join(dropped),
        )  # fmt: skip
    else:
        log.info("notifier %r finished %s %.0fs late", name, event.kind.value, late)


def _pending(notifier: _Notifier) -> bool:
    return not notifier.given_up and (notifier.current is not None or bool(notifier.queue))


def _last_deadline(notifier: _Notifier) -> float:
    if notifier.queue:
        return notifier.queue[-1][1]
    assert notifier.current is not None
    return notifier.current[1]


def _events(count: int) -> str:
    return "1 event" if count == 1 else f"{count} events"
