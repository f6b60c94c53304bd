"""The bridge from the standard library's ``logging`` to signals.

Libraries log through ``logging`` (uvicorn, asyncio, httpx, ...).
[`TelemetryHandler`][telemetry.integrations.logging.TelemetryHandler] turns each record into a
signal on a hub: the logger's name becomes the signal's ``ns``, the level is mapped (``DEBUG`` ->
``debug``, ``INFO`` -> ``info``, ``WARNING`` -> ``warn``, ``ERROR`` -> ``error``, ``CRITICAL`` ->
``fatal``), ``exc_info`` becomes the signal's error, ``extra=`` fields its data, and the record's
file, line and function its location. Context bound with [`telemetry.bind`][telemetry.bind] and the
current span are picked up as for any signal, so a library's record
logged while a request is handled carries the request id:

```python
from telemetry.integrations.logging import install_logging_bridge

install_logging_bridge("info")   # root, "uvicorn" and "uvicorn.access"
```

The handler is safe from any thread: the record is turned into a signal in the thread that logged
it (the exception and the context are captured there, before any hop) and handed to the hub's
thread-safe ``emit_signal_nowait``. It takes no lock of its own, so threads that log do not queue
behind each other. The SDK's own warnings go straight to stderr, never through ``logging``; a
record logged while a record is being bridged (a sink writing inline that logs, say) is not
bridged again, so the bridge cannot recurse; nor is a record logged by the hub's own worker tasks
(a sink's HTTP client logging each request it sends), which would otherwise feed the pipeline its
own output without end. Both are counted in
[`TelemetryHandler.skipped`][telemetry.integrations.logging.TelemetryHandler.skipped], and still
reach every other ``logging`` handler.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections import Counter
from collections.abc import Iterable

from .._context import SpanContext, current_context, current_span, raised_in
from .._default import current_hub
from .._emit import More
from .._errors import ConfigError
from .._hub import Telemetry
from .._redact import DEFAULT_REDACT_KEYS, Redactor
from .._signal import LEVEL_NAMES, Level, Location, error_info
from .._warn import warn

__all__ = [
    "DEFAULT_BRIDGE_LEVEL",
    "DEFAULT_LOGGERS",
    "IGNORED_EXTRAS",
    "TelemetryHandler",
    "install_logging_bridge",
    "logging_level",
    "signal_level",
    "uninstall_logging_bridge",
]

DEFAULT_LOGGERS = ("", "uvicorn", "uvicorn.access")
"""Loggers the bridge attaches to: the root, and uvicorn's two, which do not propagate to it."""
DEFAULT_BRIDGE_LEVEL = "info"
"""The level [`install_logging_bridge`][telemetry.integrations.logging.install_logging_bridge]
passes on from."""
IGNORED_EXTRAS = frozenset({"color_message"})
"""``extra=`` keys not copied into data: uvicorn's ANSI-coloured copy of the message."""

# Attributes every LogRecord has; whatever else a record carries came from ``extra=``.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_BY_NAME = {
    "trace": 5,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "critical": logging.CRITICAL,
}
_BY_LEVEL = {
    Level.TRACE: 5,
    Level.DEBUG: logging.DEBUG,
    Level.INFO: logging.INFO,
    Level.WARN: logging.WARNING,
    Level.ERROR: logging.ERROR,
    Level.FATAL: logging.CRITICAL,
}
_TRACE, _DEBUG, _INFO = int(Level.TRACE), int(Level.DEBUG), int(Level.INFO)
_WARN, _ERROR, _FATAL = int(Level.WARN), int(Level.ERROR), int(Level.FATAL)

# Set while this thread is turning a record into a signal: a record logged meanwhile (by a sink
# writing inline, a filter, a broken __repr__ that logs) is not bridged again.
_guard = threading.local()
# The hub names the tasks that run its handlers' workers and open late sinks "telemetry-...".
_PIPELINE_TASK_PREFIX = "telemetry-"
_installed: list[TelemetryHandler] = []


def _in_pipeline() -> bool:
    """Whether this runs in one of the hub's own tasks (its workers are named ``telemetry-*``)."""
    loop = asyncio._get_running_loop()
    if loop is None:
        return False
    task = asyncio.current_task(loop)
    return task is not None and task.get_name().startswith(_PIPELINE_TASK_PREFIX)


def logging_level(value: object, param: str = "level") -> int:
    """A ``logging`` level number from a level name, a [`Level`][telemetry.Level], or a
    ``logging`` number.

    Args:
        value: A level name (``"info"``, ``"warn"``, ``"WARNING"``), a
            [`Level`][telemetry.Level], or a ``logging`` number (``logging.INFO``).
        param: The parameter's name, for the error.

    Returns:
        The ``logging`` level number.

    Raises:
        ConfigError: ``value`` is not a level.
    """
    if isinstance(value, Level):
        return _BY_LEVEL[value]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.lower() in _BY_NAME:
        return _BY_NAME[value.lower()]
    raise ConfigError.choice(param, value, LEVEL_NAMES)


def signal_level(levelno: int) -> int:
    """The signal level of a ``logging`` level number; levels in between round down.

    Args:
        levelno: A ``logging`` level number.

    Returns:
        The signal level number.
    """
    if levelno >= logging.CRITICAL:
        return _FATAL
    if levelno >= logging.ERROR:
        return _ERROR
    if levelno >= logging.WARNING:
        return _WARN
    if levelno >= logging.INFO:
        return _INFO
    if levelno >= logging.DEBUG:
        return _DEBUG
    return _TRACE


class TelemetryHandler(logging.Handler):
    """A ``logging.Handler`` that emits every record it handles as a signal of kind ``log``.

    Records of the SDK's own ``telemetry`` loggers are not bridged. Attached to a logger and to
    one of its ancestors, the handler sees a propagated record twice and bridges it once.

    Args:
        level: The handler's level: a ``logging`` level or a level name.
        hub: The hub the signals go to; by default the default hub at the time of each record
            (before any hub is open, that is the stderr fallback).
        ignore_extras: ``extra=`` keys not copied into the data (uvicorn's coloured copy of
            the message, by default).
        redact_keys: Names and glob patterns of secret ``extra=`` keys, also used to redact
            secret query parameters in messages and exception messages (see
            [`install_logging_bridge`][telemetry.integrations.logging.install_logging_bridge]);
            ``None`` turns redaction off.
    """

    def __init__(
        self,
        level: str | int = logging.NOTSET,
        *,
        hub: Telemetry | None = None,
        ignore_extras: Iterable[str] = IGNORED_EXTRAS,
        redact_keys: Iterable[str] | None = DEFAULT_REDACT_KEYS,
    ) -> None:
        super().__init__(logging_level(level))
        if hub is not None and not isinstance(hub, Telemetry):
            raise ConfigError("hub", f"must be a telemetry.Telemetry or None, got {hub!r}")
        if redact_keys is not None and (
            isinstance(redact_keys, str) or not all(isinstance(k, str) for k in redact_keys)
        ):
            raise ConfigError(
                "redact_keys", f"must be key names and patterns, or None; got {redact_keys!r}"
            )
        self.hub = hub
        self.ignore_extras = frozenset(ignore_extras)
        self.redactor = None if redact_keys is None else Redactor(redact_keys)
        """Redacts secret query parameters in messages (uvicorn's access lines), and secret
        ``extra=`` keys and exception messages; ``None`` with ``redact_keys=None``."""
        self.skipped: Counter[str] = Counter()
        """Records not bridged, by reason: ``"reentrant"`` (logged while another record was being
        bridged) and ``"pipeline"`` (logged by the hub's own worker tasks, a sink's HTTP client
        say: bridging those would feed the pipeline its own output, forever)."""
        self._attached: list[tuple[logging.Logger, int, int]] = []
        self._seen = threading.local()

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and emit ``record``; no handler lock is taken
        ([`emit`][telemetry.integrations.logging.TelemetryHandler.emit] is thread-safe).

        Args:
            record: The record.

        Returns:
            Whether the record passed the handler's filters.
        """
        rv: object = self.filter(record)
        if isinstance(rv, logging.LogRecord):  # Python 3.12+: a filter may replace the record
            record = rv
        if rv:
            self.emit(record)
        return bool(rv)

    def emit(self, record: logging.LogRecord) -> None:
        """Turn ``record`` into a signal and hand it to the hub; never raises.

        Args:
            record: The record.
        """
        if getattr(_guard, "active", False):
            self.skipped["reentrant"] += 1
            warn(
                "logging-bridge-reentry",
                f"a log record from {record.name!r} was logged while another was being bridged "
                f"and is not bridged ({self.skipped['reentrant']} so far)",
            )
            return
        name = record.name
        if name == "telemetry" or name.startswith("telemetry."):
            return
        if _in_pipeline():
            self.skipped["pipeline"] += 1
            return
        last = getattr(self._seen, "last", None)
        if last is not None and last() is record:
            return  # the same record, propagated to a second logger this handler is on
        self._seen.last = weakref.ref(record)
        _guard.active = True
        try:
            self._bridge(record)
        except Exception as exc:  # the app's logging call must never fail because of us
            warn("logging-bridge", f"could not bridge a log record from {name!r}: {exc!r}")
        finally:
            _guard.active = False

    def _bridge(self, record: logging.LogRecord) -> None:
        hub = self.hub if self.hub is not None else current_hub()
        emit = hub.emitter(signal_level(record.levelno), nowait=True)
        if emit is None:
            return
        try:
            msg = record.getMessage()
        except Exception:  # bad format arguments: keep what we have rather than lose the record
            msg = f"{record.msg!s} % {record.args!r}"
        if msg.endswith("\n"):  # "Exception in ASGI application\n": the traceback follows
            msg = msg.rstrip("\n")
        exc = record.exc_info[1] if record.exc_info else None
        # The traceback is read here, in the thread that logged, while its frames still exist.
        error = error_info(exc) if exc is not None else None
        ignore = self.ignore_extras
        data = {
            k: v
            for k, v in record.__dict__.items()
            if k not in _RECORD_FIELDS and k not in ignore and not k.startswith("_")
        }
        redactor = self.redactor
        if redactor is not None:
            # Before the signal exists: a secret in a request line must not reach any handler.
            msg = redactor.text(msg)
            if data:
                data = redactor.value(data)[0]
            if error is not None:
                error = redactor.error(error)[0]
        if record.stack_info:
            data["stack_info"] = record.stack_info
        location = (
            Location(file=record.pathname, line=record.lineno, function=record.funcName)
            if hub.location
            else None
        )
        more = More(
            ns=record.name,
            location=location,
            inst=int(record.created * 1e9),
            thread=record.threadName,
            task=getattr(record, "taskName", None),
        )
        if exc is not None:
            # Logged after the code that raised it left its context (a server logging what the
            # app raised): the request id and the span it was raised in come back with it.
            found = raised_in(exc)
            if found is not None:
                ctx, span = found
                here = current_context()
                more.ctx = {k: v for k, v in ctx.items() if k not in here} or None
                if span is not None and current_span() is None:
                    more.span = SpanContext(trace_id=span.trace_id, span_id=span.span_id)
        emit("log", None, msg, data, error, more)

    def __repr__(self) -> str:
        return f"<TelemetryHandler {logging.getLevelName(self.level)} hub={self.hub!r}>"


def install_logging_bridge(
    level: str | int = DEFAULT_BRIDGE_LEVEL,
    *,
    hub: Telemetry | None = None,
    loggers: Iterable[str] = DEFAULT_LOGGERS,
    redact_keys: Iterable[str] | None = DEFAULT_REDACT_KEYS,
) -> TelemetryHandler:
    """Attach a [`TelemetryHandler`][telemetry.integrations.logging.TelemetryHandler] to
    ``loggers`` and return it.

    Secrets are redacted before a record becomes a signal: secret query parameters in the
    message (uvicorn's access lines: ``GET /items?token=[REDACTED]&page=2``) and the exception's
    message, and secret ``extra=`` keys.

    A logger whose effective level is above ``level`` is lowered to it,
    so that the records get through at all;
    [`uninstall_logging_bridge`][telemetry.integrations.logging.uninstall_logging_bridge] restores
    it. The default loggers are the root and uvicorn's ``uvicorn`` and ``uvicorn.access``, which do
    not propagate to the root. A logger that already has a
    [`TelemetryHandler`][telemetry.integrations.logging.TelemetryHandler] for the same hub (or for
    the default hub), as [`uvicorn_log_config`][telemetry.integrations.uvicorn.uvicorn_log_config]
    gives uvicorn's, is left as it is, so that no record is bridged twice.

    Args:
        level: Records at this level and above become signals: a level name or a ``logging``
            number.
        hub: The hub the signals go to; by default the default hub at the time of each record.
        loggers: The loggers' names (``""`` is the root).
        redact_keys: Names and glob patterns of secret keys (by default
            [`DEFAULT_REDACT_KEYS`][telemetry.DEFAULT_REDACT_KEYS]); ``None`` turns redaction
            off.

    Returns:
        The handler, for
        [`uninstall_logging_bridge`][telemetry.integrations.logging.uninstall_logging_bridge].
    """
    number = logging_level(level)
    names = [loggers] if isinstance(loggers, str) else list(loggers)
    for n in names:
        if not isinstance(n, str):
            raise ConfigError("loggers", f"must be logger names, got {n!r}")
    handler = TelemetryHandler(number, hub=hub, redact_keys=redact_keys)
    for n in names:
        logger = logging.getLogger(n or None)
        if any(_same_bridge(h, hub) for h in logger.handlers):
            continue  # bridged already (uvicorn_log_config, say): once is enough
        previous = logger.level
        logger.addHandler(handler)
        if logger.getEffectiveLevel() > number:
            logger.setLevel(number)
        handler._attached.append((logger, previous, logger.level))
    _installed.append(handler)
    return handler


def _same_bridge(handler: logging.Handler, hub: Telemetry | None) -> bool:
    """Whether ``handler`` bridges to the same hub as a new bridge for ``hub`` would."""
    return isinstance(handler, TelemetryHandler) and (handler.hub is None or handler.hub is hub)


def uninstall_logging_bridge(handler: TelemetryHandler | None = None) -> None:
    """Detach a bridge and restore the logger levels it lowered, unless something else
    changed them since.

    Args:
        handler: The bridge, as ``install_logging_bridge`` returned it; by default every
            bridge installed.
    """
    handlers: list[TelemetryHandler] = [handler] if handler is not None else list(_installed)
    for h in handlers:
        for logger, previous, ours in h._attached:
            logger.removeHandler(h)
            if logger.level == ours:
                logger.setLevel(previous)
        h._attached.clear()
        if h in _installed:
            _installed.remove(h)
