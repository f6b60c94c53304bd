"""The process-wide registry of instruments, and the count of what they dropped.

An instrument is identified by its scope and its name (case-insensitive, as the specification
says). Asking again for the same kind and unit gives the same instrument (the first
description and bucket advice stay); asking for the same name with another kind or unit gives
an instrument whose measurements are all dropped and counted (``conflicting_instrument``),
with a warning that names both: the first registration is the one exported.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from .._warn import warn
from ._instruments import DEFAULT_CARDINALITY_LIMIT, SYNC_KINDS, Instrument, Scope
from ._observable import Callback, CallbackRunner, Observable
from ._series import DEFAULT_BUCKETS

__all__ = ["DROP_REASONS", "OBSERVABLE_KINDS", "STATE", "MetricsState"]

DROP_REASONS = (
    "negative",
    "non_finite",
    "not_a_number",
    "bad_attribute",
    "conflicting_instrument",
    "invalid_instrument",
    "callback_error",
    "callback_timeout",
    "error",
)
"""The reasons a measurement (or one of its attributes) is dropped."""
OBSERVABLE_KINDS = ("observable_counter", "observable_up_down_counter", "observable_gauge")
"""The observable kinds, and what a plain name maps to."""


class _Refused:
    """What a conflicting registration's measurements go to: counted, dropped."""

    def __init__(self, state: MetricsState, name: str, reason: str) -> None:
        self._state, self._name, self._reason = state, name, reason

    def __call__(self, amount: Any = None, attributes: Any = None, context: Any = None) -> None:
        self._state.drop(self._reason, self._name)


class MetricsState:
    """Every instrument of the process, and what was dropped. Thread-safe."""

    def __init__(self, *, cardinality_limit: int = DEFAULT_CARDINALITY_LIMIT) -> None:
        self.cardinality_limit = cardinality_limit
        self.start_ns = time.time_ns()
        """When the state began (the start of every cumulative series made before a reset)."""
        self.dropped: Counter[str] = Counter()
        """Measurements (and attributes) dropped, by reason."""
        self._instruments: dict[tuple[Scope, str], Instrument] = {}
        """The instruments, by (scope, lower-case name)."""
        self._lock = threading.Lock()
        self._warned: set[tuple[str, str]] = set()
        self.callbacks = CallbackRunner()
        """Runs the observable instruments' callbacks for every reader."""
        self.enabled = False
        """Set once something switched metrics on (the meter provider, a middleware asked to)."""

    def drop(self, reason: str, instrument: str, n: int = 1, detail: str = "") -> None:
        """Count ``n`` measurements of ``instrument`` lost to ``reason``; warn once per
        instrument and reason."""
        with self._lock:
            if n:
                self.dropped[reason] += n
            first = (reason, instrument) not in self._warned
            if first:
                self._warned.add((reason, instrument))
        if first:
            what = {
                "overflow": "measurements of new attribute sets go to the overflow series "
                "(otel.metric.overflow=true)",
                "bad_attribute": "attributes of an unsupported type or key dropped",
                "conflicting_instrument": "measurements dropped: the name is registered with "
                "another kind or unit",
                "invalid_instrument": "measurements dropped: not a valid instrument",
            }.get(reason, f"measurements dropped ({reason})")
            warn(f"metrics:{reason}:{instrument}", f"metrics: {instrument}: {what}: {detail}")

    def instrument(
        self,
        scope: Scope,
        kind: str,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        buckets: Sequence[float] | None = None,
        callbacks: Sequence[Callback] = (),
        cls: Callable[..., Instrument] | None = None,
    ) -> Instrument:
        """The instrument of ``scope`` named ``name`` (made if new, of class ``cls``, else the
        kind's own); see the module."""
        key = (scope, name.lower())
        with self._lock:
            found = self._instruments.get(key)
            if found is None:
                found = self._instruments[key] = self._make(
                    scope, kind, name, unit, description, buckets, callbacks, cls
                )
                return found
        if found.kind == kind and found.unit == unit:
            if isinstance(found, Observable):
                found.callbacks.extend(cb for cb in callbacks if cb not in found.callbacks)
            return found
        detail = (
            f"asked for a {kind} in {unit!r}, registered as a {found.kind} in {found.unit!r} "
            f"(scope {scope.name!r})"
        )
        return self.refused(
            scope, kind, name, unit, "conflicting_instrument", cls=cls, detail=detail
        )

    def refused(
        self,
        scope: Scope,
        kind: str,
        name: str,
        unit: str,
        reason: str,
        *,
        cls: Callable[..., Instrument] | None = None,
        detail: str = "",
    ) -> Instrument:
        """An instrument that is not registered and drops every measurement, counted under
        ``reason`` (``conflicting_instrument``, ``invalid_instrument``), warned once."""
        refused = self._make(scope, kind, name, unit, "", None, (), cls)
        setattr(refused, _METHOD[kind], _Refused(self, name, reason))
        self.drop(reason, name, 0, detail or f"{kind} {name!r} in {unit!r} is not valid")
        return refused

    def _make(
        self,
        scope: Scope,
        kind: str,
        name: str,
        unit: str,
        description: str,
        buckets: Sequence[float] | None,
        callbacks: Sequence[Callback],
        cls: Callable[..., Instrument] | None,
    ) -> Instrument:
        limit = self.cardinality_limit
        if kind in OBSERVABLE_KINDS:
            make = Observable if cls is None else cls
            return make(kind, callbacks, self, scope, name, unit, description, limit=limit)
        make = SYNC_KINDS[kind] if cls is None else cls
        if kind == "histogram":
            bounds = tuple(buckets) if buckets is not None else DEFAULT_BUCKETS
            return make(self, scope, name, unit, description, limit=limit, buckets=bounds)
        return make(self, scope, name, unit, description, limit=limit)

    def instruments(self) -> list[Instrument]:
        """Every registered instrument, in the order they were made."""
        with self._lock:
            return list(self._instruments.values())

    def overflowed(self) -> int:
        """Measurements that went to an overflow series, over every instrument."""
        return sum(i.overflowed for i in self.instruments())

    def reset(self) -> None:
        """Forget every measurement (instruments stay registered: their owners keep them)."""
        for inst in self.instruments():
            inst.reset()
        with self._lock:
            self.dropped.clear()
            self._warned.clear()
        self.start_ns = time.time_ns()


_METHOD = {
    "counter": "add",
    "up_down_counter": "add",
    "histogram": "record",
    "gauge": "set",
    "observable_counter": "observe",
    "observable_up_down_counter": "observe",
    "observable_gauge": "observe",
}

STATE = MetricsState()
"""The process's metrics: what the meter provider, the middleware and the exporters share."""
