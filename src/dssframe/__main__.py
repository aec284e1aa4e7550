"""``python -m dssframe`` is the ``dss`` command."""

from dssframe.cli.entry import main

raise SystemExit(main())
