"""The map of the house in CONTRIBUTING.md is the tree, and the tree keeps its rules.

CONTRIBUTING's "Layout" block names every module under ``src/dssframe`` with one line
on what it owns; this test fails when a module is added, moved or removed without the
map following. The architecture rules themselves (layers, a pure core, typer only in
the command line, no import cycles) are import-linter contracts in pyproject.toml,
run here too so that a developer sees them fail before CI does.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from dsstest import require_tool

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "src" / "dssframe"


def layout_block() -> list[str]:
    text = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1]
    block = re.search(r"```\n(src/dssframe/\n.*?)```", section, re.S)
    assert block, "CONTRIBUTING.md's Layout section has no src/dssframe/ block"
    return block.group(1).splitlines()


def mapped_modules() -> set[str]:
    """Paths (relative to src/dssframe) the map names: ``pkg/`` lines open a package,
    indented ``name.py`` lines are its modules."""
    paths: set[str] = set()
    stack: list[tuple[int, str]] = []
    for line in layout_block()[1:]:
        match = re.match(r"( *)([^\s,]+(?:, [^\s,]+)*)", line)  # "diff.py, du.py" names two
        if not match:
            continue
        indent, word = len(match.group(1)), match.group(2)
        if not (word.endswith("/") or word.endswith(".py")):
            continue  # a continuation line of a description
        while stack and stack[-1][0] >= indent:
            stack.pop()
        prefix = "".join(name for _, name in stack)
        if word.endswith("/"):
            stack.append((indent, word))
        else:
            for name in word.split(", "):
                paths.add(prefix + name)
    return paths


def actual_modules() -> set[str]:
    return {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
        and not (path.name == "__init__.py" and path.parent != PACKAGE)
    }


def test_contributing_maps_every_module_and_nothing_else() -> None:
    mapped, actual = mapped_modules(), actual_modules()
    assert sorted(actual - mapped) == [], "modules missing from CONTRIBUTING.md's Layout"
    assert sorted(mapped - actual) == [], "CONTRIBUTING.md's Layout names modules that do not exist"


def test_every_package_says_what_it_owns() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        if "__pycache__" in init.parts:
            continue
        text = init.read_text(encoding="utf-8")
        assert text.lstrip().startswith('"""'), f"{init.relative_to(REPO)} has no docstring"


def test_the_import_contracts_hold() -> None:
    """Layers (cli > engine | builtin > api > plugins > store > logs > core), a pure
    core, typer only in cli, no cycles between sibling modules."""
    command = Path(sys.executable).parent / "lint-imports"
    if not command.exists():
        command = Path(require_tool("lint-imports"))
    result = subprocess.run(
        [str(command), "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Contracts: \d+ kept, 0 broken", result.stdout), result.stdout
