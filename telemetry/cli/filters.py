"""What ``tail`` and ``stats`` keep: a minimum level, id patterns and a start time.

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

from .._errors import ConfigError
from .._signal import LEVELS, Signal, parse_level

__all__ = ["SignalFilter", "level_number", "parse_since", "signal_level"]

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
    """The number of the signal's level (see :func:`level_number`)."""
    return level_number(sig.level)


class SignalFilter:
    """Keeps the signals at or above ``min_level``, whose id matches one of ``ids`` (shell
    globs: ``*``, ``?``, ``[abc]``) and that happened at or after ``since_ns``."""

    def __init__(
        self,
        *,
        min_level: str | None = None,
        ids: Sequence[str] = (),
        since_ns: int | None = None,
    ) -> None:
        self.min_level = None if min_level is None else parse_level(min_level.lower(), "--level")
        self.ids = tuple(ids)
        self._id_rx = (
            re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in self.ids))
            if self.ids
            else None
        )
        self.since_ns = since_ns

    def allows(self, sig: Signal) -> bool:
        """Whether ``sig`` passes every criterion."""
        if self.min_level is not None and signal_level(sig) < self.min_level:
            return False
        if self._id_rx is not None and (sig.id is None or not self._id_rx.match(sig.id)):
            return False
        return self.since_ns is None or sig.inst >= self.since_ns
