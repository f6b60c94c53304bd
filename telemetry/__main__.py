"""``python -m telemetry``: see `telemetry.cli`."""

from .cli import main

raise SystemExit(main())
