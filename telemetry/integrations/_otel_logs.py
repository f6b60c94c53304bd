"""OpenTelemetry's logs API, implemented by the hub: a log record of theirs is a log signal.

[`HubLoggerProvider`][telemetry.integrations.opentelemetry.HubLoggerProvider] hands out one
[`HubLogger`][telemetry.integrations.opentelemetry.HubLogger] per scope, whose name is the namespace
of its signals. ``Logger.emit`` goes through the current hub's compiled emitter for the record's
level, like ``tel.log_nowait``: refused at once below the floor, then the hub's
call filters, one signal, the handlers' queues, no thread hop. The record becomes:

- ``severity_number`` -> the level (OpenTelemetry's severity ranges: 1-4 ``trace``, 5-8
  ``debug``, 9-12 ``info``, 13-16 ``warn``, 17-20 ``error``, 21-24 ``fatal``; none given is
  ``info``);
- ``body`` -> ``msg`` when it is a string, else ``data["body"]``; ``event_name`` -> ``id``;
- ``attributes`` -> ``data``; ``exception`` -> ``error``; ``timestamp`` -> ``inst``;
- the span current in ``context`` (default: the current context) -> ``trace_id`` and
  ``span_id``, whichever kind of span it is (ours or OpenTelemetry's).

``Logger.enabled`` answers from the same filters (level, the namespace's level, namespace /
kind / id patterns) without building anything; sampling and ``when`` are left to ``emit``.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import _logs, trace
from opentelemetry.context import Context
from opentelemetry.util import types

from .. import _registry
from .._context import SpanContext
from .._emit import More
from .._warn import warn
from . import _otel_limits as limits

__all__ = ["HubLogger", "HubLoggerProvider", "level_of"]

#: Loggers kept per scope name at most; past it a logger is made per call.
_LOGGERS_MAX = 1024


def _level(n: int) -> int:
    return ((n - 1) // 4) * 4 + 1 if 1 <= n <= 24 else 9


#: Each SeverityNumber member (a plain Enum, not an int) to its level: one look-up per call.
_LEVEL_OF: dict[object, int] = {m: _level(m.value) for m in _logs.SeverityNumber}


def level_of(severity_number: object) -> int:
    """The level of an OpenTelemetry severity number: the lowest number of its range (the
    level's own number), ``info`` when none is given or it is out of range."""
    try:
        return _LEVEL_OF[severity_number]
    except (KeyError, TypeError):  # an int, None, or anything else
        pass
    return _level(severity_number) if type(severity_number) is int else 9


def _span_in(context: Context) -> SpanContext | None:
    sc = trace.get_current_span(context).get_span_context()
    if not sc.is_valid:
        return None
    return SpanContext(trace_id=f"{sc.trace_id:032x}", span_id=f"{sc.span_id:016x}")


class HubLogger(_logs.Logger):
    """Emits log records of one scope into the current hub.

    Made by
    [`HubLoggerProvider.get_logger`][telemetry.integrations.opentelemetry.HubLoggerProvider.get_logger],
    not by hand.

    Args:
        name: The scope's name, the namespace of its signals.
        version: The scope's version (not recorded).
        schema_url: The scope's schema URL (not recorded).
        attributes: The scope's attributes (not recorded).
    """

    def __init__(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> None:
        super().__init__(name, version, schema_url, attributes)
        self._ns = name or None

    def emit(
        self,
        record: _logs.LogRecord | None = None,
        *,
        timestamp: int | None = None,
        observed_timestamp: int | None = None,
        context: Context | None = None,
        severity_number: _logs.SeverityNumber | None = None,
        severity_text: str | None = None,
        body: types.AnyValue | None = None,
        attributes: types.Attributes = None,
        event_name: str | None = None,
        exception: BaseException | None = None,
    ) -> None:
        """One log signal on the current hub (see the module's description); never raises.

        Args:
            record: A whole ``LogRecord``; when given, the other arguments are not read.
            timestamp: The signal's ``inst`` (nanoseconds since the epoch); by default now.
            observed_timestamp: Not recorded.
            context: Whose current span the signal belongs to; by default the current one.
            severity_number: The level; none given is ``info``.
            severity_text: Not recorded: the level comes from ``severity_number``.
            body: The message when a string, else ``data["body"]``.
            attributes: The signal's data.
            event_name: The signal's ``id``.
            exception: The signal's ``error``.
        """
        if record is not None:
            timestamp, context = record.timestamp, record.context
            severity_number, body = record.severity_number, record.body
            attributes, event_name = record.attributes, record.event_name
            exception = getattr(record, "exception", None)
        hub = _registry.current_hub()
        emit = hub.span_host.emitters.table_nowait[level_of(severity_number)]
        if emit is False:
            return
        try:
            data: dict[str, Any] = {}
            if attributes:
                # Log attributes may be any value (maps and bytes too); only keys are checked.
                for key, value in attributes.items():
                    if type(key) is str and key:
                        data[key] = value
                    else:
                        limits.count("attributes")
                        limits.warn_once(
                            "key",
                            f"an attribute key must be a non-empty "
                            f"string, got {key!r:.80}; dropped",
                        )
            msg = body
            if body is not None and type(body) is not str:
                data["body"] = body
                msg = None
            # up=1: the call site is whoever called this method, not the method itself.
            more = More(
                ns=self._ns,
                up=1,
                inst=None if timestamp is None else int(timestamp),
                span=None if context is None else _span_in(context),
            )
            error = exception if isinstance(exception, BaseException) else None
            emit("log", event_name, msg, data, error, more)
        except Exception as exc:  # a bug of ours, or a value that breaks: not the app's
            warn("opentelemetry:emit", f"a log record could not be emitted: {exc!r}")

    def enabled(
        self,
        *,
        context: Context | None = None,
        severity_number: _logs.SeverityNumber | None = None,
        event_name: str | None = None,
    ) -> bool:
        """Whether the current hub would take a record of this severity (and event name)
        from this scope: its level floor, the namespace's level and the name patterns.

        Args:
            context: Not read: the answer does not depend on the span.
            severity_number: The record's severity.
            event_name: The record's event name.

        Returns:
            Whether a record like this would be emitted (sampling aside).
        """
        hub = _registry.current_hub()
        return bool(
            hub.accepts(level_of(severity_number), self._ns, "log", event_name, sample=False)
        )


class HubLoggerProvider(_logs.LoggerProvider):
    """The global ``LoggerProvider`` that
    [`telemetry.integrations.opentelemetry.install`][telemetry.integrations.opentelemetry.install]
    sets: its loggers emit into the current hub."""

    def __init__(self) -> None:
        self._loggers: dict[str | None, HubLogger] = {}

    def get_logger(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> _logs.Logger:
        """The logger of one scope.

        Args:
            name: The scope's name, the signals' namespace.
            version: The scope's version (not recorded).
            schema_url: The scope's schema URL (not recorded).
            attributes: The scope's attributes (not recorded).

        Returns:
            The scope's [`HubLogger`][telemetry.integrations.opentelemetry.HubLogger] (the same
            one for the same name).
        """
        key = name or None
        logger = self._loggers.get(key)
        if logger is None:
            logger = HubLogger(name, version, schema_url, attributes)
            if len(self._loggers) < _LOGGERS_MAX:
                self._loggers[key] = logger
        return logger
