"""Synchronous instruments: counters, up-down counters, histograms and gauges.

The fast path. A measurement's attribute set is found by the identity of the mapping passed:
each instrument remembers, by ``id``, the last mappings it saw with a copy of their contents
and their series; when the same mapping (or a new one at the same address, as a literal
``{...}`` built per call often is) comes again with equal contents, its series is used as it
is: no key is built, nothing is allocated. A new dict with the contents of one seen before
(FastAPI builds its attributes afresh for each request) is found by its items, in order, as a
tuple: one tuple and one look-up. Otherwise (a new attribute set, a mapping changed in place,
a value that cannot be hashed) the slow path cleans the attributes, builds the frozen key and
finds or makes the series. The update itself runs under the instrument's lock, so
measurements from threads are never lost.

Bad input costs only itself: a value that is not a number, NaN or an infinity, a negative
value for a counter or histogram, is dropped and counted (``Owner.drop``), with one warning per
instrument and reason; an attribute of a type the specification does not allow is dropped from
its set. Nothing raises into the caller.

The cardinality limit: at most ``limit`` series per instrument, the last of them the overflow
series (``otel.metric.overflow=true``) that takes every measurement of a new attribute set once
the others are taken; such measurements are counted (``overflowed``) and warned about once.
"""

from __future__ import annotations

import math
import numbers
import sys
import threading
from bisect import bisect_left
from collections.abc import Callable
from typing import Any, Protocol

from ._attributes import clean, frozen_key
from ._series import DEFAULT_BUCKETS, HistogramSeries, ValueSeries

__all__ = [
    "DEFAULT_CARDINALITY_LIMIT",
    "MAX_REMEMBERED",
    "OVERFLOW_ATTRIBUTES",
    "Counter",
    "Gauge",
    "Histogram",
    "Instrument",
    "Owner",
    "Scope",
    "UpDownCounter",
]

DEFAULT_CARDINALITY_LIMIT = 2000
"""Series per instrument at most, the overflow series included (the OpenTelemetry SDK's)."""
MAX_REMEMBERED = 4096
"""Attribute mappings an instrument remembers by identity; past this it forgets them all."""
OVERFLOW_ATTRIBUTES: dict[str, Any] = {"otel.metric.overflow": True}
"""The attributes of the series that takes what is over the cardinality limit."""
_INF = math.inf
_NINF = -math.inf
Key = tuple[tuple[str, Any], ...]


class Scope(tuple[str, str, str]):
    """The instrumentation scope an instrument belongs to: name, version, schema URL."""

    __slots__ = ()

    @property
    def name(self) -> str:
        """The scope's name (the library that measures)."""
        return self[0]

    @property
    def version(self) -> str:
        """The library's version, or ``""``."""
        return self[1]

    @property
    def schema_url(self) -> str:
        """The semantic conventions' schema URL, or ``""``."""
        return self[2]


class Owner(Protocol):
    """Where an instrument reports what it dropped (the metrics state)."""

    def drop(self, reason: str, instrument: str, n: int = 1, detail: str = "") -> None:
        """Count ``n`` measurements (or attributes) of ``instrument`` lost to ``reason``."""


def _snapshot(attributes: Any) -> Any:
    # A copy to compare the next mapping at this address with. List values are copied as
    # tuples, which compare unequal to lists: a list-valued set always takes the slow path,
    # so that a list changed in place never lands in its old series.
    if attributes is None:
        return None
    return {k: tuple(v) if type(v) is list else v for k, v in attributes.items()}


class Instrument:
    """What every instrument has: identity, series, the identity cache and the limit."""

    kind = "instrument"
    """``counter``, ``up_down_counter``, ``histogram``, ``gauge``, or an observable's kind."""
    monotonic = False
    """A sum that only grows (exported as a monotonic sum, ``_total`` in Prometheus)."""
    aggregation = "sum"
    """``sum``, ``gauge`` or ``histogram``: the aggregation."""

    def __init__(
        self,
        owner: Owner,
        scope: Scope,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        limit: int = DEFAULT_CARDINALITY_LIMIT,
    ) -> None:
        self.name = name
        self.unit = unit
        self.description = description
        self.scope = scope
        self.limit = max(2, limit)
        self.overflowed = 0
        """Measurements that went to the overflow series."""
        self._owner = owner
        self._lock = threading.Lock()
        self._series: dict[Key, Any] = {}
        self._ids: dict[int, tuple[Any, Any]] = {}
        #: Series by the items of a dict seen before, in its order (clean sets only).
        self._contents: dict[tuple[tuple[Any, Any], ...], Any] = {}
        self._overflow: Any = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.scope.name}/{self.name} {len(self._series)} series>"

    def _new(self, attrs: dict[str, Any]) -> Any:
        return ValueSeries(attrs)

    def _find(self, attributes: Any) -> Any:
        """The series of ``attributes`` when not found by identity: by the dict's items if
        seen before, else cleaned and made if new (or the overflow series)."""
        items = None
        if type(attributes) is dict:
            items = tuple(attributes.items())
            try:
                series = self._contents.get(items)
            except TypeError:  # a value that cannot be hashed (a list): the slow path
                items = series = None
            if series is not None:
                return series
        attrs, dropped = clean(attributes)
        if dropped:
            self._owner.drop("bad_attribute", self.name, dropped, repr(attributes)[:100])
        key = frozen_key(attrs)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                if len(self._series) >= self.limit - 1:
                    return self._overflowing()
                series = self._series[key] = self._new(attrs)
        if attributes is None or isinstance(attributes, dict):
            ids = self._ids
            if len(ids) >= MAX_REMEMBERED:
                ids.clear()
            ids[id(attributes)] = (_snapshot(attributes), series)
        if items is not None and not dropped:
            # A set with a dropped attribute is not remembered: each measurement of it is
            # counted.
            contents = self._contents
            if len(contents) >= MAX_REMEMBERED:
                contents.clear()
            contents[items] = series
        return series

    def _overflowing(self) -> Any:
        # Called under the lock. Not remembered by identity: every such measurement comes
        # here again, and is counted.
        self.overflowed += 1
        if self._overflow is None:
            self._overflow = self._new(dict(OVERFLOW_ATTRIBUTES))
            self._owner.drop(
                "overflow",
                self.name,
                0,
                f"more than {self.limit - 1} attribute sets; the rest go to the overflow series",
            )
        return self._overflow

    def _number(self, amount: Any) -> Any:
        """``amount`` as an int or a float, or ``None`` (counted) when it is not a number."""
        if isinstance(amount, bool):
            return int(amount)
        if isinstance(amount, numbers.Real):
            try:
                return float(amount)
            except (TypeError, ValueError, OverflowError):
                pass
        self._owner.drop("not_a_number", self.name, 1, f"{type(amount).__name__} value")
        return None

    def _bad(self, amount: Any) -> None:
        reason = "non_finite" if amount != amount or amount in (_INF, _NINF) else "negative"
        self._owner.drop(reason, self.name, 1, repr(amount))

    def _failed(self, exc: Exception) -> None:
        self._owner.drop("error", self.name, 1, repr(exc))

    def series(self) -> list[Any]:
        """Every series now, the overflow series last."""
        with self._lock:
            return self.series_unlocked()

    def series_unlocked(self) -> list[Any]:
        """`series` for a caller that holds `lock` (to copy values with it)."""
        out = list(self._series.values())
        if self._overflow is not None:
            out.append(self._overflow)
        return out

    def reset(self) -> None:
        """Forget every series (the state's ``reset``: between tests)."""
        with self._lock:
            self._series = {}
            self._ids = {}
            self._contents = {}
            self._overflow = None
            self.overflowed = 0

    @property
    def lock(self) -> threading.Lock:
        """The lock every update of this instrument's series holds."""
        return self._lock


class _Sum(Instrument):
    """A sum: ``add`` a finite amount of at least `_low`.

    The measurement methods of every instrument keep their few lines (coerce, check, find the
    series, update under the lock) inline rather than calling a shared helper: a Python call
    is a tenth of a measurement's cost.
    """

    _low = 0.0
    """The least amount taken (a float, so that NaN and the infinities are refused too)."""

    def add(self, amount: Any, attributes: Any = None, context: Any = None) -> None:
        """Add ``amount`` to the series of ``attributes``."""
        try:
            if type(amount) is not int and type(amount) is not float:
                amount = self._number(amount)
                if amount is None:
                    return
            if not self._low <= amount < _INF:
                self._bad(amount)
                return
            e = self._ids.get(id(attributes))
            s = e[1] if e is not None and e[0] == attributes else self._find(attributes)
            with self._lock:
                s.value += amount
                s.seq += 1
        except Exception as exc:
            self._failed(exc)


class Counter(_Sum):
    """A monotonic sum: ``add`` a non-negative amount."""

    kind = "counter"
    monotonic = True


class UpDownCounter(_Sum):
    """A sum that goes both ways: ``add`` any finite amount."""

    kind = "up_down_counter"
    _low = -sys.float_info.max


class Gauge(Instrument):
    """The last value ``set`` per attribute set."""

    kind = "gauge"
    aggregation = "gauge"

    def set(self, amount: Any, attributes: Any = None, context: Any = None) -> None:
        """Make ``amount`` the value of the series of ``attributes``."""
        try:
            if type(amount) is not int and type(amount) is not float:
                amount = self._number(amount)
                if amount is None:
                    return
            if not _NINF < amount < _INF:
                self._bad(amount)
                return
            e = self._ids.get(id(attributes))
            s = e[1] if e is not None and e[0] == attributes else self._find(attributes)
            with self._lock:
                s.value = amount
                s.seq += 1
        except Exception as exc:
            self._failed(exc)


class Histogram(Instrument):
    """An explicit-bucket histogram of non-negative values: ``record`` one."""

    kind = "histogram"
    aggregation = "histogram"

    def __init__(
        self,
        owner: Owner,
        scope: Scope,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        limit: int = DEFAULT_CARDINALITY_LIMIT,
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(owner, scope, name, unit, description, limit=limit)
        self.bounds = buckets
        """The bucket boundaries (the instrument's advice, else the default ones)."""

    def _new(self, attrs: dict[str, Any]) -> Any:
        return HistogramSeries(attrs, len(self.bounds))

    def record(self, amount: Any, attributes: Any = None, context: Any = None) -> None:
        """Count ``amount`` (>= 0) into the histogram of ``attributes``."""
        try:
            if type(amount) is not float and type(amount) is not int:
                amount = self._number(amount)
                if amount is None:
                    return
            if not 0 <= amount < _INF:
                self._bad(amount)
                return
            e = self._ids.get(id(attributes))
            s = e[1] if e is not None and e[0] == attributes else self._find(attributes)
            i = bisect_left(self.bounds, amount)
            with self._lock:
                # The count is the buckets' sum; min and max are since the last delta
                # collection (HistogramSeries), folded into the lifetime ones by readers.
                s.buckets[i] += 1
                s.sum += amount
                if amount < s.min:
                    s.min = amount
                if amount > s.max:
                    s.max = amount
        except Exception as exc:
            self._failed(exc)


SYNC_KINDS: dict[str, Callable[..., Instrument]] = {
    "counter": Counter,
    "up_down_counter": UpDownCounter,
    "gauge": Gauge,
    "histogram": Histogram,
}
"""The synchronous instrument classes by kind."""
