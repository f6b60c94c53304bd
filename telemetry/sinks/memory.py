"""A sink that keeps signals in a list: for tests, examples and in-process inspection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Never

from .._errors import ConfigError
from .._signal import Signal
from ._base import Sink

__all__ = ["MemorySink"]


class MemorySink(Sink):
    """Keep every written signal in `signals`, the newest last.

    ``maxlen`` bounds the list (the oldest are discarded, and counted in ``counters["discarded"]``);
    ``None`` keeps everything.
    """

    kind = "memory"

    def __init__(self, *, maxlen: int | None = None, **unknown: Never) -> None:
        super().__init__()
        self._reject_unknown(unknown)
        if maxlen is not None and maxlen < 1:
            raise ConfigError("maxlen", f"must be >= 1 or None, got {maxlen!r}")
        self.maxlen = maxlen
        self.signals: list[Signal] = []

    async def write(self, batch: Sequence[Signal]) -> None:
        """Append the batch."""
        self.write_sync(batch)

    def write_sync(self, batch: Sequence[Signal]) -> None:
        """Append the batch (no I/O, so this is the same as
        [`write`][telemetry.sinks.MemorySink.write])."""
        self.signals.extend(batch)
        if self.maxlen is not None and len(self.signals) > self.maxlen:
            excess = len(self.signals) - self.maxlen
            del self.signals[:excess]
            self.counters["discarded"] += excess

    def clear(self) -> None:
        """Forget every stored signal."""
        self.signals.clear()
