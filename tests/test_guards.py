"""Configuration guards: values that can only do damage are refused (exit 2, one line
naming the key, nothing touched), risky set-ups are warned about."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from dssframe.core import guards
from dssframe.core.config import MAX_SECONDS, Config, validate
from dssframe.core.errors import ConfigError
from dssframe.engine import preflight
from dssframe.store.configfile import build
from dsstest import IN_CI, RunDss, complete, tree_state


def ident(value: object) -> str | None:
    """Test ids: option lists joined, numbers short (repr() refuses 4300 digits)."""
    if isinstance(value, list):
        return " ".join(value) or "none"
    if isinstance(value, int) and value > 10**30:
        return f"int{value.bit_length()}bits"
    if isinstance(value, str | float | int):
        return repr(value)[:20]
    return None


# --- rsync options (pure) -----------------------------------------------------------

REFUSED_OPTIONS: list[tuple[list[str], str]] = [
    (["--remove-source-files"], "--remove-source-files would delete files from the source"),
    (["--remove-sent-files"], "would delete files from the source"),
    (["--dry-run"], "--dry-run would make empty snapshots"),
    (["-n"], "-n (--dry-run) would make empty snapshots"),
    (["-avn"], "-n (--dry-run, in -avn)"),
    (["-nav"], "-n (--dry-run, in -nav)"),
    (["-a", "-vn"], "in -vn"),
    (["-e", "ssh", "-n"], "-n (--dry-run)"),  # -e takes the next word, not -n
    (["-avze", "ssh -p 22", "-n"], "-n (--dry-run)"),
    (["-ane"], "in -ane"),  # -n comes before the value-taking -e
    (["--exclude", "*.o", "--dry-run"], "--dry-run"),
    (["--exclude=*.o", "-n"], "-n"),
    (["--inplace"], "--inplace would write into files that earlier snapshots share"),
    (["--append"], "--append would write into"),
    (["--append-verify"], "--append-verify would write into"),
    (["--link-dest=/old"], "--link-dest=/old would give rsync a second reference"),
    (["--link-dest", "/old"], "--link-dest would give rsync a second reference"),
    (["--compare-dest=/old"], "--compare-dest=/old would leave"),
    (["--compare-dest", "/old"], "--compare-dest would leave"),
    (["--copy-dest=/old"], "--copy-dest=/old"),
    (["--copy-dest", "/old"], "--copy-dest"),
    (["--list-only"], "--list-only would only list"),
    (["--only-write-batch=/tmp/b"], "--only-write-batch=/tmp/b"),
    (["--only-write-batch", "/tmp/b"], "--only-write-batch"),
    (["--write-batch=/tmp/b"], "--write-batch=/tmp/b would write a batch file"),
    (["--read-batch", "/tmp/b"], "--read-batch would apply a batch file"),
    (["--existing"], "--existing would copy only files already in the new"),
    (["--ignore-non-existing"], "--ignore-non-existing would copy only"),
]


@pytest.mark.parametrize(("options", "fragment"), REFUSED_OPTIONS, ids=ident)
def test_damaging_rsync_options_are_refused(options: list[str], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        build({"rsync-option": options}, {}, "f.toml")
    message = str(info.value)
    assert message.startswith("rsync-option: "), message
    assert fragment in message, message
    assert "\n" not in message
    assert info.value.exit_code == 2
    # from the command line just the same
    with pytest.raises(ConfigError, match="^rsync-option: "):
        build({}, {"rsync-option": options}, None)


ACCEPTED_OPTIONS: list[list[str]] = [
    [],
    ["-avz"],
    ["-aHAX", "--numeric-ids"],
    ["-x"],
    ["--exclude", "--dry-run"],  # excludes the pattern "--dry-run"
    ["--exclude", "-n"],
    ["--exclude=-n"],
    ["--exclude=--remove-source-files"],
    ["--include", "--inplace", "--filter", "- --append"],
    ["--filter=- n"],
    ["-f- n"],  # -f takes the rest of the cluster: the rule "- n"
    ["-f'- n'"],
    ["-f", "- n"],
    ["-f", "-n"],  # the filter rule "-n"
    ["-e", "-n"],
    ["-essh -n"],
    ["-Tn"],  # temp dir "n"
    ["-Bn", "-@n", "-Mn"],
    ["-M", "--dry-run"],  # a remote-only option: the value of -M
    ["--rsh", "-n"],
    ["--rsync-path", "--dry-run"],
    ["--chmod", "-n"],
    ["--info", "--existing", "--debug", "--list-only"],
    ["--backup-dir", "--inplace", "--suffix", "-n"],
    ["--log-file", "--write-batch", "--out-format", "-n"],
    ["--partial-dir", "-n", "--temp-dir", "-n"],
    ["--max-size", "-n", "--min-size", "-n", "--bwlimit", "-n", "--timeout", "-n"],
    ["--files-from", "-n", "--exclude-from", "-n", "--include-from", "-n"],
    ["--usermap", "-n", "--groupmap", "-n", "--chown", "-n"],
    ["--skip-compress", "-n", "--compress-choice", "-n", "--checksum-choice", "-n"],
    ["--remote-option", "--remove-source-files"],
    ["--no-inplace", "--delete-excluded", "--partial"],
    ["--", "-n"],  # after "--" nothing is an option
]


@pytest.mark.parametrize("options", ACCEPTED_OPTIONS, ids=ident)
def test_harmless_rsync_options_and_option_values_pass(options: list[str]) -> None:
    assert guards.rsync_option_problem(options) is None
    assert build({"rsync-option": options}, {}, None).rsync_option == tuple(options)


# --- relative paths (pure) -----------------------------------------------------------


@pytest.mark.parametrize("key", ["dest-dir", "logfile"])
@pytest.mark.parametrize("value", ["backup", "./backup", "~/backup", "../x"])
def test_relative_paths_in_the_config_file_are_refused(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        build({key: value}, {}, "f.toml")
    assert str(info.value) == (
        f'{key}: "{value}" is a relative path; write an absolute path '
        "(a run from cron or systemd starts in another directory)"
    )


def test_relative_source_dir_in_the_file_is_left_to_check_paths() -> None:
    """It may be a remote source-dir, relative to the remote home."""
    assert build({"source-dir": "data"}, {}, None).source_dir == "data"


def test_command_line_paths_are_made_absolute_against_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    built = build({}, {"dest-dir": "backup", "source-dir": "src/", "logfile": "l.log"}, None)
    assert built.dest_dir == str(tmp_path / "backup")
    assert built.source_dir == f"{tmp_path / 'src'}/"  # the trailing slash is kept
    assert built.logfile == str(tmp_path / "l.log")
    assert build({}, {"dest-dir": "/abs"}, None).dest_dir == "/abs"
    # a remote source stays relative to the remote home
    remote = build({"remote-host": "example.org"}, {"source-dir": "data"}, None)
    assert remote.source_dir == "data"
    forced = build({"use-ssh": "always"}, {"source-dir": "data"}, None)
    assert forced.source_dir == "data"
    local = build({"remote-host": "example.org", "use-ssh": "never"}, {"source-dir": "d"}, None)
    assert local.source_dir == str(tmp_path / "d")


# --- numbers (pure) --------------------------------------------------------------------

OUT_OF_RANGE: list[tuple[str, Any]] = [
    ("min-free-mb", 2**31 + 1),
    ("min-free-mb", 10**30),
    ("min-free-mb", 10**5000),  # more digits than int() or repr() will take
    ("min-free-mb", "9" * 5000),
    ("min-free-mb", 1e30),
    ("min-complete", 10001),
    ("max-rsync-errors", 100001),
    ("unit-interval", 1e300),
    ("unit-interval", 36526),
    ("unit-interval", "36526d"),
    ("unit-interval", "1e300"),
    ("unit-interval", "9" * 5000),
    ("unit-interval", 10**5000),
    ("unit-interval", 1e308),  # times 86400 is inf
    ("retry-delay", 1e300),
    ("retry-delay", "9" * 5000),
    ("retry-delay", MAX_SECONDS + 1),
    ("notify-timeout", 1e300),
    ("hook-timeout", 1e300),
    ("hook-timeout", "9" * 5000),
    ("safety-pin", 1e300),
    ("safety-pin", "40000d"),
    ("ssh-connect-timeout", 86401),
    ("ssh-connect-timeout", 10**30),
]


@pytest.mark.parametrize(("key", "value"), OUT_OF_RANGE, ids=ident)
def test_absurd_numbers_are_clean_config_errors(key: str, value: Any) -> None:
    for origin_values, overrides in (({key: value}, {}), ({}, {key: value})):
        with pytest.raises(ConfigError) as info:
            build(origin_values, overrides, "f.toml")
        message = str(info.value)
        assert f" {key}: " in message, message
        assert len(message) < 200 and "\n" not in message, message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("min-free-mb", 2**31, 2**31),
        ("min-complete", 10000, 10000),
        ("max-rsync-errors", 100000, 100000),
        ("unit-interval", "36525d", MAX_SECONDS),
        ("retry-delay", MAX_SECONDS, MAX_SECONDS),
        ("safety-pin", "36525d", MAX_SECONDS),
        ("hook-timeout", 0, 0),
        ("ssh-connect-timeout", 86400, 86400),
    ],
)
def test_the_bounds_themselves_are_accepted(key: str, value: Any, expected: Any) -> None:
    assert validate({key: value}, "f.toml") == {key: expected}
    assert build({key: value}, {}, None).get(key) == expected


def test_intervals_shorter_than_a_second_are_refused_naming_both_keys() -> None:
    assert validate({"num-intervals": 30}, "f.toml") == {"num-intervals": 30}
    with pytest.raises(ConfigError) as info:
        build({"num-intervals": 30}, {}, None)  # 4 days / 2^29: 0.6 ms
    message = str(info.value)
    assert message.startswith("unit-interval, num-intervals: "), message
    assert "at least one second" in message and "lower num-intervals to 19" in message
    with pytest.raises(ConfigError, match="num-intervals"):
        build({"unit-interval": "1s", "num-intervals": 2}, {}, None)
    # exactly one second apart is fine
    assert build({"unit-interval": "16s", "num-intervals": 5}, {}, None).num_intervals == 5
    assert build({"unit-interval": f"{2**29}s", "num-intervals": 30}, {}, None)
    assert build({"unit-interval": "1s", "num-intervals": 1}, {}, None).unit_interval == 1
    with pytest.raises(ConfigError, match="unit-interval, num-intervals"):
        build({"unit-interval": f"{2**29 - 1}s"}, {"num-intervals": 30}, None)


# --- check_paths (file system) -------------------------------------------------------


def paths_config(source: Path | str, dest: Path | str, **extra: Any) -> Config:
    return Config(source_dir=str(source), dest_dir=str(dest), **extra)


def test_nested_or_equal_local_paths_are_refused(tmp_path: Path) -> None:
    src = tmp_path / "data"
    (src / "backup").mkdir(parents=True)
    (tmp_path / "data2").mkdir()
    alias = tmp_path / "alias"
    alias.symlink_to(src)
    cases = [
        (src, src / "backup", "dest-dir is inside source-dir"),
        (src, src, "the same directory"),
        (src / "backup", src, "source-dir is inside dest-dir"),
        (src, alias, "the same directory"),
        (alias, src / "backup", "dest-dir is inside source-dir"),
        (Path("/"), src, "dest-dir is inside source-dir"),
    ]
    for source, dest, fragment in cases:
        with pytest.raises(ConfigError) as info:
            preflight.check_paths(paths_config(source, dest), str(source))
        message = str(info.value)
        assert message.startswith("source-dir, dest-dir: "), message
        assert fragment in message and str(source) in message and str(dest) in message
    # a common prefix is not nesting; a remote source is not compared
    preflight.check_paths(paths_config(src, tmp_path / "data2"), str(src))
    preflight.check_paths(paths_config(src, src / "backup"), None)


def test_dest_on_another_file_system_inside_the_source_is_fine_with_x(tmp_path: Path) -> None:
    """rsync -x does not descend into another file system: the rsnapshot set-up of /
    into a mounted backup disk works."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat("/").st_dev:
        pytest.skip("no second file system below /")
    config = paths_config("/", shm, rsync_option=("-ax",))
    preflight.check_paths(config, "/")
    with pytest.raises(ConfigError, match="inside source-dir"):
        preflight.check_paths(paths_config("/", shm), "/")
    # the same file system: -x does not help
    with pytest.raises(ConfigError, match="inside source-dir"):
        preflight.check_paths(paths_config(tmp_path, tmp_path / "d", rsync_option=("-x",)),
                           str(tmp_path))


def test_relative_local_source_dir_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        preflight.check_paths(Config(source_dir="data", dest_dir="/backup"), "/cwd/data")
    assert str(info.value).startswith('source-dir: "data" is a relative path; ')
    # remote: relative to the remote home
    assert preflight.check_paths(Config(source_dir="data", dest_dir="/nonexistent-x"), None) == []


def as_root() -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI runs the tests as root")
        pytest.skip("needs root")


def test_root_warning_for_a_destination_open_to_others(tmp_path: Path) -> None:
    as_root()
    dest = tmp_path / "dest"
    dest.mkdir()
    if os.statvfs(dest).f_flag & os.ST_NOSUID:
        pytest.skip("the temporary directory is on a nosuid mount")
    config = paths_config(tmp_path / "src", dest)
    dest.chmod(0o755)
    (warning,) = preflight.check_paths(config, None)
    assert warning == (
        f"dest-dir {dest} is readable by other users (mode 0755) and not on a "
        "nosuid mount; snapshots keep every file's permissions, including setuid binaries "
        f"and other users' private files: chmod 0700 {dest} or mount it nosuid "
        "(as rsnapshot advises)"
    )
    dest.chmod(0o701)
    assert "mode 0701" in preflight.check_paths(config, None)[0]
    dest.chmod(0o700)
    assert preflight.check_paths(config, None) == []
    # a destination that does not exist is the store's business
    assert preflight.check_paths(paths_config(tmp_path, tmp_path / "nope"), None) == []


# --- the real command ---------------------------------------------------------------


def refused(result: Any, key: str) -> str:
    """The one error line of a refused run (exit 2) naming ``key``."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dss: error: "), lines
    assert key in lines[0], lines
    assert result.stdout == ""
    return str(lines[0])


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.usefixtures("rsync")
@pytest.mark.parametrize(
    "layout", ["dest-inside-source", "dest-is-source", "source-inside-dest", "symlink-alias"]
)
def test_nested_paths_touch_nothing(run_dss: RunDss, source: Path, tmp_path: Path,
                                    layout: str) -> None:
    if layout == "dest-inside-source":
        src, dest = source, source / "snapshots"
        dest.mkdir()
    elif layout == "dest-is-source":
        src, dest = source, source
    elif layout == "source-inside-dest":
        src, dest = source, tmp_path
    else:
        src, dest = source, tmp_path / "alias"
        dest.symlink_to(source)
    before_source = tree_state(source)
    before_tmp = tree_state(tmp_path)
    for command in ("create", "configtest"):
        result = run_dss("--source-dir", str(src), "--dest-dir", str(dest), command)
        line = refused(result, "source-dir")
        assert "dest-dir" in line and str(src) in line and str(dest) in line
    assert tree_state(source) == before_source
    assert tree_state(tmp_path) == before_tmp  # no snapshot, no .dssframe, no lock


@pytest.mark.usefixtures("rsync")
@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--remove-source-files"], "--remove-source-files would delete files from the source"),
        (["-avn"], "-n (--dry-run, in -avn)"),
        (["-e", "ssh", "-n"], "-n (--dry-run)"),
    ],
)
def test_refused_rsync_options_touch_nothing(
    run_dss: RunDss, source: Path, dest: Path, tmp_path: Path, options: list[str],
    fragment: str
) -> None:
    before = tree_state(source)
    args = ["--source-dir", str(source), "--dest-dir", str(dest)]
    for option in options:
        args.append(f"--rsync-option={option}")
    line = refused(run_dss(*args, "create"), "rsync-option")
    assert fragment in line
    # the same from the config file
    config = write_config(tmp_path, f"rsync-option = {options!r}\n".replace("'", '"'))
    line = refused(run_dss("-c", config, *args[:4], "create"), "rsync-option")
    assert fragment in line
    assert tree_state(source) == before
    assert os.listdir(dest) == []


@pytest.mark.usefixtures("rsync")
def test_relative_dest_dir_in_the_config_file_is_refused(
    run_dss: RunDss, source: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, f'source-dir = "{source}"\ndest-dir = "backup"\n')
    for command in ("create", "configtest", "ls"):
        result = run_dss("-c", config, command, cwd=tmp_path)
        line = refused(result, "dest-dir")
        assert '"backup" is a relative path; write an absolute path' in line
    assert not (tmp_path / "backup").exists()


@pytest.mark.usefixtures("rsync")
def test_relative_paths_on_the_command_line_work_from_the_cwd(
    run_dss: RunDss, source: Path, tmp_path: Path
) -> None:
    (tmp_path / "backup").mkdir()
    result = run_dss("--source-dir", "source/", "--dest-dir", "backup", "create", cwd=tmp_path,
                     check=True)
    (snapshot,) = complete(tmp_path / "backup")
    assert result.stdout.strip() == str(snapshot)
    assert tree_state(snapshot) == tree_state(source)
    listing = run_dss("--dest-dir", "backup", "ls", cwd=tmp_path, check=True)
    assert snapshot.name in listing.stdout


@pytest.mark.usefixtures("rsync")
def test_configtest_warns_as_root_about_a_destination_open_to_others(
    run_dss: RunDss, source: Path, dest: Path
) -> None:
    as_root()
    if os.statvfs(dest).f_flag & os.ST_NOSUID:
        pytest.skip("the temporary directory is on a nosuid mount")
    args = ["--source-dir", str(source), "--dest-dir", str(dest), "configtest"]
    dest.chmod(0o755)
    result = run_dss(*args, check=True)
    lines = result.stderr.splitlines()
    assert lines[-1] == "# configuration OK"
    (warning,) = [line for line in lines if line.startswith("warn ")]
    assert warning.startswith(f"warn  dest-exposure dest-dir {dest} is readable by other "
                              "users (mode 0755) and not on a nosuid mount;")
    assert lines.index(warning) < len(lines) - 1
    dest.chmod(0o700)
    result = run_dss(*args, check=True)
    assert "warning" not in result.stderr
    assert result.stderr.splitlines()[-1] == "# configuration OK"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
