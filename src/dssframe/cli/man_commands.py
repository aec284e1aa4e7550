"""``dss man``: the manual page dss(1), written from the command line itself -- every
command, option and help text as ``--help`` shows them, so the page cannot drift --
plus exit statuses, files and environment. ``dss man | man -l -`` reads it;
``dss man > /usr/local/share/man/man1/dss.1`` installs it. Only typer is imported at
module level, as in every command module.
"""

from __future__ import annotations

from typing import Any

import typer

from dssframe import hookimpl

#: EXIT STATUS: README's table, in short (tests/test_man.py checks they agree).
EXIT_STATUSES = (
    ("0", "done (also: nothing to do)."),
    ("1", "operational failure: the copy failed or was not believed, the source is "
          "missing, empty or not mounted, another dss holds the destination, a removal "
          "failed or was refused."),
    ("2", "usage or configuration error: nothing was touched."),
    ("3", "status, kill, reload: no dss is running on that destination."),
    ("130, 143", "interrupted (SIGINT, SIGTERM); an incomplete snapshot stays for a resume."),
)  # fmt: skip

FILES = (
    ("~/.config/dssframe/config.toml", "the config file ($XDG_CONFIG_HOME; --config or "
     "$DSSFRAME_CONFIG choose another; dss config path prints it)."),
    ("~/.local/state/dssframe/", "state: the run loop's logs (logs/), rsync's statistics "
     "while it copies ($XDG_STATE_HOME)."),
    ("DEST/.dssframe/", "in each destination: its lock, pins, metadata of every snapshot, "
     "the run loop's state file."),
)  # fmt: skip

ENVIRONMENT = (
    ("DSSFRAME_CONFIG", "the config file, when --config is not given."),
    ("XDG_CONFIG_HOME, XDG_STATE_HOME", "where the config and the state live."),
    ("JOURNAL_STREAM", "set by systemd: when it names stderr, log lines carry a syslog "
     "priority instead of a time."),
)  # fmt: skip


def roff(text: str) -> str:
    """``text`` safe in a roff line: backslashes escaped, hyphens of options as
    ``\\-``, a leading dot or quote made harmless."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def _paragraphs(text: str) -> list[str]:
    """A help text as roff paragraphs (blank lines separate them)."""
    lines: list[str] = []
    for block in (text or "").strip().split("\n\n"):
        joined = " ".join(line.strip() for line in block.splitlines() if line.strip())
        if joined:
            lines += [".PP", roff(joined)]
    return lines


def _option_lines(command: Any, context: Any) -> list[str]:
    lines: list[str] = []
    for param in command.params:
        if param.param_type_name != "option" or getattr(param, "hidden", False):
            continue
        if param.name in ("help", "install_completion", "show_completion"):
            continue  # every command has --help; completion: dss completion
        record = param.get_help_record(context)
        if record is None:
            continue
        names, help_text = record
        lines += [".TP", f".B {roff(names)}", roff(help_text or "")]
    return lines


def page(root: Any, version: str) -> str:
    """The manual page of the click command ``root`` (the whole ``dss``)."""
    import datetime

    context = root.make_context("dss", [], resilient_parsing=True)
    today = datetime.date.today().isoformat()
    out = [
        f'.TH DSS 1 "{today}" "dssframe {version}" "User Commands"',
        ".SH NAME",
        "dss \\- dyadic hard\\-link snapshots of a directory with rsync \\-\\-link\\-dest",
        ".SH SYNOPSIS",
        ".B dss",
        "[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]",
        ".SH DESCRIPTION",
        *_paragraphs(root.help or ""),
        ".PP",
        roff("Global options may come before or after the command word. Every command "
             "also answers -h/--help."),  # fmt: skip
        ".SH GLOBAL OPTIONS",
        *_option_lines(root, context),
        ".SH COMMANDS",
    ]
    pending = [("", root)]
    while pending:
        prefix, group = pending.pop(0)
        for name, command in sorted(group.commands.items()):
            if getattr(command, "hidden", False):
                continue
            full = f"{prefix}{name}"
            if getattr(command, "commands", None):
                pending.append((f"{full} ", command))
                continue
            sub = command.make_context(full, [], parent=context, resilient_parsing=True)
            usage = " ".join(command.collect_usage_pieces(sub))
            title = roff(f"dss {full} {usage}".strip()).replace('"', '""')
            out.append(f'.SS "{title}"')
            out += _paragraphs(command.help or "")
            options = _option_lines(command, sub)
            if options:
                out += [".RS", *options, ".RE"]
    out.append(".SH EXIT STATUS")
    for status, meaning in EXIT_STATUSES:
        out += [".TP", f".B {status}", roff(meaning)]
    out.append(".SH FILES")
    for path, meaning in FILES:
        out += [".TP", f".I {roff(path)}", roff(meaning)]
    out.append(".SH ENVIRONMENT")
    for variable, meaning in ENVIRONMENT:
        out += [".TP", f".B {roff(variable)}", roff(meaning)]
    out += [".SH SEE ALSO", ".BR rsync (1),", ".BR ssh (1),", ".BR systemd.service (5)"]
    return "\n".join(out) + "\n"


def man_command(ctx: typer.Context) -> None:
    """Print the manual page dss(1) (read it: dss man | man -l -)."""
    from dssframe import __version__

    root = ctx.find_root().command
    typer.echo(page(root, __version__), nl=False)


@hookimpl
def dssframe_cli_commands(app: typer.Typer) -> None:
    """Add ``dss man`` to ``app``."""
    app.command("man")(man_command)
