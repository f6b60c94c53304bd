"""Observable instruments, and running their callbacks at collection within a deadline.

A callback is the user's code: it may raise, return something that is not a list of
observations, or never return. Callbacks run on a thread of their own per collection (never on
the event loop, never on the scraping thread), one after the other; the collection waits for
them until its deadline and takes what has come back. A callback still running then is left
to finish on its own and skipped by later collections until it has returned; each skip and
each failure is counted and warned about once.

An observation is anything with ``value`` and ``attributes`` (the OpenTelemetry API's
``Observation``) or a ``(value, attributes)`` pair.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ._attributes import clean, frozen_key
from ._instruments import OVERFLOW_ATTRIBUTES, Instrument, Key
from ._series import ValueSeries

__all__ = ["DEFAULT_CALLBACK_TIMEOUT_S", "Observable", "run_callbacks"]

DEFAULT_CALLBACK_TIMEOUT_S = 1.0
"""How long a collection waits for the observable instruments' callbacks, all together."""
_INF = math.inf

Callback = Callable[[Any], Iterable[Any]]


class Observable(Instrument):
    """An observable counter, up-down counter or gauge: its series are what its callbacks
    observed at the last collection (values the callbacks report, not amounts to add)."""

    def __init__(
        self,
        kind: str,
        callbacks: Sequence[Callback],
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.monotonic = kind == "observable_counter"
        self.aggregation = "gauge" if kind == "observable_gauge" else "sum"
        self.callbacks: list[Callback] = list(callbacks)

    def observe(self, observations: Iterable[Any]) -> None:
        """Replace the series with ``observations`` (one collection's), within the limit."""
        fresh: dict[Key, ValueSeries] = {}
        overflow: ValueSeries | None = None
        for obs in observations:
            value, attributes = obs if isinstance(obs, tuple) else (obs.value, obs.attributes)
            if type(value) is not int and type(value) is not float:
                value = self._number(value)
                if value is None:
                    continue
            low = 0 if self.monotonic else -_INF
            if not low <= value < _INF:
                self._bad(value)
                continue
            attrs, dropped = clean(attributes)
            if dropped:
                self._owner.drop("bad_attribute", self.name, dropped, repr(attributes)[:100])
            key = frozen_key(attrs)
            series = fresh.get(key)
            if series is None:
                if len(fresh) >= self.limit - 1:
                    self.overflowed += 1
                    if overflow is None:
                        overflow = ValueSeries(dict(OVERFLOW_ATTRIBUTES))
                        self._owner.drop("overflow", self.name, 0, "over the cardinality limit")
                    series = overflow
                    overflow.value = (
                        (overflow.value + value) if self.aggregation == "sum" else value
                    )
                    overflow.seq += 1
                    continue
                series = fresh[key] = ValueSeries(attrs)
                old = self._series.get(key)
                if old is not None:
                    series.start_ns = old.start_ns
            series.value = value
            series.seq += 1
        with self._lock:
            self._series = fresh
            self._overflow = overflow


class _Run:
    """One collection's callbacks: what came back, shared with the thread that runs them."""

    def __init__(self, work: list[tuple[Observable, Callback]]) -> None:
        self.work = work
        self.results: list[tuple[Observable, list[Any]]] = []
        self.errors: list[tuple[Observable, str]] = []
        self.done = threading.Event()
        self.abandoned = False
        self.lock = threading.Lock()


class CallbackRunner:
    """Runs the callbacks of observable instruments for collections; remembers the ones that
    did not return in time."""

    def __init__(self) -> None:
        self._busy: set[int] = set()
        self._lock = threading.Lock()

    def start(self, instruments: Iterable[Observable], options: Any) -> tuple[_Run, list[Any]]:
        """Start a run of every callback that is not still busy from an earlier one; the
        callbacks skipped, with their instruments."""
        work: list[tuple[Observable, Callback]] = []
        skipped: list[tuple[Observable, Callback]] = []
        with self._lock:
            for inst in instruments:
                for cb in inst.callbacks:
                    (skipped if id(cb) in self._busy else work).append((inst, cb))
        run = _Run(work)
        if work:
            threading.Thread(
                target=self._run,
                args=(run, options),
                name="telemetry-metrics-callbacks",
                daemon=True,
            ).start()
        else:
            run.done.set()
        return run, skipped

    def _run(self, run: _Run, options: Any) -> None:
        for inst, cb in run.work:
            with self._lock:
                self._busy.add(id(cb))
            try:
                got = list(cb(options))
            except Exception as exc:
                with run.lock:
                    run.errors.append((inst, repr(exc)[:200]))
            else:
                with run.lock:
                    if not run.abandoned:
                        run.results.append((inst, got))
            finally:
                with self._lock:
                    self._busy.discard(id(cb))
            with run.lock:
                if run.abandoned:
                    return
        run.done.set()

    def finish(self, run: _Run) -> tuple[list[tuple[Observable, list[Any]]], list[Any], list[Any]]:
        """What came back (now: wait on ``run.done`` first, or not): results, errors, and the
        callbacks that did not run (still running, or never reached)."""
        with run.lock:
            run.abandoned = not run.done.is_set()
            results, errors = list(run.results), list(run.errors)
        late: list[Any] = []
        if run.abandoned:
            answered = {id(i) for i, _ in results} | {id(i) for i, _ in errors}
            late = [(i, cb) for i, cb in run.work if id(i) not in answered]
        return results, errors, late


def run_callbacks(
    runner: CallbackRunner, instruments: Sequence[Observable], options: Any, timeout: float
) -> tuple[list[tuple[Observable, list[Any]]], list[Any], list[Any]]:
    """Run the callbacks and wait for them at most ``timeout`` seconds (on this thread):
    results, errors, and the callbacks that were skipped or late."""
    run, skipped = runner.start(instruments, options)
    run.done.wait(timeout)
    results, errors, late = runner.finish(run)
    return results, errors, skipped + late
