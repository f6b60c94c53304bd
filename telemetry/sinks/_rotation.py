"""When a file is rotated: sizes (``"100 MB"``), intervals (``"1d"``) and their boundaries.

Everything here is pure computation on numbers and strings, without I/O, so that the file sink
can decide on the event loop, for free, whether a batch needs a thread hop for a rotation.

Time rotation happens at calendar boundaries, not at "open time + interval": ``"1h"`` rotates
at the top of every hour, ``"30m"`` at :00 and :30, ``"1d"`` at midnight, ``"1w"`` on Monday
00:00; in local time (daylight-saving changes included, so a local day may last 23 or 25 hours)
or in UTC. An interval that does not divide a day (``"7h"``) restarts at every midnight.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec

from .._errors import ConfigError

__all__ = [
    "SIZE_UNITS",
    "Interval",
    "next_boundary",
    "parse_duration",
    "parse_interval",
    "parse_size",
]

SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
"""Size units: decimal (KB = 1000 bytes) and binary (KiB = 1024 bytes); case-insensitive."""
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)
_SIZE_HELP = "a size like '100 MB' or a number of bytes (units: B, KB, MB, GB, KiB, MiB, GiB)"

Unit = Literal["s", "m", "h", "d", "w"]
_UNIT_SECONDS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_INTERVAL_RE = re.compile(r"\s*(\d+)\s*([smhdw])\s*", re.IGNORECASE)
_INTERVAL_HELP = "an interval like '30m', '1h', '1d' or '1w' (units: s, m, h, d, w)"
_DAY = timedelta(days=1)
_DAY_S = 86400


class Interval(msgspec.Struct, frozen=True):
    """A rotation interval: ``count`` units of ``s``, ``m``, ``h``, ``d`` or ``w``."""

    count: int
    unit: Unit

    @property
    def seconds(self) -> int:
        """The nominal length in seconds (a local day may be an hour longer or shorter)."""
        return self.count * _UNIT_SECONDS[self.unit]

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"


def parse_size(value: object, param: str) -> int:
    """Bytes from ``"100 MB"``, ``"1.5GiB"``, ``"512 B"`` or an ``int``; must be > 0."""
    if isinstance(value, bool):
        raise ConfigError(param, f"must be {_SIZE_HELP}; got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE_RE.fullmatch(value)):
        factor = SIZE_UNITS.get(m.group(2).lower() or "b")
        if factor is None:
            raise ConfigError(param, f"must be {_SIZE_HELP}; got {value!r}")
        size = int(float(m.group(1)) * factor)
    else:
        raise ConfigError(param, f"must be {_SIZE_HELP}; got {value!r}")
    if size <= 0:
        raise ConfigError(param, f"must be a size > 0, got {value!r}")
    return size


def parse_interval(value: object, param: str) -> Interval:
    """An `Interval` from ``"30m"``, ``"1h"``, ``"1d"``, ``"2w"``; the count must be > 0."""
    m = _INTERVAL_RE.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ConfigError(param, f"must be {_INTERVAL_HELP}; got {value!r}")
    count = int(m.group(1))
    if count <= 0:
        raise ConfigError(param, f"must be an interval > 0, got {value!r}")
    unit: Unit = m.group(2).lower()  # type: ignore[assignment]
    return Interval(count, unit)


def parse_duration(value: object, param: str) -> float:
    """Seconds from an interval string (``"7d"``), a ``timedelta`` or a number; must be >= 0."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = float(parse_interval(value, param).seconds)
    else:
        raise ConfigError(param, f"must be {_INTERVAL_HELP}, seconds or a timedelta; got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(param, f"must be a duration >= 0, got {value!r}")
    return seconds


def next_boundary(t: float, every: Interval, *, utc: bool) -> float:
    """The first boundary of ``every`` strictly after the epoch time ``t``.

    Days and weeks end at midnight on the wall clock (local time unless ``utc``), even on the
    days the clocks change. Shorter intervals are counted from the current day's midnight at the
    current UTC offset, so that they stay ``step`` seconds apart in real time across a change
    and fall back on the wall-clock grid at the next computation.
    """
    if every.unit in ("d", "w"):
        tz = UTC if utc else None
        midnight = datetime.fromtimestamp(t, tz).replace(hour=0, minute=0, second=0, microsecond=0)
        if every.unit == "d":
            candidate = midnight + every.count * _DAY
        else:
            candidate = midnight - timedelta(days=midnight.weekday()) + timedelta(weeks=every.count)
        # Converting back may land on ``t`` only where a zone skips midnight itself.
        return max(candidate.timestamp(), math.nextafter(t, math.inf))
    offset = 0.0 if utc else _utc_offset(t)
    wall = t + offset
    elapsed = wall % _DAY_S
    step = every.seconds
    return wall - elapsed + min((elapsed // step + 1) * step, _DAY_S) - offset


def _utc_offset(t: float) -> float:
    """Seconds the local wall clock is ahead of UTC at the epoch time ``t``."""
    offset = datetime.fromtimestamp(t).astimezone().utcoffset()
    return offset.total_seconds() if offset is not None else 0.0
