"""Context that travels with the code: bound key/values and the current span.

Both live in one ``ContextVar`` (the *scope*), so they follow ``await``, are copied into tasks
created inside, and into ``asyncio.to_thread`` / ``anyio.to_thread.run_sync`` calls. Values are
immutable (a new dict per ``bind``, a new scope per ``bind`` or span), so a task that binds more
never changes what its parent sees. One variable, not two, because every signal reads both: the
emitting path makes one look-up and finds the trace and span ids ready in it. ``bind`` blocks and
spans nest (each restores the scope it found when it ends), as ``with`` blocks do.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import msgspec

__all__ = [
    "SpanContext",
    "bind",
    "current_context",
    "current_span",
    "raised_in",
    "remember_context",
]

_EMPTY: dict[str, Any] = {}


class SpanContext(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The identity of the span a piece of code runs in (W3C sizes, lower-case hex)."""

    trace_id: str
    span_id: str
    parent_id: str | None = None


Scope = tuple[dict[str, Any], "str | None", "str | None", "SpanContext | None"]
"""``(bound key/values, trace id, span id, span)``: what a signal emitted here carries."""
_NO_SCOPE: Scope = (_EMPTY, None, None, None)
_scope: contextvars.ContextVar[Scope] = contextvars.ContextVar("telemetry_scope", default=_NO_SCOPE)


def current_context() -> dict[str, Any]:
    """The key/values bound in this context (do not mutate the returned dict)."""
    return _scope.get()[0]


def current_span() -> SpanContext | None:
    """The span this code runs in, or ``None``."""
    return _scope.get()[3]


def _str_keys(values: Mapping[Any, Any]) -> dict[str, Any]:
    return {k if isinstance(k, str) else str(k): v for k, v in values.items()}


class bind:
    """Bind key/values for every signal emitted inside the ``with`` block.

    The same in sync and async code (``with``, or ``async with``); nests, and inner values win.
    Tasks created inside, and ``to_thread`` calls, carry the values too:

    ```python
    with tel.bind(request_id=rid, user=user.id):
        await tel.log("info", "checkout started")
    ```

    Args:
        values: A mapping of key/values (keys that are not strings are converted with
            ``str()``).
        **kv: More key/values, over those of ``values``.
    """

    __slots__ = ("_token", "_values")

    def __init__(self, values: Mapping[Any, Any] | None = None, /, **kv: Any) -> None:
        merged = _str_keys(values) if values else {}
        merged.update(kv)
        self._values = merged
        self._token: contextvars.Token[Scope] | None = None

    def __enter__(self) -> dict[str, Any]:
        current, trace_id, span_id, span = _scope.get()
        new = {**current, **self._values} if current else dict(self._values)
        self._token = _scope.set((new, trace_id, span_id, span))
        return new

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _scope.reset(self._token)
            self._token = None

    async def __aenter__(self) -> dict[str, Any]:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def set_span(span: SpanContext | None) -> contextvars.Token[Scope]:
    """Make ``span`` current; returns the token to restore the previous one."""
    ctx = _scope.get()[0]
    if span is None:
        return _scope.set((ctx, None, None, None))
    return _scope.set((ctx, span.trace_id, span.span_id, span))


def enter_span(span: SpanContext, bound: Mapping[str, Any] | None) -> contextvars.Token[Scope]:
    """Make ``span`` current and bind ``bound`` (when given) in one step: what a span that
    also binds values (a request's id) needs, without a second context change."""
    ctx = _scope.get()[0]
    if bound:
        ctx = {**ctx, **bound} if ctx else dict(bound)
    return _scope.set((ctx, span.trace_id, span.span_id, span))


def reset_span(token: contextvars.Token[Scope]) -> None:
    """Restore the span (and bound values) that were current before `set_span`."""
    _scope.reset(token)


_RAISED_IN = "__telemetry_context__"
"""The attribute an exception keeps the context it was raised in under."""


def remember_context(exc: BaseException, ctx: dict[str, Any], span: SpanContext | None) -> None:
    """Keep on ``exc`` the bound values and the span it left, so that a record logged about it
    later, outside that context (a server's "Exception in ASGI application"), carries them.
    The last context it leaves wins (the outermost; and an exception object raised again in
    another request never keeps the first one's)."""
    # An exception type with __slots__ and no __dict__ cannot keep it: nothing to do then.
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, _RAISED_IN, (ctx, span))


def raised_in(exc: BaseException) -> tuple[dict[str, Any], SpanContext | None] | None:
    """What `remember_context` kept on ``exc``, if anything."""
    found = getattr(exc, _RAISED_IN, None)
    return found if isinstance(found, tuple) and len(found) == 2 else None
