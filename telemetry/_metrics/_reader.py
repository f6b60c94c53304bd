"""A reader: the snapshot of every instrument, in the temporality an exporter asks for.

Cumulative (the default): every series since it began. Delta: what changed since this reader's
last collection, for the instruments the preference names (the specification's
``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``: ``delta`` makes counters, observable
counters and histograms delta; ``lowmemory`` counters and histograms; up-down counters and
gauges stay as they are). Each reader keeps its own baseline, so several readers (a Prometheus
scrape and an OTLP push) never disturb one another, with one exception: a histogram's min and
max in delta are since the last delta collection of any reader.

Collecting runs the observable instruments' callbacks on a thread of their own and waits for
them at most ``callback_timeout``; it is meant to run off the event loop (a scrape's thread, a
worker thread of the OTLP sink).
"""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

import msgspec

from ._attributes import frozen_key
from ._instruments import Histogram, Instrument, Scope
from ._observable import DEFAULT_CALLBACK_TIMEOUT_S, Observable, run_callbacks
from ._state import STATE, MetricsState

__all__ = ["TEMPORALITIES", "HistogramPoint", "Metric", "MetricReader", "NumberPoint"]

TEMPORALITIES = ("cumulative", "delta", "lowmemory")
"""The temporality preferences a reader takes."""
_DELTA_KINDS = {
    "cumulative": frozenset(),
    "delta": frozenset({"counter", "observable_counter", "histogram"}),
    "lowmemory": frozenset({"counter", "histogram"}),
}


class NumberPoint(msgspec.Struct, frozen=True):
    """One series of a sum or a gauge."""

    attrs: dict[str, Any]
    start_ns: int
    time_ns: int
    value: int | float


class HistogramPoint(msgspec.Struct, frozen=True):
    """One series of a histogram: ``buckets[i]`` counts values in ``(bounds[i-1], bounds[i]]``
    (not cumulative); ``min`` / ``max`` are ``None`` when nothing was counted."""

    attrs: dict[str, Any]
    start_ns: int
    time_ns: int
    count: int
    sum: float
    min: float | None
    max: float | None
    bounds: tuple[float, ...]
    buckets: list[int]


class Metric(NamedTuple):
    """One instrument's points. ``aggregation`` is ``sum``, ``gauge`` or ``histogram``;
    ``temporality`` is ``cumulative`` or ``delta`` (gauges: ``cumulative``)."""

    scope: Scope
    name: str
    description: str
    unit: str
    aggregation: str
    monotonic: bool
    temporality: str
    points: list[Any]


class CallbackOptions(NamedTuple):
    """What a callback is given when no other options object is (``timeout_millis``)."""

    timeout_millis: float = DEFAULT_CALLBACK_TIMEOUT_S * 1000


class MetricReader:
    """Collects every instrument of ``state`` in ``temporality`` (see the module)."""

    def __init__(
        self,
        temporality: str = "cumulative",
        *,
        state: MetricsState = STATE,
        callback_timeout: float = DEFAULT_CALLBACK_TIMEOUT_S,
    ) -> None:
        if temporality not in _DELTA_KINDS:
            raise ValueError(f"temporality must be one of {TEMPORALITIES}, got {temporality!r}")
        self.temporality = temporality
        self.state = state
        self.callback_timeout = callback_timeout
        self._delta = _DELTA_KINDS[temporality]
        self._base: dict[tuple[int, Any], Any] = {}
        self._last_ns = state.start_ns
        self.options: Any = CallbackOptions(callback_timeout * 1000)
        """How the options passed to callbacks are made (the OpenTelemetry adapter's own)."""

    def collect(self, timeout: float | None = None) -> list[Metric]:
        """Every instrument with at least one point, after running the callbacks (waiting at
        most ``timeout``, default ``callback_timeout``, for them)."""
        instruments = self.state.instruments()
        self._observe([i for i in instruments if isinstance(i, Observable)], timeout)
        now = time.time_ns()
        out = []
        for inst in instruments:
            delta = inst.kind in self._delta
            points: list[Any]
            if isinstance(inst, Histogram):
                points = self._histogram(inst, now, delta)
            else:
                points = self._numbers(inst, now, delta)
            if points:
                temporality = "delta" if delta and inst.aggregation != "gauge" else "cumulative"
                out.append(
                    Metric(
                        inst.scope,
                        inst.name,
                        inst.description,
                        inst.unit,
                        inst.aggregation,
                        inst.monotonic,
                        temporality,
                        points,
                    )
                )
        self._last_ns = now
        return out

    def _observe(self, observables: list[Observable], timeout: float | None) -> None:
        if not observables:
            return
        wait = self.callback_timeout if timeout is None else min(timeout, self.callback_timeout)
        results, errors, late = run_callbacks(
            self.state.callbacks, observables, self.options, max(wait, 0.0)
        )
        got: dict[int, tuple[Observable, list[Any]]] = {}
        for inst, observations in results:
            got.setdefault(id(inst), (inst, []))[1].extend(observations)
        for inst, observations in got.values():
            try:
                inst.observe(observations)
            except Exception as exc:  # an observation that is not one
                self.state.drop("callback_error", inst.name, 1, repr(exc)[:200])
        for inst, detail in errors:
            self.state.drop("callback_error", inst.name, 1, detail)
        for inst, _cb in late:
            self.state.drop(
                "callback_timeout", inst.name, 1, f"a callback did not return within {wait}s"
            )

    def _start(self, series_start: int, delta: bool) -> int:
        return max(series_start, self._last_ns) if delta else series_start

    def _numbers(self, inst: Instrument, now: int, delta: bool) -> list[NumberPoint]:
        with inst.lock:
            rows = [(s, s.value, s.seq) for s in inst.series_unlocked()]
        points = []
        observable = isinstance(inst, Observable)
        for s, value, seq in rows:
            if not delta:
                points.append(NumberPoint(s.attrs, s.start_ns, now, value))
                continue
            key = (id(inst), frozen_key(s.attrs))
            base = self._base.get(key)
            self._base[key] = (value, seq)
            if base is None:
                points.append(NumberPoint(s.attrs, s.start_ns, now, value))
            elif observable or seq != base[1]:
                change = value - base[0]
                if change < 0 and inst.monotonic:  # the series started again (a reset)
                    change = value
                points.append(NumberPoint(s.attrs, self._start(s.start_ns, True), now, change))
        return points

    def _histogram(self, inst: Histogram, now: int, delta: bool) -> list[HistogramPoint]:
        with inst.lock:
            rows = []
            for s in inst.series_unlocked():
                lo, hi = min(s.lmin, s.min), max(s.lmax, s.max)
                imin, imax = s.min, s.max
                if delta:  # fold the interval's extremes into the lifetime ones
                    s.lmin, s.lmax, s.min, s.max = lo, hi, math.inf, -math.inf
                rows.append((s, list(s.buckets), s.sum, lo, hi, imin, imax))
        points = []
        for s, buckets, total, lo, hi, imin, imax in rows:
            count = sum(buckets)
            if not delta:
                points.append(_hpoint(s, s.start_ns, now, count, total, lo, hi, inst, buckets))
                continue
            key = (id(inst), frozen_key(s.attrs))
            base = self._base.get(key)
            self._base[key] = (buckets, total, count)
            if base is None:
                points.append(_hpoint(s, s.start_ns, now, count, total, imin, imax, inst, buckets))
            elif count != base[2]:
                diff = [a - b for a, b in zip(buckets, base[0], strict=True)]
                start = self._start(s.start_ns, True)
                points.append(
                    _hpoint(s, start, now, count - base[2], total - base[1], imin, imax, inst, diff)
                )
        return points


def _hpoint(
    s: Any,
    start: int,
    now: int,
    count: int,
    total: float,
    lo: float,
    hi: float,
    inst: Histogram,
    buckets: list[int],
) -> HistogramPoint:
    finite = count > 0 and lo <= hi
    return HistogramPoint(
        s.attrs,
        start,
        now,
        count,
        total,
        lo if finite else None,
        hi if finite else None,
        inst.bounds,
        buckets,
    )
