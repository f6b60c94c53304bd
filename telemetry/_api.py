"""Module-level creators: ``import telemetry as tel; await tel.log("info", "hi")``.

Each one forwards to the default hub (the most recently opened :class:`Telemetry` that is still
open) or, when none is open, to a fallback that prints one readable line per signal to stderr.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from ._creators import Creators
from ._dispatch import REFUSED
from ._fastpath import FastTable, FastTableNowait
from ._filters import RateSpec
from ._hub import Telemetry, _default_listeners, _stack, current_hub
from ._signal import LEVELS
from ._spans import Span
from ._spans import traced as _traced
from ._stats import Health, Stats

__all__ = [
    "error",
    "error_nowait",
    "event",
    "event_nowait",
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

# What the default hub refuses outright, precomputed whenever it or its level changes, so that
# a refused module-level call costs one set look-up: every spelling of every level below the
# hub's floor, and the hub's finished "refused" awaitable.
_REFUSE: frozenset[object] = frozenset()
_NO: Awaitable[bool] = REFUSED
# The default hub's tables of refusals and compiled emitters (see telemetry._fastpath), which
# ``log``, ``event`` and their ``*_nowait`` forms use instead: the hub updates them in place
# whenever its configuration changes, so these references stay good until the default hub
# itself changes.
_FAST: FastTable = {}
_FAST_NOWAIT: FastTableNowait = {}


def _default_changed(hub: Telemetry) -> None:
    global _REFUSE, _NO, _FAST, _FAST_NOWAIT
    _REFUSE = frozenset(k for k, v in LEVELS.items() if v < hub._floor)
    _NO = hub._no
    _FAST = hub._fast
    _FAST_NOWAIT = hub._fast_nowait


_default_listeners.append(_default_changed)


def signal(
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
) -> Awaitable[bool]:
    """Emit a signal on the default hub; see :meth:`Telemetry.signal`."""
    try:
        if level in _REFUSE:
            return _NO
    except TypeError:  # unhashable: the full path raises the ConfigError
        pass
    hub = _stack[-1] if _stack else current_hub()
    lv = LEVELS.get(level)
    if lv is not None and lv < hub._floor:
        return hub._no
    return hub.signal(
        msg,
        level=level,
        kind=kind,
        id=id,
        data=data,
        ctx=ctx,
        error=error,
        ns=ns,
        sample=sample,
        rate_limit=rate_limit,
        limit_by=limit_by,
        stacklevel=2,
    )


def signal_nowait(
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
) -> bool:
    """Emit without awaiting, from any thread; see :meth:`Telemetry.signal_nowait`."""
    try:
        if level in _REFUSE:
            return False
    except TypeError:  # unhashable: the full path raises the ConfigError
        pass
    return current_hub().signal_nowait(
        msg,
        level=level,
        kind=kind,
        id=id,
        data=data,
        ctx=ctx,
        error=error,
        ns=ns,
        sample=sample,
        rate_limit=rate_limit,
        limit_by=limit_by,
        stacklevel=2,
    )


def log(
    level: str | int, msg: object = None, /, *, error: BaseException | None = None, **data: Any
) -> Awaitable[bool]:
    """``await tel.log("info", "user joined", room=r)``; see :meth:`Telemetry.log`."""
    try:
        fast = _FAST[level]
    except (KeyError, TypeError):  # not a level's name: the general path will tell
        fast = None
    if fast is False:
        return _NO
    if fast and error is None:
        return fast("log", None, msg, data)
    hub = _stack[-1] if _stack else current_hub()
    lv = LEVELS.get(level)
    if lv is None:
        lv = hub._level(level)
    if lv < hub._floor:
        return hub._no
    return hub._emit_kw(lv, "log", None, msg, error, data, 2)


def log_nowait(
    level: str | int, msg: object = None, /, *, error: BaseException | None = None, **data: Any
) -> bool:
    """:func:`log` without awaiting, from any thread."""
    try:
        fast = _FAST_NOWAIT[level]
    except (KeyError, TypeError):  # not a level's name: the general path will tell
        fast = None
    if fast is False:
        return False
    if fast and error is None:
        return fast("log", None, msg, data)
    hub = _stack[-1] if _stack else current_hub()
    lv = LEVELS.get(level)
    if lv is None:
        lv = hub._level(level)
    if lv < hub._floor:
        return False
    return hub._emit_kw_nowait(lv, "log", None, msg, error, data, 2)


def event(id: str, /, *, level: str | int = "info", **data: Any) -> Awaitable[bool]:
    """``await tel.event("user.signup", plan="pro")``; see :meth:`Telemetry.event`."""
    try:
        fast = _FAST[level]
    except (KeyError, TypeError):  # not a level's name: the general path will tell
        fast = None
    if fast is False:
        return _NO
    if fast:
        return fast("event", id, None, data)
    hub = _stack[-1] if _stack else current_hub()
    lv = LEVELS.get(level)
    if lv is None:
        lv = hub._level(level)
    if lv < hub._floor:
        return hub._no
    return hub._emit_kw(lv, "event", id, None, None, data, 2)


def event_nowait(id: str, /, *, level: str | int = "info", **data: Any) -> bool:
    """:func:`event` without awaiting, from any thread."""
    try:
        fast = _FAST_NOWAIT[level]
    except (KeyError, TypeError):  # not a level's name: the general path will tell
        fast = None
    if fast is False:
        return False
    if fast:
        return fast("event", id, None, data)
    hub = _stack[-1] if _stack else current_hub()
    lv = LEVELS.get(level)
    if lv is None:
        lv = hub._level(level)
    if lv < hub._floor:
        return False
    return hub._emit_kw_nowait(lv, "event", id, None, None, data, 2)


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
    return current_hub().error(exc, msg, id=id, level=level, stacklevel=2, **data)


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
    return current_hub().error_nowait(exc, msg, id=id, level=level, stacklevel=2, **data)


def span(id: str, /, *, level: str | int = "info", **data: Any) -> Span:
    """``async with tel.span("db.query") as span:`` (or ``with``); see :meth:`Telemetry.span`."""
    return current_hub().span(id, level=level, stacklevel=2, **data)


def traced(
    id: str | None = None, /, *, level: str | int = "info", hub: Creators | None = None
) -> Callable[[F], F]:
    """Decorator: each call of the function runs in a span; see :meth:`Telemetry.traced`."""
    return _traced(id, level=level, hub=hub)


async def flush() -> None:
    """Flush the default hub; see :meth:`Telemetry.flush`."""
    await current_hub().flush()


def stats() -> Stats:
    """The default hub's stats; see :meth:`Telemetry.stats`."""
    return current_hub().stats()


def health() -> Health:
    """The default hub's health; see :meth:`Telemetry.health`."""
    return current_hub().health()
