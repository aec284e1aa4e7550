"""Configuration: one table of options, read from TOML and the command line (no effects
beyond reading the config file).

Keys are the long option names of the original dss (``source-dir``, ``rsync-option``,
...). The command line wins over the file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from dssframe.core.durations import format_duration, parse_duration
from dssframe.core.errors import ConfigError

if TYPE_CHECKING:
    from dssframe.core.settings import PluginSettings

LOGLEVELS = ("debug", "info", "notice", "warning", "error", "crit", "emerg")
#: The longest duration any option takes: 100 years, well below what sleeps and
#: timeouts accept (threading.TIMEOUT_MAX is about 292 years) and far beyond any use.
MAX_SECONDS = 36525 * 86400
MAX_FREE_MB = 2**31  # 2 PiB
#: Options whose command-line values are paths the user typed in a shell.
PATH_KEYS = ("source-dir", "dest-dir", "logfile")


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if "\0" in value:
        raise ConfigError(f"{key}: must not contain a NUL byte")
    return value


def _optional_str(key: str, value: Any) -> str | None:
    return None if value is None or value == "" else _str(key, value)


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "no", "off", "0"):
        return False
    raise ConfigError(f"{key}: expected true or false, got {value!r}")


def _brief(value: Any) -> str:
    """``repr(value)``, cut short: a 5000-digit number does not belong in a message."""
    if isinstance(value, int) and abs(value) >= 10**30:  # repr() refuses 4300 digits
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else text[:36] + "...."


def _int_range(low: int, high: int | None) -> Callable[[str, Any], int]:
    allowed = f"{low}..{high}" if high is not None else f">= {low}"

    def check(key: str, value: Any) -> int:
        # ASCII digits only: "²".isdigit() is true but int("²") raises ValueError
        if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value, re.ASCII):
            if len(value.strip()) > 30:  # int() refuses more than 4300 digits
                raise ConfigError(f"{key}: {_brief(value)} is out of range (allowed: {allowed})")
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {_brief(value)}")
        if value < low or (high is not None and value > high):
            raise ConfigError(f"{key}: {_brief(value)} is out of range (allowed: {allowed})")
        return value

    return check


def _str_list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
    return tuple(_str(key, item) for item in value)


def _too_long(key: str, value: Any) -> ConfigError:
    return ConfigError(f"{key}: {_brief(value)} is out of range (at most 100 years, 36525d)")


def _duration(key: str, value: Any) -> int:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{key}: {_brief(value)}: {exc}") from None
    if seconds > MAX_SECONDS:
        raise _too_long(key, value)
    return seconds


def _seconds(key: str, value: Any) -> int:
    """Like :func:`_duration`, but a plain number means seconds, not days."""
    number: int | float
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]+(\.[0-9]+)?\s*", value, re.ASCII):
        if len(value.strip()) > 30:  # int() refuses more than 4300 digits
            raise _too_long(key, value)
        number = float(value) if "." in value else int(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = value
    else:
        return _duration(key, value)
    if not 1 <= number < math.inf:  # also false for NaN
        raise ConfigError(f"{key}: {_brief(value)}: must be at least one second (and finite)")
    if number > MAX_SECONDS:
        raise _too_long(key, value)
    return int(number)


def _seconds_or_off(key: str, value: Any) -> int:
    """Like :func:`_seconds`, but 0 (or "0") means off."""
    if value == 0 or (isinstance(value, str) and value.strip() == "0"):
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number of seconds or a duration, got {value!r}")
        return 0
    return _seconds(key, value)


def _loglevel(key: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(LOGLEVELS):
        return LOGLEVELS[value]
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isascii() and text.isdigit() and int(text) < len(LOGLEVELS):
            return LOGLEVELS[int(text)]
        if text in LOGLEVELS:
            return text
    raise ConfigError(f"{key}: {value!r} is not a log level (0..6 or {', '.join(LOGLEVELS)})")


def _choice(*choices: str) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        if value not in choices:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(choices)}")
        return str(value)

    return check


def _name(key: str, value: Any) -> str:
    text = _str(key, value)
    if not text:
        raise ConfigError(f"{key}: must not be empty")
    return text


class Option(NamedTuple):
    key: str
    check: Callable[[str, Any], Any]
    default: Any
    help: str


OPTIONS: tuple[Option, ...] = (
    Option("source-dir", _optional_str, None, "directory to snapshot"),
    Option("dest-dir", _optional_str, None, "directory that holds the snapshots"),
    Option("remote-host", _name, "localhost", "host of the source directory"),
    Option("remote-user", _optional_str, None, "user on the remote host (default: you)"),
    Option("rsync-option", _str_list, (), "extra rsync argument (repeatable)"),
    Option("rsync-path", _name, "rsync", "the rsync program to run"),
    Option("unit-interval", _duration, 4 * 86400, "days, or a duration like 6h, 30m, 2w"),
    Option("num-intervals", _int_range(1, 30), 5, "number of dyadic intervals (1..30)"),
    Option("retention", _name, "dyadic", "retention policy name"),
    Option("transport", _name, "rsync", "transport name"),
    Option("loglevel", _loglevel, "warning", "0..6 or debug..emerg"),
    Option("logfile", _optional_str, None,
           "log file for --daemon (default: one per destination in the state dir's logs/)"),
    Option("keep-redundant", _bool, False, "remove redundant snapshots only on low space"),
    Option("no-resume", _bool, False, "never resume or recycle a snapshot directory"),
    Option("min-free-mb", _int_range(0, MAX_FREE_MB), 100,
           "low space below this many MiB (0: off)"),
    Option("min-free-percent", _int_range(0, 100), 2, "low space below this % (0: off)"),
    Option("min-free-percent-inodes", _int_range(0, 100), 0, "low inodes below this %"),
    Option("min-complete", _int_range(0, 10000), 1, "complete snapshots low space keeps"),
    Option("max-rsync-errors", _int_range(1, 100000), 10, "consecutive failures end run"),
    Option("retry-delay", _seconds, 60, "seconds before a failed create is retried"),
    Option("checksum", _int_range(0, 1000), 0, "per-mille chance of rsync --checksum"),
    Option("mountpoint", _bool, False, "refuse unless dest-dir is a mount point"),
    Option("daemon", _bool, False, "dss run detaches and logs to logfile (as run --daemon)"),
    Option("dry-run", _bool, False, "every command only shows what it would do"),
    Option("source-mountpoint", _bool, False, "refuse unless a local source-dir is a mount point"),
    Option("min-shrink-percent", _int_range(0, 100), 50, "fail a snapshot holding fewer % of "
           "its reference's files (0: off)"),
    Option("allow-shrink", _bool, False, "accept a snapshot far smaller than its reference"),
    Option("force-layout", _bool, False, "accept a source whose trailing slash changes the "
           "snapshot layout"),
    Option("safety-pin", _seconds_or_off, 30 * 86400, "how long a restore's safety snapshot "
           "stays pinned (0: not pinned)"),
    Option("pre-create-hook", _optional_str, None, "command run before a snapshot"),
    Option("post-create-hook", _optional_str, None, "command run with the new snapshot"),
    Option("pre-remove-hook", _optional_str, None, "command run before a removal"),
    Option("post-remove-hook", _optional_str, None, "command run after a removal"),
    Option("exit-hook", _optional_str, None, "command run when the run loop exits"),
    Option("hook-timeout", _seconds_or_off, 3600, "seconds a hook may run (0: no limit)"),
    Option("notify", _str_list, (), "third-party notifiers to activate (builtins always are)"),
    Option("notify-timeout", _seconds, 30, "seconds the notifiers get for a run's events "
           "(one deadline shared by all)"),
    Option("enable-plugins", _str_list, (), "installed plugins to enable besides the selected "
           "transport and retention and the notify list (veto and configure-only plugins)"),
    Option("use-ssh", _choice("auto", "always", "never"), "auto", "auto, always or never"),
    Option("ssh-port", _int_range(0, 65535), 0, "ssh port (0: ssh's default)"),
    Option("ssh-identity", _optional_str, None, "ssh private key file"),
    Option("ssh-option", _str_list, (), "ssh -o option (repeatable)"),
    Option("ssh-command", _name, "ssh", "the ssh program"),
    Option("ssh-connect-timeout", _int_range(1, 86400), 30, "ssh ConnectTimeout seconds"),
    Option("max-parallel", _int_range(1, 64), 1, "jobs of one dss run copying at once "
           "(top level; 1: jobs queue)"),
    Option("stale-after", _seconds_or_off, 0, "alert when no complete snapshot is younger "
           "(0: twice the job's snapshot period)"),
    Option("serve-bind", _optional_str, None, "address:port dss serve listens on (default "
           "127.0.0.1:8470)"),
    Option("serve-token", _optional_str, None, "bearer token or basic-auth password dss "
           "serve requires (required beyond loopback)"),
    Option("verify-on-create", _bool, False, "after create, hash the new snapshot's new "
           "files for dss verify"),
    Option("parallel", _int_range(1, 64), 1, "rsync processes copying one snapshot at once "
           "(over one shared ssh connection for a remote source; 1: one rsync)"),
)
OPTION_BY_KEY = {option.key: option for option in OPTIONS}


def attribute_name(key: str) -> str:
    return key.replace("-", "_")


#: A job's name: it names log lines, metrics labels and files, so it is kept plain.
JOB_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
#: The name a configuration without ``[[job]]`` tables is shown by (status, metrics).
DEFAULT_JOB = "default"


def job_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a job (None: it can): a non-empty string of letters,
    digits, ``.``, ``_`` and ``-``, not starting with ``-`` or ``.``, at most 64 long."""
    if not isinstance(name, str) or not name:
        return "a job needs a name: name = \"NAME\""
    if len(name) > 64 or not set(name) <= JOB_NAME_CHARS or name[0] in "-.":
        return (
            f"job name {name!r}: use at most 64 letters, digits, '.', '_' and '-' "
            "(not first)"
        )
    return None


def job_label(config: Config) -> str:
    """The name ``config``'s job is shown by: its ``name``, else :data:`DEFAULT_JOB`."""
    return config.name or DEFAULT_JOB


class Config(NamedTuple):
    """The effective configuration. Attribute names are the keys with ``_``.

    Immutable; ``config._replace(key=value)`` makes a changed copy. (A named tuple,
    not a dataclass: a frozen dataclass of 38 fields costs 2 ms of every start-up.)"""

    source_dir: str | None = None
    dest_dir: str | None = None
    remote_host: str = "localhost"
    remote_user: str | None = None
    rsync_option: tuple[str, ...] = ()
    rsync_path: str = "rsync"
    unit_interval: int = 4 * 86400
    num_intervals: int = 5
    retention: str = "dyadic"
    transport: str = "rsync"
    loglevel: str = "warning"
    logfile: str | None = None
    keep_redundant: bool = False
    no_resume: bool = False
    min_free_mb: int = 100
    min_free_percent: int = 2
    min_free_percent_inodes: int = 0
    min_complete: int = 1
    max_rsync_errors: int = 10
    retry_delay: int = 60
    checksum: int = 0
    mountpoint: bool = False
    daemon: bool = False
    dry_run: bool = False
    source_mountpoint: bool = False
    min_shrink_percent: int = 50
    allow_shrink: bool = False
    force_layout: bool = False
    safety_pin: int = 30 * 86400
    pre_create_hook: str | None = None
    post_create_hook: str | None = None
    pre_remove_hook: str | None = None
    post_remove_hook: str | None = None
    exit_hook: str | None = None
    hook_timeout: int = 3600
    notify: tuple[str, ...] = ()
    notify_timeout: int = 30
    enable_plugins: tuple[str, ...] = ()
    use_ssh: str = "auto"
    ssh_port: int = 0
    ssh_identity: str | None = None
    ssh_option: tuple[str, ...] = ()
    ssh_command: str = "ssh"
    ssh_connect_timeout: int = 30
    max_parallel: int = 1
    stale_after: int = 0
    serve_bind: str | None = None
    serve_token: str | None = None
    verify_on_create: bool = False
    parallel: int = 1
    plugins: Mapping[str, Mapping[str, Any]] = MappingProxyType({})
    path: str | None = None  # the file it was read from, if any
    name: str = ""  # the job's name (a [[job]] table's ``name``); "" for a config without jobs

    def get(self, key: str) -> Any:
        return getattr(self, attribute_name(key))

    def require(self, key: str) -> str:
        """A path option a command cannot work without."""
        value = self.get(key)
        if not value:
            raise ConfigError(f"{key} is not set (use --{key} or set it in the config file)")
        return str(value)

    def effective(self) -> dict[str, Any]:
        """Every option with its effective value, in table order."""
        return {option.key: self.get(option.key) for option in OPTIONS}


assert {attribute_name(o.key) for o in OPTIONS} <= set(Config._fields)


def validate(values: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """Check raw values (from a file or the command line); keys keep their dashes."""
    checked: dict[str, Any] = {}
    for key, value in values.items():
        option = OPTION_BY_KEY.get(key)
        if option is None:
            raise ConfigError(f"{origin}: unknown option {key!r}")
        try:
            checked[key] = option.check(key, value)
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from None
    return checked


# Paths here are strings, not pathlib objects: ``dss create`` reads its config before
# rsync starts, and importing pathlib would cost it 3 ms.


def to_toml(values: Mapping[str, Any]) -> str:
    """Render option values as TOML (None values are left out as comments)."""
    lines = []
    for key, value in values.items():
        if value is None:
            lines.append(f"# {key} = (not set)")
            continue
        if key in ("unit-interval", "retry-delay") and isinstance(value, int):
            value = format_duration(value)
        lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def plugins_to_toml(plugins: Mapping[str, Mapping[str, Any]]) -> str:
    """The ``[plugins.<section>]`` tables (None values left out as comments)."""
    out = []
    for section, values in plugins.items():
        out.append(f"\n[plugins.{section}]\n" + to_toml(values))
    return "".join(out)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    text = str(value)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c.isprintable() else _toml_escape(c) for c in escaped)
    return f'"{escaped}"'


def _toml_escape(char: str) -> str:
    # \u takes exactly four hex digits: characters beyond U+FFFF need \U and eight
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


# --- the sample config file (``dss config generate``) ----------------------------------

SAMPLE_HEADER = """\
# dssframe configuration file (TOML), written by `dss config generate`.
#
# dss reads --config FILE, else the file $DSSFRAME_CONFIG names, else
# $XDG_CONFIG_HOME/dssframe/config.toml (~/.config/dssframe/config.toml);
# `dss config path` prints the one it reads. Keys are the long option names of the
# original dss; an option given on the command line wins over this file. Paths must be
# absolute (cron and systemd start dss in another directory).
#
# Every option below is commented out at its default value: as written, this file
# changes nothing. Uncomment the ones you want and edit them. source-dir and dest-dir
# have no default: set both (create needs both, ls and prune need dest-dir).
# `dss configtest` checks the result.
"""

SAMPLE_PLUGINS = """\

# --- plugin settings -------------------------------------------------------------------
#
# The settings of the installed plugins that declare some, each commented out at its
# default. A [plugins.NAME] table is read only when its plugin is enabled: selected as
# transport or retention, or listed in notify or enable-plugins.
"""

_KINDS: dict[Callable[[str, Any], Any], str] = {
    _str: "a string",
    _optional_str: 'a string; "" means not set',
    _name: "a non-empty string",
    _bool: "true or false",
    _str_list: "a list of strings",
    _duration: "a number of days, or a duration: 90s, 30m, 6h, 4d, 2w",
    _seconds: "a number of seconds, or a duration: 90s, 30m, 6h, 4d, 2w",
    _seconds_or_off: "a number of seconds, or a duration: 90s, 30m, 6h, 4d, 2w; 0: off",
    _loglevel: f"{', '.join(LOGLEVELS)} (or 0..6)",
}

_SETTING_KINDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list[str]": "a list of strings",
}


def _closure(check: Callable[..., Any]) -> dict[str, Any]:
    """The variables a check made by :func:`_int_range` or :func:`_choice` closes over."""
    code = getattr(check, "__code__", None)
    cells = getattr(check, "__closure__", None) or ()
    if code is None:
        return {}
    return dict(zip(code.co_freevars, (c.cell_contents for c in cells), strict=True))


def option_kind(option: Option) -> str:
    """What ``option`` accepts, for people: ``an integer, 1..30``, ``true or false``."""
    known = _KINDS.get(option.check)
    if known is not None:
        return known
    variables = _closure(option.check)
    if "allowed" in variables:
        return f"an integer, {variables['allowed']}"
    if "choices" in variables:
        choices = [toml_value(c) for c in variables["choices"]]
        return f"{', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else choices[0]
    return "see the documentation"  # pragma: no cover - every check of OPTIONS is known


def sample_value(option: Option) -> str:
    """``option``'s default as TOML that its check reads back as that default: a
    duration spelled as one (``4d``: a plain number of ``unit-interval`` means days),
    ``""`` for "not set"."""
    default = option.default
    if default is None:
        return '""'  # the optional string options read "" as not set
    if option.check in (_duration, _seconds, _seconds_or_off) and default:
        return toml_value(format_duration(default))
    return toml_value(default)


def sample_toml(plugins: Sequence[PluginSettings] = ()) -> str:
    """The commented sample configuration of ``dss config generate``: a header, then
    every option of :data:`OPTIONS` (help, what it accepts, and ``# key = default``),
    then a commented ``[plugins.<section>]`` table for each of ``plugins`` (declared
    settings). Uncommenting any ``# key = value`` line keeps the file valid and
    changes nothing: every value is the default."""
    parts = [SAMPLE_HEADER]
    for option in OPTIONS:
        parts.append(f"\n# {option.help}\n# value: {option_kind(option)}\n")
        parts.append(f"# {option.key} = {sample_value(option)}\n")
    if plugins:
        parts.append(SAMPLE_PLUGINS)
    for declared in plugins:
        parts.append(f"\n# [plugins.{declared.section}]\n")
        for number, setting in enumerate(declared.settings):
            parts.append("#\n" if number else "")
            parts.append(f"# {setting.help}\n" if setting.help else "")
            parts.append(f"# value: {_SETTING_KINDS.get(setting.type, setting.type)}\n")
            if setting.default is None:
                parts.append(f"# {setting.name}: not set by default\n")
            else:
                parts.append(f"# {setting.name} = {toml_value(setting.default)}\n")
    return "".join(parts)
