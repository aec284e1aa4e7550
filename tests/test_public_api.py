"""``dssframe.api`` is the whole plugin API: the plugins shipped in ``plugins/`` and the
authoring guide's example import nothing else of dssframe (``dssframe.hookimpl``
aside), and every name the API exports exists."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dssframe.api

ROOT = Path(__file__).resolve().parent.parent
#: Build output (``build/lib`` copies of the sources) is not source.
SKIP_PARTS = {"build", "dist", "__pycache__"}


def plugin_sources() -> list[Path]:
    found = [*ROOT.glob("plugins/*/src/**/*.py"), *ROOT.glob("docs/examples/**/*.py")]
    return sorted(
        path for path in found
        if not SKIP_PARTS & set(path.relative_to(ROOT).parts)
        and not any(part.endswith(".egg-info") for part in path.parts)
    )  # fmt: skip


def dssframe_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, module, names)`` of every import of dssframe in ``path`` (``names``
    empty for ``import dssframe...``); imports inside functions count too."""
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "dssframe":
                    found.append((node.lineno, alias.name, []))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "dssframe"
        ):
            found.append((node.lineno, node.module or "", [a.name for a in node.names]))
    return found


def test_there_are_plugin_sources_to_check() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in plugin_sources()}
    assert "plugins/gfs/src/dssframe_gfs/__init__.py" in names
    assert "plugins/prometheus/src/dssframe_prometheus/metrics.py" in names
    assert "docs/examples/dss-example/eventlog.py" in names


@pytest.mark.parametrize(
    "path", plugin_sources(), ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_plugins_import_only_the_public_api(path: Path) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: {module} {names or ''}".rstrip()
        for line, module, names in dssframe_imports(path)
        if not (module == "dssframe.api" or (module == "dssframe" and names == ["hookimpl"]))
    ]
    assert wrong == [], "import these from dssframe.api (or dssframe.hookimpl)"


@pytest.mark.parametrize("name", dssframe.api.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(dssframe.api, name) is not None


def test_the_api_exports_what_its_module_defines() -> None:
    assert sorted(dssframe.api.__all__) == sorted(set(dssframe.api.__all__))
    public = {
        name for name, value in vars(dssframe.api).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("dssframe")
    }  # fmt: skip
    assert public <= set(dssframe.api.__all__), "export it in __all__, or make it private"
    assert dssframe.api.hookimpl is dssframe.hookimpl
