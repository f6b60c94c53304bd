"""The signal: one immutable record of something that happened, and the values it is made of.

A [`Signal`][telemetry.Signal] is built once at the call site and shared, unchanged and uncopied, by
every handler it goes to. Levels carry fixed numbers so that filters compare integers and sinks map
them to syslog severities and OpenTelemetry severity numbers without a look-up by name.
"""

from __future__ import annotations

import enum
import os
import random
import socket
import traceback
from types import TracebackType
from typing import Any

import msgspec

from . import _hooks
from ._errors import ConfigError

__all__ = [
    "LABEL_OF",
    "LEVELS",
    "LEVEL_NAMES",
    "ErrorInfo",
    "Frame",
    "Level",
    "Location",
    "Signal",
    "error_info",
    "new_span_id",
    "new_trace_id",
    "new_uid",
    "parse_level",
    "top_up_uids",
]


class Level(enum.IntEnum):
    """Signal levels. The values are OpenTelemetry severity numbers, so they order naturally."""

    TRACE = 1
    DEBUG = 5
    INFO = 9
    WARN = 13
    ERROR = 17
    FATAL = 21

    @property
    def label(self) -> str:
        """The lower-case name written in signals: ``"info"``, ``"warn"``, ..."""
        return _LABELS[self]

    @property
    def syslog_severity(self) -> int:
        """The RFC 5424 severity: 7 debug, 6 informational, 4 warning, 3 error, 2 critical."""
        return _SYSLOG[self]


_LABELS = {lv: lv.name.lower() for lv in Level}
_SYSLOG = {
    Level.TRACE: 7,
    Level.DEBUG: 7,
    Level.INFO: 6,
    Level.WARN: 4,
    Level.ERROR: 3,
    Level.FATAL: 2,
}

LEVELS: dict[str | int, int] = {}
"""Every accepted spelling of a level, to its number. Signals store the canonical label."""
for _lv in Level:
    LEVELS[_lv.label] = int(_lv)
    LEVELS[_lv.name] = int(_lv)
    LEVELS[int(_lv)] = int(_lv)
LEVELS.update({"warning": 13, "WARNING": 13, "critical": 21, "CRITICAL": 21})
LABEL_OF: dict[int, str] = {int(lv): lv.label for lv in Level}
"""Level number to the label stored in a signal."""
LEVEL_NAMES: tuple[str, ...] = tuple(LABEL_OF.values())
"""The level labels, lowest first: what an error about a level lists as allowed."""


def parse_level(value: object, param: str = "level") -> int:
    """Return the number of a level given by name (``"info"``), number or
    [`Level`][telemetry.Level].

    Raises [`ConfigError`][telemetry.ConfigError] naming ``param`` and the allowed names for
    anything else.
    """
    try:
        return LEVELS[value]  # type: ignore[index]
    except (KeyError, TypeError):
        raise ConfigError.choice(param, value, (lv.label for lv in Level)) from None


class Location(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Where a signal was created: source file, line and function."""

    file: str
    line: int
    function: str


class Frame(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One frame of a structured traceback."""

    file: str
    line: int
    function: str


class ErrorInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An exception as data: qualified type, message, traceback frames and the chained cause.

    ``stacktrace`` is the traceback as Python prints it (source lines and chained exceptions
    included), on the outermost exception only: what OpenTelemetry calls
    ``exception.stacktrace``. `traceback` gives it, or rebuilds it from the frames when a
    signal was recorded without one.
    """

    type: str
    message: str
    frames: tuple[Frame, ...] = ()
    cause: ErrorInfo | None = None
    stacktrace: str | None = None

    def traceback(self) -> str:
        """The traceback text: `stacktrace`, or one rebuilt from the frames and causes."""
        if self.stacktrace:
            return self.stacktrace
        chain: list[ErrorInfo] = []
        node: ErrorInfo | None = self
        while node is not None:
            chain.append(node)
            node = node.cause
        parts = []
        for info in reversed(chain):
            lines = []
            if info.frames:
                lines.append("Traceback (most recent call last):")
                lines.extend(
                    f'  File "{fr.file}", line {fr.line}, in {fr.function}' for fr in info.frames
                )
            lines.append(f"{info.type}: {info.message}" if info.message else info.type)
            parts.append("\n".join(lines))
        return "\n\nThe above exception led to the following exception:\n\n".join(parts)


# Not kw_only, unlike the other structs: the emitting path builds signals positionally, which
# msgspec does several times faster than with 16 or more keyword arguments; the fields a log
# call always sets come first, so that it can leave the rest to their defaults. Build signals
# with keywords in your own code; the field order is not part of the API.
class Signal(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """One immutable record: a log line, an event, an error or a finished span.

    ``inst`` is the wall-clock time in nanoseconds since the epoch. ``level`` is the label
    (``"info"``); `severity` gives the number. ``inst``, ``uid``, ``kind`` and ``level``
    are always present in encoded output; unset optional fields are omitted. Signals are shared
    between handlers as they are: treat ``data`` and ``ctx`` as read-only.
    """

    inst: int
    uid: str
    kind: str
    level: str
    host: str = ""
    pid: int = 0
    id: str | None = None
    ns: str | None = None
    msg: str | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    ctx: dict[str, Any] = msgspec.field(default_factory=dict)
    location: Location | None = None
    trace_id: str | None = None
    span_id: str | None = None
    error: ErrorInfo | None = None
    parent_id: str | None = None
    duration_ns: int | None = None
    sample: float | None = None
    thread: str | None = None
    task: str | None = None

    @property
    def severity(self) -> int:
        """The level's number (an OpenTelemetry severity number)."""
        return LEVELS[self.level]


# uids only need to be unique, not unpredictable: a Mersenne Twister draw is about ten times
# cheaper than os.urandom, which is a system call.
_rand = random.Random()
_getrandbits = _rand.getrandbits


_spare_uids: list[str] = []
"""Spare uids, made in bulk off the emitting path (the handlers' workers top it up after each
batch), so that building a signal takes one with a list pop instead of making it (and a span its
ids: `new_span_id`, `new_trace_id`). Shared by every
hub and thread (a pop is atomic); emptied in a forked child, whose uids must differ."""
_SPARE_UIDS = 4096


def new_uid() -> str:
    """A fresh 64-bit identifier as 16 hex digits."""
    if _spare_uids:  # tested first: an IndexError costs more than making a uid
        try:
            return _spare_uids.pop()
        except IndexError:  # another thread took the last one
            pass
    return _getrandbits(64).to_bytes(8, "little").hex()


def top_up_uids(most: int = _SPARE_UIDS) -> None:
    """Add up to ``most`` spare uids (fewer if the spares are nearly full): one random draw for
    all of them, written as hex with a space every 16 digits and split there (both in C:
    twice as fast as slicing the digits in a Python loop)."""
    n = min(most, _SPARE_UIDS - len(_spare_uids))
    if n > 0:
        _spare_uids.extend(_getrandbits(64 * n).to_bytes(8 * n, "little").hex(" ", 8).split(" "))


_ZERO_ID = "0" * 16


def new_trace_id() -> str:
    """A W3C trace id: 16 random bytes as 32 hex digits, never all zero (two spare uids: a
    request's span takes its ids without a random draw of its own)."""
    if len(_spare_uids) > 1:
        try:
            trace_id = _spare_uids.pop() + _spare_uids.pop()
        except IndexError:  # another thread took the last ones
            pass
        else:
            if trace_id != _ZERO_ID * 2:
                return trace_id
    return f"{_getrandbits(128) | 1:032x}"


def new_span_id() -> str:
    """A W3C span id: 8 random bytes as 16 hex digits, never all zero (a spare uid, when
    there is one)."""
    if _spare_uids:
        try:
            span_id = _spare_uids.pop()
        except IndexError:  # another thread took the last one
            pass
        else:
            if span_id != _ZERO_ID:
                return span_id
    return f"{_getrandbits(64) | 1:016x}"


class ProcessInfo:
    """Host name and pid, stamped into every signal; refreshed in a forked child."""

    host: str = socket.gethostname()
    pid: int = os.getpid()

    @classmethod
    def refresh(cls) -> None:
        """Re-read the pid (and host) after a fork, and reseed the uid generator."""
        cls.pid = os.getpid()
        cls.host = socket.gethostname()
        _rand.seed()
        _spare_uids.clear()


_hooks.in_forked_child(ProcessInfo.refresh, _hooks.PROCESS)

_MAX_CHAIN = 8


def error_info(exc: BaseException, _depth: int = 0) -> ErrorInfo:
    """Turn an exception into an [`ErrorInfo`][telemetry.ErrorInfo], with its traceback and its
    cause chain.

    Follows ``__cause__``, or ``__context__`` unless suppressed, up to eight levels deep.
    """
    cls = type(exc)
    qualname = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    frames = _frames(exc.__traceback__)
    nxt = (
        exc.__cause__
        if exc.__cause__ is not None
        else (None if exc.__suppress_context__ else exc.__context__)
    )
    cause = error_info(nxt, _depth + 1) if nxt is not None and _depth < _MAX_CHAIN else None
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not break the signal
        message = f"<unprintable {cls.__name__}>"
    stack = _stacktrace(exc) if _depth == 0 else None
    return ErrorInfo(type=qualname, message=message, frames=frames, cause=cause, stacktrace=stack)


MAX_STACKTRACE_CHARS = 32_768
"""Longest traceback text kept on a signal; a longer one keeps its end (where it was raised)."""


def _stacktrace(exc: BaseException) -> str | None:
    """The traceback as ``traceback.format_exception`` prints it, without the last newline;
    ``None`` if formatting fails (a broken ``__str__`` somewhere in the chain)."""
    try:
        text = "".join(traceback.format_exception(exc)).rstrip("\n")
    except Exception:
        return None
    if len(text) > MAX_STACKTRACE_CHARS:
        text = "...\n" + text[-MAX_STACKTRACE_CHARS:]
    return text


def _frames(tb: TracebackType | None) -> tuple[Frame, ...]:
    return tuple(
        Frame(file=fs.filename, line=fs.lineno or 0, function=fs.name)
        for fs in traceback.extract_tb(tb)
    )
