"""aiotelemetry: asyncio-native structured telemetry.

Logs, events, errors and spans as immutable signals, delivered in batches by per-handler queues
and workers to files, the console, syslog and journald, without slowing the event loop and
without losing anything silently:

```python
import telemetry as tel
from telemetry.sinks import FileSink

async with tel.Telemetry(handlers={"file": FileSink("logs/app.jsonl")}):
    await tel.log("info", "user joined", room="lobby")
```
"""

import msgspec as _msgspec

from ._api import (
    error,
    error_nowait,
    event,
    event_nowait,
    exception,
    exception_nowait,
    flush,
    health,
    log,
    log_nowait,
    signal,
    signal_nowait,
    span,
    stats,
    traced,
)
from ._context import SpanContext, bind, current_context, current_span
from ._errors import ClosedError, ConfigError, ConfigFileError, SinkError, TelemetryError
from ._filters import RateLimiter
from ._handler import Handler
from ._hub import Telemetry
from ._middleware import Middleware
from ._options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BUFFER_SIZE,
    DEFAULT_CLOSE_TIMEOUT_S,
    DEFAULT_MAX_WAIT_S,
)
from ._redact import DEFAULT_REDACT_KEYS, redact
from ._registry import get_hub
from ._signal import ErrorInfo, Frame, Level, Location, Signal
from ._spans import Span
from ._stats import HandlerStats, Health, LatencyStats, Stats

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_BUFFER_SIZE",
    "DEFAULT_CLOSE_TIMEOUT_S",
    "DEFAULT_MAX_WAIT_S",
    "DEFAULT_REDACT_KEYS",
    "ClosedError",
    "ConfigError",
    "ConfigFileError",
    "ErrorInfo",
    "Frame",
    "Handler",
    "HandlerStats",
    "Health",
    "LatencyStats",
    "Level",
    "Location",
    "Middleware",
    "RateLimiter",
    "Signal",
    "SinkError",
    "Span",
    "SpanContext",
    "Stats",
    "Telemetry",
    "TelemetryError",
    "bind",
    "current_context",
    "current_span",
    "error",
    "error_nowait",
    "event",
    "event_nowait",
    "exception",
    "exception_nowait",
    "flush",
    "get_hub",
    "health",
    "log",
    "log_nowait",
    "redact",
    "signal",
    "signal_nowait",
    "span",
    "stats",
    "traced",
]

# Tracebacks and docs show the public path, telemetry.Telemetry, not telemetry._hub.Telemetry.
# msgspec resolves a struct's annotations lazily, in the module that __module__ names, where
# names such as Any are not defined once it says "telemetry": resolve them first, so that
# decoding into Signal (msgspec.json.Decoder(Signal), msgspec.convert) keeps working.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and issubclass(_obj, _msgspec.Struct):
        _msgspec.json.Decoder(_obj)
    if isinstance(_obj, type) or callable(_obj):
        try:
            if getattr(_obj, "__module__", "").startswith("telemetry._"):
                _obj.__module__ = "telemetry"
        except (AttributeError, TypeError):
            pass
del _name, _obj, _msgspec
