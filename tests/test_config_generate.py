"""``dss config generate [FILE] [--force]`` (issue 13): a commented sample config file
covering every option of the option table at its default; as written it is valid and
changes nothing, and so is every ``# key = value`` line uncommented. Real ``dss``
processes, the real config loader."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from dssframe.core.config import OPTIONS, Config, option_kind, sample_toml
from dssframe.store.configfile import build
from dsstest import RunDss

#: A commented-out setting: ``# key = value``.
SETTING = re.compile(r"^# ([a-z][a-z0-9-]*) = (.*)$")
#: A commented-out plugin table: ``# [plugins.NAME]``.
TABLE = re.compile(r"^# (\[plugins\.[A-Za-z0-9_-]+\])$")


def uncomment(text: str, tables: bool = False) -> str:
    """``text`` with every ``# key = value`` line uncommented (also those of the
    ``[plugins.*]`` tables, and the table headers, when ``tables``)."""
    lines = []
    in_plugins = False
    for line in text.splitlines():
        table = TABLE.match(line)
        if table:
            in_plugins = True
            lines.append(table.group(1) if tables else line)
            continue
        setting = SETTING.match(line)
        if setting and (tables or not in_plugins):
            lines.append(f"{setting.group(1)} = {setting.group(2)}")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def test_the_sample_is_valid_toml_that_sets_nothing(run_dss: RunDss) -> None:
    text = run_dss("config", "generate", check=True).stdout
    assert text.startswith("# dssframe configuration file (TOML)")
    assert tomllib.loads(text) == {}  # every option commented out
    assert "source-dir and dest-dir" in text and "dss config path" in text


def test_every_option_appears_once_with_its_help_and_kind(run_dss: RunDss) -> None:
    text = run_dss("config", "generate", check=True).stdout
    head = text.split("# --- plugin settings")[0]
    keys = [m.group(1) for m in map(SETTING.match, head.splitlines()) if m]
    assert keys == [option.key for option in OPTIONS]
    for option in OPTIONS:
        block = f"# {option.help}\n# value: {option_kind(option)}\n# {option.key} = "
        assert block in text, option.key
        assert option_kind(option) != "see the documentation", option.key


def test_kinds_name_ranges_and_choices() -> None:
    kinds = {option.key: option_kind(option) for option in OPTIONS}
    assert kinds["num-intervals"] == "an integer, 1..30"
    assert kinds["use-ssh"] == '"auto", "always" or "never"'
    assert kinds["keep-redundant"] == "true or false"
    assert kinds["rsync-option"] == "a list of strings"
    assert "debug" in kinds["loglevel"] and "0..6" in kinds["loglevel"]


def test_uncommenting_every_option_loads_as_the_defaults(tmp_path: Path) -> None:
    """Each value reads back as the option's default (``unit-interval = "4d"``: a plain
    number would mean days; ``source-dir = ""``: not set)."""
    path = tmp_path / "config.toml"
    text = uncomment(sample_toml())
    path.write_text(text)
    values = tomllib.loads(text)
    assert set(values) == {option.key for option in OPTIONS}
    config = build(values, {}, str(path))
    assert config.effective() == Config().effective()


def test_uncommented_the_real_dss_shows_what_no_config_shows(
    run_dss: RunDss, tmp_path: Path
) -> None:
    """Every option and every installed plugin's table uncommented (those plugins
    enabled, so that their tables are read): ``dss config show`` prints exactly what
    it prints without a config file, plus the plugins' tables at their defaults."""
    sample = run_dss("config", "generate", check=True).stdout
    options_only = tmp_path / "options.toml"
    options_only.write_text(uncomment(sample))
    empty = run_dss("config", "show", check=True).stdout
    shown = run_dss("-c", str(options_only), "config", "show", check=True)
    assert shown.stdout == empty and shown.stderr == ""

    tables = [m.group(1) for m in map(TABLE.match, sample.splitlines()) if m]
    sections = [table[len("[plugins.") : -1] for table in tables]
    everything = uncomment(sample, tables=True)
    assert tomllib.loads(everything).get("plugins", {}).keys() == set(sections)
    if not sections:
        return  # no installed plugin declares settings
    enabled = "enable-plugins = [" + ", ".join(f'"{s}"' for s in sections) + "]\n"
    everything = everything.replace("enable-plugins = []\n", enabled)
    full = tmp_path / "full.toml"
    full.write_text(everything)
    result = run_dss("-c", str(full), "config", "show", check=True)
    assert result.stderr == ""
    shown_plugins = tomllib.loads(result.stdout).get("plugins", {})
    declared = tomllib.loads(everything)["plugins"]
    assert shown_plugins == declared  # the generated values are the declared defaults


def test_file_mode_refuses_to_overwrite_without_force(run_dss: RunDss, tmp_path: Path) -> None:
    expected = run_dss("config", "generate", check=True).stdout
    target = tmp_path / "etc" / "dssframe.toml"  # its directory is made too
    written = run_dss("config", "generate", str(target), check=True)
    assert written.stdout == "" and written.stderr == f"wrote {target}\n"
    assert target.read_text() == expected
    target.write_text('dest-dir = "/backup"\n')  # the user's own edits
    refused = run_dss("config", "generate", str(target))
    assert refused.returncode == 2
    assert refused.stderr == f"dss: error: {target} exists; use --force to overwrite it\n"
    assert target.read_text() == 'dest-dir = "/backup"\n'
    run_dss("config", "generate", str(target), "--force", check=True)
    assert target.read_text() == expected
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left
