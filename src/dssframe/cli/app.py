"""The ``dss`` command line: the typer app, its global options, and how commands get on
it. Every command, builtin or not, comes from a plugin's ``dssframe_cli_commands``
hook: the builtin ones are the modules in :data:`BUILTIN_COMMAND_MODULES`, registered on
the plugin host like any third-party plugin (as tox does with its subcommands).

Imports stay inside the commands, so a command loads only what it uses.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperArgument

from dssframe import __version__
from dssframe.cli.invocation import Invocation

if TYPE_CHECKING:
    from dssframe.plugins.host import PluginHost

#: The builtin command plugins: plugin name -> module.
BUILTIN_COMMAND_MODULES = {
    "commands": "dssframe.cli.main_commands",
    "snapshot-commands": "dssframe.cli.snapshot_commands",
    "daemon-commands": "dssframe.cli.daemon_commands",
    "plugin-commands": "dssframe.cli.plugin_commands",
    "systemd-commands": "dssframe.cli.systemd_commands",
    "man-commands": "dssframe.cli.man_commands",
    "simulate-commands": "dssframe.cli.simulate_commands",
    "completion-commands": "dssframe.cli.completion_commands",
    "serve-commands": "dssframe.cli.serve_commands",
    "verify-commands": "dssframe.cli.verify_commands",
}


def new_app() -> typer.Typer:
    """A ``dss`` app with the global options and no command yet."""
    app = typer.Typer(
        name="dss",
        add_completion=True,  # --install-completion, --show-completion (typer's)
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
        help="Dyadic hard-link snapshots of a directory with rsync --link-dest.",
    )
    app.callback()(main_options)
    return app


def register_builtin_commands(host: PluginHost) -> None:
    """Register the builtin command modules on ``host`` (once)."""
    import importlib

    known = {info.name for info in host.infos}
    for name, dotted in BUILTIN_COMMAND_MODULES.items():
        if name not in known:
            module = importlib.import_module(dotted)
            host.register_module(module, name, "builtin", None, __version__)


def build_app(host: PluginHost) -> typer.Typer:
    """A ``dss`` app with the commands of every plugin ``host`` has registered."""
    register_builtin_commands(host)
    app = new_app()
    host.add_commands(app)
    return app


def command_names(app: typer.Typer) -> set[str]:
    """The commands and command groups on ``app``."""
    names = {info.name or "" for info in app.registered_commands}
    return names | {group.name or "" for group in app.registered_groups}


def _version(ctx: typer.Context, value: bool) -> None:
    if not value or ctx.resilient_parsing:  # completing a command line: not now
        return
    from dssframe.plugins.host import load_host

    typer.echo(f"dss (dssframe) {__version__}")
    host = load_host()
    host.load_entry_points()
    for info in host.infos:
        where = info.distribution or info.origin
        typer.echo(f"  plugin {info.name} {info.version or '?'} ({where})")
    raise typer.Exit()


def main_options(
    ctx: typer.Context,
    config: Annotated[
        str | None, typer.Option("--config", "-c", metavar="FILE", help="TOML config file")
    ] = None,
    source_dir: Annotated[
        str | None, typer.Option(metavar="DIR", help="directory to snapshot")
    ] = None,
    dest_dir: Annotated[
        str | None, typer.Option(metavar="DIR", help="where the snapshots live")
    ] = None,
    remote_host: Annotated[
        str | None, typer.Option(metavar="HOST", help="host of the source")
    ] = None,
    remote_user: Annotated[
        str | None, typer.Option(metavar="USER", help="user on the remote host")
    ] = None,
    rsync_option: Annotated[
        list[str] | None, typer.Option(metavar="ARG", help="extra rsync argument (repeatable)")
    ] = None,
    unit_interval: Annotated[
        str | None,
        typer.Option(metavar="DURATION", help="days, or a duration like 6h, 30m, 2w"),
    ] = None,
    num_intervals: Annotated[
        str | None, typer.Option(metavar="N", help="number of intervals, 1..30")
    ] = None,
    retention: Annotated[
        str | None, typer.Option(metavar="NAME", help="retention policy name")
    ] = None,
    transport: Annotated[str | None, typer.Option(metavar="NAME", help="transport name")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="only show what would be done")
    ] = False,
    loglevel: Annotated[
        str | None, typer.Option(metavar="LEVEL", help="0..6 or debug..emerg")
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            show_default=False,
            help="log one level more than loglevel (-vv: two)",
        ),
    ] = 0,
    quiet: Annotated[
        int,
        typer.Option(
            "--quiet", "-q", count=True, show_default=False, help="log one level less (-qq: two)"
        ),
    ] = 0,
    plugin: Annotated[
        list[str] | None,
        typer.Option("--plugin", "-p", metavar="MODULE", help="load a plugin module"),
    ] = None,
    job: Annotated[
        list[str] | None,
        typer.Option(
            "--job", "-j", metavar="NAME",
            help="only this job of the config (repeatable; default: every job)",
        ),
    ] = None,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="show versions"),
    ] = None,
) -> None:
    """Dyadic hard-link snapshots of a directory with rsync --link-dest."""
    given = {
        "source-dir": source_dir,
        "dest-dir": dest_dir,
        "remote-host": remote_host,
        "remote-user": remote_user,
        "rsync-option": rsync_option or None,
        "unit-interval": unit_interval,
        "num-intervals": num_intervals,
        "retention": retention,
        "transport": transport,
        "loglevel": loglevel,
    }
    overrides = {key: value for key, value in given.items() if value is not None}
    # A Invocation handed in (the original's option-style command line) keeps what it holds.
    state = ctx.obj if isinstance(ctx.obj, Invocation) else Invocation()
    state.config_file = config or state.config_file
    state.overrides = {**state.overrides, **overrides}
    state.dry_run = dry_run or state.dry_run
    state.verbosity += verbose - quiet
    state.plugin_modules = state.plugin_modules + list(plugin or [])
    state.job_names = state.job_names + [name for name in job or [] if name not in state.job_names]
    ctx.obj = state


#: Global options that take a value (the pre-parser must skip their values).
VALUE_OPTIONS = frozenset(
    {
        "-c", "--config", "--source-dir", "--dest-dir", "--remote-host", "--remote-user",
        "--rsync-option", "--unit-interval", "--num-intervals", "--retention",
        "--transport", "--loglevel", "-p", "--plugin", "-j", "--job",
    }
)  # fmt: skip


def preparse(argv: list[str]) -> tuple[list[str], str | None]:
    """The ``-p`` plugin modules (before or after the command word) and the command
    word, read before typer builds the commands, so that a plugin can add commands and
    options."""
    modules: list[str] = []
    command: str | None = None
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            break
        if token in ("-p", "--plugin"):
            modules.append(next(tokens, ""))
        elif token.startswith("--plugin="):
            modules.append(token.split("=", 1)[1])
        elif token.startswith("-p") and not token.startswith("--"):
            modules.append(token[2:])
        elif token in VALUE_OPTIONS and command is None:
            next(tokens, None)
        elif not token.startswith("-") and command is None:
            command = token
    return modules, command


# The click objects typer builds are handled by their attributes: typer vendors its own
# copy of click (typer._click), whose classes are not click's.


def _subcommands(command: Any) -> dict[str, Any] | None:
    """A group's commands by name; None for a plain command."""
    commands = getattr(command, "commands", None)
    return commands if isinstance(commands, dict) else None


def _options(command: Any) -> dict[str, bool]:
    """``command``'s option names, each with whether it takes a value."""
    names: dict[str, bool] = {}
    for param in command.params:
        if param.param_type_name == "option":
            takes_value = not param.is_flag and not param.count
            for name in (*param.opts, *param.secondary_opts):
                names[name] = takes_value
    return names


def hoist_global_options(args: list[str], root: Any) -> list[str]:
    """``args`` with every global option written after the command word moved before it
    (``dss prune --dry-run`` is ``dss --dry-run prune``), so that both places work.

    An option the command itself defines stays where it is (``delete --dry-run`` is the
    command's own, which means the same); so does everything after ``--``, every
    positional argument and every value of an option. An unknown command is left to
    click, which reports it."""
    globals_ = _options(root)
    before: list[str] = []
    i = 0
    while i < len(args) and args[i] != "--" and args[i].startswith("-"):
        token = args[i]
        before.append(token)
        i += 1
        if globals_.get(token) and i < len(args):
            before.append(args[i])  # the value of a global option
            i += 1
    command, path = root, []
    while _subcommands(command) is not None and i < len(args) and not args[i].startswith("-"):
        sub = (_subcommands(command) or {}).get(args[i])
        if sub is None:
            return args
        path.append(args[i])
        command = sub
        i += 1
    if not path:
        return args
    own = _options(command)
    hoisted: list[str] = []
    rest: list[str] = []
    while i < len(args):
        token = args[i]
        if token == "--":
            rest += args[i:]
            break
        flags = _split_flags(token, own, globals_)
        if flags is not None:  # -vv, -vb: global letters before the command, own after
            hoisted += [flags[0]] if len(flags[0]) > 1 else []
            rest += [flags[1]] if len(flags[1]) > 1 else []
            i += 1
            continue
        name = token.split("=", 1)[0] if token.startswith("--") else token
        is_global = token.startswith("-") and name not in own and name in globals_
        target = hoisted if is_global else rest
        target.append(token)
        i += 1
        table = own if target is rest else globals_
        if token.startswith("-") and table.get(name) and "=" not in token and i < len(args):
            target.append(args[i])
            i += 1
    return before + hoisted + path + rest


def _split_flags(
    token: str, own: dict[str, bool], globals_: dict[str, bool]
) -> tuple[str, str] | None:
    """``token`` as short flags written together (``-vv``, ``-vb``): the global ones and
    the command's own ones, each as one token (``-`` for none); None for anything else
    (one letter, a long option, a letter that takes a value or is unknown)."""
    if len(token) < 3 or token[0] != "-" or token[1] == "-":
        return None
    mine, theirs = "-", "-"
    for letter in token[1:]:
        option = f"-{letter}"
        if own.get(option) is False:
            theirs += letter
        elif option not in own and globals_.get(option) is False:
            mine += letter
        else:
            return None
    return mine, theirs


#: Options of the root that are not global options of every command.
ROOT_ONLY = frozenset({"version", "install_completion", "show_completion"})


def _global_params(root: Any) -> list[Any]:
    """The global options: the root's options that every command honours."""
    return [p for p in root.params if p.param_type_name == "option" and p.name not in ROOT_ONLY]


def _global_options_help(root: Any) -> str:
    """The epilog of every command's ``--help``: the global options it honours."""
    spelled = ["/".join(param.opts) for param in _global_params(root)]
    return (
        "Global options, before or after the command (see dss --help): "
        + ", ".join(spelled)
        + "."
    )


def summary(text: str) -> str:
    """A command's line in the command list: the first sentence of its help, whole
    (click would cut it at the width of the terminal, with ``...``)."""
    words = text.split("\n\n", 1)[0].split()
    if words and words[0] == "\b":  # click's no-rewrap marker
        words = words[1:]
    for index, word in enumerate(words):
        if word.endswith("."):
            return " ".join(words[: index + 1])
    return " ".join(words)


def placeholder(param: Any) -> str:
    """The placeholder of an option that takes a value and names none: its long name in
    capitals (``--output`` -> ``OUTPUT``), click's style (typer would write
    ``<str>``)."""
    return str(max(param.opts, key=len)).lstrip("-").upper()


class PlainArgument(TyperArgument):
    """An argument written as click writes it: ``NAME``, ``[NAME]``, ``NAME...``
    (typer writes ``{name}`` in the usage line)."""

    def make_metavar(self, ctx: Any, *, usage: bool = False) -> str:
        name = (self.metavar or (self.name or "").upper()).removesuffix("...")
        if name.startswith("["):
            return name
        if usage and not self.required:
            name = f"[{name}]"
        return name + "..." if self.nargs != 1 else name


def _complete_with_globals(command: Any, globals_: list[Any], ctx: Any, incomplete: str) -> Any:
    """``command``'s completions, and the global options for an incomplete option:
    they are accepted after the command word too."""
    items = type(command).shell_complete(command, ctx, incomplete)
    if not incomplete.startswith("-"):
        return items
    from typer._click.shell_completion import CompletionItem

    own = _options(command)
    for param in globals_:
        items += [
            CompletionItem(name, help=param.help)
            for name in (*param.opts, *param.secondary_opts)
            if name.startswith(incomplete) and name not in own
        ]
    return items


def finish(root: Any) -> Any:
    """``root``'s command tree as ``dss`` shows it: every command names the global
    options in its ``--help`` and completes them, lists its subcommands' whole first
    sentences, and writes every placeholder in capitals (``--dest-dir DIR``,
    ``NAME``, ``[PATH]...``). Returns ``root``."""
    import functools

    text = _global_options_help(root)
    globals_ = _global_params(root)
    pending = [root]
    while pending:
        command = pending.pop()
        for param in command.params:
            if param.param_type_name == "argument" and type(param) is TyperArgument:
                param.__class__ = PlainArgument
                param.metavar = param.metavar or (param.name or "").upper()
            elif param.param_type_name == "option" and not (param.is_flag or param.count):
                param.metavar = param.metavar or placeholder(param)  # typer: <str>
        if command is not root:
            if not command.short_help and command.help:
                command.short_help = summary(command.help)
            command.shell_complete = functools.partial(_complete_with_globals, command, globals_)
        subcommands = _subcommands(command)
        if subcommands is not None:
            pending.extend(subcommands.values())
        elif not command.epilog:
            command.epilog = text
    return root


def root_command(app: typer.Typer) -> Any:
    """The click command of ``app``, made by :func:`finish`."""
    return finish(typer.main.get_command(app))


def main(argv: list[str] | None = None, state: Invocation | None = None) -> int:
    """Entry point of the full command line: errors become one line and an exit status.
    ``state`` pre-sets global options (the original's command line is translated into
    one, see :mod:`dssframe.cli.original`)."""
    from dssframe.cli.report import reporting_errors

    args = sys.argv[1:] if argv is None else list(argv)
    state = state or Invocation()

    def run() -> int:
        from dssframe.plugins.host import load_host

        modules, command = preparse(args)
        # The host is loaded before typer parses: plugins (-p modules, entry points) may
        # add commands. Entry points are scanned only for a command no builtin has.
        host = load_host([m for m in modules if m])
        state._host = host
        app = build_app(host)
        if command not in command_names(app):
            host.load_entry_points()
            app = build_app(host)
        root = root_command(app)
        try:
            # Without standalone mode click returns a command's typer.Exit code
            # instead of raising it.
            result = root.main(
                args=hoist_global_options(args, root),
                prog_name="dss",
                standalone_mode=False,
                obj=state,
            )
        except typer.Exit as exc:
            return int(exc.exit_code or 0)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                print(exc.format_message(), file=sys.stderr)
                return 2
            print(f"dss: error: {exc.format_message()}", file=sys.stderr)
            return int(exc.exit_code)
        except typer.Abort:
            print("dss: interrupted", file=sys.stderr)
            return 130
        except SystemExit as exc:  # typer's completion: --show-completion, _DSS_COMPLETE
            if exc.code is None or isinstance(exc.code, int):
                return exc.code or 0
            print(f"dss: error: {exc.code}", file=sys.stderr)
            return 1
        return result if isinstance(result, int) else 0

    return reporting_errors(run)


if __name__ == "__main__":
    raise SystemExit(main())
