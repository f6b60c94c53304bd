"""Trace correlation with OpenTelemetry, both ways, when ``opentelemetry-api`` is installed.

Nothing here is a dependency: without ``opentelemetry-api``, the emitting path reads only our
own current span and the span hooks do nothing.

With it:

- a signal emitted outside any span of ours, while an OpenTelemetry span is current, carries
  that span's trace and span ids; a span of ours started there becomes its child (same trace,
  its parent id);
- while a span of ours runs, it is also the current span in OpenTelemetry's context (as a
  non-recording span), so what OpenTelemetry propagates (an instrumented HTTP client's
  ``traceparent`` header, ``opentelemetry.propagate.inject``) and the spans it starts inside
  carry our ids. That span is one object for the whole process (`ours`), which answers
  with the current span of ours whenever OpenTelemetry asks, so that starting a span of ours
  builds nothing of OpenTelemetry's: only the context variable changes, and not even that
  when a span of ours is already current.

And the pipeline's own work is kept out of what OpenTelemetry's instrumentations record
(`suppressed`): the OTLP sink's HTTP requests, with httpx instrumented, would otherwise
become spans that the sink exports, which make requests, and so on.

We never import OpenTelemetry first: ``import telemetry``, a hub and a span cost the same
whether it is installed or not, until the application (or a library it uses) imports
``opentelemetry.context``; before that, no OpenTelemetry span can be current. From then on, the
first span or signal that finds it in ``sys.modules`` binds what it needs (and imports
``opentelemetry.trace``, if the application has not). A hub compiled before then reads
OpenTelemetry's context through `_late_context` (one Python call more per signal) until
its next recompile (it opens, or its configuration changes), which binds the direct getter.
"""

from __future__ import annotations

import contextvars
import importlib.util
import sys
import threading
from collections.abc import Callable, Mapping
from importlib.machinery import PathFinder
from types import MappingProxyType
from typing import Any

from ._context import SpanContext, current_span
from ._warn import warn

__all__ = [
    "SPAN_KEY",
    "attach",
    "available",
    "context_getter",
    "context_var",
    "current_otel_span",
    "detach",
    "empty_context",
    "from_otel_span",
    "ours",
    "span_key",
    "suppressed",
    "tracer_provider_set",
]

_state: dict[str, Any] = {}
SPAN_KEY: Any = None
"""The key of the current span in OpenTelemetry's context (set once it is loaded)."""
_CONTEXT_MODULE = "opentelemetry.context"
"""The module that anything making an OpenTelemetry span current has imported."""
_NOTHING: Mapping[Any, Any] = MappingProxyType({})
"""What `_late_context` returns while no OpenTelemetry span can be current."""
_LATE_KEY = object()
"""The key `_late_context` files the current span under (see `span_key`)."""


def available() -> bool:
    """Whether ``opentelemetry-api`` is installed (looked up once, importing nothing).

    ``find_spec("opentelemetry.trace")`` would import the parent package, and raises when there
    is none at all (only the ``opentelemetry-proto`` of the ``otlp`` extra installs it too, without
    ``trace``): the parent is looked up, then ``trace`` in its folders."""
    found = _state.get("available")
    if found is None:
        try:
            parent = importlib.util.find_spec("opentelemetry")
            where = [] if parent is None else list(parent.submodule_search_locations or ())
            found = bool(where) and PathFinder.find_spec("opentelemetry.trace", where) is not None
        except (ImportError, ValueError):  # a broken install reads as none
            found = False
        _state["available"] = found
    return bool(found)


def _loaded() -> bool:
    """Whether OpenTelemetry is in use (its context module imported by someone), binding what
    we read from it the first time; ``False`` while it is not, or if binding fails."""
    if "context_get" in _state:
        return True
    if _CONTEXT_MODULE not in sys.modules or _state.get("broken") or not available():
        return False
    with _load_lock:
        if "context_get" in _state:
            return True
        try:
            _load()
        except Exception as exc:  # an install too old or partial: correlation off, said once
            _state["broken"] = True
            warn("otel", f"trace correlation with OpenTelemetry is off: {exc!r}")
            return False
    return True


_load_lock = threading.Lock()


def _load() -> None:
    from opentelemetry import context, trace
    from opentelemetry.trace.propagation import _SPAN_KEY

    global SPAN_KEY
    SPAN_KEY = _SPAN_KEY
    get_current = context.get_current
    # The runtime context's own ContextVar.get, when it is the usual contextvars one: a C call
    # instead of two Python ones, on the path of every signal.
    var = getattr(getattr(context, "_RUNTIME_CONTEXT", None), "_current_context", None)
    fast = var.get if isinstance(var, contextvars.ContextVar) else None
    # The context in which nothing was ever attached is the variable's default, one object:
    # the emitting path knows by its identity that no OpenTelemetry span can be current.
    empty = None
    if isinstance(var, contextvars.ContextVar):
        try:
            empty = contextvars.Context().run(var.get)
        except LookupError:  # no default: every context is looked into
            empty = None
    _state.update(
        empty=empty,
        attach=context.attach,
        detach=context.detach,
        set_span_in_context=trace.set_span_in_context,
        NonRecordingSpan=trace.NonRecordingSpan,
        OTelSpanContext=trace.SpanContext,
        TraceFlags=trace.TraceFlags,
        set_value=context.set_value,
        trace=trace,
        # The key OpenTelemetry's exporters set around their own requests, and its older plain
        # spelling, which the instrumentations still read.
        suppress_keys=(
            getattr(context, "_SUPPRESS_INSTRUMENTATION_KEY", "suppress_instrumentation"),
            "suppress_instrumentation",
        ),
        # One flags value for every span: made per span, it would be one more object that
        # lives as long as the span (a request, under the ASGI middleware).
        sampled=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    stand_in = _stand_in_class(trace)()
    _state.update(
        ours=stand_in,
        # OpenTelemetry's context holding only the stand-in: what a span of ours starting
        # where nothing of OpenTelemetry's is current makes current, the same each time.
        ours_alone=trace.set_span_in_context(stand_in, context.Context()),
        var=var if isinstance(var, contextvars.ContextVar) else None,
    )
    # Last: its presence is what tells other threads that everything above is in place.
    _state["context_get"] = fast or get_current


def _stand_in_class(trace: Any) -> type[Any]:
    """The class of `ours`: a non-recording span whose context is, each time it is
    asked for, that of the current span of ours (invalid when there is none)."""
    invalid = trace.INVALID_SPAN_CONTEXT
    make = trace.SpanContext
    sampled = _state["sampled"]

    class OurSpan(trace.NonRecordingSpan):  # type: ignore[misc]
        """OpenTelemetry's view of the current span of aiotelemetry (non-recording)."""

        def __init__(self) -> None:
            super().__init__(invalid)

        def get_span_context(self) -> Any:
            ctx = current_span()
            if ctx is None:
                return invalid
            try:
                return make(
                    int(ctx.trace_id, 16),
                    int(ctx.span_id, 16),
                    is_remote=False,
                    trace_flags=sampled,
                )
            except ValueError:  # ids that are not hex (set by hand): nothing to propagate
                return invalid

        def __repr__(self) -> str:
            return f"OurSpan({self.get_span_context()!r})"

    return OurSpan


def current_otel_span() -> SpanContext | None:
    """The current OpenTelemetry span as a [`SpanContext`][telemetry.SpanContext], or ``None`` when
    there is none, when it is the one that stands for a span of ours, when it is invalid, or without
    ``opentelemetry-api``."""
    s = _state
    if "context_get" not in s and not _loaded():  # `_loaded()`, without its call once loaded
        return None
    span = s["context_get"]().get(SPAN_KEY)
    if span is None or span is s["ours"]:  # none, or the one standing for ours
        return None
    return from_otel_span(span)


def from_otel_span(span: Any) -> SpanContext | None:
    """An OpenTelemetry span as a [`SpanContext`][telemetry.SpanContext]; ``None`` if its context is
    invalid. A span that knows its own (aiotelemetry's, as the OpenTelemetry SDK: a
    ``telemetry_context()`` method) gives it, made once, for every signal emitted inside."""
    own = getattr(span, "telemetry_context", None)
    if own is not None:
        return own()  # type: ignore[no-any-return]
    sc = span.get_span_context()
    if not sc.is_valid:
        return None
    return SpanContext(trace_id=f"{sc.trace_id:032x}", span_id=f"{sc.span_id:016x}")


def empty_context() -> Any:
    """OpenTelemetry's current context where nothing was ever attached (a context that holds
    no span), or ``None`` when it cannot be known or without ``opentelemetry-api``; while
    OpenTelemetry is installed but not in use, what `_late_context` returns when no
    span is current."""
    if _loaded():
        return _state.get("empty")
    return _NOTHING if available() else None


def span_key() -> Any:
    """The key of the current span in what `context_getter` returns (``None`` without
    ``opentelemetry-api``)."""
    if _loaded():
        return SPAN_KEY
    return _LATE_KEY if available() else None


def context_getter() -> Callable[[], Any] | None:
    """A getter of OpenTelemetry's current context (a mapping in which `span_key` is the
    current span), for the emitting path; ``None`` without ``opentelemetry-api``. While it is
    installed but not in use, `_late_context`, which notices when it comes into use."""
    if not available():
        return None
    if not _loaded():
        return _late_context
    getter: Callable[[], Any] = _state["context_get"]
    return getter


def context_var() -> contextvars.ContextVar[Any] | None:
    """The context variable that holds OpenTelemetry's current context, when its runtime
    context is the usual ``contextvars`` one: its ``get()`` is
    ``opentelemetry.context.get_current()``, its ``set`` and ``reset`` are ``attach`` and
    ``detach`` without their two Python calls. ``None`` with another runtime context, while
    OpenTelemetry is not in use, or without ``opentelemetry-api``."""
    if not _loaded():
        return None
    var: contextvars.ContextVar[Any] | None = _state["var"]
    return var


def _late_context() -> Mapping[Any, Any]:
    """For emitters compiled before OpenTelemetry was in use: nothing until it is, then its
    current span under both keys an emitter may have bound (one compiled while OpenTelemetry
    came into use may hold this getter with the real key)."""
    if not _loaded():
        return _NOTHING
    span = _state["context_get"]().get(SPAN_KEY)
    if span is None or span is _state["ours"]:
        return _NOTHING
    return {_LATE_KEY: span, SPAN_KEY: span}


_NOT_OURS = object()
"""What `ours` is while OpenTelemetry is not in use: nothing any context holds."""


def ours() -> Any:
    """The OpenTelemetry span that stands for the current span of ours in OpenTelemetry's
    context (one object; an OpenTelemetry span current in its place was started inside ours,
    and is the innermost); a placeholder no context holds while OpenTelemetry is not in use."""
    if not _loaded():
        return _NOT_OURS
    return _state["ours"]


def attach(ctx: SpanContext) -> object | None:
    """Make the span of ours that has just become current (``ctx``) OpenTelemetry's current
    span too; ``None`` when nothing needs undoing (OpenTelemetry not in use, or a span of ours
    already current there: `ours` follows the innermost). Undo with `detach`.

    Nothing is built per span: where no OpenTelemetry value is current, the context made
    current is always the same one; only inside an OpenTelemetry span (or with baggage) is a
    context made, holding what was there and the stand-in."""
    s = _state
    if "context_get" not in s and not _loaded():  # `_loaded()`, without its call once loaded
        return None
    var = s["var"]
    if var is not None:
        current = var.get()
        if current is s["empty"]:
            token: object = var.set(s["ours_alone"])
            return token
        if current.get(SPAN_KEY) is s["ours"]:
            return None
    elif s["context_get"]().get(SPAN_KEY) is s["ours"]:
        return None
    made: object = s["attach"](s["set_span_in_context"](s["ours"]))
    return made


def detach(token: object | None) -> None:
    """Undo `attach`."""
    if token is None:
        return
    var = _state["var"]
    if var is not None and type(token) is contextvars.Token:
        var.reset(token)
    else:
        _state["detach"](token)


def tracer_provider_set() -> bool:
    """Whether a global tracer provider is set (any SDK's); ``False`` without
    ``opentelemetry-api``. One attribute read: cheap enough for every request."""
    trace = _state.get("trace")
    if trace is None:
        # Not in use yet: setting a provider imports OpenTelemetry's context, so a provider
        # is set only where `_loaded` binds the API.
        if not _loaded():
            return False
        trace = _state["trace"]
    # The API's own record of it: get_tracer_provider() would read the environment each time.
    return getattr(trace, "_TRACER_PROVIDER", None) is not None


class suppressed:
    """``with suppressed():`` OpenTelemetry's instrumentations record nothing inside (the
    context key ``suppress_instrumentation``, as OpenTelemetry's own exporters set it); does
    nothing without ``opentelemetry-api``. Not reentrant: one ``with`` per object."""

    __slots__ = ("_token",)

    def __init__(self) -> None:
        self._token: object = None

    def __enter__(self) -> None:
        if _loaded():  # no instrumentation runs before OpenTelemetry is imported
            s = _state
            ctx = None
            for key in s["suppress_keys"]:
                ctx = s["set_value"](key, True, ctx)
            self._token = s["attach"](ctx)

    def __exit__(self, *exc: object) -> None:
        token, self._token = self._token, None
        if token is not None:
            _state["detach"](token)
