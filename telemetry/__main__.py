"""``python -m telemetry``: see :mod:`telemetry.cli`."""

from .cli import main

raise SystemExit(main())
