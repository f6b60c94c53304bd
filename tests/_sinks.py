"""Sinks with controllable behaviour, next to (never instead of) the real sinks' tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import anyio

from telemetry import Signal
from telemetry.sinks import MemorySink


class SlowSink(MemorySink):
    """A memory sink that takes ``delay`` seconds per batch, like a slow disk or network."""

    kind = "slow"

    def __init__(self, delay: float = 0.05) -> None:
        super().__init__()
        self.delay = delay
        self.batch_sizes: list[int] = []

    async def write(self, batch: Sequence[Signal]) -> None:
        """Sleep, then keep the batch."""
        await anyio.sleep(self.delay)
        self.batch_sizes.append(len(batch))
        self.signals.extend(batch)


class FlakySink(MemorySink):
    """A memory sink whose writes raise while ``failing`` is true (or for ``fail_times`` writes)."""

    kind = "flaky"

    def __init__(self, fail_times: int = 0, *, failing: bool = False) -> None:
        super().__init__()
        self.fail_times = fail_times
        self.failing = failing
        self.attempts = 0

    async def write(self, batch: Sequence[Signal]) -> None:
        """Raise OSError when told to, else keep the batch."""
        self.attempts += 1
        if self.failing or self.fail_times > 0:
            self.fail_times -= 1
            raise OSError(28, "No space left on device")
        self.signals.extend(batch)


class GatedOpeningSink(MemorySink):
    """A memory sink whose ``open`` waits for ``gate``, like a connection being made; ``opening``
    is set once it started."""

    kind = "gated-open"

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.opening = asyncio.Event()

    async def open(self) -> None:
        """Wait for the gate, then open."""
        self.opening.set()
        await self.gate.wait()
        await super().open()


class GatedSink(MemorySink):
    """A memory sink whose writes wait for ``gate`` (a sink that hangs until told); ``on_write``
    runs first, synchronously, with each batch (the worker has just taken it)."""

    kind = "gated"

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.on_write: Callable[[Sequence[Signal]], None] | None = None

    async def write(self, batch: Sequence[Signal]) -> None:
        """Run ``on_write``, then wait for the gate, then keep the batch."""
        if self.on_write is not None:
            self.on_write(batch)
        self.entered.set()
        await self.gate.wait()
        self.signals.extend(batch)
