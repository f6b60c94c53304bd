"""Encoding a batch on the event loop a slice at a time, so that no step of the loop is long.

A batch of 1,024 signals costs about 0.25 ms as JSON lines but 2.5 ms as text and 3.5 ms as
logfmt, and more with larger values: encoded in one go it would be one long callback that
holds up every other task of the application. A :class:`Slicer` encodes at most the
format's ``slice_size`` signals per step of the loop and yields before each slice. When one slice
still takes longer than :data:`SLICE_BUDGET_S` (large values), the next slices are made
smaller, down to one signal; they grow back when slices are quick again.

Encoding stays on the loop's thread on purpose: in a thread it would hold the GIL in turns
with the loop, and every switch makes the other side wait up to the interpreter's switch
interval (5 ms), which is exactly the stall this module exists to avoid.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from .._signal import Signal
from ..formats import Format

__all__ = ["SLICE_BUDGET_S", "Slicer"]

#: The time one slice should take at most; a slower one halves the slices that follow, a
#: much quicker one doubles them again (up to the format's ``slice_size``). Well under the
#: 5 ms that asyncio's debug mode calls slow, on a slower machine too.
SLICE_BUDGET_S = 0.002


class Slicer:
    """Encodes one sink's batches, at most ``fmt.slice_size`` signals per step of the loop.

    The slice size it has learnt (smaller after slow slices) is kept from batch to batch: the
    signals of one application tend to look alike.
    """

    def __init__(self) -> None:
        #: Signals per slice now: the format's ``slice_size`` or less (``None``: not yet known).
        self.size: int | None = None

    async def encode(self, fmt: Format, batch: Sequence[Signal]) -> bytes:
        """The batch encoded as ``fmt.encode_batch(batch)`` would, a slice per loop step.

        It yields before every slice, the first one included: a worker whose queue holds more
        than a batch takes the next batch as soon as a write returns, without a turn of the
        loop in between, and would otherwise run batch after batch in one step.
        """
        n = len(batch)
        parts = []
        start = 0
        while start < n:
            await asyncio.sleep(0)  # the loop runs other callbacks between two slices
            end = start + self._size(fmt)
            parts.append(self._timed(fmt, batch[start:end]))
            start = end
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def _size(self, fmt: Format) -> int:
        limit = fmt.slice_size
        size = self.size
        return limit if size is None or size > limit else size

    def _timed(self, fmt: Format, part: Sequence[Signal]) -> bytes:
        t0 = time.perf_counter()
        data = fmt.encode_batch(part)
        took = time.perf_counter() - t0
        size = self._size(fmt)
        if took > SLICE_BUDGET_S and len(part) > 1:
            self.size = max(1, min(size, len(part)) // 2)
        elif took < SLICE_BUDGET_S / 2 and len(part) >= size:
            self.size = min(fmt.slice_size, size * 2)
        return data
