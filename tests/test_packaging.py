"""Packaging metadata that builds without setuptools deprecation warnings, and install
instructions that are true: nothing of dssframe is published on PyPI."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTIONS = [ROOT, *sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))]


def ident(path: Path) -> str:
    return str(path.relative_to(ROOT)) or "dssframe"


@pytest.mark.parametrize("root", DISTRIBUTIONS, ids=ident)
def test_license_is_an_spdx_expression_for_a_setuptools_that_reads_it(root: Path) -> None:
    """``license = { text = ... }`` and License classifiers beside an SPDX ``license``
    are deprecated (setuptools warns on every build, and stops building them after
    2027-02-18); the SPDX string needs setuptools 77."""
    document = tomllib.loads((root / "pyproject.toml").read_text())
    project = document["project"]
    assert project["license"] == "GPL-2.0-or-later"
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]
    (setuptools,) = [r for r in document["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools.replace(" ", ""))
    assert minimum is not None and int(minimum.group(1)) >= 77, setuptools


@pytest.mark.parametrize("root", DISTRIBUTIONS[1:], ids=ident)
def test_plugin_readmes_install_from_the_clone(root: Path) -> None:
    readme = (root / "README.md").read_text()
    assert not re.search(r"pip install +dssframe", readme), "dssframe is not on PyPI"
    (path,) = set(re.findall(r"pip install (?:-e )?\.?/?(plugins/[\w-]+)", readme))
    assert ROOT / path == root
    name = tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"]
    assert readme.startswith(f"# {name}\n")


def test_main_readme_installs_plugins_from_the_clone() -> None:
    readme = (ROOT / "README.md").read_text()
    assert not re.search(r"pip install +'?dssframe-", readme)
    for path in re.findall(r"pip install (?:-e )?\.?/?(plugins/[\w-]+)", readme):
        assert (ROOT / path / "pyproject.toml").is_file(), path
