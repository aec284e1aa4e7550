"""The reference site (mkdocs.yml, docs/) builds from the docstrings with no warning,
and shows what a plugin author needs: every hook, every record's fields, the event
table -- which names every event kind, and only kinds that are really sent.

The build needs the ``docs`` extra (``pip install -e '.[docs]'``): without it the build
tests skip on a developer machine and fail in CI (``CI=true``), like a missing tool.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dssframe.core import events, naming, retention, settings, transport
from dssframe.core.events import Event, EventKind
from dsstest import IN_CI

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "dssframe"


def require_docs_tools() -> None:
    """Skip without mkdocs and mkdocstrings' python handler; fail in CI."""
    missing = [
        name
        for name in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "griffe")
        if importlib.util.find_spec(name.split(".")[0]) is None
        or importlib.util.find_spec(name) is None
    ]
    if missing:
        message = f"{', '.join(missing)} not installed (pip install -e '.[docs]')"
        if IN_CI:
            pytest.fail(message + " (CI must install the docs extra)")
        pytest.skip(message)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for this module exactly as CI and a developer build it."""
    require_docs_tools()
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict",
         "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    assert "WARNING" not in result.stderr, result.stderr
    return out


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def test_the_site_builds_with_no_warning(site: Path) -> None:
    assert (site / "index.html").is_file()
    for name in ("hooks", "api", "events", "retention", "transport", "settings"):
        assert (site / "reference" / name / "index.html").is_file(), name
    assert (site / "testing" / "index.html").is_file()


def test_every_hook_is_rendered(site: Path) -> None:
    from dssframe.testing import hookspec_names

    html = page(site, "reference/hooks")
    for name in hookspec_names():
        assert f'id="dssframe.plugins.hookspecs.{name}"' in html, name


def test_every_record_field_is_rendered(site: Path) -> None:
    """Each field of the records plugins receive or return has its own entry."""
    records: dict[str, list[Any]] = {
        "reference/events": [Event],
        "reference/retention": [retention.Removal],
        "reference/transport": [transport.CopyRequest, transport.CopyResult],
        "reference/settings": [settings.Setting, settings.PluginSettings],
        "reference/naming": [naming.SnapshotName],
    }
    for where, classes in records.items():
        html = page(site, where)
        for record in classes:
            for field in record._fields:
                anchor = f"{record.__module__}.{record.__name__}.{field}"
                assert f'id="{anchor}"' in html, anchor
    kinds = page(site, "reference/events")
    for kind in EventKind:
        assert f"<code>{kind.value}</code>" in kinds, kind  # a row of the event table


def test_cross_references_become_links(site: Path) -> None:
    """The docstrings' Sphinx roles (docs/griffe_rest.py) become links to the rendered
    targets, and no role is left as text."""
    hooks = page(site, "reference/hooks")
    assert re.search(r'class="autorefs autorefs-internal"[^>]* href="\.\./\w+/#dssframe\.', hooks)
    for html in site.glob("**/*.html"):
        text = html.read_text(encoding="utf-8")
        assert not re.search(r":(class|func|meth|mod|data|attr|exc):`", text), html


def test_every_api_name_is_in_the_api_page() -> None:
    import dssframe.api

    text = (ROOT / "docs" / "reference" / "api.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `(\w+)` \|", text, re.M))
    assert listed == set(dssframe.api.__all__)


# --- the event table (no docs tools needed) ---------------------------------------------


def event_table() -> list[list[str]]:
    """The rows of EventKind's docstring table: [kind, sent when, fields], each cell
    with its continuation lines joined (a reST simple table with a header)."""
    lines = inspect.cleandoc(EventKind.__doc__ or "").splitlines()
    borders = [i for i, line in enumerate(lines) if re.fullmatch(r"=+( +=+)+", line)]
    assert len(borders) == 3, "EventKind's docstring has no kind/sent when/fields table"
    starts = [m.start() for m in re.finditer(r"=+", lines[borders[0]])]
    rows: list[list[str]] = []
    for line in lines[borders[1] + 1 : borders[2]]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        if cells[0]:
            rows.append(cells)
        else:
            rows[-1] = [" ".join(filter(None, pair)) for pair in zip(rows[-1], cells, strict=True)]
    return rows


def test_the_event_table_names_every_kind_once() -> None:
    kinds = [re.fullmatch(r"``([a-z-]+)``", row[0]) for row in event_table()]
    assert all(kinds), [row[0] for row in event_table()]
    names = [match.group(1) for match in kinds if match]
    assert sorted(names) == sorted(kind.value for kind in EventKind)
    assert len(names) == len(set(names))


def test_the_event_table_marks_exactly_the_failures() -> None:
    marked = {row[0].strip("`") for row in event_table() if row[1].startswith("*failure*")}
    assert marked == {kind.value for kind in EventKind if kind.is_failure}


def test_the_event_table_names_only_event_fields() -> None:
    """Outside parentheses the fields column names Event fields only."""
    for kind, _, fields in event_table():
        outside = re.sub(r"\([^()]*(\([^()]*\)[^()]*)*\)", "", fields)
        named = set(re.findall(r"``(\w+)``", outside))
        assert named <= set(Event._fields), (kind, named - set(Event._fields))
        assert named, kind


def sent_kinds() -> dict[str, list[str]]:
    """Every ``EventKind.X`` handed to an Event or a job's ``event(...)`` in the source,
    with where."""
    found: dict[str, list[str]] = {}
    pattern = re.compile(r"\b(?:event|Event)\(\s*EventKind\.([A-Z_]+)\b")
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "core" / "events.py":
            continue
        for name in pattern.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, []).append(str(path.relative_to(SRC)))
    return found


def test_every_event_kind_is_sent_somewhere() -> None:
    assert sorted(sent_kinds()) == sorted(kind.name for kind in EventKind)


# --- docstrings the reference relies on --------------------------------------------------


def documented_assignments(module: object, class_name: str) -> dict[str, bool]:
    """For each assignment in ``class_name``'s body: whether a string follows it (an
    attribute docstring, which the reference renders)."""
    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name]
    found: dict[str, bool] = {}
    for statement, after in zip(cls.body, [*cls.body[1:], None], strict=True):
        target = None
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            target = statement.target.id
        elif isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
            target = statement.targets[0].id
        if target is not None:
            found[target] = (
                isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            )
    return found


@pytest.mark.parametrize(
    ("module", "class_name"),
    [
        (events, "Event"),
        (retention, "Reason"),
        (retention, "Removal"),
        (settings, "Setting"),
        (settings, "PluginSettings"),
        (naming, "SnapshotName"),
    ],
)
def test_every_field_and_member_has_a_docstring(module: object, class_name: str) -> None:
    documented = documented_assignments(module, class_name)
    assert documented and all(documented.values()), [k for k, v in documented.items() if not v]


def options_table() -> str:
    """The Markdown table of every configuration option, as docs/reference/config.md
    must hold it."""
    from dssframe.core.config import OPTIONS, attribute_name, toml_value

    rows = ["| key | `Config` attribute | default | meaning |", "|---|---|---|---|"]
    for option in OPTIONS:
        default = "(none)" if option.default is None else f"`{toml_value(option.default)}`"
        meaning = option.help.replace("|", "\\|")
        attribute = attribute_name(option.key)
        rows.append(f"| `{option.key}` | `{attribute}` | {default} | {meaning} |")
    return "\n".join(rows)


def test_the_options_page_lists_every_option_as_the_code_defines_it() -> None:
    page = (ROOT / "docs" / "reference" / "config.md").read_text(encoding="utf-8")
    table = page.split("<!-- options-table: begin -->\n", 1)[1]
    table = table.split("\n<!-- options-table: end -->")[0]
    expected = options_table()
    assert table == expected, f"docs/reference/config.md is out of date; it should be:\n{expected}"
