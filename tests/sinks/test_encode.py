"""Encoding on the loop a slice at a time: the same bytes, bounded slices that adapt."""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest

from telemetry.formats import JsonFormat, LogfmtFormat, TextFormat
from telemetry.sinks import _encode
from telemetry.sinks._encode import Slicer
from telemetry.testing import make_signal


class Recording:
    """A real format that remembers the length of every slice it was given."""

    def __init__(self, inner: JsonFormat | TextFormat | LogfmtFormat) -> None:
        self.inner = inner
        self.name = inner.name
        self.slice_size = inner.slice_size
        self.slices: list[int] = []

    def encode_batch(self, batch: list[object]) -> bytes:
        """Remember, then encode."""
        self.slices.append(len(batch))
        return self.inner.encode_batch(batch)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [JsonFormat, TextFormat, LogfmtFormat])
async def test_slices_give_the_same_bytes_as_one_encode(
    make: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Encoded in slices of the format's slice_size, a batch is byte for byte what one
    encode_batch call gives."""
    monkeypatch.setattr(_encode, "SLICE_BUDGET_S", math.inf)  # no slice counts as slow
    batch = [make_signal("m", data={"i": i, "s": "a b"}) for i in range(make.slice_size * 3 + 7)]
    fmt = Recording(make())
    data = await Slicer().encode(fmt, batch)  # type: ignore[arg-type]
    assert data == make().encode_batch(batch)
    assert fmt.slices == [fmt.slice_size] * 3 + [7]


async def test_slow_slices_halve_down_to_one_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slice slower than SLICE_BUDGET_S halves the next, down to one signal; every signal is
    still encoded once, in order."""
    monkeypatch.setattr(_encode, "SLICE_BUDGET_S", -1.0)  # every slice counts as slow
    fmt = Recording(TextFormat())
    batch = [make_signal("m", data={"i": i}) for i in range(1100)]
    slicer = Slicer()
    data = await slicer.encode(fmt, batch)  # type: ignore[arg-type]
    assert fmt.slices[:5] == [512, 256, 128, 64, 32]
    assert fmt.slices[-1] == 1 and slicer.size == 1
    assert sum(fmt.slices) == 1100
    assert data == TextFormat().encode_batch(batch)


async def test_quick_slices_grow_back_to_the_format_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """After slow slices, quick ones double the size again, never past slice_size."""
    fmt = Recording(LogfmtFormat())
    slicer = Slicer()
    slicer.size = 4
    monkeypatch.setattr(_encode, "SLICE_BUDGET_S", 3600.0)  # every slice counts as quick
    await slicer.encode(fmt, [make_signal("m") for _ in range(2000)])  # type: ignore[arg-type]
    assert fmt.slices[:5] == [4, 8, 16, 32, 64]
    assert max(fmt.slices) == fmt.slice_size
    assert slicer.size == fmt.slice_size


async def test_each_slice_is_its_own_loop_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first slice is encoded at once, and another task runs between any two slices."""
    # Slices keep their size whatever the machine's speed: a slow first slice on a busy
    # machine halved the rest, which is tested apart (and made this test depend on time).
    monkeypatch.setattr(_encode, "SLICE_BUDGET_S", math.inf)
    fmt = Recording(JsonFormat())
    seen: list[int] = []
    stop = asyncio.Event()

    async def other() -> None:
        while not stop.is_set():
            seen.append(len(fmt.slices))
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await Slicer().encode(fmt, [make_signal("m") for _ in range(fmt.slice_size * 5)])  # type: ignore[arg-type]
    stop.set()
    await task
    assert seen[0] == 1  # the first slice did not wait for a turn of the loop
    assert all(b - a in (0, 1) for a, b in itertools.pairwise(seen))  # a slice per turn at most
    assert set(range(1, 5)) <= set(seen) and len(fmt.slices) == 5


async def test_two_batches_in_one_step_take_two_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second batch encoded in the same loop step as the first (a worker that finds its queue
    full again) waits for the next step: still one slice per step."""
    monkeypatch.setattr(_encode, "SLICE_BUDGET_S", math.inf)
    fmt = Recording(TextFormat())
    slicer = Slicer()
    steps = 0
    stop = asyncio.Event()

    async def count_steps() -> None:
        nonlocal steps
        while not stop.is_set():
            steps += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count_steps())
    await asyncio.sleep(0)  # the counter has started
    before = steps
    await slicer.encode(fmt, [make_signal("a")])  # type: ignore[arg-type]
    await slicer.encode(fmt, [make_signal("b")])  # type: ignore[arg-type]
    between = steps - before
    stop.set()
    await counter
    assert fmt.slices == [1, 1]
    assert between >= 1
