"""Encoding a batch on the event loop a slice at a time, so that no step of the loop is long.

A batch of 1,024 signals costs about 0.25 ms as JSON lines but 2.5 ms as text and 3.5 ms as
logfmt, and more with larger values: encoded in one go it would be one long callback that
holds up every other task of the application. A `Slicer` encodes at most the format's
``slice_size`` signals per step of the loop: before a slice it yields to the loop if a slice
was already encoded in that step. When one slice still takes longer than
`SLICE_BUDGET_S` (large values), the next slices are made smaller, down to one signal;
they grow back when slices are quick again.

A slice with a signal that carries a huge string is encoded a signal at a time, and the string
a piece at a time with the same pauses (`telemetry.sinks._huge`); the parts of such a
batch are joined in a worker thread when they are large (`JOIN_IN_THREAD_BYTES`).

Encoding stays on the loop's thread on purpose: in a thread it would hold the GIL in turns
with the loop, and every switch makes the other side wait up to the interpreter's switch
interval (5 ms), which is exactly the stall this module exists to avoid.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from .._offload import off_loop
from .._signal import Signal
from ..formats import HUGE_VALUE_CHARS, Format, HugeValue
from ._huge import encode_huge

__all__ = ["JOIN_IN_THREAD_BYTES", "SLICE_BUDGET_S", "Slicer"]

SLICE_BUDGET_S = 0.002
"""The time one slice should take at most; a slower one halves the slices that follow, one under a
quarter of it doubles them again (up to the format's ``slice_size``), so that a size that was
once too slow is not tried again at once. Well under the 5 ms that asyncio's debug mode calls
slow: the step that encodes the last slice also writes the batch."""
JOIN_IN_THREAD_BYTES = 1024 * 1024
"""Parts of a batch with huge values that add up to more than this are joined in a worker
thread: one hop, in which CPython's `bytes.join` copies without holding the GIL."""
_HUGE = HUGE_VALUE_CHARS


class Slicer:
    """Encodes one sink's batches, at most ``fmt.slice_size`` signals per step of the loop.

    The slice size it has learnt (smaller after slow slices) is kept from batch to batch: the
    signals of one application tend to look alike.
    """

    def __init__(self) -> None:
        self.size: int | None = None
        """Signals per slice now: the format's ``slice_size`` or less (``None``: not yet known)."""
        # The loop in whose current step a slice was encoded; None once that step is over.
        self._spent_in: asyncio.AbstractEventLoop | None = None

    async def encode(self, fmt: Format, batch: Sequence[Signal]) -> bytes:
        """The batch encoded as ``fmt.encode_batch(batch)`` would, one slice per loop step.

        A slice is encoded at once if no slice was encoded yet in this step of the loop, so a
        batch of one slice costs no extra turn; otherwise the loop runs other callbacks first.
        The check matters between batches too: a worker whose queue holds more than a batch
        takes the next one as soon as a write on the loop returns, with no turn in between,
        and several workers may share the sink.
        """
        n = len(batch)
        parts: list[bytes] = []
        huge = False
        start = 0
        while start < n:
            # A turn of the loop is what is waited for, not an event: nothing sets one.
            while self._spent_in is asyncio.get_running_loop():  # noqa: ASYNC110
                await asyncio.sleep(0)
            end = start + self._size(fmt)
            part = batch[start:end]
            try:
                parts.append(self._timed(fmt, part))
            except HugeValue:
                huge = True
                await self._heavy(fmt, part, parts)
            start = end
        if len(parts) == 1:
            return parts[0]
        if huge and sum(map(len, parts)) > JOIN_IN_THREAD_BYTES:
            # Copying megabytes takes milliseconds; CPython lets go of the GIL meanwhile.
            return await off_loop(b"".join, parts, abandon_on_cancel=True)
        return b"".join(parts)

    async def _heavy(self, fmt: Format, part: Sequence[Signal], parts: list[bytes]) -> None:
        """A slice with a huge string: a signal at a time, each huge string a piece at a time,
        letting the loop run whenever this step has had `SLICE_BUDGET_S` (the slice's
        encoding that found it is not counted: it stopped at that signal)."""
        loop = asyncio.get_running_loop()
        since = time.perf_counter()

        async def pace() -> None:
            nonlocal since
            if time.perf_counter() - since > SLICE_BUDGET_S:
                await asyncio.sleep(0)
                since = time.perf_counter()

        for sig in part:
            await pace()
            parts.extend(await encode_huge(fmt, sig, pace))
        if self._spent_in is not loop:
            self._spend()

    def _spend(self) -> None:
        """Note that this step of the loop has had its slice."""
        loop = asyncio.get_running_loop()
        if self._spent_in is not loop:
            self._spent_in = loop
            # Runs at the start of the next step, before anything that yielded after this.
            loop.call_soon(self._step_over)

    def _step_over(self) -> None:
        self._spent_in = None

    def _size(self, fmt: Format) -> int:
        limit = fmt.slice_size
        size = self.size
        return limit if size is None or size > limit else size

    def _timed(self, fmt: Format, part: Sequence[Signal]) -> bytes:
        t0 = time.perf_counter()
        encode_slice = getattr(fmt, "encode_slice", None)
        data = fmt.encode_batch(part) if encode_slice is None else encode_slice(part, _HUGE)
        took = time.perf_counter() - t0
        size = self._size(fmt)
        if took > SLICE_BUDGET_S and len(part) > 1:
            self.size = max(1, min(size, len(part)) // 2)
        elif took < SLICE_BUDGET_S / 4 and len(part) >= size:
            self.size = min(fmt.slice_size, size * 2)
        self._spend()
        return data
