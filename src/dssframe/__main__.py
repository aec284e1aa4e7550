"""``python -m dssframe`` is the ``dss`` command."""

from dssframe.cli import main

raise SystemExit(main())
