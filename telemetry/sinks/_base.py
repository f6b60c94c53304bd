"""The sink contract: where batches of signals end up.

A sink is an async resource with a visible state (``new`` -> ``open`` -> ``closed``). The handler
that owns it is the only caller, from one worker at a time unless the handler runs several
workers, and it does all the deciding: a sink raises on failure and never retries, counts or
drops on its own, except for losses only it can see (a datagram truncated, a journal field that
cannot be named), which it records with [`Sink.count_drop`][telemetry.sinks.Sink.count_drop] /
`Sink.count`. A sink never calls back into the hub.
"""

from __future__ import annotations

import abc
import inspect
from collections import Counter
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Literal

from .._errors import ClosedError, ConfigError
from .._signal import Signal

__all__ = ["Sink", "SinkState"]

SinkState = Literal["new", "open", "closed"]

_NO_DROPS: Mapping[str, int] = MappingProxyType({})
"""What `Sink.take_drops` returns when nothing was dropped (most batches)."""


class Sink(abc.ABC):
    """Base class of every sink. Subclasses implement [`write`][telemetry.sinks.Sink.write] and
    usually ``_open``."""

    kind: str = "sink"
    """Short name used in warnings and stats."""

    linger: float | None = None
    """Longest a handler's worker lets a small batch for this sink gather more signals while
    they keep coming, in seconds; ``None``: the handler's default (2 ms). A sink whose every
    write costs far more than the signals in it (an HTTP request) gathers longer; a flush,
    the close or a full batch waiting ends the wait early."""

    linger_below: int | None = None
    """A worker lingers after a batch smaller than this (in signals), and a linger ends once
    this many wait; ``None``: the handler's default (64). A sink whose writes are dear asks
    for larger batches (the OTLP sink: 512)."""

    workers: int = 1
    """How many workers its handler runs when the handler's ``workers`` is not given. More
    than one only where batches may be written out of order and a write mostly waits (for a
    network answer): a second worker then takes and writes the next batch meanwhile."""

    def __init__(self) -> None:
        self.state: SinkState = "new"
        """``"new"``, ``"open"`` or ``"closed"``."""
        self._drops: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        """Sink-specific counters (reconnects, truncations, ...), shown in handler stats."""

    def _reject_unknown(self, unknown: Mapping[str, object]) -> None:
        """ConfigError for the first option the sink's constructor does not take (subclasses
        take ``**unknown: Never`` and call this), naming the options it takes."""
        if not unknown:
            return
        params = inspect.signature(type(self).__init__).parameters.values()
        kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        allowed = [p.name for p in params if p.kind in kinds and p.name != "self"]
        raise ConfigError.unknown(next(iter(unknown)), allowed, what=type(self).__name__)

    async def open(self) -> None:
        """Acquire what the sink needs (file, socket). Raises ``TelemetryError`` when it cannot."""
        if self.state == "closed":
            raise ClosedError(f"{self.kind} sink is closed")
        if self.state == "new":
            await self._open()
            self.state = "open"

    async def _open(self) -> None:  # noqa: B027 - optional hook
        """Subclass hook for [`open`][telemetry.sinks.Sink.open]."""

    @abc.abstractmethod
    async def write(self, batch: Sequence[Signal]) -> None:
        """Write a batch: one encode and one I/O call. Raise on failure.

        Args:
            batch: The signals to write, in order.

        Raises:
            SinkError: The batch could not be written; the handler retries and counts.
        """

    def write_sync(self, batch: Sequence[Signal]) -> None:
        """Write a batch without an event loop (synchronous mode, exit fallback).

        Args:
            batch: The signals to write, in order.

        Raises:
            NotImplementedError: The sink cannot write synchronously (this default); the
                signals are counted as dropped.
        """
        raise NotImplementedError(f"{self.kind} sink cannot write synchronously")

    async def flush(self) -> None:  # noqa: B027 - optional hook
        """Push buffered bytes to their destination (an ``fsync`` for durable sinks)."""

    async def aclose(self) -> None:
        """Flush and release resources. Idempotent."""
        if self.state == "closed":
            return
        was_open = self.state == "open"
        self.state = "closed"
        if was_open:
            await self._aclose()

    async def _aclose(self) -> None:  # noqa: B027 - optional hook
        """Subclass hook for [`aclose`][telemetry.sinks.Sink.aclose], called once, only if the sink
        was opened."""

    def close_sync(self) -> None:  # noqa: B027 - optional hook
        """Release resources without an event loop (exit fallback). Idempotent."""

    def after_fork(self) -> None:
        """In a forked child: let go of what belongs to the parent (an open file, a connection)
        without flushing or closing it for the parent, and become openable again.

        The default only resets the state; sinks that hold descriptors override
        `_after_fork` to drop the child's copies.
        """
        if self.state == "open":
            self._after_fork()
            self.state = "new"
        self._drops = Counter()
        self.counters = Counter()

    def _after_fork(self) -> None:  # noqa: B027 - optional hook
        """Subclass hook for [`after_fork`][telemetry.sinks.Sink.after_fork]: drop the child's
        copies of descriptors."""

    def count_drop(self, reason: str, n: int = 1) -> None:
        """Record signals of the current batch that this sink could not deliver.

        Args:
            reason: Why: a drop reason as the stats show it (such as ``"too_large"``).
            n: How many signals.
        """
        self._drops[reason] += n

    def note_repaired(self, source: object) -> None:
        """Move the count of signals written with bad values replaced into
        ``counters["bad_values"]``.

        Args:
            source: A format or encoder with a ``repaired`` attribute (a count, which restarts
                from 0).
        """
        n = getattr(source, "repaired", 0)
        if n:
            source.repaired = 0  # type: ignore[attr-defined]
            self.counters["bad_values"] += n

    def take_drops(self) -> Mapping[str, int]:
        """Return and reset the drops recorded since the last call (the handler's job): the
        counts by reason, or an empty mapping (shared, read-only) when there were none, so
        that a batch without drops allocates nothing."""
        drops = self._drops
        if not drops:
            return _NO_DROPS
        self._drops = Counter()
        return drops

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state}>"
