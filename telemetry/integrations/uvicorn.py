"""uvicorn's own logging handed over to the hub: each of its records printed once, by our sinks.

uvicorn configures ``logging`` itself at start-up: a handler of its own on ``uvicorn`` (which
``uvicorn.error`` propagates to) and on ``uvicorn.access``, writing to stderr and stdout. With
the logging bridge attached as well, every uvicorn record is printed twice, once by uvicorn in
its format and once by a console sink in ours.
[`uvicorn_log_config`][telemetry.integrations.uvicorn.uvicorn_log_config] is a ``log_config``
for uvicorn in which the bridge is those loggers' only handler:

```python
import uvicorn
from telemetry.integrations.uvicorn import uvicorn_log_config

uvicorn.run("app:app", log_config=uvicorn_log_config())
```

or, from the command line, the same configuration as a JSON file:

```sh
python -c "import json; from telemetry.integrations.uvicorn import uvicorn_log_config; \\
    print(json.dumps(uvicorn_log_config()))" > uvicorn-logging.json
uvicorn app:app --log-config uvicorn-logging.json
```

uvicorn's records then become signals (``ns`` ``uvicorn.error`` or ``uvicorn.access``) on the
default hub at the time of each record: the app's hub while its lifespan runs, the stderr
fallback before it opens and after it closes (``Started server process``, ``Finished server
process``), in the same format when the console sink writes text, or when
``TELEMETRY_FORMAT`` names the format for both. The lifespan's ``logging_bridge=`` leaves these
loggers alone, as they are bridged already. Nothing here imports uvicorn.
"""

from __future__ import annotations

from typing import Any

from .logging import logging_level

__all__ = ["UVICORN_LOGGERS", "uvicorn_log_config"]

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
"""uvicorn's loggers: ``uvicorn.error`` propagates to ``uvicorn``; ``uvicorn.access`` does not."""


def uvicorn_log_config(level: str | int = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` mapping for uvicorn's ``log_config``: uvicorn's loggers
    with the logging bridge
    ([`TelemetryHandler`][telemetry.integrations.logging.TelemetryHandler]) as their only handler.
    Other loggers are left as they are (``disable_existing_loggers`` is false).

    Args:
        level: The level of uvicorn's loggers: a name such as ``"info"``, or a ``logging``
            number.

    Returns:
        The mapping, for ``uvicorn.run(..., log_config=...)`` or a JSON file.
    """
    number = logging_level(level)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "telemetry": {"()": "telemetry.integrations.logging.TelemetryHandler"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["telemetry"], "level": number, "propagate": False},
            "uvicorn.error": {"level": number, "propagate": True},
            "uvicorn.access": {"handlers": ["telemetry"], "level": number, "propagate": False},
        },
    }
