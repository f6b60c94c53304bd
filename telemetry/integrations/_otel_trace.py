"""OpenTelemetry's tracing API, implemented by the hub: a span of theirs is a span signal of ours.

[`HubTracerProvider`][telemetry.integrations.opentelemetry.HubTracerProvider] hands out one
[`HubTracer`][telemetry.integrations.opentelemetry.HubTracer] per instrumentation scope; the scope's
name is the namespace of the signals (``fastapi``, ``opentelemetry.instrumentation.httpx``), so
per-namespace levels and namespace patterns apply to them. Each call looks the current hub up (the
default hub, or the stderr fallback when none is open), so a provider installed once serves every
hub a process opens and closes.

Starting a span decides at once, with the hub's own call filters (its level floor, the level
of the namespace, the namespace / kind / id patterns, sampling), whether it records:

- refused: a ``NonRecordingSpan`` (nothing else is built) whose context, with the sampled flag
  off, still propagates; the refusal is counted as the hub's ``refused``;
- accepted: a [`HubSpan`][telemetry.integrations.opentelemetry.HubSpan] that keeps its name, kind,
attributes, events, links and status
  until ``end()``, which builds one span signal (level ``info``, ``error`` when its status is
  an error) and dispatches it to the handlers without a thread hop, as ``*_nowait`` calls do.

The signal: ``id`` the span's name, ``ns`` the scope's name, ``trace_id`` / ``span_id`` /
``parent_id`` the span's own, ``inst`` and ``duration_ns`` from its start and end, ``ctx`` the
values bound (``tel.bind``) where it started, ``data`` its attributes and, under reserved keys,
``span.kind`` (unless ``internal``), ``otel.status_code`` / ``otel.status_description`` (the
names the specification gives status outside OTLP), ``span.events`` (``name``, ``time`` in
ns, ``attributes``) and ``span.links`` (``trace_id``, ``span_id``, ``attributes``); ``error``
the last exception recorded, with its traceback (its ``exception`` event carries the type and
message; the OTLP sink adds the stacktrace from ``error``).
"""

from __future__ import annotations

import contextlib
import random
import time
import types as types_module
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util import types

from .. import _registry
from .._context import SpanContext as TelemetrySpanContext
from .._context import current_context as bound_context
from .._signal import Level, ProcessInfo, Signal, error_info, new_uid
from .._warn import warn
from . import _otel_limits as limits
from ._otel_current import SPAN_KEY, CurrentSpan, get_current

__all__ = ["HubSpan", "HubTracer", "HubTracerProvider", "exception_event"]

_INFO = int(Level.INFO)
_ERROR = int(Level.ERROR)
_getrandbits = random.getrandbits
_time_ns = time.time_ns
# Enum members read once: reading one off its class, or hashing it (a dict look-up), runs
# Python code of the enum module each time, a few hundred ns.
_INTERNAL = SpanKind.INTERNAL
_UNSET = StatusCode.UNSET
_OK = StatusCode.OK
_STATUS_ERROR = StatusCode.ERROR
_KIND_NAMES = {
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}
_SAMPLED = trace.TraceFlags(trace.TraceFlags.SAMPLED)
_NOT_SAMPLED = trace.TraceFlags(trace.TraceFlags.DEFAULT)
_OTelSpanContext = trace.SpanContext
_DEFAULT_STATE = trace.span.DEFAULT_TRACE_STATE
_Span = trace.Span
_tuple_new = tuple.__new__


def _made_directly() -> bool:
    """Whether a ``SpanContext`` made as the tuple it is equals the one its constructor makes
    (trace id, span id, remote, flags, state, valid): it is then made so, without the
    constructor's Python call (the ids a tracer makes are valid, its state never ``None``)."""
    try:
        made = _tuple_new(_OTelSpanContext, (3, 5, False, _SAMPLED, _DEFAULT_STATE, True))
        usual = _OTelSpanContext(3, 5, False, _SAMPLED, None)
        return (
            tuple(made) == tuple(usual)
            and made.is_valid
            and made.trace_id == 3
            and made.span_id == 5
            and made.trace_state is _DEFAULT_STATE
        )
    except Exception:  # another API's layout: its constructor, always
        return False


_DIRECT = _made_directly()
#: Tracers kept per scope name at most; past it a tracer is made per call.
_TRACERS_MAX = 1024


def exception_event(exc: BaseException, attributes: types.Attributes) -> dict[str, Any]:
    """The attributes of an ``exception`` event: ``exception.type`` and ``exception.message``
    (the stacktrace lives once, in the signal's ``error``), then the caller's."""
    cls = type(exc)
    qualname = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not break the span
        message = f"<unprintable {cls.__name__}>"
    out: dict[str, Any] = {"exception.type": qualname, "exception.message": message}
    if attributes:
        out.update(limits.clean_attributes(attributes))
    return out


class HubSpan(trace.Span):
    """A recording span; becomes one span signal on the hub it started on when it ends.

    Made by [`HubTracer.start_span`][telemetry.integrations.opentelemetry.HubTracer.start_span],
    not by hand.

    Args:
        hub: The hub the span's signal goes to.
        ns: The signals' namespace (the instrumentation scope's name).
        name: The span's name (its signal's ``id``).
        span_context: The span's identity.
        parent_id: The parent span's id, if any.
        kind: The span's kind (``SERVER``, ``CLIENT``, ...).
        attrs: The span's attributes, adopted as they are.
        start: When the span started, in nanoseconds since the epoch.
    """

    __slots__ = (
        "_attrs",
        "_ctx",
        "_end",
        "_error",
        "_events",
        "_hub",
        "_kind",
        "_links",
        "_name",
        "_ns",
        "_parent_id",
        "_span_context",
        "_start",
        "_status",
        "_status_description",
        "_telemetry_context",
    )

    def __init__(
        self,
        hub: Any,
        ns: str | None,
        name: str,
        span_context: trace.SpanContext,
        parent_id: int | None,
        kind: SpanKind,
        attrs: dict[str, Any],
        start: int,
    ) -> None:
        self._hub = hub
        self._ns = ns
        self._name = name
        self._span_context = span_context
        self._parent_id = parent_id
        self._kind = kind
        self._attrs = attrs
        self._start = start
        self._ctx: dict[str, Any] = bound_context()
        self._events: list[dict[str, Any]] | None = None
        self._links: list[dict[str, Any]] | None = None
        self._status = _UNSET
        self._status_description: str | None = None
        self._error: BaseException | None = None
        self._end: int | None = None
        self._telemetry_context: TelemetrySpanContext | None = None

    # -- the API -------------------------------------------------------------------------------

    def get_span_context(self) -> trace.SpanContext:
        """The span's identity (sampled), to propagate."""
        return self._span_context

    def telemetry_context(self) -> TelemetrySpanContext:
        """The span's ids as aiotelemetry's [`SpanContext`][telemetry.SpanContext], made on first
        use: what every signal emitted while this span is current carries."""
        ctx = self._telemetry_context
        if ctx is None:
            sc = self._span_context
            ctx = self._telemetry_context = TelemetrySpanContext(
                trace_id=f"{sc.trace_id:032x}", span_id=f"{sc.span_id:016x}"
            )
        return ctx

    # What the OpenTelemetry SDK's spans also expose (ReadableSpan), which instrumentations
    # read on the current span (the ASGI instrumentation reads ``kind``).

    @property
    def kind(self) -> SpanKind:
        """The span's kind."""
        return self._kind

    @property
    def name(self) -> str:
        """The span's name."""
        return self._name

    @property
    def attributes(self) -> Mapping[str, Any]:
        """The span's attributes so far (read-only)."""
        return types_module.MappingProxyType(self._attrs)

    @property
    def start_time(self) -> int:
        """When the span started, in nanoseconds since the epoch."""
        return self._start

    @property
    def end_time(self) -> int | None:
        """When the span ended, or ``None`` while it runs."""
        return self._end

    def is_recording(self) -> bool:
        """True until the span ends."""
        return self._end is None

    def _ended(self, what: str) -> bool:
        if self._end is None:
            return False
        limits.warn_once(f"after-end:{what}", f"{what}() on an ended span is ignored")
        return True

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        """Set one attribute (a wrong key or value type is dropped and counted).

        Args:
            key: The attribute's name.
            value: A string, bool, int, float, or a sequence of one of them.
        """
        if self._end is not None:
            self._ended("set_attribute")
            return
        attrs = self._attrs
        t = type(value)
        # The common case inline: a str key (set before, or under the limit), a scalar.
        if (
            (t is str or t is int or t is float or t is bool)
            and type(key) is str
            and key
            and (key in attrs or len(attrs) < limits.MAX_ATTRIBUTES)
        ):
            attrs[key] = value
        else:
            limits.add_attribute(attrs, key, value)

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        """Set several attributes.

        Args:
            attributes: The attributes, as for
                [`set_attribute`][telemetry.integrations.opentelemetry.HubSpan.set_attribute].
        """
        if self._end is not None:
            self._ended("set_attributes")
            return
        attrs = self._attrs
        for key, value in attributes.items():
            t = type(value)
            # The common case inline: a str key (set before, or under the limit), a scalar.
            if (
                (t is str or t is int or t is float or t is bool)
                and type(key) is str
                and key
                and (key in attrs or len(attrs) < limits.MAX_ATTRIBUTES)
            ):
                attrs[key] = value
            else:
                limits.add_attribute(attrs, key, value)

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        """Add an event (kept in the signal's ``span.events``).

        Args:
            name: The event's name.
            attributes: The event's attributes.
            timestamp: When it happened, in nanoseconds since the epoch; by default now.
        """
        if not self._ended("add_event"):
            self._event(name, limits.clean_attributes(attributes), timestamp)

    def _event(self, name: str, attrs: dict[str, Any], timestamp: int | None) -> None:
        events = self._events
        if events is None:
            events = self._events = []
        elif len(events) >= limits.MAX_EVENTS:
            limits.count("events")
            limits.warn_once("events", f"more than {limits.MAX_EVENTS} events on one span")
            return
        event: dict[str, Any] = {
            "name": str(name),
            "time": _time_ns() if timestamp is None else int(timestamp),
        }
        if attrs:
            event["attributes"] = attrs
        events.append(event)

    def add_link(self, context: trace.SpanContext, attributes: types.Attributes = None) -> None:
        """Link another span (kept in the signal's ``span.links``); an invalid context with
        no attributes is ignored, as the API allows.

        Args:
            context: The linked span's identity.
            attributes: The link's attributes.
        """
        if self._ended("add_link"):
            return
        attrs = limits.clean_attributes(attributes)
        valid = isinstance(context, trace.SpanContext) and context.is_valid
        if not valid and not attrs:
            return
        links = self._links
        if links is None:
            links = self._links = []
        elif len(links) >= limits.MAX_LINKS:
            limits.count("links")
            limits.warn_once("links", f"more than {limits.MAX_LINKS} links on one span")
            return
        link: dict[str, Any] = {
            "trace_id": f"{context.trace_id:032x}" if valid else None,
            "span_id": f"{context.span_id:016x}" if valid else None,
        }
        if attrs:
            link["attributes"] = attrs
        links.append(link)

    def update_name(self, name: str) -> None:
        """Rename the span (its signal's ``id``).

        Args:
            name: The new name.
        """
        if not self._ended("update_name"):
            self._name = str(name)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """Set the status: ``OK`` is final, ``UNSET`` changes nothing.

        Args:
            status: A ``Status`` or a ``StatusCode``.
            description: Why; kept for ``ERROR`` only (as the specification says).
        """
        if self._ended("set_status"):
            return
        if isinstance(status, Status):
            code, description = status.status_code, status.description
        else:
            code = status
        if self._status is _OK or code is _UNSET:
            return
        self._status = code
        self._status_description = description if code is _STATUS_ERROR else None

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """Add an ``exception`` event; the exception, with its traceback, becomes the
        signal's ``error`` (the last one recorded).

        Args:
            exception: The exception.
            attributes: More attributes of the event.
            timestamp: When it happened, in nanoseconds since the epoch; by default now.
            escaped: Whether the exception is leaving the span's scope
                (``exception.escaped``).
        """
        if self._ended("record_exception"):
            return
        # Untyped callers pass anything: checked, though the signature says otherwise.
        if not isinstance(exception, BaseException):
            limits.warn_once(  # type: ignore[unreachable]
                "exception",
                f"record_exception() needs an exception, got {type(exception).__name__}; ignored",
            )
            return
        attrs = exception_event(exception, attributes)
        if escaped:
            attrs["exception.escaped"] = True
        self._event("exception", attrs, timestamp)
        self._error = exception

    def end(self, end_time: int | None = None) -> None:
        """End the span and emit its signal (a second ``end()`` is ignored and counted).

        Args:
            end_time: When the span ended, in nanoseconds since the epoch; by default now.
        """
        if self._end is not None:
            limits.count("ended_twice")
            limits.warn_once("ended-twice", "a span was ended twice; the second end() ignored")
            return
        self._end = end = _time_ns() if end_time is None else int(end_time)
        cls: type[HubSpan] = type(self)
        if cls is _RunningSpan:
            self.__class__ = HubSpan  # ended: no check when it is freed (see _RunningSpan)
        try:
            self._emit(end)
        except Exception as exc:  # a bug of ours must not reach the app
            warn("opentelemetry:end", f"a span's signal could not be built: {exc!r}")

    def __repr__(self) -> str:
        return f"<HubSpan {self._name!r} {self._span_context.span_id:016x}>"

    # -- the signal ----------------------------------------------------------------------------

    def _emit(self, end: int) -> None:
        hub = self._hub
        data = self._attrs  # adopted: the span has ended, nothing changes it any more
        kind = self._kind
        if kind is not _INTERNAL:
            name = _KIND_NAMES.get(kind)
            if name is not None:
                data["span.kind"] = name
        level = _INFO
        status = self._status
        if status is not _UNSET:
            data["otel.status_code"] = status.name
            if status is _STATUS_ERROR:
                level = _ERROR
                if self._status_description:
                    data["otel.status_description"] = self._status_description
        if self._events:
            data["span.events"] = self._events
        if self._links:
            data["span.links"] = self._links
        sc = self._span_context
        # (trace id, span id, ...) indexed, not read through its properties' Python calls.
        trace_id, span_id = (sc[0], sc[1]) if _DIRECT else (sc.trace_id, sc.span_id)
        parent_id = self._parent_id
        # Positional, as the emitting path builds signals (several times faster than keywords
        # in msgspec); the order is Signal's fields'.
        sig = Signal(
            self._start,
            new_uid(),
            "span",
            "error" if level == _ERROR else "info",
            ProcessInfo.host,
            ProcessInfo.pid,
            self._name,
            self._ns,
            None,
            data,
            self._ctx,
            None,
            f"{trace_id:032x}",
            f"{span_id:016x}",
            None if self._error is None else error_info(self._error),
            None if parent_id is None else f"{parent_id:016x}",
            max(0, end - self._start),
            None,
            None,
        )
        hub.emit_built_nowait(sig, level)


class _RunningSpan(HubSpan):
    """A [`HubSpan`][telemetry.integrations.opentelemetry.HubSpan] until it ends, when ``end()``
    makes it a plain one: only a span freed without having ended runs the check that counts
    it, and the others' deallocation runs no Python code (a ``__del__`` on every span cost
    about 1 % of a FastAPI service's time)."""

    __slots__ = ()

    def __del__(self) -> None:
        if getattr(self, "_end", 0) is None:
            limits.count("never_ended")
            # At interpreter exit warning may fail: the count is what remains.
            with contextlib.suppress(Exception):
                limits.warn_once("never-ended", "a span was never ended; its signal is lost")


class HubTracer(trace.Tracer):
    """Starts spans for one instrumentation scope, on the current hub.

    Args:
        name: The scope's name, the namespace of its signals.
    """

    __slots__ = ("_ns",)

    def __init__(self, name: str | None) -> None:
        self._ns = name or None

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        """A span, recording if the current hub's filters accept it; it is not made current.

        Args:
            name: The span's name (its signal's ``id``).
            context: Whose current span is the parent; by default the current context.
            kind: The span's kind.
            attributes: The span's attributes.
            links: Links to other spans.
            start_time: When the span started, in nanoseconds since the epoch; by default now.
            record_exception: Whether an exception leaving the span's scope is recorded,
                where the span is used as the current one (``start_as_current_span``,
                ``trace.use_span``).
            set_status_on_exception: Whether such an exception sets an error status.

        Returns:
            The span: a [`HubSpan`][telemetry.integrations.opentelemetry.HubSpan], or a
            non-recording one when the hub's filters refuse it.
        """
        # trace.get_current_span(context), its three Python calls made one.
        parent = (get_current() if context is None else context).get(SPAN_KEY)
        if type(parent) is _RunningSpan:  # ours: its context, without a call
            psc = parent._span_context
        elif parent is not None and isinstance(parent, _Span):
            psc = parent.get_span_context()
        else:
            psc = None
        parent_id: int | None
        if psc is not None and type(psc) is _OTelSpanContext and _DIRECT:
            trace_id, parent_id, _, _, state, valid = psc
            if not valid:
                trace_id, parent_id, state = _getrandbits(128) | 1, None, _DEFAULT_STATE
        elif psc is not None and psc.is_valid:
            trace_id, parent_id, state = psc.trace_id, psc.span_id, psc.trace_state
        else:
            trace_id, parent_id, state = _getrandbits(128) | 1, None, _DEFAULT_STATE
        span_id = _getrandbits(64) | 1
        name = name if type(name) is str else str(name)
        stack = _registry.stack  # _registry.current_hub(), without its call
        hub = stack[-1] if stack else _registry.current_hub()
        if not hub.accepts(_INFO, self._ns, "span", name):
            return trace.NonRecordingSpan(
                _OTelSpanContext(trace_id, span_id, False, _NOT_SAMPLED, state)
            )
        span = _RunningSpan(
            hub,
            self._ns,
            name,
            _tuple_new(_OTelSpanContext, (trace_id, span_id, False, _SAMPLED, state, True))
            if _DIRECT
            else _OTelSpanContext(trace_id, span_id, False, _SAMPLED, state),
            parent_id,
            kind,
            limits.clean_attributes(attributes),
            _time_ns() if start_time is None else int(start_time),
        )
        if links:
            for link in links:
                span.add_link(link.context, link.attributes)
        return span

    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> CurrentSpan:
        """A span made current for the block (or each call of a decorated function); an
        exception leaving it is recorded and sets an error status, as the API describes.

        Args:
            name: The span's name (its signal's ``id``).
            context: Whose current span is the parent; by default the current context.
            kind: The span's kind.
            attributes: The span's attributes.
            links: Links to other spans.
            start_time: When the span started, in nanoseconds since the epoch; by default now.
            record_exception: Whether an exception leaving the block is recorded.
            set_status_on_exception: Whether such an exception sets an error status.
            end_on_exit: Whether the span ends with the block.

        Returns:
            A context manager (or decorator) whose span is current for the block.
        """
        return CurrentSpan(
            self.start_span,
            (
                name,
                context,
                kind,
                attributes,
                links,
                start_time,
                record_exception,
                set_status_on_exception,
            ),
            record_exception,
            set_status_on_exception,
            end_on_exit,
        )


class HubTracerProvider(trace.TracerProvider):
    """The global ``TracerProvider`` that
    [`telemetry.integrations.opentelemetry.install`][telemetry.integrations.opentelemetry.install]
    sets: its tracers emit into the current hub."""

    def __init__(self) -> None:
        self._tracers: dict[str | None, HubTracer] = {}

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> trace.Tracer:
        """The tracer of one instrumentation scope.

        Args:
            instrumenting_module_name: The scope's name, the signals' namespace.
            instrumenting_library_version: The scope's version (not recorded).
            schema_url: The scope's schema URL (not recorded).
            attributes: The scope's attributes (not recorded).

        Returns:
            The scope's [`HubTracer`][telemetry.integrations.opentelemetry.HubTracer] (the same
            one for the same name).
        """
        name = instrumenting_module_name or None
        tracer = self._tracers.get(name)
        if tracer is None:
            tracer = HubTracer(name)
            if len(self._tracers) < _TRACERS_MAX:
                self._tracers[name] = tracer
        return tracer
