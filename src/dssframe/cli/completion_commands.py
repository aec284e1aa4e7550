"""``dss completion SHELL``: the shell completion script for bash, zsh or fish.

typer's own mechanism: the script it prints is the one ``dss --show-completion``
prints for the shell it detects (and ``dss --install-completion`` installs); the shell
runs ``dss`` with ``_DSS_COMPLETE=complete_SHELL`` to complete a word. This command
names the shell instead of detecting it, for packages and dotfiles. Only typer is
imported at module level, as in every command module.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from dssframe import hookimpl

#: The environment variable of typer's completion protocol for ``dss``.
COMPLETE_VAR = "_DSS_COMPLETE"


class Shell(StrEnum):
    """The shells ``dss completion`` writes a script for."""

    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion_command(
    shell: Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh or fish")],
) -> None:
    """Print the shell completion script for bash, zsh or fish.

    Load it from your shell's start-up file or save it where the shell looks:
    dss completion bash > ~/.local/share/bash-completion/completions/dss,
    dss completion fish > ~/.config/fish/completions/dss.fish, dss completion zsh >
    ~/.zfunc/_dss (with fpath+=~/.zfunc before compinit in ~/.zshrc). dss
    --install-completion does this for the shell it runs in."""
    from typer._completion_shared import get_completion_script

    typer.echo(get_completion_script(prog_name="dss", complete_var=COMPLETE_VAR, shell=shell.value))


@hookimpl
def dssframe_cli_commands(app: typer.Typer) -> None:
    """Add ``dss completion`` to ``app``."""
    app.command("completion")(completion_command)
