"""One exception hierarchy; the CLI maps it to messages and exit codes.

``dss`` prints a :class:`DssError` as one line (``dss: error: ...``) and exits with
its :attr:`~DssError.exit_code`: 1 for an operational failure (a copy, a removal, a
lock), 2 for a mistake in the configuration, the command line or the plugins. A plugin
raises these too: :class:`ConfigError` from ``dssframe_configure`` or a factory to
reject its settings, :class:`TransportError` or :class:`SnapshotError` for a failure of
its own work.
"""

from __future__ import annotations


class DssError(Exception):
    """Base of every error dssframe reports to the user (exit status 1)."""

    exit_code = 1
    """The exit status of ``dss`` when this error ends a command."""
    reported = False
    """True when the failure was told already -- its failure event's log line names
    the cause -- so the command line does not print it a second time."""

    def told(self) -> DssError:
        """This error, marked :attr:`reported` (``raise error.told()`` after the
        failure event went out)."""
        self.reported = True
        return self


class ConfigError(DssError):
    """A bad option value, an unknown key or an unreadable config file (exit 2)."""

    exit_code = 2


class UsageError(DssError):
    """A command was called in a way that cannot work (exit 2)."""

    exit_code = 2


class PluginError(DssError):
    """A plugin could not be loaded, or a selected name is unknown (exit 2)."""

    exit_code = 2


class UnknownNameError(PluginError):
    """A transport or retention name that no plugin registered."""

    def __init__(self, family: str, name: str, valid: list[str]) -> None:
        choices = ", ".join(sorted(valid)) or "(none)"
        super().__init__(f"unknown {family} {name!r}; valid names: {choices}")
        self.family = family
        self.name = name
        self.valid = valid


class TransportError(DssError):
    """The copy failed (rsync/ssh exit status or could not be started). ``result``
    is the transport's :class:`~dssframe.core.transport.CopyResult` when there is one."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class SnapshotError(DssError):
    """A snapshot directory could not be renamed, found or removed."""
