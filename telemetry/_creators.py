"""The creators, written once for both doors: a hub's methods and the module-level functions.

`Creators` holds the twelve creators (``signal``, ``log``, ``exception``, ``event``,
``error``, each with its ``*_nowait`` twin, ``span`` and ``traced``) as methods that read the
emitter tables bound to them. [`Telemetry`][telemetry.Telemetry] is a ``Creators`` bound to its own
tables; the module-level functions (``telemetry.log``, ...) are the methods of one
`DefaultCreators`, bound to the default hub's tables and rebound whenever the default hub
changes. A call through either door runs the same code: same signature, same options, same
handling of ``error=`` / ``exc_info=``, same refused path.

Each creator is a short forward to the compiled emitter for its level (``telemetry._emit``).
``log`` and ``log_nowait`` take ``error=``, ``exc_info=`` and ``stacklevel=`` out of their
keywords when they are there rather than declaring them: declared keyword-only parameters cost
every call, since CPython compares each keyword a call passes with each declared name in turn
(about 50 ns for a call with three fields).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ._calls import (
    Ready,
    SignalOptions,
    call_signal,
    error_message,
    level_number,
    take_error,
    then,
    up,
)
from ._emit import Emit, EmitTable
from ._spans import Span, SpanHost, traced

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["Creators", "DefaultCreators"]

E = TypeVar("E", bound=BaseException)
F = TypeVar("F", bound=Callable[..., Any])


class Creators:
    """The creators, bound to a hub's compiled emitter tables (see `_bind_tables`)."""

    # The tables (updated in place by their hub on every recompile), their plain copies (see
    # EmitTable: the fastest look-up, read first by ``log``) and the finished "refused"
    # awaitable. Rebound only when the hub opens or forks, or the default hub changes.
    _table: EmitTable[Awaitable[bool]]
    _table_nowait: EmitTable[bool]
    _plain: dict[object, Emit[Awaitable[bool]] | Literal[False]]
    _plain_nowait: dict[object, Emit[bool] | Literal[False]]
    _no: Awaitable[bool]
    span_host: SpanHost
    """What spans opened through these creators use: the hub's call-site cache and emitting path
    (for an integration that builds a [`Span`][telemetry.Span] itself)."""

    def _bind_tables(
        self,
        table: EmitTable[Awaitable[bool]],
        table_nowait: EmitTable[bool],
        no: Awaitable[bool],
        spans: SpanHost,
    ) -> None:
        """Emit through ``table`` and ``table_nowait``; return ``no`` from a refused call;
        open spans on ``spans``."""
        self._table, self._table_nowait, self._no = table, table_nowait, no
        self._plain, self._plain_nowait = table.plain, table_nowait.plain
        self.span_host = spans

    def _share_tables(self, other: Creators) -> None:
        """Emit through the tables ``other`` is bound to."""
        self._bind_tables(other._table, other._table_nowait, other._no, other.span_host)

    def emitter(self, level: str | int, *, nowait: bool = False) -> Callable[..., Any] | None:
        """The compiled emitter for ``level``, for bridges from other logging systems and for
        reading: its source is on it as ``__source__`` (``inspect.getsource`` reads it too).

        Called as ``emit(kind, id, msg, data, error=None, more=None)``; ``data`` is adopted as
        it is. The emitter changes whenever the hub's configuration does: look it up for each
        call.

        Args:
            level: A level name (``"info"``) or number.
            nowait: Whether to get the emitter of the ``*_nowait`` creators (returns whether
                the signal passed the call filters) rather than of the awaited ones.

        Returns:
            The emitter, or ``None`` when the level is refused outright.
        """
        emit = (self._table_nowait if nowait else self._table)[level]
        return None if emit is False else emit

    # -- the creators (the hub's docs show them as its methods) -----------------------------

    def signal(self, msg: object = None, /, **options: Unpack[SignalOptions]) -> Awaitable[bool]:
        """Emit a signal; await the result.

        Args:
            msg: The message (any object; formatted with ``str()`` when written).
            **options: ``level`` a name (``"info"``) or number; ``kind`` a free word
                (``log``, ``event``, ``error``, ``span``, ...); ``id`` names the call site or
                event; ``data`` is any mapping (keys that are not strings are converted with
                ``str()``); ``ctx`` merges over the bound context; ``error`` is error
                information as in [`log`][telemetry.Telemetry.log] (any other value goes into
                the data as ``error``); ``ns`` overrides the calling module's name; ``sample``
                keeps that fraction of calls; ``rate_limit`` (``"10/s"``,
                ``["5/s", "100/m"]``) limits this call site, separately per ``limit_by`` value
                when given; ``stacklevel`` says whose location to record, as in ``logging``:
                1 is the caller.

        Returns:
            An awaitable of ``True`` if the signal passed the call filters.
        """
        return call_signal(self._table, self._no, msg, options)

    def signal_nowait(self, msg: object = None, /, **options: Unpack[SignalOptions]) -> bool:
        """[`signal`][telemetry.Telemetry.signal] without awaiting, for sync code; safe from
        any thread.

        Never blocks the event loop: when a handler's queue is full it drops the signal
        (counted as ``queue_full``) on the loop's thread. From another thread the signal is
        handed to the loop; there a waiting mode parks it until there is room, and the thread
        itself waits when the loop falls far behind.

        Args:
            msg: The message.
            **options: As for [`signal`][telemetry.Telemetry.signal].

        Returns:
            Whether the signal passed the call filters.
        """
        return call_signal(self._table_nowait, False, msg, options)

    def log(self, level: str | int, msg: object = None, /, **data: Any) -> Awaitable[bool]:
        """``await tel.log("info", "user joined", room=r)``: a log signal with ``data``.

        Args:
            level: A level name (``"info"``) or number.
            msg: The message.
            **data: The signal's data, except three keywords that are options.
                ``error=`` and ``exc_info=`` (the same option under two names, ``error``
                first) record error information as ``logging``'s ``exc_info`` does: an
                exception, a ``sys.exc_info()`` tuple, or ``True`` for the exception being
                handled; ``None`` and ``False`` record none. Any other value of either is data
                like the rest, kept under its key. ``stacklevel`` says whose location to
                record (1, the default, is the caller).

        Returns:
            An awaitable of ``True`` if the signal passed the call filters.
        """
        try:
            emit = self._plain[level]
        except KeyError:  # a level number of one's own, or a wrong level
            emit = self._table[level]
        if emit is False:
            return self._no
        if "error" in data or "exc_info" in data or "stacklevel" in data:
            return emit("log", None, msg, data, *take_options(data))
        return emit("log", None, msg, data)

    def log_nowait(self, level: str | int, msg: object = None, /, **data: Any) -> bool:
        """[`log`][telemetry.Telemetry.log] without awaiting (see
        [`signal_nowait`][telemetry.Telemetry.signal_nowait]).

        Args:
            level: A level name (``"info"``) or number.
            msg: The message.
            **data: The signal's data, with ``error=``, ``exc_info=`` and ``stacklevel=`` as
                for [`log`][telemetry.Telemetry.log].

        Returns:
            Whether the signal passed the call filters.
        """
        try:
            emit = self._plain_nowait[level]
        except KeyError:
            emit = self._table_nowait[level]
        if emit is False:
            return False
        if "error" in data or "exc_info" in data or "stacklevel" in data:
            return emit("log", None, msg, data, *take_options(data))
        return emit("log", None, msg, data)

    def exception(
        self, msg: object = None, /, *, level: str | int = "error", stacklevel: int = 1, **data: Any
    ) -> Awaitable[bool]:
        """In an ``except`` block: ``await tel.exception("payment failed", order=o)`` logs
        ``msg`` with the exception being handled and its traceback (as ``logging``'s
        ``exception()``); ``log("error", msg, exc_info=True)`` in short.

        Args:
            msg: The message.
            level: A level name or number.
            stacklevel: Whose location to record (1 is the caller).
            **data: The signal's data.

        Returns:
            An awaitable of ``True`` if the signal passed the call filters.
        """
        emit = self._table[level]
        if emit is False:
            return self._no
        return emit("log", None, msg, data, sys.exc_info()[1], up(stacklevel))

    def exception_nowait(
        self, msg: object = None, /, *, level: str | int = "error", stacklevel: int = 1, **data: Any
    ) -> bool:
        """[`exception`][telemetry.Telemetry.exception] without awaiting, for sync code; safe
        from any thread.

        Args:
            msg: The message.
            level: A level name or number.
            stacklevel: Whose location to record (1 is the caller).
            **data: The signal's data.

        Returns:
            Whether the signal passed the call filters.
        """
        emit = self._table_nowait[level]
        return emit is not False and emit("log", None, msg, data, sys.exc_info()[1], up(stacklevel))

    def event(
        self, id: str, /, *, level: str | int = "info", stacklevel: int = 1, **data: Any
    ) -> Awaitable[bool]:
        """``await tel.event("user.signup", plan="pro")``: a signal of kind ``event``.

        Args:
            id: The event's name.
            level: A level name or number.
            stacklevel: Whose location to record (1 is the caller).
            **data: The signal's data.

        Returns:
            An awaitable of ``True`` if the signal passed the call filters.
        """
        emit = self._table[level]
        if emit is False:
            return self._no
        return emit("event", id, None, data, None, up(stacklevel))

    def event_nowait(
        self, id: str, /, *, level: str | int = "info", stacklevel: int = 1, **data: Any
    ) -> bool:
        """[`event`][telemetry.Telemetry.event] without awaiting (see
        [`signal_nowait`][telemetry.Telemetry.signal_nowait]).

        Args:
            id: The event's name.
            level: A level name or number.
            stacklevel: Whose location to record (1 is the caller).
            **data: The signal's data.

        Returns:
            Whether the signal passed the call filters.
        """
        emit = self._table_nowait[level]
        return emit is not False and emit("event", id, None, data, None, up(stacklevel))

    def error(
        self,
        exc: E,
        msg: object = None,
        /,
        *,
        id: str | None = None,
        level: str | int = "error",
        stacklevel: int = 1,
        **data: Any,
    ) -> Awaitable[E]:
        """Record an exception as a signal of kind ``error``.

        Args:
            exc: The exception, recorded with its traceback.
            msg: The message; by default the exception's own.
            id: Names the error, for filtering and searching.
            level: A level name or number.
            stacklevel: Whose location to record (1 is the caller).
            **data: The signal's data.

        Returns:
            An awaitable of ``exc`` itself, so that ``raise await tel.error(exc)`` reads well.
        """
        emit = self._table[level]
        if emit is False:
            return Ready(exc)
        msg = error_message(exc) if msg is None else msg
        return then(emit("error", id, msg, data, exc, up(stacklevel)), exc)

    def error_nowait(
        self,
        exc: E,
        msg: object = None,
        /,
        *,
        id: str | None = None,
        level: str | int = "error",
        stacklevel: int = 1,
        **data: Any,
    ) -> E:
        """[`error`][telemetry.Telemetry.error] without awaiting.

        Args:
            exc: The exception, recorded with its traceback.
            msg: The message; by default the exception's own.
            id: Names the error, for filtering and searching.
            level: A level name or number.
            stacklevel: Whose location to record (1 is the caller).
            **data: The signal's data.

        Returns:
            ``exc`` itself (``raise tel.error_nowait(e)``).
        """
        emit = self._table_nowait[level]
        if emit is not False:
            msg = error_message(exc) if msg is None else msg
            emit("error", id, msg, data, exc, up(stacklevel))
        return exc

    def span(
        self, id: str, /, *, level: str | int = "info", stacklevel: int = 1, **data: Any
    ) -> Span:
        """A span around a block: ``async with tel.span("db.query", table=t) as span:`` (or
        ``with`` in sync code).

        One signal of kind ``span`` at exit, with its duration, its trace / span / parent ids
        and the exception if the block raised (re-raised unchanged). Signals emitted inside
        carry its trace and span ids.

        Args:
            id: The span's name.
            level: A level name or number.
            stacklevel: Whose location to record (1 is the caller).
            **data: The span's data (more with [`Span.set`][telemetry.Span.set]).

        Returns:
            The span, to enter with ``async with`` or ``with``.
        """
        return Span(self.span_host, id, level_number(level), data, stacklevel)

    def traced(
        self, id: str | None = None, /, *, level: str | int = "info", hub: Creators | None = None
    ) -> Callable[[F], F]:
        """Decorator: run every call of a sync or async function in a
        [`span`][telemetry.Telemetry.span].

        Args:
            id: The span's name; by default the function's qualified name.
            level: A level name or number.
            hub: Where the spans go; by default this hub (for the module-level
                ``telemetry.traced``, the default hub at each call).

        Returns:
            The decorator.
        """
        return traced(id, level=level, hub=self if hub is None else hub)


def take_options(data: dict[str, Any]) -> tuple[Any, Any]:
    """The ``error`` and ``more`` arguments of an emitter, taken out of ``log``'s keywords:
    ``error=`` / ``exc_info=`` when they are error information, and ``stacklevel=``."""
    error = take_error(data) if "error" in data or "exc_info" in data else None
    stacklevel = data.pop("stacklevel", 1)
    return error, up(stacklevel)


class DefaultCreators(Creators):
    """The module-level door: the creators of whichever hub is the default one now (or of
    the stderr fallback), rebound by `follow` whenever that changes."""

    def __init__(self, current: Callable[[], Creators]) -> None:
        self._current = current
        self.follow()

    def follow(self) -> None:
        """Bind to the tables of the default hub as it is now."""
        self._share_tables(self._current())
