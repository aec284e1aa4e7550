"""Importing an original dss ``.dssrc`` into our TOML configuration."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from dssframe.core.config import Config
from dssframe.core.dssrc import parse_dssrc
from dssframe.core.errors import ConfigError
from dssframe.store.configfile import build, write_config
from dssframe.store.configfile import convert_dssrc as convert

REALISTIC = """\
# ~/.dssrc of a small file server
# (dss reads "option value" lines; gengetopt also allows "option = value")

source-dir "/home"
dest-dir /backup
remote-host fileserver
remote-user = "backup"

rsync-option "--exclude"
rsync-option "*.o"
rsync-option = --one-file-system
rsync-option=--numeric-ids
exclude-patterns /etc/dss.exclude

unit-interval 4
num-intervals 5   # 31 snapshots, the oldest 20 days old
keep-redundant

min-free-mb 2048
min-free-percent 5
min-free-percent-inodes 1
loglevel 3
logfile /var/log/dss.log
pre-create-hook "/usr/local/bin/db-freeze --wait"
post-create-hook "echo 'snapshot done' | logger"
pre-remove-hook = "test -d /backup"
daemon
dry-run
"""


def test_realistic_dssrc_converts_to_accepted_toml(tmp_path: Path) -> None:
    dssrc = tmp_path / ".dssrc"
    dssrc.write_text(REALISTIC, encoding="utf-8")
    text = convert(str(dssrc))
    assert text.startswith(f"# dssframe configuration imported from {dssrc}\n")
    raw = tomllib.loads(text)
    config = build(raw, {}, "imported.toml")
    assert config.source_dir == "/home"
    assert config.dest_dir == "/backup"
    assert config.remote_host == "fileserver"
    assert config.remote_user == "backup"
    assert config.rsync_option == (
        "--exclude",
        "*.o",
        "--one-file-system",
        "--numeric-ids",
        "--exclude-from",
        "/etc/dss.exclude",
    )
    assert config.unit_interval == 4 * 86400
    assert config.num_intervals == 5
    assert config.keep_redundant is True
    assert config.min_free_mb == 2048
    assert config.min_free_percent == 5
    assert config.min_free_percent_inodes == 1
    assert config.loglevel == "warning"
    assert config.logfile == "/var/log/dss.log"
    assert config.pre_create_hook == "/usr/local/bin/db-freeze --wait"
    assert config.post_create_hook == "echo 'snapshot done' | logger"
    assert config.pre_remove_hook == "test -d /backup"
    # daemon and dry-run map to keys of the same name, as everything else does
    assert raw["daemon"] is True and raw["dry-run"] is True
    # whatever is not in the .dssrc keeps our default
    assert config.no_resume is False
    assert config.retention == Config().retention


def test_parse_returns_checked_values() -> None:
    values = parse_dssrc(REALISTIC, "rc")
    assert values["unit-interval"] == 4 * 86400
    assert values["num-intervals"] == 5
    assert values["min-free-mb"] == 2048
    assert values["keep-redundant"] is True
    assert values["rsync-option"][:2] == ("--exclude", "*.o")


@pytest.mark.parametrize(
    "line",
    [
        "num-intervals 7",
        "num-intervals = 7",
        "num-intervals=7",
        "num-intervals =7",
        "num-intervals= 7",
        "num-intervals\t7",
        "num-intervals \t 7",
        "num-intervals\t=\t7",
        "  num-intervals 7  ",
        'num-intervals "7"',
        "num-intervals '7'",
        "num-intervals 7 # trailing comment",
        "num-intervals 7\r",
    ],
)
def test_option_value_spellings(line: str) -> None:
    assert parse_dssrc(line + "\n", "rc") == {"num-intervals": 7}


def test_comments_blank_lines_and_crlf() -> None:
    text = "# comment\r\n\r\n   # indented comment\r\nsource-dir /src\r\n\t\r\n"
    assert parse_dssrc(text, "rc") == {"source-dir": "/src"}
    assert parse_dssrc("", "rc") == {}


def test_flags_take_an_optional_value() -> None:
    assert parse_dssrc("keep-redundant\nno-resume\nmountpoint\n", "rc") == {
        "keep-redundant": True,
        "no-resume": True,
        "mountpoint": True,
    }
    assert parse_dssrc("keep-redundant no\n", "rc") == {"keep-redundant": False}


def test_quoted_values_keep_spaces_and_quotes() -> None:
    values = parse_dssrc('source-dir "/home/my files"\npre-create-hook "echo \\"a b\\""\n', "rc")
    assert values == {"source-dir": "/home/my files", "pre-create-hook": 'echo "a b"'}


def test_last_value_wins_for_single_options() -> None:
    assert parse_dssrc("num-intervals 3\nnum-intervals 6\n", "rc") == {"num-intervals": 6}


def test_exclude_patterns_appends_to_rsync_options_in_order() -> None:
    text = "exclude-patterns /a\nrsync-option -x\nexclude-patterns /b\n"
    assert parse_dssrc(text, "rc")["rsync-option"] == (
        "--exclude-from",
        "/a",
        "-x",
        "--exclude-from",
        "/b",
    )


def test_unknown_option_names_file_and_line() -> None:
    text = "source-dir /home\n# fine\n\nsorce-dir /home\n"
    with pytest.raises(ConfigError, match=r"^/root/\.dssrc:4: unknown dss option 'sorce-dir'$"):
        parse_dssrc(text, "/root/.dssrc")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source-dir\n", r"rc:1: option 'source-dir' needs a value"),
        ("\nrsync-option\n", r"rc:2: option 'rsync-option' needs a value"),
        ("\n\nexclude-patterns\n", r"rc:3: option 'exclude-patterns' needs a value"),
        ('source-dir "/home\n', r"rc:1: .*quotation"),
        ("create\n", r"rc:1: unknown dss option 'create'"),
    ],
)
def test_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_dssrc(text, "rc")


def test_bad_values_name_the_key() -> None:
    with pytest.raises(ConfigError, match="num-intervals: 40 is out of range"):
        parse_dssrc("num-intervals 40\n", "rc")
    with pytest.raises(ConfigError, match=r"^rc: unit-interval: 'soon'"):
        parse_dssrc("unit-interval soon\n", "rc")
    with pytest.raises(ConfigError, match="min-free-mb: expected an integer, got '--5'"):
        parse_dssrc("min-free-mb --5\n", "rc")


def test_convert_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        convert(str(tmp_path / "missing"))
    binary = tmp_path / "binary"
    binary.write_bytes(b"source-dir /\xff\xfe\n")
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        convert(str(binary))
    bad = tmp_path / "bad"
    bad.write_text("frobnicate yes\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{bad}:1: unknown dss option 'frobnicate'"):
        convert(str(bad))


def test_converted_unicode_and_quotes_survive(tmp_path: Path) -> None:
    dssrc = tmp_path / ".dssrc"
    dssrc.write_text(
        'source-dir "/home/jürgen/☃ \\"quoted\\""\nrsync-option "--exclude=\\\\*.tmp"\n',
        encoding="utf-8",
    )
    config = build(tomllib.loads(convert(str(dssrc))), {}, None)
    assert config.source_dir == '/home/jürgen/☃ "quoted"'
    assert config.rsync_option == ("--exclude=\\*.tmp",)


# --- write_atomically -------------------------------------------------------------------


def test_write_atomically_creates_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "dir" / "config.toml"
    write_config(str(target), "a = 1\n", force=False)
    assert target.read_text(encoding="utf-8") == "a = 1\n"
    with pytest.raises(ConfigError, match="exists; use --force") as info:
        write_config(str(target), "a = 2\n", force=False)
    assert str(target) in str(info.value)
    assert target.read_text(encoding="utf-8") == "a = 1\n"
    write_config(str(target), "a = 3 # ☃\n", force=True)
    assert target.read_text(encoding="utf-8") == "a = 3 # ☃\n"
    # no temporary files are left behind
    assert os.listdir(target.parent) == ["config.toml"]


def test_write_atomically_cleans_up_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "is-a-dir"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(OSError):
        write_config(str(target), "x\n", force=True)  # cannot replace a directory
    assert sorted(os.listdir(tmp_path)) == ["is-a-dir"]
    assert os.listdir(target) == ["inside"]


def test_write_atomically_refuses_even_an_empty_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "empty.toml"
    target.write_bytes(b"")
    with pytest.raises(ConfigError):
        write_config(str(target), "x\n", force=False)
    assert target.read_bytes() == b""


#: Every option of the original's dss.ggo (0.1.4), plus 1.0's min-complete,
#: max-rsync-errors, checksum and mountpoint, with the key and value it must become.
EVERY_OPTION = [
    ("daemon", "", "daemon", True),
    ("dry-run", "", "dry-run", True),
    ("loglevel", "2", "loglevel", "notice"),
    ("logfile", "/var/log/dss.log", "logfile", "/var/log/dss.log"),
    ("remote-host", "fileserver", "remote-host", "fileserver"),
    ("remote-user", "backup", "remote-user", "backup"),
    ("source-dir", '"/srv/my data"', "source-dir", "/srv/my data"),
    ("dest-dir", "/backup", "dest-dir", "/backup"),
    ("no-resume", "", "no-resume", True),
    ("rsync-option", "--numeric-ids", "rsync-option", ["--numeric-ids"]),
    ("unit-interval", "3", "unit-interval", "3d"),
    ("num-intervals", "6", "num-intervals", 6),
    ("pre-create-hook", '"/usr/local/bin/freeze --all"', "pre-create-hook",
     "/usr/local/bin/freeze --all"),
    ("post-create-hook", "/usr/local/bin/thaw", "post-create-hook", "/usr/local/bin/thaw"),
    ("pre-remove-hook", "/bin/true", "pre-remove-hook", "/bin/true"),
    ("post-remove-hook", "logger", "post-remove-hook", "logger"),
    ("exit-hook", "/usr/local/bin/mail-admin", "exit-hook", "/usr/local/bin/mail-admin"),
    ("min-free-mb", "500", "min-free-mb", 500),
    ("min-free-percent", "3", "min-free-percent", 3),
    ("min-free-percent-inodes", "1", "min-free-percent-inodes", 1),
    ("keep-redundant", "", "keep-redundant", True),
    ("min-complete", "2", "min-complete", 2),
    ("max-rsync-errors", "5", "max-rsync-errors", 5),
    ("checksum", "10", "checksum", 10),
    ("mountpoint", "", "mountpoint", True),
]


def test_every_option_of_the_original_round_trips(tmp_path: Path) -> None:
    lines = [f"{name} {value}".rstrip() for name, value, _, _ in EVERY_OPTION]
    dssrc = tmp_path / ".dssrc"
    dssrc.write_text("\n".join(lines) + "\n")
    raw = tomllib.loads(convert(str(dssrc)))
    for _, _, key, expected in EVERY_OPTION:
        assert raw[key] == expected, key
    config = build(raw, {}, "imported.toml")
    assert config.daemon and config.dry_run and config.mountpoint and config.no_resume
    assert config.unit_interval == 3 * 86400 and config.loglevel == "notice"


@pytest.mark.parametrize(
    "line, why",
    [
        ("config-file /etc/other.dssrc", "cannot name another one"),
        ("frobnicate 3", "unknown dss option 'frobnicate'"),
        ("min-free-mb", "needs a value"),
    ],
)
def test_what_cannot_be_mapped_is_refused_naming_the_line(
    tmp_path: Path, line: str, why: str
) -> None:
    dssrc = tmp_path / ".dssrc"
    dssrc.write_text(f"dest-dir /backup\n# a comment\n{line}\n")
    with pytest.raises(ConfigError, match=why) as info:
        convert(str(dssrc))
    assert f"{dssrc}:3:" in str(info.value)
