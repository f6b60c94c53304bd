"""``start_as_current_span``'s context manager (and decorator), as one small class.

The API's own is a generator-based context manager wrapping ``trace.use_span``, another one:
two generators, their frames and ``contextlib``'s machinery for every span, about a third of
the span's cost. This one does what they do together, in the same order: make the span current,
on an exception record it and set an error status (as the API describes, for exceptions only,
not ``BaseException``), detach, end the span.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

__all__ = ["CurrentSpan"]

F = TypeVar("F", bound=Callable[..., Any])


class CurrentSpan:
    """Starts a span with ``start(*args)`` on entry and makes it current until the exit; used as a
    decorator, a new one for each call (awaited calls included)."""

    __slots__ = ("_args", "_end_on_exit", "_record", "_set_status", "_span", "_start", "_token")

    def __init__(
        self,
        start: Callable[..., trace.Span],
        args: tuple[Any, ...],
        record_exception: bool,
        set_status_on_exception: bool,
        end_on_exit: bool,
    ) -> None:
        # ``start(*args)``, not a closure: one function object less per span.
        self._start = start
        self._args = args
        self._record = record_exception
        self._set_status = set_status_on_exception
        self._end_on_exit = end_on_exit
        self._span: trace.Span | None = None
        self._token: object = None

    def __enter__(self) -> trace.Span:
        span = self._span = self._start(*self._args)
        self._token = context_api.attach(trace.set_span_in_context(span))
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self._span
        assert span is not None, "exited without being entered"
        try:
            context_api.detach(self._token)  # type: ignore[arg-type]
            if isinstance(exc, Exception) and span.is_recording():
                if self._record:
                    span.record_exception(exc)
                if self._set_status:
                    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        finally:
            if self._end_on_exit:
                span.end()

    def _again(self) -> CurrentSpan:
        return CurrentSpan(
            self._start, self._args, self._record, self._set_status, self._end_on_exit
        )

    def __call__(self, func: F) -> F:
        """Decorate ``func``: each call runs in a span of its own (until an awaited call's
        coroutine has finished)."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def awaited(*args: Any, **kwargs: Any) -> Any:
                with self._again():
                    return await func(*args, **kwargs)

            return awaited  # type: ignore[return-value]

        @functools.wraps(func)
        def called(*args: Any, **kwargs: Any) -> Any:
            with self._again():
                return func(*args, **kwargs)

        return called  # type: ignore[return-value]
