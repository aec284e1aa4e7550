"""Configuration: option checks, merging, finding the file, and writing TOML back."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dssframe.core import config
from dssframe.core.config import OPTIONS, Config, to_toml, toml_value, validate
from dssframe.core.durations import format_duration
from dssframe.core.errors import ConfigError
from dssframe.core.guards import rsync_option_problem
from dssframe.store import configfile
from dssframe.store.configfile import build, load

# --- defaults --------------------------------------------------------------------------


def test_defaults() -> None:
    built = build({}, {}, None)
    assert built == Config()
    assert built.unit_interval == 4 * 86400
    assert built.num_intervals == 5
    assert built.loglevel == "warning"
    assert built.plugins == {}
    assert built.path is None
    # the option table and the dataclass agree on every default
    for option in OPTIONS:
        assert built.get(option.key) == option.default, option.key
    assert list(built.effective()) == [option.key for option in OPTIONS]


def test_require() -> None:
    with pytest.raises(ConfigError, match="dest-dir is not set"):
        build({}, {}, None).require("dest-dir")
    assert build({"dest-dir": "/backup"}, {}, None).require("dest-dir") == "/backup"


# --- every option's type check ------------------------------------------------------


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.key)
def test_every_option_rejects_a_table_naming_key_and_value(option: config.Option) -> None:
    bad = {"oops": [1, 2]}
    with pytest.raises(ConfigError) as info:
        validate({option.key: bad}, "test.toml")
    message = str(info.value)
    assert message.startswith(f"test.toml: {option.key}: "), message
    assert repr(bad) in message


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.key)
def test_every_default_passes_its_own_check(option: config.Option) -> None:
    if option.default is None:
        assert option.check(option.key, None) is None
    elif option.key in ("unit-interval", "retry-delay"):
        # defaults are seconds; the file spells them as durations
        assert option.check(option.key, format_duration(option.default)) == option.default
    else:
        assert option.check(option.key, option.default) == option.default


BAD_VALUES: list[tuple[str, Any, str]] = [
    ("source-dir", 5, "expected a string, got 5"),
    ("dest-dir", ["/a"], "expected a string, got ['/a']"),
    ("source-dir", "a\0b", "NUL"),
    ("remote-host", "", "must not be empty"),
    ("remote-host", 127, "expected a string, got 127"),
    ("rsync-option", 5, "expected a list of strings, got 5"),
    ("rsync-option", ["--ok", 3], "expected a string, got 3"),
    ("rsync-path", "", "must not be empty"),
    ("unit-interval", "abc", "'abc'"),
    ("unit-interval", 0, "0"),
    ("unit-interval", "-1", "'-1'"),
    ("unit-interval", True, "True"),
    ("unit-interval", float("inf"), "inf"),
    ("unit-interval", [4], "[4]"),
    ("num-intervals", 0, "0 is out of range (allowed: 1..30)"),
    ("num-intervals", 31, "31 is out of range (allowed: 1..30)"),
    ("num-intervals", "abc", "expected an integer, got 'abc'"),
    ("num-intervals", 5.0, "expected an integer, got 5.0"),
    ("num-intervals", True, "expected an integer, got True"),
    ("num-intervals", "--5", "expected an integer, got '--5'"),
    ("num-intervals", "²", "expected an integer, got '²'"),
    ("num-intervals", "5x", "expected an integer, got '5x'"),
    ("loglevel", "loud", "'loud' is not a log level"),
    ("loglevel", 7, "7 is not a log level"),
    ("loglevel", -1, "-1 is not a log level"),
    ("loglevel", "7", "'7' is not a log level"),
    ("loglevel", "²", "'²' is not a log level"),
    ("loglevel", True, "True is not a log level"),
    ("keep-redundant", "maybe", "expected true or false, got 'maybe'"),
    ("keep-redundant", 1, "expected true or false, got 1"),
    ("no-resume", None, "expected true or false, got None"),
    ("mountpoint", "", "expected true or false, got ''"),
    ("min-free-mb", -1, "-1 is out of range (allowed: 0..2147483648)"),
    ("min-free-percent", 101, "101 is out of range (allowed: 0..100)"),
    ("min-free-percent-inodes", "200", "200 is out of range (allowed: 0..100)"),
    ("min-complete", -3, "-3 is out of range"),
    ("max-rsync-errors", 0, "0 is out of range (allowed: 1..100000)"),
    ("retry-delay", "soon", "'soon'"),
    ("checksum", 1001, "1001 is out of range (allowed: 0..1000)"),
    ("use-ssh", "sometimes", "'sometimes' is not one of auto, always, never"),
    ("use-ssh", True, "True is not one of"),
    ("ssh-port", 65536, "65536 is out of range (allowed: 0..65535)"),
    ("ssh-option", [None], "expected a string, got None"),
    ("ssh-command", "", "must not be empty"),
    ("ssh-connect-timeout", 0, "0 is out of range (allowed: 1..86400)"),
    ("pre-create-hook", 1, "expected a string, got 1"),
    ("exit-hook", False, "expected a string, got False"),
]


@pytest.mark.parametrize(("key", "value", "fragment"), BAD_VALUES)
def test_bad_values_are_config_errors_naming_key_and_value(
    key: str, value: Any, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        validate({key: value}, "f.toml")
    message = str(info.value)
    assert message.startswith(f"f.toml: {key}: "), message
    assert fragment in message, message
    # also through build, from the file or from the command line
    with pytest.raises(ConfigError, match=key):
        build({key: value}, {}, "f.toml")
    with pytest.raises(ConfigError, match=key):
        build({}, {key: value}, "f.toml")


def test_bad_values_table_covers_every_option_kind() -> None:
    checks = {option.check for option in OPTIONS if option.key in {k for k, _, _ in BAD_VALUES}}
    assert len(checks) >= 10


GOOD_VALUES: list[tuple[str, Any, Any]] = [
    ("source-dir", "/home", "/home"),
    ("source-dir", "", None),
    ("source-dir", None, None),
    ("remote-user", "  me ", "  me "),
    ("rsync-option", "--one", ("--one",)),
    ("rsync-option", ["-x", "--exclude=*.o"], ("-x", "--exclude=*.o")),
    ("rsync-option", [], ()),
    ("unit-interval", 4, 4 * 86400),
    ("unit-interval", "6h", 6 * 3600),
    ("unit-interval", 0.5, 43200),
    ("num-intervals", 1, 1),
    ("num-intervals", 19, 19),  # 30 needs a longer unit-interval (tests/test_guards.py)
    ("num-intervals", "5", 5),
    ("num-intervals", " 7 ", 7),
    ("loglevel", 0, "debug"),
    ("loglevel", 6, "emerg"),
    ("loglevel", "3", "warning"),
    ("loglevel", "INFO", "info"),
    ("loglevel", " crit ", "crit"),
    ("keep-redundant", True, True),
    ("keep-redundant", "yes", True),
    ("keep-redundant", "OFF", False),
    ("no-resume", "1", True),
    ("min-free-mb", 0, 0),
    ("min-free-mb", 10**6, 10**6),
    ("min-free-percent", 100, 100),
    ("checksum", 1000, 1000),
    ("use-ssh", "never", "never"),
    ("ssh-port", 2222, 2222),
    ("ssh-option", ["StrictHostKeyChecking=no"], ("StrictHostKeyChecking=no",)),
    ("pre-create-hook", "echo 'hi there'", "echo 'hi there'"),
    ("retry-delay", "90s", 90),
    ("retry-delay", "2m", 120),
]


@pytest.mark.parametrize(("key", "value", "expected"), GOOD_VALUES)
def test_good_values(key: str, value: Any, expected: Any) -> None:
    assert validate({key: value}, "f.toml") == {key: expected}
    assert build({key: value}, {}, None).get(key) == expected


def test_retry_delay_plain_numbers_are_seconds() -> None:
    """The option is documented in seconds (default 60 = one minute, as dss); unlike
    unit-interval, a plain number must not mean days."""
    assert build({"retry-delay": 60}, {}, None).retry_delay == 60
    assert build({"retry-delay": "30"}, {}, None).retry_delay == 30
    assert build({}, {"retry-delay": 120}, None).retry_delay == 120
    assert build({"retry-delay": "1d"}, {}, None).retry_delay == 86400
    assert build({"retry-delay": "2.5"}, {}, None).retry_delay == 2
    assert build({"retry-delay": 90.0}, {}, None).retry_delay == 90
    for bad in (0, "0", 0.5, -5, "-5", float("inf"), float("nan"), True, "soon", [60]):
        with pytest.raises(ConfigError, match="retry-delay"):
            build({"retry-delay": bad}, {}, None)


def test_unknown_key_is_rejected_naming_origin() -> None:
    with pytest.raises(ConfigError, match=r"f\.toml: unknown option 'sorce-dir'"):
        build({"sorce-dir": "/x"}, {}, "f.toml")
    with pytest.raises(ConfigError, match=r"command line: unknown option 'bogus'"):
        build({}, {"bogus": 1}, "f.toml")
    with pytest.raises(ConfigError, match="unknown option 'source_dir'"):
        validate({"source_dir": "/x"}, "x")
    with pytest.raises(ConfigError, match="unknown option 'rsync'"):
        build({"rsync": {"path": "/bin/rsync"}}, {}, "f.toml")  # a table, not [plugins]
    with pytest.raises(ConfigError, match="f.toml: transport: expected a string"):
        build({"transport": {"name": "rsync"}}, {}, "f.toml")


def test_plugin_tables_are_kept() -> None:
    plugins = {"dyadic": {"extra": 1}, "notify-mail": {"to": ["a@b"], "nested": {"x": True}}}
    built = build({"plugins": plugins, "num-intervals": 3}, {}, "f.toml")
    assert built.plugins == plugins
    assert built.num_intervals == 3
    assert built.path == "f.toml"
    for bad in ({"x": 1}, ["x"], "x"):
        with pytest.raises(ConfigError, match=r"^f\.toml: \[plugins\]"):
            build({"plugins": bad}, {}, "f.toml")
    # without a file the message names the config, not "None"
    with pytest.raises(ConfigError, match=r"^config: \[plugins\]"):
        build({"plugins": {"x": 1}}, {}, None)


def test_command_line_wins_over_file() -> None:
    file_values = {"num-intervals": 3, "source-dir": "/home", "rsync-option": ["-x"]}
    built = build(file_values, {"num-intervals": 7, "rsync-option": ["-H"]}, "f.toml")
    assert built.num_intervals == 7
    assert built.rsync_option == ("-H",)
    assert built.source_dir == "/home"
    # the file's values are checked even when overridden
    with pytest.raises(ConfigError, match="num-intervals"):
        build({"num-intervals": 99}, {"num-intervals": 7}, "f.toml")


def test_config_is_frozen() -> None:
    built = build({}, {}, None)
    with pytest.raises(AttributeError):
        built.num_intervals = 3  # type: ignore[misc]
    assert built._replace(num_intervals=3).num_intervals == 3 and built.num_intervals == 5


# --- finding and reading the file -----------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_load_explicit_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'dest-dir = "/backup"\nnum-intervals = 4\n')
    built = load(str(path), {"num-intervals": 6})
    assert built.dest_dir == "/backup"
    assert built.num_intervals == 6
    assert built.path == str(path)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as info:
        load(str(tmp_path / "nope.toml"), {})
    assert "nope.toml" in str(info.value)
    assert info.value.exit_code == 2


def test_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "env.toml", "num-intervals = 9\n")
    monkeypatch.setenv("DSSFRAME_CONFIG", str(path))
    assert configfile.resolve_path(None) == (str(path), True)
    built = load(None, {})
    assert built.num_intervals == 9
    assert built.path == str(path)
    # an explicit --config beats the environment
    other = write(tmp_path / "other.toml", "num-intervals = 2\n")
    assert load(str(other), {}).num_intervals == 2
    # and a missing file named by the environment is an error too
    monkeypatch.setenv("DSSFRAME_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="missing.toml"):
        load(None, {})


def test_default_file_is_optional(isolated_dirs: Path) -> None:
    default = configfile.default_path()
    assert default == str(isolated_dirs / "config" / "dssframe" / "config.toml")
    assert configfile.resolve_path(None) == (default, False)
    built = load(None, {"source-dir": "/src"})
    assert built.path is None
    assert built.source_dir == "/src"
    write(Path(default), "min-free-mb = 500\n")
    built = load(None, {})
    assert built.min_free_mb == 500
    assert built.path == default


def test_invalid_toml_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", "num-intervals = = 3\n")
    with pytest.raises(ConfigError, match="invalid TOML") as info:
        load(str(path), {})
    assert str(path) in str(info.value)
    # an original option file is read directly (dss -c ~/.dssrc)...
    path = write(tmp_path / "dssrc", 'source-dir "/home"\nunit-interval 2\nkeep-redundant\n')
    config = load(str(path), {})
    assert config.source_dir == "/home" and config.unit_interval == 2 * 86400
    assert config.keep_redundant is True
    # ...but not one with an unknown option or a bad value: that is bad TOML then
    for text in ('source-dir "/home"\nfrobnicate 3\n', "num-intervals many\n"):
        path = write(tmp_path / "bad-dssrc", text)
        with pytest.raises(ConfigError, match="invalid TOML"):
            load(str(path), {})


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(str(tmp_path), {})  # a directory


def test_bad_value_in_file_names_key(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'num-intervals = 40\nloglevel = "loud"\n')
    with pytest.raises(ConfigError, match="num-intervals: 40 is out of range"):
        load(str(path), {})
    path = write(tmp_path / "c2.toml", "unit-interval = inf\n")
    with pytest.raises(ConfigError, match="unit-interval"):
        load(str(path), {})
    path = write(tmp_path / "c3.toml", "unit-interval = 1979-05-27\n")
    with pytest.raises(ConfigError, match="unit-interval"):
        load(str(path), {})


# --- writing TOML -------------------------------------------------------------------------


def reparse(values: dict[str, Any]) -> dict[str, Any]:
    return tomllib.loads(to_toml(values))


def test_to_toml_reparses_to_the_same_config() -> None:
    original = build(
        {
            "source-dir": '/home/"quoted"\\back slash',
            "dest-dir": "/backup/ünïcødé ☃",
            "remote-user": "line\nbreak\ttab",
            "rsync-option": ["--exclude", "*.o", "--filter=- .cache/"],
            "ssh-option": [],
            "unit-interval": "6h",
            "retry-delay": "90s",
            "loglevel": 1,
            "keep-redundant": True,
            "min-free-percent": 0,
            "pre-create-hook": "echo 'single' \"double\" $HOME `x`",
            "exit-hook": "\x7f\x1b[0m\u2028\U0001f600",
        },
        {},
        None,
    )
    text = to_toml(original.effective())
    again = build(tomllib.loads(text), {}, None)
    assert again == original
    assert again.loglevel == "info"
    assert tomllib.loads(text)["unit-interval"] == "6h"
    assert tomllib.loads(text)["retry-delay"] == "90s"


def test_to_toml_leaves_unset_values_as_comments() -> None:
    text = to_toml({"source-dir": None, "num-intervals": 5})
    assert "# source-dir = (not set)" in text.splitlines()
    assert tomllib.loads(text) == {"num-intervals": 5}
    assert text.endswith("\n")


def test_to_toml_of_defaults() -> None:
    text = to_toml(Config().effective())
    assert build(tomllib.loads(text), {}, None) == Config()
    assert reparse({"loglevel": "warning", "rsync-option": ()}) == {
        "loglevel": "warning",
        "rsync-option": [],
    }


def test_toml_value_scalars() -> None:
    assert toml_value(True) == "true"
    assert toml_value(False) == "false"
    assert toml_value(0) == "0"
    assert toml_value(-5) == "-5"
    assert toml_value(["a", 1, True]) == '["a", 1, true]'
    assert toml_value('a"b') == r'"a\"b"'


@settings(max_examples=300)
@given(st.text())
def test_toml_value_round_trips_any_text(text: str) -> None:
    assert tomllib.loads(f"k = {toml_value(text)}") == {"k": text}


@settings(max_examples=100)
@given(st.lists(st.text(max_size=10), max_size=5))
def test_toml_value_round_trips_lists(items: list[str]) -> None:
    assert tomllib.loads(f"k = {toml_value(items)}") == {"k": items}


def no_nul(text: str) -> bool:
    return "\0" not in text


@settings(max_examples=100, deadline=None)
@given(
    hook=st.text().filter(no_nul),
    options=st.lists(st.text(max_size=20).filter(no_nul), max_size=4),
    unit=st.integers(1, 10**9),
    retry=st.integers(1, 10**9),
    intervals=st.integers(1, 30),
    level=st.integers(0, 6),
)
def test_effective_config_round_trips(
    hook: str, options: list[str], unit: int, retry: int, intervals: int, level: int
) -> None:
    # the guards refuse damaging rsync options and intervals under a second
    assume(rsync_option_problem(options) is None and unit >= 2 ** (intervals - 1))
    original = build(
        {
            "pre-create-hook": hook,
            "rsync-option": options,
            "unit-interval": f"{unit}s",
            "retry-delay": f"{retry}s",
            "num-intervals": intervals,
            "loglevel": level,
        },
        {},
        None,
    )
    assert build(tomllib.loads(to_toml(original.effective())), {}, None) == original
