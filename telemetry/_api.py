"""Module-level creators: ``import telemetry as tel; await tel.log("info", "hi")``.

Each one forwards to the default hub (the most recently opened :class:`Telemetry` that is still
open) or, when none is open, to a fallback that prints one readable line per signal to stderr.
The default hub's tables of compiled emitters are kept in globals here, refreshed whenever the
default hub or its configuration changes, so that a call is one look-up and one call.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from . import _registry
from ._calls import SignalOptions, error_message, take_error, then
from ._emit import Emit, EmitTable
from ._fallback import current_hub
from ._spans import Span, SpanHost
from ._spans import traced as _traced
from ._stats import Health, Stats

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "error",
    "error_nowait",
    "event",
    "event_nowait",
    "exception",
    "exception_nowait",
    "flush",
    "health",
    "log",
    "log_nowait",
    "signal",
    "signal_nowait",
    "span",
    "stats",
    "traced",
]

E = TypeVar("E", bound=BaseException)
F = TypeVar("F", bound=Callable[..., Any])

# The default hub's tables (updated in place by the hub), their plain copies (see EmitTable)
# and its finished "refused" awaitable.
_T: EmitTable[Awaitable[bool]]
_TN: EmitTable[bool]
_TP: dict[object, Emit[Awaitable[bool]] | Literal[False]]
_TNP: dict[object, Emit[bool] | Literal[False]]
_NO: Awaitable[bool]


def _default_changed() -> None:
    global _T, _TN, _TP, _TNP, _NO
    hub = current_hub()
    _T, _TN, _NO = hub._table, hub._table_nowait, hub._no
    _TP, _TNP = _T.plain, _TN.plain


_registry.listen(_default_changed)
_default_changed()


def signal(msg: object = None, /, **options: Unpack[SignalOptions]) -> Awaitable[bool]:
    """Emit a signal on the default hub; see :meth:`Telemetry.signal`."""
    return current_hub().signal(msg, **options)


def signal_nowait(msg: object = None, /, **options: Unpack[SignalOptions]) -> bool:
    """Emit without awaiting, from any thread; see :meth:`Telemetry.signal_nowait`."""
    return current_hub().signal_nowait(msg, **options)


# ``log`` and ``log_nowait`` take ``error=`` and ``exc_info=`` out of their keywords when they
# are there, rather than declaring them: declared keyword-only parameters cost every call, since
# CPython compares each keyword a call passes with each declared name in turn (about 50 ns for a
# call with three fields). ``Telemetry.log`` declares them.


def log(level: str | int, msg: object = None, /, **data: Any) -> Awaitable[bool]:
    """``await tel.log("info", "user joined", room=r)``: a log signal with ``data``, on the
    default hub; ``error=exc`` records an exception, ``exc_info=True`` the one being handled
    (or an exception, or a ``sys.exc_info()`` tuple). See :meth:`Telemetry.log`."""
    try:
        emit = _TP[level]
    except KeyError:  # a level number of one's own, or a wrong level
        emit = _T[level]
    if emit is False:
        return _NO
    if "error" in data or "exc_info" in data:
        return emit("log", None, msg, data, take_error(data))
    return emit("log", None, msg, data)


def log_nowait(level: str | int, msg: object = None, /, **data: Any) -> bool:
    """:func:`log` without awaiting, from any thread."""
    try:
        emit = _TNP[level]
    except KeyError:
        emit = _TN[level]
    if emit is False:
        return False
    if "error" in data or "exc_info" in data:
        return emit("log", None, msg, data, take_error(data))
    return emit("log", None, msg, data)


def exception(msg: object = None, /, *, level: str | int = "error", **data: Any) -> Awaitable[bool]:
    """In an ``except`` block: log ``msg`` with the exception being handled and its
    traceback; see :meth:`Telemetry.exception`."""
    emit = _T[level]
    if emit is False:
        return _NO
    return emit("log", None, msg, data, sys.exc_info()[1])


def exception_nowait(msg: object = None, /, *, level: str | int = "error", **data: Any) -> bool:
    """:func:`exception` without awaiting, from any thread."""
    emit = _TN[level]
    return emit is not False and emit("log", None, msg, data, sys.exc_info()[1])


def event(id: str, /, *, level: str | int = "info", **data: Any) -> Awaitable[bool]:
    """``await tel.event("user.signup", plan="pro")``; see :meth:`Telemetry.event`."""
    emit = _T[level]
    return _NO if emit is False else emit("event", id, None, data)


def event_nowait(id: str, /, *, level: str | int = "info", **data: Any) -> bool:
    """:func:`event` without awaiting, from any thread."""
    emit = _TN[level]
    return emit is not False and emit("event", id, None, data)


def error(
    exc: E,
    msg: object = None,
    /,
    *,
    id: str | None = None,
    level: str | int = "error",
    **data: Any,
) -> Awaitable[E]:
    """``raise await tel.error(exc)``: record the exception, get it back; see
    :meth:`Telemetry.error`."""
    emit = _T[level]
    if emit is False:
        return then(_NO, exc)
    msg = error_message(exc) if msg is None else msg
    return then(emit("error", id, msg, data, exc), exc)


def error_nowait(
    exc: E,
    msg: object = None,
    /,
    *,
    id: str | None = None,
    level: str | int = "error",
    **data: Any,
) -> E:
    """:func:`error` without awaiting, from any thread; returns the exception."""
    emit = _TN[level]
    if emit is not False:
        emit("error", id, error_message(exc) if msg is None else msg, data, exc)
    return exc


def span(id: str, /, *, level: str | int = "info", **data: Any) -> Span:
    """``async with tel.span("db.query") as span:`` (or ``with``); see :meth:`Telemetry.span`."""
    return current_hub().span(id, level=level, **data)


def traced(
    id: str | None = None, /, *, level: str | int = "info", hub: SpanHost | None = None
) -> Callable[[F], F]:
    """Decorator: each call of the function runs in a span; see :meth:`Telemetry.traced`."""
    return _traced(id, level=level, hub=hub, default_hub=current_hub)


async def flush() -> None:
    """Flush the default hub; see :meth:`Telemetry.flush`."""
    await current_hub().flush()


def stats() -> Stats:
    """The default hub's stats; see :meth:`Telemetry.stats`."""
    return current_hub().stats()


def health() -> Health:
    """The default hub's health; see :meth:`Telemetry.health`."""
    return current_hub().health()
