"""The ``dss`` command line, the only package that imports typer. ``entry`` is the
console script (plain ``create``/``ls`` without typer); ``app`` builds the typer app,
whose commands all come from ``dssframe_cli_commands`` plugins, the builtin ones being
the ``*_commands`` modules here."""
