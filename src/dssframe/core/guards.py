"""Configuration guards: mistakes that would damage snapshots or the source are refused
before anything is touched (exit 2, one line naming the key), and risky but legal set-ups
are warned about.

Pure: the values alone. What needs the file system (nesting by real path, modes,
mounts) is :mod:`dssframe.engine.preflight`.

Each ``rsync-option`` value is one rsync argument, passed as written: dss never splits
a value (``--exclude=My Documents`` is one argument, and must stay one). A value that is
evidently several arguments glued by whitespace is refused instead of reaching rsync,
which would fail with an obscure error. The rule reads a word as rsync's option parser
does, and only a word in option position (not the separate value of the option before
it, not after ``--``) is judged; it is refused when its whitespace falls

- in a long option's name, before any ``=``: ``--exclude *.tmp``, ``--rsh ssh``,
  ``--delete -v`` (rsync: "unknown option");
- in a short-option cluster, before a letter that takes a value: ``-H -A -X``,
  ``-a --numeric-ids``, ``-a foo`` (rsync: "unknown option");
- right after a value-taking short letter other than ``-e`` and ``-@``:
  ``-f - *.tmp``, ``-T /tmp`` (rsync takes the value with its leading space and fails
  on it: "Unknown filter rule:  - *.tmp").

Whitespace in a value is left alone: after ``=`` (``--rsh=ssh -p 2222``,
``--filter=- *.tmp``, ``--exclude=a -b``), in the rest of a cluster after a value-taking
letter (``-f- *.tmp``, ``-essh -p 22``), and ``-e ssh -p 22``: rsync splits a remote-shell
command at whitespace itself, so that one word works exactly like ``-e``, ``ssh -p 22``
(and ``-@ 1`` works like ``-@1``). So nothing rsync would accept is refused: each
refused form is one on which rsync's own parsing fails. The message names the value
and shows the arguments separated (a value-taking option gets the rest of the text as
its value), for the config file and for the command line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from dssframe.core.errors import ConfigError

if TYPE_CHECKING:
    from dssframe.core.config import Config

_DELETES = "would delete files from the source; dss never passes it"
_INPLACE = "would write into files that earlier snapshots share as hard links, changing them too"
_EMPTY = "would make empty snapshots that dss records as complete"
_ONLY_EXISTING = "would copy only files already in the new, empty snapshot: empty snapshots"
_REFERENCE = "would give rsync a second reference tree; dss passes --link-dest itself"

#: rsync options that break snapshots or the source, with the reason.
REFUSED_LONG: dict[str, str] = {
    "--remove-source-files": _DELETES,
    "--remove-sent-files": _DELETES,  # rsync's old name of it
    "--dry-run": _EMPTY,
    "--list-only": "would only list the source and copy nothing: empty snapshots",
    "--existing": _ONLY_EXISTING,
    "--ignore-non-existing": _ONLY_EXISTING,
    "--inplace": _INPLACE,
    "--append": _INPLACE,
    "--append-verify": _INPLACE,
    "--link-dest": _REFERENCE,
    "--copy-dest": _REFERENCE,
    "--compare-dest": "would leave the files unchanged since the reference out of the "
    "snapshot; dss passes --link-dest itself",
    "--only-write-batch": "would write a batch file instead of the snapshot: empty snapshots",
    "--write-batch": "would write a batch file of every snapshot into the current directory",
    "--read-batch": "would apply a batch file instead of copying the source",
}
#: Refused short options: their long name and the reason.
REFUSED_SHORT: dict[str, tuple[str, str]] = {"n": ("--dry-run", _EMPTY)}

#: rsync's long options that take a value (``--opt=VALUE`` or ``--opt VALUE``).
LONG_WITH_VALUE = frozenset(
    {
        "--address", "--backup-dir", "--block-size", "--bwlimit", "--cc", "--checksum-choice",
        "--checksum-seed", "--chmod", "--chown", "--compare-dest", "--compress-choice",
        "--compress-level", "--compress-threads", "--config", "--confine-root",
        "--contimeout", "--copy-as", "--copy-dest", "--debug", "--dparam", "--early-input",
        "--exclude", "--exclude-from", "--files-from", "--filter", "--groupmap", "--iconv",
        "--include", "--include-from", "--info", "--link-dest", "--log-file",
        "--log-file-format", "--log-format", "--max-alloc", "--max-delete", "--max-size",
        "--min-size", "--modify-window", "--only-write-batch", "--out-format", "--outbuf",
        "--partial-dir", "--password-file", "--port", "--protocol", "--read-batch",
        "--remote-option", "--rsh", "--rsync-path", "--skip-compress", "--sockopts",
        "--stderr", "--stop-after", "--stop-at", "--suffix", "--temp-dir", "--time-limit",
        "--timeout", "--usermap", "--write-batch", "--zc", "--zl", "--zt",
    }
)  # fmt: skip
#: rsync's short options that take a value: the rest of the cluster, or the next word.
SHORT_WITH_VALUE = frozenset("efBTM@")
#: Of those, the ones whose value may begin with whitespace: rsync splits ``-e``'s
#: remote-shell command itself and reads ``-@``'s number with strtol, so ``-e ssh -p 22``
#: and ``-@ 1`` work as one word (``-f - *.tmp``, ``-T /tmp``, ``-B 1k``, ``-M --foo`` fail).
SPACED_VALUE_OK = frozenset("e@")


def rsync_option_problem(options: Iterable[str]) -> str | None:
    """Why ``options`` (the rsync-option words) must not reach rsync, or None.

    Reads them as rsync's option parser does: ``--opt=VALUE``, a separate value word
    after an option that takes one, short-option clusters (``-avn``) whose
    value-taking letter (``-e``, ``-f``, ...) ends the cluster, and ``--`` ending the
    options. A word in option position that is several arguments glued by whitespace
    is refused too (:func:`glued_problem`)."""
    words = iter(options)
    for word in words:
        if word == "--":
            return None
        glued = glued_problem(word)
        if glued is not None:
            return glued
        if word.startswith("--"):
            name, eq, _ = word.partition("=")
            if name in REFUSED_LONG:
                return f"{word} {REFUSED_LONG[name]}"
            if name in LONG_WITH_VALUE and not eq:
                next(words, None)  # the value, whatever it looks like
        elif word.startswith("-") and len(word) > 1:
            for index, letter in enumerate(word[1:], 1):
                if letter in REFUSED_SHORT:
                    long_name, why = REFUSED_SHORT[letter]
                    where = "" if word == f"-{letter}" else f", in {word}"
                    return f"-{letter} ({long_name}{where}) {why}"
                if letter in SHORT_WITH_VALUE:
                    if index == len(word) - 1:
                        next(words, None)  # -e ssh: the next word is the value
                    break  # -f'- n': the rest of the cluster is the value
    return None


_RULES = "filter rules other than --exclude patterns cannot be kept exact across parts"
#: rsync options that ``parallel`` > 1 cannot copy exactly as one rsync does, with why.
#: (Each part is one rsync with filter rules of its own after the user's: an include or
#: a filter rule of the user's could pull a path into several parts, a merge file's
#: rules are not known beforehand, ...; see :mod:`dssframe.builtin.rsync.parallel`.)
PARALLEL_LONG: dict[str, str] = {
    "--include": _RULES,
    "--include-from": _RULES,
    "--filter": _RULES,
    "--exclude-from": "its file may hold include rules ('+ ...'): " + _RULES,
    "--cvs-exclude": "its rules come after dss's own: " + _RULES,
    "--files-from": "would copy other paths than the tree the parts share out",
    "--hard-links": "hard links between files copied by different parts cannot be kept",
    "--delete-excluded": "would make each part delete what the other parts copy",
    "--prune-empty-dirs": "would prune directories whose contents another part copies",
    "--relative": "would copy other paths than the tree the parts share out",
    "--max-delete": "would let each part delete that many",
    "--no-recursive": "would copy only the top, which the parts share out",
}
PARALLEL_SHORT: dict[str, str] = {
    "f": "--filter",
    "F": "--filter",
    "C": "--cvs-exclude",
    "H": "--hard-links",
    "m": "--prune-empty-dirs",
    "R": "--relative",
}
_PARALLEL_ALIASES = {"--no-r": "--no-recursive", "--del-excluded": "--delete-excluded"}


def parallel_problem(options: Iterable[str]) -> str | None:
    """Why ``parallel`` > 1 cannot copy with the rsync-option words ``options`` exactly
    as one rsync would, or None. (Words are read as :func:`rsync_option_problem` reads
    them; ``--exclude`` patterns are allowed, except one that rsync would read as an
    include rule: ``+ PATTERN``.)"""
    words = iter(options)
    for word in words:
        if word == "--":
            return None
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            name = _PARALLEL_ALIASES.get(name, name)
            if name == "--exclude":
                pattern = value if eq else next(words, "")
                if pattern.startswith("+ "):
                    return f"--exclude={pattern} is an include rule: {_RULES}"
                continue
            if name in PARALLEL_LONG:
                return f"{word} {PARALLEL_LONG[name]}"
            if name in LONG_WITH_VALUE and not eq:
                next(words, None)
        elif word.startswith("-") and len(word) > 1:
            for index, letter in enumerate(word[1:], 1):
                if letter in PARALLEL_SHORT:
                    long_name = PARALLEL_SHORT[letter]
                    where = "" if word == f"-{letter}" else f", in {word}"
                    return f"-{letter} ({long_name}{where}) {PARALLEL_LONG[long_name]}"
                if letter in SHORT_WITH_VALUE:
                    if index == len(word) - 1:
                        next(words, None)
                    break
    return None


def glued_problem(word: str) -> str | None:
    """Why ``word``, an rsync-option word in option position, is evidently several
    arguments glued by whitespace, or None (the rule is in the module's docstring)."""
    if not word.startswith("-") or not any(c.isspace() for c in word):
        return None
    why: str | None = None
    if word.startswith("--"):
        if any(c.isspace() for c in word.partition("=")[0]):
            why = "which rsync would refuse as an unknown option"
    else:
        for index, letter in enumerate(word[1:], 1):
            if letter.isspace():
                why = "which rsync would refuse as an unknown option"
                break
            if letter in SHORT_WITH_VALUE:
                if letter not in SPACED_VALUE_OK and word[index + 1 : index + 2].isspace():
                    value = word[index + 1 :]
                    why = f"in which rsync would take {_quoted(value)} as the value of -{letter}"
                break
    if why is None:
        return None
    import shlex  # only for the message

    separate = _separate(word)
    toml = ", ".join(_quoted(w) for w in separate)
    line = " ".join(shlex.quote(f"--rsync-option={w}") for w in separate)
    return (
        f"{_quoted(word)} is one rsync argument, {why} (dss passes each value to rsync "
        f"as written, never split): give each argument its own value, "
        f"rsync-option = [{toml}] in the config file, or {line} on the command line"
    )


def _separate(word: str) -> list[str]:
    """``word`` as the separate arguments it evidently stands for: split at whitespace,
    except that an option taking a separate value gets the rest of the text as it."""
    words: list[str] = []
    parts = word.split(None, 1)
    while parts:
        head = parts[0]
        words.append(head)
        if len(parts) == 1:
            break
        if _takes_next_word(head):
            words.append(parts[1])  # --exclude My Documents: one pattern
            break
        parts = parts[1].split(None, 1)
    return words


def _takes_next_word(word: str) -> bool:
    """Whether the option ``word`` takes the next word as its value."""
    if word.startswith("--"):
        return "=" not in word and word in LONG_WITH_VALUE
    if not word.startswith("-"):
        return False
    for index, letter in enumerate(word[1:], 1):
        if letter in SHORT_WITH_VALUE:
            return index == len(word) - 1
    return False


def _quoted(text: str) -> str:
    """``text`` as a TOML string (escaped: an error message stays one line)."""
    from dssframe.core.config import toml_value

    return toml_value(text)


def relative_path_error(key: str, value: str) -> ConfigError:
    return ConfigError(
        f'{key}: "{value}" is a relative path; write an absolute path '
        "(a run from cron or systemd starts in another directory)"
    )


def check_config(config: Config) -> None:
    """Raise ConfigError for a value that can only do damage (pure)."""
    problem = rsync_option_problem(config.rsync_option)
    if problem is not None:
        raise ConfigError(f"rsync-option: {problem}")
    if config.parallel > 1:
        problem = parallel_problem(config.rsync_option)
        if problem is not None:
            raise ConfigError(
                f"rsync-option, parallel: with parallel = {config.parallel}, {problem} "
                "(remove the option, or set parallel = 1)"
            )
    # Command-line paths were made absolute when the configuration was built; these
    # come from the config file. (source-dir may be remote: check_paths decides.)
    for key in ("dest-dir", "logfile"):
        value = config.get(key)
        if value and not os.path.isabs(value):
            raise relative_path_error(key, value)
    check_spacing(config.unit_interval, config.num_intervals)


def check_spacing(unit: int, num_intervals: int) -> None:
    """The smallest intervals, ``unit / 2**(num_intervals - 1)`` seconds, must be at
    least a second long: shorter, and the run loop would create snapshots without end."""
    divisor = 1 << (num_intervals - 1)
    if unit >= divisor:
        return
    fewest = num_intervals - 1
    while fewest > 1 and unit < 1 << (fewest - 1):
        fewest -= 1
    raise ConfigError(
        f"unit-interval, num-intervals: {unit} s / 2^{num_intervals - 1} is {unit / divisor:.3g} s "
        "between snapshots (unit-interval / 2^(num-intervals - 1) must be at least one "
        f"second): raise unit-interval to at least {divisor} s or lower num-intervals "
        f"to {fewest}"
    )


def one_file_system(options: Iterable[str]) -> bool:
    """Whether the rsync options include -x/--one-file-system (before any ``--``)."""
    words = iter(options)
    for word in words:
        if word == "--":
            return False
        if word == "--one-file-system":
            return True
        if word.startswith("--"):
            name, eq, _ = word.partition("=")
            if name in LONG_WITH_VALUE and not eq:
                next(words, None)
        elif word.startswith("-") and len(word) > 1:
            for index, letter in enumerate(word[1:], 1):
                if letter == "x":
                    return True
                if letter in SHORT_WITH_VALUE:
                    if index == len(word) - 1:
                        next(words, None)
                    break
    return False
