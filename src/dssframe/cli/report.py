"""How a command ends: a dssframe error, an interrupt or SIGTERM becomes one ``dss: ...``
line and an exit status (:func:`reporting_errors`); while a one-shot command runs,
SIGTERM unwinds it (:class:`sigterm_unwinds`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dssframe.plugins.host import PluginHost


class Terminated(BaseException):
    """SIGTERM in a one-shot command (anything but ``dss run``, which handles its
    signals itself): raised in the main thread, it unwinds the command like
    KeyboardInterrupt -- a hook it waits for has its process group terminated on the
    way out -- and becomes ``dss: terminated`` and exit status 143."""


#: Exit status after SIGTERM (128 + 15).
TERMINATED_STATUS = 143


_terminating = False
#: After SIGTERM, what plugins started (shell hooks) is gone within this many seconds,
#: and no notifier is waited for longer.
STOP_WITHIN = 5.0


def _host() -> PluginHost | None:
    """The plugin host of this run, if one was made (never imported here: a signal
    handler must not import)."""
    module = sys.modules.get("dssframe.plugins.host")
    return module.current() if module is not None else None


def _on_sigterm(signum: int, frame: object) -> None:
    global _terminating
    if _terminating:
        return  # the first one is unwinding already (bounded by the hooks' deadlines)
    _terminating = True
    host = _host()
    if host is not None:
        host.stop(STOP_WITHIN)  # hooks waited for by other threads (notifiers) too
    raise Terminated


def _end_hooks() -> None:
    """After SIGTERM: wait (bounded) until what the plugins started in other threads
    (the notifiers' hooks) is gone, and those deliveries are over."""
    host = _host()
    if host is not None:
        host.wait_stopped(STOP_WITHIN + 1.0)
        host.flush()


def reporting_errors(action: Callable[[], int | None]) -> int:
    """Run ``action``; a dssframe error, an interrupt, SIGTERM (:class:`Terminated`)
    or an OS error becomes one ``dss: ...`` line and an exit status (the error's own,
    130, 143, 1)."""
    from dssframe.core.errors import DssError
    from dssframe.plugins.notify import background

    try:
        # Events are delivered in the background while the command runs; before it
        # returns, it waits for them (notify-timeout at most, or the stop deadline).
        with background():
            result = action()
    except DssError as exc:
        if not exc.reported:  # else its failure event's line said it already
            print(f"dss: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dss: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        _end_hooks()
        print("dss: terminated", file=sys.stderr)
        return TERMINATED_STATUS
    except OSError as exc:  # e.g. a state dir or destination we may not write
        print(f"dss: error: {exc}", file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0


class sigterm_unwinds:  # noqa: N801 - used like a contextlib.contextmanager function
    """While a one-shot command runs, SIGTERM raises :class:`Terminated` in the main
    thread (contextlib is not imported for this: ``dss create`` does not need it)."""

    def __enter__(self) -> None:
        import signal

        global _terminating
        _terminating = False
        self.installed = False
        try:
            self.old = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread (an embedding program): leave it alone
            return
        self.installed = True

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if self.old is None else self.old)
