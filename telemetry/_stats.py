"""Snapshots of what handlers did: counts, drops by reason, queue depth, write latency, health.

Every snapshot is a frozen struct, taken on demand; the counters behind them are plain integers
updated on the event loop thread, so reading them costs nothing on the emitting path.
"""

from __future__ import annotations

from array import array
from typing import Any

import msgspec

__all__ = [
    "DROP_REASONS",
    "HandlerStats",
    "Health",
    "HealthTracker",
    "LatencyRecorder",
    "LatencyStats",
    "Stats",
]

DROP_REASONS = {
    "queue_full": "the queue was full and the call could not wait (dropping mode, or a *_nowait "
    "call on the loop's thread)",
    "stalled": "backpressure mode: the sink made no progress within max_wait, so the call "
    "stopped waiting (and later calls did not wait until the queue moved again)",
    "evicted": "sliding mode: the oldest queued signal made room for a new one",
    "closed": "emitted after the handler or hub was closed",
    "sink_error": "the sink kept failing after every retry",
    "partial_success": "the receiver accepted the request but rejected some of its records "
    "(an OTLP partial success; its message is reported on stderr)",
    "middleware": "a middleware returned None",
    "timeout": "still queued when aclose(timeout=...) ran out",
    "exit": "the process exited before it could be written",
    "no_handler": "emitted to a hub that had no handler at the time (given handlers={}, or "
    "every handler removed): counted by the hub itself",
}
"""Why a signal accepted by a handler was not written."""


class LatencyStats(msgspec.Struct, frozen=True, kw_only=True):
    """Write latency per batch in microseconds, over the most recent batches."""

    count: int = 0
    mean_us: float = 0.0
    p50_us: float = 0.0
    p99_us: float = 0.0
    max_us: float = 0.0


class LatencyRecorder:
    """The last ``size`` samples (nanoseconds) in a ring, plus the all-time maximum and mean."""

    __slots__ = ("_i", "_ring", "count", "max_ns", "size", "total_ns")

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._ring = array("q")
        self._i = 0
        self.count = 0
        self.total_ns = 0
        self.max_ns = 0

    def add(self, ns: int) -> None:
        """Record one sample."""
        self.count += 1
        self.total_ns += ns
        if ns > self.max_ns:
            self.max_ns = ns
        if len(self._ring) < self.size:
            self._ring.append(ns)
        else:
            self._ring[self._i] = ns
            self._i = (self._i + 1) % self.size

    def snapshot(self) -> LatencyStats:
        """Mean and maximum over all samples, p50 / p99 over the recent ones."""
        if not self.count:
            return LatencyStats()
        ordered = sorted(self._ring)
        n = len(ordered)

        def pct(p: float) -> float:
            return ordered[min(n - 1, int(p * n))] / 1000

        return LatencyStats(
            count=self.count,
            mean_us=self.total_ns / self.count / 1000,
            p50_us=pct(0.50),
            p99_us=pct(0.99),
            max_us=self.max_ns / 1000,
        )

    def reset(self) -> None:
        """Forget every sample."""
        self.__init__(self.size)  # type: ignore[misc]


class HandlerStats(msgspec.Struct, frozen=True, kw_only=True):
    """One handler's counts.

    ``emitted`` counts the signals offered to this handler (after its filters); ``processed`` those
    its workers took from the queue and finished with, written or not. Once the handler
    is closed, ``emitted == written + dropped_total`` exactly; while it runs, the difference is
    ``queued`` plus the batch being written.
    """

    name: str
    sink: str
    mode: str
    state: str
    emitted: int
    processed: int
    written: int
    dropped: dict[str, int]
    filtered: int
    queued: int
    peak_queued: int
    buffer_size: int
    errors: int
    middleware_errors: int
    retries: int
    batches: int
    latency: LatencyStats
    sink_counters: dict[str, int]

    @property
    def dropped_total(self) -> int:
        """All drops, whatever the reason."""
        return sum(self.dropped.values())


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """Whether the pipeline is doing its job, and if not, why (one line per problem)."""

    healthy: bool
    problems: tuple[str, ...] = ()


class HealthTracker:
    """Turns handler stats into a [`Health`][telemetry.Health], remembering what it saw last time,
    so that errors and drops are reported once each (since the previous check)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, int]] = {}

    def check(
        self, hub_state: str, handlers: dict[str, HandlerStats], *, no_handler: int = 0
    ) -> Health:
        """The hub's health now: a hub or handler not open, sink errors or drops since the
        last check (``no_handler``: the hub's own, for lack of a handler), a queue more than
        80 % full."""
        problems: list[str] = []
        if hub_state != "open":
            problems.append(f"hub is {hub_state}")
        last_no_handler = self._last.get("", (0, 0))[1]
        if no_handler > last_no_handler:
            problems.append(f"hub has no handler: {no_handler - last_no_handler} dropped")
        self._last[""] = (0, no_handler)
        for name, s in handlers.items():
            errors, drops = s.errors, s.dropped_total
            last_errors, last_drops = self._last.get(name, (0, 0))
            if s.state != "open" and hub_state == "open":
                problems.append(f"handler {name!r} is {s.state}")
            if errors > last_errors:
                problems.append(f"handler {name!r}: {errors - last_errors} sink errors")
            if drops > last_drops:
                reasons = ", ".join(f"{k}={v}" for k, v in sorted(s.dropped.items()))
                problems.append(f"handler {name!r}: {drops - last_drops} dropped ({reasons})")
            if s.queued > 0.8 * s.buffer_size:
                problems.append(f"handler {name!r}: queue {s.queued}/{s.buffer_size}")
            self._last[name] = (errors, drops)
        return Health(healthy=not problems, problems=tuple(problems))


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    """The hub's counts and each handler's.

    ``no_handler`` counts the signals emitted while the hub had no handler: dropped, and
    included in `dropped` under that reason, so that a hub without handlers still has
    ``emitted == written + dropped`` once closed.
    """

    state: str
    emitted: int
    refused: int
    handlers: dict[str, HandlerStats]
    middleware_errors: int = 0
    no_handler: int = 0

    @property
    def written(self) -> int:
        """Signals written, summed over handlers."""
        return sum(h.written for h in self.handlers.values())

    @property
    def dropped(self) -> dict[str, int]:
        """Drops by reason, summed over handlers, and the hub's own (``no_handler``)."""
        out: dict[str, int] = {"no_handler": self.no_handler} if self.no_handler else {}
        for h in self.handlers.values():
            for k, v in h.dropped.items():
                out[k] = out.get(k, 0) + v
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain builtins, for printing or JSON."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]
