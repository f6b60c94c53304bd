"""Spans: a timed block of code that ends in one signal of kind ``span``.

A span makes itself the current span (a ``ContextVar``) for the block, so every signal emitted
inside, across ``await`` and in tasks created inside, carries its ``trace_id`` and ``span_id``,
and spans opened inside become its children. Ids follow the W3C trace-context sizes.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._context import SpanContext, _span, reset_span, set_span
from ._signal import Level, Location, new_span_id, new_trace_id

if TYPE_CHECKING:
    import contextvars

    from ._creators import Creators

__all__ = ["Span", "traced"]

F = TypeVar("F", bound=Callable[..., Any])
_perf_ns = time.perf_counter_ns
_time_ns = time.time_ns


class Span:
    """A span in progress; use it with ``with`` or ``async with``. Created by ``tel.span(...)``.

    ``span.set(key=value)`` adds data before the span ends; ``span.trace_id`` and
    ``span.span_id`` are there for propagation (a ``traceparent`` header, say).
    """

    __slots__ = (
        "_hub",
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
        hub: Creators,
        id: str,
        level: int,
        data: dict[str, Any],
        depth: int,
        *,
        ns: str | None = None,
        location: Location | None = None,
    ) -> None:
        self._hub = hub
        self.id = id
        self.level = level
        self.data = data
        if location is None:
            ns, location = hub._site(depth)
        self.ns = ns
        self.location = location
        self.context: SpanContext | None = None
        self._token: contextvars.Token[SpanContext | None] | None = None
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
        """Add key/values to the signal this span will emit."""
        self.data.update(data)

    def _start(self) -> None:
        parent = _span.get()
        if parent is None:
            ctx = SpanContext(trace_id=new_trace_id(), span_id=new_span_id())
        else:
            ctx = SpanContext(
                trace_id=parent.trace_id, span_id=new_span_id(), parent_id=parent.span_id
            )
        self.context = ctx
        self._token = set_span(ctx)
        self.inst = _time_ns()
        self._t0 = _perf_ns()

    def _finish(self, exc: BaseException | None) -> tuple[Any, int] | None:
        self.duration_ns = _perf_ns() - self._t0
        if self._token is not None:
            reset_span(self._token)
            self._token = None
        hub = self._hub
        level = self.level
        if exc is not None and level < Level.ERROR:
            level = int(Level.ERROR)
        if level < hub._floor:
            return None
        sig = hub._build(
            level,
            None,
            "span",
            self.id,
            self.data,
            None,
            exc,
            self.ns,
            None,
            None,
            None,
            0,
            span=self.context,
            duration_ns=self.duration_ns,
            inst=self.inst,
            location=self.location,
        )
        return None if sig is None else (sig, level)

    def __enter__(self) -> Span:
        self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        done = self._finish(exc)
        if done is not None:
            self._hub._emit_nowait(*done)

    async def __aenter__(self) -> Span:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        done = self._finish(exc)
        if done is not None:
            await self._hub._submit(*done)


def traced(
    id: str | None = None, /, *, level: str | int = "info", hub: Creators | None = None
) -> Callable[[F], F]:
    """Decorator: run each call of a sync or async function inside a span.

    The span is named ``id`` (default: the function's qualified name) and emitted on ``hub``
    (default: the default hub at call time). Exceptions are recorded and re-raised unchanged.
    """
    from ._hub import current_hub

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
            h = hub if hub is not None else current_hub()
            return Span(h, name, h._level(level), {}, 0, ns=ns, location=location)

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
