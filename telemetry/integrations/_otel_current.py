"""``start_as_current_span``'s context manager (and decorator), as one small class.

The API's own is a generator-based context manager wrapping ``trace.use_span``, another one:
two generators, their frames and ``contextlib``'s machinery for every span, about a third of
the span's cost. This one does what they do together, in the same order: make the span current,
on an exception record it and set an error status (as the API describes, for exceptions only,
not ``BaseException``), detach, end the span.

Where OpenTelemetry's runtime context is the usual ``contextvars`` one, making the span current
and undoing it set and reset that context variable directly (`get_current`, `attach`,
`detach`): what ``context.attach(trace.set_span_in_context(span))`` does, without its six
Python calls.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Status, StatusCode

from .. import _otel

__all__ = ["SPAN_KEY", "CurrentSpan", "attach", "detach", "get_current"]

F = TypeVar("F", bound=Callable[..., Any])

_VAR = _otel.context_var()
(SPAN_KEY,) = trace.set_span_in_context(trace.INVALID_SPAN, Context()).keys()
"""The current span's key in OpenTelemetry's context (the one key of a context made of a span)."""
get_current: Callable[[], Context] = _VAR.get if _VAR is not None else context_api.get_current
"""OpenTelemetry's current context (``opentelemetry.context.get_current``)."""
_Token = contextvars.Token


def attach(span: trace.Span) -> object:
    """Make ``span`` the current span; a token for `detach`."""
    var = _VAR
    if var is not None:
        # set_value's copy of the current context, the span added, as a new Context.
        return var.set(Context({**var.get(), SPAN_KEY: span}))
    return context_api.attach(trace.set_span_in_context(span))


def detach(token: object) -> None:
    """Undo `attach` (a token that cannot be undone is logged by the API, as its own
    ``detach`` does)."""
    if _VAR is not None and type(token) is _Token:
        try:
            _VAR.reset(token)
            return
        except (ValueError, RuntimeError):  # another context's token, or used: the API says
            pass
    context_api.detach(token)  # type: ignore[arg-type]


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
        var = _VAR  # `attach`, inline
        if var is not None:
            self._token = var.set(Context({**var.get(), SPAN_KEY: span}))
        else:
            self._token = attach(span)
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
            token = self._token  # `detach`, inline for the usual token
            if _VAR is not None and type(token) is _Token:
                try:
                    _VAR.reset(token)
                except (ValueError, RuntimeError):
                    context_api.detach(token)
            else:
                detach(token)
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
