"""Context that travels with the code: bound key/values and the current span.

Both live in ``ContextVar``\\ s, so they follow ``await``, are copied into tasks created inside,
and into ``asyncio.to_thread`` / ``anyio.to_thread.run_sync`` calls. Values are immutable (a new
dict per ``bind``), so a task that binds more never changes what its parent sees.
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
_ctx: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "telemetry_ctx", default=_EMPTY
)


class SpanContext(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The identity of the span a piece of code runs in (W3C sizes, lower-case hex)."""

    trace_id: str
    span_id: str
    parent_id: str | None = None


_span: contextvars.ContextVar[SpanContext | None] = contextvars.ContextVar(
    "telemetry_span", default=None
)


def current_context() -> dict[str, Any]:
    """The key/values bound in this context (do not mutate the returned dict)."""
    return _ctx.get()


def current_span() -> SpanContext | None:
    """The span this code runs in, or ``None``."""
    return _span.get()


def _str_keys(values: Mapping[Any, Any]) -> dict[str, Any]:
    return {k if isinstance(k, str) else str(k): v for k, v in values.items()}


class bind:
    """Bind key/values for every signal emitted inside the ``with`` block.

    The same in sync and async code (``with``, or ``async with``); nests, and inner values win.
    Tasks created inside, and ``to_thread`` calls, carry the values too::

        with tel.bind(request_id=rid, user=user.id):
            await tel.log("info", "checkout started")
    """

    __slots__ = ("_token", "_values")

    def __init__(self, values: Mapping[Any, Any] | None = None, /, **kv: Any) -> None:
        merged = _str_keys(values) if values else {}
        merged.update(kv)
        self._values = merged
        self._token: contextvars.Token[dict[str, Any]] | None = None

    def __enter__(self) -> dict[str, Any]:
        current = _ctx.get()
        new = {**current, **self._values} if current else dict(self._values)
        self._token = _ctx.set(new)
        return new

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _ctx.reset(self._token)
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


def set_span(span: SpanContext | None) -> contextvars.Token[SpanContext | None]:
    """Make ``span`` current; returns the token to restore the previous one."""
    return _span.set(span)


def reset_span(token: contextvars.Token[SpanContext | None]) -> None:
    """Restore the span that was current before :func:`set_span`."""
    _span.reset(token)


#: The attribute an exception keeps the context it was raised in under.
_RAISED_IN = "__telemetry_context__"


def remember_context(exc: BaseException, ctx: dict[str, Any], span: SpanContext | None) -> None:
    """Keep on ``exc`` the bound values and the span it left, so that a record logged about it
    later, outside that context (a server's "Exception in ASGI application"), carries them.
    The last context it leaves wins (the outermost; and an exception object raised again in
    another request never keeps the first one's)."""
    # An exception type with __slots__ and no __dict__ cannot keep it: nothing to do then.
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, _RAISED_IN, (ctx, span))


def raised_in(exc: BaseException) -> tuple[dict[str, Any], SpanContext | None] | None:
    """What :func:`remember_context` kept on ``exc``, if anything."""
    found = getattr(exc, _RAISED_IN, None)
    return found if isinstance(found, tuple) and len(found) == 2 else None
