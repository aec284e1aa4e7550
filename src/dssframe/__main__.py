"""``python -m dssframe`` is the ``dss`` command."""

from dssframe.cli.entry import console_main

raise SystemExit(console_main())
