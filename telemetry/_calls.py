"""What a creator's call is made of: its level, its options, its data, what it returns.

The creators (hub methods and module-level functions) are short forwards to the compiled
emitter for the level (`telemetry._emit`); what they need besides lives here, once.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Generator, Mapping
from typing import Any, Generic, TypedDict, TypeVar

from ._emit import EmitTable, More, text
from ._errors import ConfigError
from ._filters import RateSpec
from ._signal import LEVEL_NAMES, LEVELS, ErrorInfo

__all__ = [
    "NOT_ERROR",
    "ExcInfo",
    "Ready",
    "SignalOptions",
    "call_signal",
    "error_message",
    "error_of",
    "level_number",
    "take_error",
    "then",
    "up",
]

T = TypeVar("T")


class Ready(Generic[T]):
    """An awaitable that is already done: what a creator returns before the hub has a loop
    (once it has one, a finished future, cheaper still to await)."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, T]:
        yield from ()
        return self.value


def level_number(level: object) -> int:
    """The number of a level given by name or number; ``ConfigError`` for anything else."""
    try:
        return LEVELS[level]  # type: ignore[index]
    except (KeyError, TypeError):
        if isinstance(level, int) and not isinstance(level, bool) and level >= 0:
            return level
        raise ConfigError.choice("level", level, LEVEL_NAMES) from None


ExcInfo = bool | BaseException | tuple[type[BaseException] | None, BaseException | None, Any] | None
"""What ``error=`` and ``exc_info=`` take as error information, as ``logging``'s ``exc_info``: an
exception, a ``sys.exc_info()`` tuple, ``True`` for the exception being handled, or ``None`` /
``False`` for none."""


class SignalOptions(TypedDict, total=False):
    """The keyword options of [`Telemetry.signal`][telemetry.Telemetry.signal] and ``signal_nowait``
    (and of the module-level forms), all optional: ``level`` (``"info"``), ``kind`` (``"log"``),
    ``id``, ``data``, ``ctx``, ``error``, ``ns``, ``sample``, ``rate_limit``, ``limit_by``,
    ``stacklevel`` (1). See [`Telemetry.signal`][telemetry.Telemetry.signal] for what each does."""

    level: str | int
    kind: str
    id: str | None
    data: Mapping[Any, Any] | None
    ctx: Mapping[Any, Any] | None
    error: ExcInfo
    ns: str | None
    sample: float | None
    rate_limit: RateSpec
    limit_by: object
    stacklevel: int


_SIGNAL_OPTIONS = frozenset(SignalOptions.__annotations__)


def call_signal(table: EmitTable[T], refused: T, msg: object, options: SignalOptions) -> T:
    """``signal()`` / ``signal_nowait()``: check the options, then emit through ``table``."""
    unknown = options.keys() - _SIGNAL_OPTIONS
    if unknown:
        name = min(unknown)
        raise ConfigError.unknown(name, _SIGNAL_OPTIONS, what="signal()")
    level = options.get("level", "info")
    emit = table[level] if type(level) is str else table[level_number(level)]
    if emit is False:
        return refused
    more = More(
        ctx=options.get("ctx"),
        ns=options.get("ns"),
        sample=options.get("sample"),
        rate_limit=options.get("rate_limit"),
        limit_by=options.get("limit_by"),
        up=options.get("stacklevel", 1) - 1,
    )
    kind = options.get("kind", "log")
    data = _own(options.get("data"))
    error = error_of(options.get("error"))
    if error is NOT_ERROR:  # not error information: data like any other value
        data["error"] = options["error"]
        error = None
    return emit(kind, options.get("id"), msg, data, error, more)


def _own(data: Mapping[Any, Any] | None) -> dict[str, Any]:
    """A fresh dict with string keys, for ``data=`` given as a mapping of the caller's."""
    if not data:
        return {}
    if all(type(k) is str for k in data):
        return dict(data)
    return {text(k): v for k, v in data.items()}


def up(stacklevel: int) -> More | None:
    """``None`` for the common ``stacklevel=1``; else the frames to go further out."""
    return None if stacklevel == 1 else More(up=stacklevel - 1)


class _NotError:
    """The marker for a value that is not error information: it stays as data."""


NOT_ERROR = _NotError()


def error_of(value: object) -> BaseException | ErrorInfo | _NotError | None:
    """What ``error=`` or ``exc_info=`` names: the exception (or the
    [`ErrorInfo`][telemetry.ErrorInfo] a bridge built), ``None`` for none (``None``, ``False``,
    ``True`` with no exception being handled, an empty ``sys.exc_info()``), or `NOT_ERROR` for any
    other value."""
    if isinstance(value, (BaseException, ErrorInfo)):
        return value
    if value is None or value is False:
        return None
    if value is True:
        return sys.exc_info()[1]
    if (
        type(value) is tuple
        and len(value) == 3
        and (value[0] is None or isinstance(value[0], type))
        and (value[1] is None or isinstance(value[1], BaseException))
    ):
        return value[1]
    return NOT_ERROR


def take_error(data: dict[str, Any]) -> BaseException | ErrorInfo | None:
    """Take ``error`` and ``exc_info`` out of a creator's keywords when they are error
    information (see `error_of`) and return the exception they name, ``error`` first.
    Any other value of either stays in ``data`` under its key."""
    found: BaseException | ErrorInfo | None = None
    for key in ("error", "exc_info"):
        if key in data:
            exc = error_of(data[key])
            if exc is NOT_ERROR:
                continue
            del data[key]
            if found is None:
                found = exc  # type: ignore[assignment]
    return found


def error_message(exc: BaseException) -> str:
    """An exception's message for ``error()``, or its type's name; never raises."""
    return text(exc) or type(exc).__name__


async def then(emitted: Awaitable[bool], value: T) -> T:
    """Await ``emitted``, then give ``value`` (``raise await tel.error(exc)``)."""
    await emitted
    return value
