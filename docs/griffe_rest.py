"""A Griffe extension for the docs build: dssframe's reST-flavoured docstrings as Markdown.

The docstrings are written to read well in ``help()`` and in the source, with a few
reStructuredText habits that Markdown does not share. Before mkdocstrings renders them
this extension rewrites, in every docstring of the loaded package:

- Sphinx roles (``:class:`Transport```, ``:func:`~dssframe.core.gate.screen```,
  ``:data:`x```, ``:meth:``, ``:mod:``, ``:attr:``, ``:exc:``) into cross-references:
  the name is resolved in the docstring owner's scope and becomes an *optional*
  autorefs link (a link when the target is rendered somewhere in the site, plain code
  otherwise, never a warning);
- definition lists (a term, its definition indented on the next line) into
  Markdown's (the ``def_list`` extension);
- simple tables (``=====  =====`` borders) into Markdown: with a header row, a
  Markdown table; without one, a list of ``first column: the rest`` items;
- a paragraph ending in ``::`` (a literal block follows) into one ending in ``:``.

``double backticks``, ``*emphasis*``, lists and ``Title`` / ``-----`` headings are
Markdown already. Configured in mkdocs.yml (``extensions:`` of the python handler).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj|const):`(?P<body>[^`]+)`")
_BORDER = re.compile(r"^(?P<indent> *)=+(?: +=+)+ *$")


class ReSTDocstrings(griffe.Extension):
    """Rewrite every docstring of the package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = to_markdown(obj.docstring.value, obj)


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_walk(member))  # type: ignore[arg-type]
    return found


def to_markdown(text: str, owner: griffe.Object | None = None) -> str:
    text = _definitions(_tables(text))
    text = re.sub(r"(\S)::$", r"\1:", text, flags=re.M)
    return _ROLE.sub(lambda match: _reference(match["body"], owner), text)


def _reference(body: str, owner: griffe.Object | None) -> str:
    """``Title <target>``, ``~a.b.C`` (shown as ``C``) or ``name`` (resolved)."""
    explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>", body)
    if explicit:
        title, target = explicit["title"], explicit["target"]
    else:
        target = body.lstrip("~!.")
        title = target.rsplit(".", 1)[-1] if body.startswith("~") else target
    target = target.lstrip("~!.").removesuffix("()")
    identifier = target
    if owner is not None:
        head, _, rest = target.partition(".")
        try:
            identifier = owner.resolve(head) + ("." + rest if rest else "")
        except Exception:  # noqa: BLE001 - not a name in scope: keep it as written
            identifier = target
    return (
        f'<code><autoref identifier="{html.escape(identifier)}" optional>'
        f"{html.escape(title)}</autoref></code>"
    )


def _definitions(text: str) -> str:
    """reST definition lists (a term at the left margin, its definition indented by four
    spaces on the very next line) as Markdown's (``def_list``: ``:   definition``)."""
    lines = text.split("\n")
    out: list[str] = []
    state = ""  # "first": the next indented line opens a definition; "rest": inside one
    for i, line in enumerate(lines):
        previous = lines[i - 1] if i else ""
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if _is_term(line, previous, following):
            out.extend(["", line])
            state = "first"
        elif state and line.startswith("    "):
            out.append((":   " if state == "first" else "    ") + line[4:])
            state = "rest"
        else:
            out.append(line)
            state = ""
    return "\n".join(out)


def _is_term(line: str, previous: str, following: str) -> bool:
    return bool(
        line.strip()
        and not line[0].isspace()
        and not re.match(r"([-*+|]|\d+\.) ", line)
        and re.match(r"    \S", following)
        and (not previous.strip() or previous.startswith("    "))
    )


def _tables(text: str) -> str:
    """Every reST simple table of ``text`` as Markdown."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _BORDER.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j] == lines[i]), None)
        if end is None:
            out.append(lines[i])
            i += 1
            continue
        # a header is closed by a second border before the last one
        last = next((j for j in range(end + 1, len(lines)) if lines[j] == lines[i]), None)
        header_end = end if last is not None else None
        stop = last if last is not None else end
        columns = [m.span() for m in re.finditer(r"=+", lines[i])]
        header = _rows(lines[i + 1 : header_end], columns) if header_end else []
        body = _rows(lines[(header_end or i) + 1 : stop], columns)
        indent = match["indent"]
        out.extend(_markdown(header, body, indent))
        i = stop + 1
    return "\n".join(out)


def _rows(lines: list[str], columns: list[tuple[int, int]]) -> list[list[str]]:
    """Cells by column; a line with an empty first column continues the row above."""
    rows: list[list[str]] = []
    for line in lines:
        if not line.strip():
            continue
        cells = []
        for n, (start, _end) in enumerate(columns):
            stop = columns[n + 1][0] if n + 1 < len(columns) else None
            cells.append(line[start:stop].strip())
        if rows and not cells[0]:
            pairs = zip(rows[-1], cells, strict=True)
            rows[-1] = [" ".join(filter(None, pair)) for pair in pairs]
        else:
            rows.append(cells)
    return rows


def _markdown(header: list[list[str]], body: list[list[str]], indent: str) -> list[str]:
    out = [""]
    if header:
        titles = [" ".join(column) for column in zip(*header, strict=True)]
        out.append(indent + "| " + " | ".join(titles) + " |")
        out.append(indent + "|" + "---|" * len(header[0]))
        out.extend(indent + "| " + " | ".join(row) + " |" for row in body)
    else:
        out.extend(indent + f"- {row[0]}: " + " ".join(row[1:]) for row in body)
    out.append("")
    return out
