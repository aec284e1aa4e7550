"""``python -m dssframe`` is the ``dss`` command."""

from dssframe.entry import main

raise SystemExit(main())
