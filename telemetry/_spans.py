"""Spans: a timed block of code that ends in one signal of kind ``span``.

A span makes itself the current span (a ``ContextVar``) for the block, so every signal emitted
inside, across ``await`` and in tasks created inside, carries its ``trace_id`` and ``span_id``,
and spans opened inside become its children. Ids follow the W3C trace-context sizes. The
signal at the end goes through the hub's compiled emitter for its level, like any other.
"""

from __future__ import annotations

import functools
import inspect
import sys
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from . import _otel
from ._calls import level_number
from ._context import Scope, SpanContext, current_span, enter_span, reset_span
from ._emit import Emitters
from ._signal import LABEL_OF, Level, Location, new_span_id, new_trace_id
from ._sites import Sites
from ._warn import warn

if TYPE_CHECKING:
    import contextvars

__all__ = ["HasSpanHost", "Span", "SpanHost", "innermost_span", "traced"]

F = TypeVar("F", bound=Callable[..., Any])
_perf_ns = time.perf_counter_ns
_time_ns = time.time_ns


class SpanHost:
    """What a span needs of its hub: the hub's call-site cache (where the span was opened) and
    its compiled emitting path (the span's signal goes through it). Each hub builds one; it is
    the whole of what spans know of hubs."""

    __slots__ = ("emitters", "sites")

    def __init__(self, sites: Sites, emitters: Emitters) -> None:
        self.sites = sites
        self.emitters = emitters


class HasSpanHost(Protocol):
    """A hub, as spans see it: something with a `SpanHost`."""

    @property
    def span_host(self) -> SpanHost:
        """What spans opened on it use."""
        ...


class Span:
    """A span in progress; use it with ``with`` or ``async with``. Created by ``tel.span(...)``.

    ``span.set(key=value)`` adds data before the span ends; ``span.trace_id`` and
    ``span.span_id`` are there for propagation (a ``traceparent`` header, say). An integration
    may build one itself, on a hub's ``span_host``.

    Args:
        host: The hub (or its ``span_host``) the span's signal goes to.
        id: The span's name.
        level: The span's level number.
        data: The span's data, adopted as it is (the span adds to it).
        stacklevel: Whose location to record (1 is the caller).
        ns: The span's namespace, with ``location``: given both, no frame is looked at.
        location: Where the span was made, with ``ns``.
    """

    __slots__ = (
        "_host",
        "_otel_token",
        "_t0",
        "_token",
        "context",
        "data",
        "duration_ns",
        "id",
        "inst",
        "level",
        "location",
        "ns",
    )

    def __init__(
        self,
        host: SpanHost | HasSpanHost,
        id: str,
        level: int,
        data: dict[str, Any],
        stacklevel: int = 1,
        *,
        ns: str | None = None,
        location: Location | None = None,
    ) -> None:
        if not isinstance(host, SpanHost):
            host = host.span_host  # a hub
        self._host = host
        self.id = id
        self.level = level
        self.data = data
        if location is None:
            # Frame 1 is whoever made the span; the library's own frames are skipped.
            ns, location, _ = host.sites.resolve(sys._getframe(1), stacklevel - 1)
        self.ns = ns
        self.location = location
        self.context: SpanContext | None = None
        self._token: contextvars.Token[Scope] | None = None
        self._otel_token: object | None = None
        self.inst = 0
        self._t0 = 0
        self.duration_ns: int | None = None

    @property
    def trace_id(self) -> str | None:
        """The trace this span belongs to (32 hex digits), once started."""
        return None if self.context is None else self.context.trace_id

    @property
    def span_id(self) -> str | None:
        """This span's id (16 hex digits), once started."""
        return None if self.context is None else self.context.span_id

    def set(self, **data: Any) -> None:
        """Add key/values to the signal this span will emit.

        Args:
            **data: The key/values, over those already there.
        """
        self.data.update(data)

    def __repr__(self) -> str:
        """``<Span 'db.query' ended 1.204 ms level=info trace_id=... span_id=...>``: its name,
        its state (``new``, ``running``, ``ended``), its duration once ended, its level and,
        once started, its ids (and its parent's)."""
        ctx = self.context
        if ctx is None:
            state = "new"
        elif self.duration_ns is None:
            state = "running"
        else:
            state = f"ended {self.duration_ns / 1e6:.3f} ms"
        parts = [f"<Span {self.id!r} {state} level={LABEL_OF.get(self.level, self.level)}"]
        if ctx is not None:
            parts.append(f"trace_id={ctx.trace_id} span_id={ctx.span_id}")
            if ctx.parent_id is not None:
                parts.append(f"parent_id={ctx.parent_id}")
        return " ".join(parts) + ">"

    def start(
        self,
        *,
        parent: SpanContext | None = None,
        trace_id: str | None = None,
        bound: Mapping[str, Any] | None = None,
    ) -> SpanContext:
        """Start the span (what ``with`` / ``async with`` do, for code that cannot use them):
        it becomes the current span; end it with [`end`][telemetry.Span.end] or
        [`end_nowait`][telemetry.Span.end_nowait].

        Args:
            parent: A remote caller's span (from a ``traceparent``), which replaces the current
                span as the parent.
            trace_id: Without ``parent``: the caller found no parent span and made the new
                trace's id first, to use it itself.
            bound: Key/values bound for the span's duration, as [`bind`][telemetry.bind]
                would, in the same step.

        Returns:
            The span's identity.
        """
        if parent is None and trace_id is None:
            parent = innermost_span()
        if parent is None:
            ctx = SpanContext(trace_id=trace_id or new_trace_id(), span_id=new_span_id())
        else:
            ctx = SpanContext(
                trace_id=parent.trace_id, span_id=new_span_id(), parent_id=parent.span_id
            )
        self.context = ctx
        self._token = enter_span(ctx, bound)
        # OpenTelemetry's propagation and its spans started inside see this span as current.
        self._otel_token = _otel.attach(ctx)
        self.inst = _time_ns()
        self._t0 = _perf_ns()
        return ctx

    def _level_at_end(self, exc: BaseException | None) -> int:
        self.duration_ns = _perf_ns() - self._t0
        level = self.level
        return int(Level.ERROR) if exc is not None and level < Level.ERROR else level

    def _leave(self) -> None:
        otel_token, token = self._otel_token, self._token
        self._otel_token = self._token = None
        try:
            if otel_token is not None:
                _otel.detach(otel_token)
            if token is not None:
                reset_span(token)
        except ValueError:
            # Ended in another context than it started in (another thread's, another
            # task's): what was current there is not this context's to restore. Its signal
            # has gone out all the same.
            warn(
                "span-context",
                f"span {self.id!r} ended in another context than the one it started in; "
                "that context still has it as its current span",
            )

    # The span's signal is emitted before the span stops being current, so that it carries
    # what the span bound (a request's id); its own ids come from the span, not the context.

    def end_nowait(self, error: BaseException | None = None) -> None:
        """End the span and hand its signal over without waiting (``with``'s exit).

        Args:
            error: The exception that ended the span, if any.
        """
        level = self._level_at_end(error)
        try:
            emit = self._host.emitters.table_nowait[level]
            if emit is not False:
                emit.span(
                    self.id,
                    self.data,
                    error,
                    self.ns,
                    self.location,
                    self.context,
                    self.duration_ns,
                    self.inst,
                )
        finally:
            self._leave()

    async def end(self, error: BaseException | None = None) -> None:
        """End the span and emit its signal (``async with``'s exit). Nothing is built when
        the hub refuses the level.

        Args:
            error: The exception that ended the span, if any.
        """
        level = self._level_at_end(error)
        try:
            emit = self._host.emitters.table[level]
            if emit is not False:
                await emit.span(
                    self.id,
                    self.data,
                    error,
                    self.ns,
                    self.location,
                    self.context,
                    self.duration_ns,
                    self.inst,
                )
        finally:
            self._leave()

    def would_emit(self, level: int) -> bool:
        """Whether the hub takes a span signal at ``level`` at all (its level floor): when it
        does not, what would only go into the signal need not be built.

        Args:
            level: A level number.

        Returns:
            Whether a span signal at ``level`` would be emitted.
        """
        return self._host.emitters.table[level] is not False

    def __enter__(self) -> Span:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end_nowait(exc)

    async def __aenter__(self) -> Span:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.end(exc)


def innermost_span() -> SpanContext | None:
    """The span a span started here would be the child of: an OpenTelemetry span current
    here (opentelemetry-api installed), whether outside any span of ours or started inside
    one, is the innermost; else the current span of ours; else none."""
    return _otel.current_otel_span() or current_span()


def traced(id: str | None, *, level: str | int, hub: HasSpanHost) -> Callable[[F], F]:
    """Decorator: run each call of a sync or async function inside a span.

    The span is named ``id`` (default: the function's qualified name) and emitted through the
    `SpanHost` ``hub`` has at call time. Exceptions are recorded and re-raised unchanged.
    """

    def decorate(fn: F) -> F:
        name = id or fn.__qualname__
        code = getattr(fn, "__code__", None)
        location = (
            Location(file=code.co_filename, line=code.co_firstlineno, function=fn.__qualname__)
            if code is not None
            else None
        )
        ns = getattr(fn, "__module__", None)

        def make_span() -> Span:
            return Span(hub.span_host, name, level_number(level), {}, ns=ns, location=location)

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with make_span():
                    return await fn(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with make_span():
                return fn(*args, **kwargs)

        return cast(F, wrapper)

    return decorate
