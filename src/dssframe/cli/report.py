"""How a command ends: a dssframe error, an interrupt or SIGTERM becomes one ``dss: ...``
line and an exit status (:func:`reporting_errors`); while a one-shot command runs,
SIGTERM unwinds it (:class:`sigterm_unwinds`)."""

from __future__ import annotations

import sys
from collections.abc import Callable


class Terminated(BaseException):
    """SIGTERM in a one-shot command (anything but ``dss run``, which handles its
    signals itself): raised in the main thread, it unwinds the command like
    KeyboardInterrupt -- a hook it waits for has its process group terminated on the
    way out -- and becomes ``dss: terminated`` and exit status 143."""


#: Exit status after SIGTERM (128 + 15).
TERMINATED_STATUS = 143


_terminating = False


def _on_sigterm(signum: int, frame: object) -> None:
    global _terminating
    if _terminating:
        return  # the first one is unwinding already (bounded by the hooks' deadlines)
    _terminating = True
    hooks = sys.modules.get("dssframe.builtin.shell_hooks")
    if hooks is not None:
        hooks.stop_all()  # hooks waited for by other threads (notifiers) are cut off too
    raise Terminated


def _end_hooks() -> None:
    """After SIGTERM: wait (bounded) until the hooks of other threads are killed."""
    hooks = sys.modules.get("dssframe.builtin.shell_hooks")
    if hooks is not None:
        hooks.wait_stopped(hooks.KILL_GRACE + 1.0)


def reporting_errors(action: Callable[[], int | None]) -> int:
    """Run ``action``; a dssframe error, an interrupt, SIGTERM (:class:`Terminated`)
    or an OS error becomes one ``dss: ...`` line and an exit status (the error's own,
    130, 143, 1)."""
    from dssframe.core.errors import DssError

    try:
        result = action()
    except DssError as exc:
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
