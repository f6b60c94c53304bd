"""The aggregate of one attribute set of one instrument: a sum, a last value, or an
explicit-bucket histogram (count, sum, min, max and a count per bucket).

The instruments update these under their own lock; readers copy them under the same lock.
``seq`` (a histogram's bucket counts) counts the measurements taken, so that a delta reader can
tell a series that did not change since its last collection.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from typing import Any

from ._attributes import Attributes

__all__ = [
    "DEFAULT_BUCKETS",
    "HistogramSeries",
    "ValueSeries",
    "check_buckets",
]

DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0,
    5.0,
    10.0,
    25.0,
    50.0,
    75.0,
    100.0,
    250.0,
    500.0,
    750.0,
    1000.0,
    2500.0,
    5000.0,
    7500.0,
    10000.0,
)
"""The OpenTelemetry SDK's default bucket boundaries of an explicit-bucket histogram."""


def check_buckets(bounds: object) -> tuple[float, ...] | None:
    """``bounds`` as strictly increasing finite floats, or ``None`` when they are not (the
    advice is then ignored, as the specification says)."""
    if not isinstance(bounds, Sequence) or isinstance(bounds, (str, bytes)):
        return None
    try:
        out = tuple(float(b) for b in bounds)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(b) for b in out):
        return None
    if any(a >= b for a, b in itertools.pairwise(out)):
        return None
    return out


class ValueSeries:
    """A sum (counters) or a last value (gauges) of one attribute set."""

    __slots__ = ("attrs", "seq", "start_ns", "value")

    def __init__(self, attrs: Attributes) -> None:
        self.attrs = attrs
        self.value: Any = 0
        self.seq = 0
        self.start_ns = time.time_ns()


class HistogramSeries:
    """An explicit-bucket histogram of one attribute set. ``buckets[i]`` counts the values in
    ``(bounds[i-1], bounds[i]]`` (the last one: above the last bound); the count is their sum.

    ``min`` and ``max`` are the extremes since the last delta collection, which folds them into
    ``lmin`` / ``lmax``, the extremes of the earlier measurements: a measurement then updates
    two values, not four, and both temporalities report exact extremes."""

    __slots__ = ("attrs", "buckets", "lmax", "lmin", "max", "min", "start_ns", "sum")

    def __init__(self, attrs: Attributes, n_bounds: int) -> None:
        self.attrs = attrs
        self.buckets = [0] * (n_bounds + 1)
        self.sum: Any = 0
        self.min = math.inf
        self.max = -math.inf
        self.lmin = math.inf
        self.lmax = -math.inf
        self.start_ns = time.time_ns()
