"""The signal creators: ``signal``, ``log``, ``event``, ``error``, ``span``, ``traced``, and the
``*_nowait`` forms for sync code and other threads.

Every creator compares the level with a precomputed floor first and returns :data:`REFUSED` (a
finished awaitable) or ``False`` before any frame, clock or struct is touched. ``stacklevel``
says whose module and location to record, as in ``logging``: 1 is the creator's caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from ._dispatch import Dispatcher, Ready
from ._errors import ConfigError
from ._filters import RateSpec
from ._signal import LEVELS, Signal
from ._spans import Span, traced

__all__ = ["LEVEL_NAMES", "Creators"]

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)
F = TypeVar("F", bound=Callable[..., Any])
LEVEL_NAMES = ("trace", "debug", "info", "warn", "error", "fatal")


class Creators(Dispatcher):
    """The public creators of :class:`~telemetry.Telemetry`."""

    def _level(self, level: object) -> int:
        try:
            return LEVELS[level]  # type: ignore[index]
        except (KeyError, TypeError):
            if isinstance(level, int) and not isinstance(level, bool) and level >= 0:
                return level
            raise ConfigError.choice("level", level, LEVEL_NAMES) from None

    def signal(
        self,
        msg: object = None,
        *,
        level: str | int = "info",
        kind: str = "log",
        id: str | None = None,
        data: Mapping[Any, Any] | None = None,
        ctx: Mapping[Any, Any] | None = None,
        error: BaseException | None = None,
        ns: str | None = None,
        sample: float | None = None,
        rate_limit: RateSpec = None,
        limit_by: object = None,
        stacklevel: int = 1,
    ) -> Awaitable[bool]:
        """Emit a signal; await the result (``True`` if it passed the call filters).

        ``level`` is a name (``"info"``) or number; ``kind`` a free word (``log``, ``event``,
        ``error``, ``span``, ...); ``id`` names the call site or event; ``data`` is any mapping
        (keys that are not strings are converted with ``str()``); ``ctx`` merges over the bound
        context; ``error`` is an exception to record; ``ns`` overrides the calling module's name;
        ``sample`` keeps that fraction of calls; ``rate_limit`` (``"10/s"``, ``["5/s", "100/m"]``)
        limits this call site, separately per ``limit_by`` value when given.
        """
        lv = LEVELS.get(level) if type(level) is str else None
        if lv is None:
            lv = self._level(level)
        if lv < self._floor:
            return self._no
        sig = self._build(
            lv, msg, kind, id, data, ctx, error, ns, sample, rate_limit, limit_by, stacklevel + 1
        )
        if sig is None:
            return self._no
        return self._submit(sig, lv)

    def signal_nowait(
        self,
        msg: object = None,
        *,
        level: str | int = "info",
        kind: str = "log",
        id: str | None = None,
        data: Mapping[Any, Any] | None = None,
        ctx: Mapping[Any, Any] | None = None,
        error: BaseException | None = None,
        ns: str | None = None,
        sample: float | None = None,
        rate_limit: RateSpec = None,
        limit_by: object = None,
        stacklevel: int = 1,
    ) -> bool:
        """:meth:`signal` without awaiting, for sync code; safe from any thread.

        Never blocks the event loop: in blocking mode a full queue drops the signal (counted as
        ``queue_full``) when called on the loop's thread. From another thread the signal is
        handed to the loop; there a blocking handler makes the thread wait when the loop falls
        far behind. Returns whether the signal passed the call filters.
        """
        lv = LEVELS.get(level) if type(level) is str else None
        if lv is None:
            lv = self._level(level)
        if lv < self._floor:
            return False
        sig = self._build(
            lv, msg, kind, id, data, ctx, error, ns, sample, rate_limit, limit_by, stacklevel + 1
        )
        if sig is None:
            return False
        self._emit_nowait(sig, lv)
        return True

    def log(
        self,
        level: str | int,
        msg: object = None,
        /,
        *,
        error: BaseException | None = None,
        stacklevel: int = 1,
        **data: Any,
    ) -> Awaitable[bool]:
        """``await tel.log("info", "user joined", room=r)``: a log signal with ``data``."""
        try:
            fast = self._fast[level]
        except (KeyError, TypeError):  # not a level's name: the general path will tell
            fast = None
        if fast is False:
            return self._no
        if fast and error is None and stacklevel == 1:
            return fast("log", None, msg, data)
        lv = LEVELS.get(level) if type(level) is str else None
        if lv is None:
            lv = self._level(level)
        if lv < self._floor:
            return self._no
        return self._emit_kw(lv, "log", None, msg, error, data, stacklevel + 1)

    def log_nowait(
        self,
        level: str | int,
        msg: object = None,
        /,
        *,
        error: BaseException | None = None,
        stacklevel: int = 1,
        **data: Any,
    ) -> bool:
        """:meth:`log` without awaiting (see :meth:`signal_nowait`)."""
        try:
            fast = self._fast_nowait[level]
        except (KeyError, TypeError):  # not a level's name: the general path will tell
            fast = None
        if fast is False:
            return False
        if fast and error is None and stacklevel == 1:
            return fast("log", None, msg, data)
        lv = LEVELS.get(level) if type(level) is str else None
        if lv is None:
            lv = self._level(level)
        if lv < self._floor:
            return False
        return self._emit_kw_nowait(lv, "log", None, msg, error, data, stacklevel + 1)

    def event(
        self, id: str, /, *, level: str | int = "info", stacklevel: int = 1, **data: Any
    ) -> Awaitable[bool]:
        """``await tel.event("user.signup", plan="pro")``: a signal of kind ``event``."""
        try:
            fast = self._fast[level]
        except (KeyError, TypeError):  # not a level's name: the general path will tell
            fast = None
        if fast is False:
            return self._no
        if fast and stacklevel == 1:
            return fast("event", id, None, data)
        lv = LEVELS.get(level) if type(level) is str else None
        if lv is None:
            lv = self._level(level)
        if lv < self._floor:
            return self._no
        return self._emit_kw(lv, "event", id, None, None, data, stacklevel + 1)

    def event_nowait(
        self, id: str, /, *, level: str | int = "info", stacklevel: int = 1, **data: Any
    ) -> bool:
        """:meth:`event` without awaiting (see :meth:`signal_nowait`)."""
        try:
            fast = self._fast_nowait[level]
        except (KeyError, TypeError):  # not a level's name: the general path will tell
            fast = None
        if fast is False:
            return False
        if fast and stacklevel == 1:
            return fast("event", id, None, data)
        lv = LEVELS.get(level) if type(level) is str else None
        if lv is None:
            lv = self._level(level)
        if lv < self._floor:
            return False
        return self._emit_kw_nowait(lv, "event", id, None, None, data, stacklevel + 1)

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
        """Record an exception; the awaitable gives the exception back, so that
        ``raise await tel.error(exc)`` reads well. Kind ``error``, level ``error``."""
        lv = LEVELS.get(level) if type(level) is str else None
        if lv is None:
            lv = self._level(level)
        if lv < self._floor:
            return Ready(exc)
        if msg is None:
            msg = str(exc) or type(exc).__name__
        sig = self._build(
            lv, msg, "error", id, data, None, exc, None, None, None, None, stacklevel + 1, False
        )
        if sig is None:
            return Ready(exc)
        return self._emit_then(sig, lv, exc)

    async def _emit_then(self, sig: Signal, lv: int, value: T) -> T:
        await self._submit(sig, lv)
        return value

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
        """:meth:`error` without awaiting; returns the exception (``raise tel.error_nowait(e)``)."""
        lv = LEVELS.get(level) if type(level) is str else None
        if lv is None:
            lv = self._level(level)
        if lv < self._floor:
            return exc
        if msg is None:
            msg = str(exc) or type(exc).__name__
        sig = self._build(
            lv, msg, "error", id, data, None, exc, None, None, None, None, stacklevel + 1, False
        )
        if sig is not None:
            self._emit_nowait(sig, lv)
        return exc

    def span(
        self, id: str, /, *, level: str | int = "info", stacklevel: int = 1, **data: Any
    ) -> Span:
        """A span around a block: ``async with tel.span("db.query", table=t) as span:`` (or
        ``with`` in sync code). One signal of kind ``span`` at exit, with its duration, its
        trace / span / parent ids and the exception if the block raised (re-raised unchanged).
        Signals emitted inside carry its trace and span ids."""
        return Span(self, id, self._level(level), data, stacklevel + 1)

    def traced(self, id: str | None = None, /, *, level: str | int = "info") -> Callable[[F], F]:
        """Decorator: run every call of a sync or async function in a :meth:`span` named ``id``
        (default: the function's qualified name)."""
        return traced(id, level=level, hub=self)

    def emit_signal(self, sig: Signal) -> Awaitable[bool]:
        """Dispatch an already built signal (from a bridge, or to re-emit); no call filters."""
        return self._submit(sig, sig.severity)

    def emit_signal_nowait(self, sig: Signal) -> None:
        """:meth:`emit_signal` without awaiting, from any thread."""
        self._emit_nowait(sig, sig.severity)
