"""What ``tail`` and ``stats`` keep: a minimum level, id and namespace patterns, a start time,
data or context values, and a piece of text.

``--where KEY=VALUE`` keeps a signal whose ``data`` or ``ctx`` has ``KEY`` with that value,
compared as text: a string as it is, a number as written (``status=500``), ``true`` / ``false``,
``null``. ``--grep TEXT`` keeps a signal whose line, as ``tail`` prints it without colour,
contains ``TEXT`` (case-sensitive).

``--since`` takes a duration back from now (``30s``, ``10m``, ``2h``, ``1d``, ``1.5h``, ``500ms``,
``1w``) or an ISO 8601 time (``2026-08-10T17:15:34Z``; without an offset it is UTC, the time
``tail`` shows).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import time
from collections.abc import Sequence
from typing import Any

from .._errors import ConfigError
from .._signal import LEVELS, Signal, parse_level
from ..formats.text import TextFormat

__all__ = [
    "SignalFilter",
    "as_text",
    "level_number",
    "parse_since",
    "parse_where",
    "signal_level",
]

_UNITS_NS = {
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86400 * 10**9,
    "w": 7 * 86400 * 10**9,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def parse_since(text: str, *, now_ns: int | None = None) -> int:
    """The start time, in nanoseconds since the epoch, that ``--since text`` asks for."""
    m = _DURATION.match(text)
    if m is not None:
        now = time.time_ns() if now_ns is None else now_ns
        return now - int(float(m.group(1)) * _UNITS_NS[m.group(2)])
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            "--since",
            "must be a duration like 30s, 10m, 2h, 1d (units ms, s, m, h, d, w) or an ISO 8601 "
            f"time like 2026-08-10T17:15:34Z; got {text!r}",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def level_number(label: str) -> int:
    """The number of a level label as found in a file; a label this version does not know
    counts as 0 (below trace)."""
    number = LEVELS.get(label)
    if number is not None:
        return number
    return int(label) if label.isdigit() else 0


def signal_level(sig: Signal) -> int:
    """The number of the signal's level (see `level_number`)."""
    return level_number(sig.level)


def parse_where(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` as ``(key, value)``; the value may be empty or hold ``=`` itself."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--where", f"must be KEY=VALUE, like request_id=abc123; got {text!r}")
    return key.strip(), value


def as_text(value: Any) -> str:
    """A data or context value as ``--where`` compares it."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _globs(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


class SignalFilter:
    """Keeps the signals at or above ``min_level``, whose id matches one of ``ids`` and whose
    namespace one of ``namespaces`` (shell globs: ``*``, ``?``, ``[abc]``), that happened at
    or after ``since_ns``, whose data or context has every ``where`` key with its value, and
    whose printed line contains ``grep``. Every criterion given must hold."""

    def __init__(
        self,
        *,
        min_level: str | None = None,
        ids: Sequence[str] = (),
        since_ns: int | None = None,
        namespaces: Sequence[str] = (),
        where: Sequence[tuple[str, str]] = (),
        grep: str | None = None,
    ) -> None:
        self.min_level = None if min_level is None else parse_level(min_level.lower(), "--level")
        self.ids = tuple(ids)
        self._id_rx = _globs(self.ids)
        self.namespaces = tuple(namespaces)
        self._ns_rx = _globs(self.namespaces)
        self.since_ns = since_ns
        self.where = tuple(where)
        self.grep = grep or None
        self._line = TextFormat()

    def allows(self, sig: Signal) -> bool:
        """Whether ``sig`` passes every criterion."""
        if self.min_level is not None and signal_level(sig) < self.min_level:
            return False
        if self._id_rx is not None and (sig.id is None or not self._id_rx.match(sig.id)):
            return False
        if self._ns_rx is not None and (sig.ns is None or not self._ns_rx.match(sig.ns)):
            return False
        if self.since_ns is not None and sig.inst < self.since_ns:
            return False
        for key, value in self.where:
            found = sig.data.get(key, _MISSING)
            if found is _MISSING or as_text(found) != value:
                found = sig.ctx.get(key, _MISSING)
                if found is _MISSING or as_text(found) != value:
                    return False
        return self.grep is None or self.grep in self._line.format(sig)


_MISSING: Any = object()
