"""A sink that keeps signals in a list: for tests, examples and in-process inspection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Never

from .._errors import ConfigError
from .._signal import Signal
from ._base import Sink

__all__ = ["MemorySink"]


class MemorySink(Sink):
    """Keep every written signal in ``signals``, the newest last.

    Args:
        maxlen: The most signals kept: the oldest are discarded, and counted in
            ``counters["discarded"]``; ``None`` keeps everything.
        **unknown: No other option is taken: one raises a
            [`ConfigError`][telemetry.ConfigError] naming the options there are.

    Raises:
        ConfigError: ``maxlen`` is less than 1.

    Attributes:
        signals (list[Signal]): The signals written, oldest first.
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
        """Append the batch.

        Args:
            batch: The signals to keep, in order.
        """
        self.write_sync(batch)

    def write_sync(self, batch: Sequence[Signal]) -> None:
        """Append the batch (no I/O, so this is the same as
        [`write`][telemetry.sinks.MemorySink.write]).

        Args:
            batch: The signals to keep, in order.
        """
        self.signals.extend(batch)
        if self.maxlen is not None and len(self.signals) > self.maxlen:
            excess = len(self.signals) - self.maxlen
            del self.signals[:excess]
            self.counters["discarded"] += excess

    def clear(self) -> None:
        """Forget every stored signal."""
        self.signals.clear()
