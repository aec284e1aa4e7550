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
}


def new_app() -> typer.Typer:
    """A ``dss`` app with the global options and no command yet."""
    app = typer.Typer(
        name="dss",
        add_completion=False,
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


def _version(value: bool) -> None:
    if not value:
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
    config: Annotated[str | None, typer.Option("--config", "-c", help="TOML config file")] = None,
    source_dir: Annotated[str | None, typer.Option(help="directory to snapshot")] = None,
    dest_dir: Annotated[str | None, typer.Option(help="where the snapshots live")] = None,
    remote_host: Annotated[str | None, typer.Option(help="host of the source")] = None,
    remote_user: Annotated[str | None, typer.Option(help="user on the remote host")] = None,
    rsync_option: Annotated[
        list[str] | None, typer.Option(help="extra rsync argument (repeatable)")
    ] = None,
    unit_interval: Annotated[
        str | None, typer.Option(help="days, or a duration like 6h, 30m, 2w")
    ] = None,
    num_intervals: Annotated[str | None, typer.Option(help="number of intervals, 1..30")] = None,
    retention: Annotated[str | None, typer.Option(help="retention policy name")] = None,
    transport: Annotated[str | None, typer.Option(help="transport name")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="only show what would be done")
    ] = False,
    loglevel: Annotated[str | None, typer.Option(help="0..6 or debug..emerg")] = None,
    plugin: Annotated[
        list[str] | None, typer.Option("--plugin", "-p", help="load a plugin module")
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
    state.plugin_modules = state.plugin_modules + list(plugin or [])
    ctx.obj = state


#: Global options that take a value (the pre-parser must skip their values).
VALUE_OPTIONS = frozenset(
    {
        "-c", "--config", "--source-dir", "--dest-dir", "--remote-host", "--remote-user",
        "--rsync-option", "--unit-interval", "--num-intervals", "--retention",
        "--transport", "--loglevel", "-p", "--plugin",
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


def _global_options_help(root: Any) -> str:
    """The epilog of every command's ``--help``: the global options it honours."""
    spelled = []
    for param in root.params:
        if param.param_type_name == "option" and param.name != "version":
            spelled.append("/".join(param.opts))
    return (
        "Global options, before or after the command (see dss --help): "
        + ", ".join(spelled)
        + "."
    )


def _with_global_help(root: Any) -> None:
    text = _global_options_help(root)
    pending = [root]
    while pending:
        command = pending.pop()
        subcommands = _subcommands(command)
        if subcommands is not None:
            pending.extend(subcommands.values())
        elif not command.epilog:
            command.epilog = text


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
        root = typer.main.get_command(app)
        _with_global_help(root)
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
        return result if isinstance(result, int) else 0

    return reporting_errors(run)


if __name__ == "__main__":
    raise SystemExit(main())
