"""``dss man``: the manual page, rendered by real groff, lists every command and global
option, and agrees with README's exit-status table."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from dssframe.cli.man_commands import EXIT_STATUSES
from dsstest import RunDss, require_tool

ROOT = Path(__file__).resolve().parents[1]


def rendered(run_dss: RunDss) -> str:
    groff = require_tool("groff")
    source = run_dss("man", check=True).stdout
    result = subprocess.run([groff, "-man", "-Tutf8", "-ww"], input=source,
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert result.stderr == "", result.stderr  # no roff warning at all
    return re.sub(r".\x08", "", result.stdout)  # overstrike (bold) removed


def test_the_page_names_every_command_and_global_option(run_dss: RunDss) -> None:
    text = rendered(run_dss)
    listing = run_dss("--help", check=True).stdout.split("Commands:", 1)[1]
    commands = re.findall(r"^  (\S+)(?:\s{2,}|$)", listing, re.M)
    assert len(commands) > 20
    for command in commands:
        assert re.search(rf"^ {{3}}dss {re.escape(command)}\b", text, re.M), command
    for option in ("--config FILE", "--dest-dir DIR", "--job NAME", "--dry-run", "-v, --verbose"):
        assert option in text, option
    for heading in ("NAME", "SYNOPSIS", "GLOBAL OPTIONS", "COMMANDS", "EXIT STATUS", "FILES"):
        assert re.search(rf"^{heading}$", text, re.M), heading


def test_exit_statuses_agree_with_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = re.findall(r"^\| (\d+(?: / \d+)?) \|", readme, re.M)
    assert [s.replace(" / ", ", ") for s in table] == [status for status, _ in EXIT_STATUSES]
