"""Snapshots of what handlers did: counts, drops by reason, queue depth, write latency, health.

Every snapshot is a frozen struct, taken on demand; the counters behind them are plain integers
updated on the event loop thread, so reading them costs nothing on the emitting path.
"""

from __future__ import annotations

from array import array
from typing import Any

import msgspec

__all__ = ["DROP_REASONS", "HandlerStats", "Health", "LatencyRecorder", "LatencyStats", "Stats"]

#: Why a signal accepted by a handler was not written.
DROP_REASONS = {
    "queue_full": "the queue was full and the call could not wait (dropping mode, or a *_nowait "
    "call on the loop's thread)",
    "stalled": "backpressure mode: the sink made no progress within max_wait, so the call "
    "stopped waiting (and later calls did not wait until the queue moved again)",
    "evicted": "sliding mode: the oldest queued signal made room for a new one",
    "closed": "emitted after the handler or hub was closed",
    "sink_error": "the sink kept failing after every retry",
    "middleware": "a middleware returned None",
    "timeout": "still queued when aclose(timeout=...) ran out",
    "exit": "the process exited before it could be written",
}


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


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    """The hub's counts and each handler's."""

    state: str
    emitted: int
    refused: int
    handlers: dict[str, HandlerStats]
    middleware_errors: int = 0

    @property
    def written(self) -> int:
        """Signals written, summed over handlers."""
        return sum(h.written for h in self.handlers.values())

    @property
    def dropped(self) -> dict[str, int]:
        """Drops by reason, summed over handlers."""
        out: dict[str, int] = {}
        for h in self.handlers.values():
            for k, v in h.dropped.items():
                out[k] = out.get(k, 0) + v
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain builtins, for printing or JSON."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]
