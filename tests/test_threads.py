"""Signals from other threads: handed to the loop, never blocking it, never lost uncounted."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import anyio
import pytest

from telemetry import Signal, Telemetry
from telemetry.sinks import MemorySink

from ._sinks import GatedOpeningSink, GatedSink, SlowSink
from .conftest import assert_accounted, needs

THREADS = 8
PER_THREAD = 50_000
FROM_LOOP = 20_000


async def run_threads_and_loop(hub: Telemetry) -> None:
    """8 threads emit 50,000 signals each while the loop emits 20,000 of its own."""
    start = threading.Barrier(THREADS + 1)

    def producer(t: int) -> None:
        start.wait()
        for i in range(PER_THREAD):
            hub.log_nowait("info", "thread", t=t, i=i)

    threads = [threading.Thread(target=producer, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    await asyncio.to_thread(start.wait)
    for i in range(FROM_LOOP):
        await hub.log("info", "loop", t=-1, i=i)
        if i % 100 == 0:
            await asyncio.sleep(0)
    await asyncio.to_thread(lambda: [th.join() for th in threads])


@pytest.mark.parametrize("delay", [0.0, 0.001])
async def test_blocking_mode_loses_nothing_from_threads(delay: float) -> None:
    """Blocking mode: every signal from 8 threads and from the loop is written, in order per
    thread; a slow sink makes the threads wait, not the loop, and not lose."""
    sink = SlowSink(delay=delay)
    hub = Telemetry(
        handlers={"s": {"sink": sink, "mode": "blocking", "buffer_size": 4096, "batch_size": 1024}}
    )
    async with hub:
        await run_threads_and_loop(hub)
    stats = hub.stats()
    h = stats.handlers["s"]
    total = THREADS * PER_THREAD + FROM_LOOP
    assert (h.emitted, h.written, h.dropped) == (total, total, {})
    assert_accounted(stats)
    per_thread: dict[int, list[int]] = {}
    for sig in sink.signals:
        per_thread.setdefault(sig.data["t"], []).append(sig.data["i"])
    for t in range(THREADS):
        assert per_thread[t] == list(range(PER_THREAD)), f"thread {t} out of order or lossy"
    assert per_thread[-1] == list(range(FROM_LOOP))
    assert all(s.thread is not None for s in sink.signals if s.data["t"] >= 0)


async def test_dropping_mode_accounts_for_every_thread_signal() -> None:
    """Dropping mode: what does not fit is counted as queue_full, exactly."""
    sink = SlowSink(delay=0.002)
    hub = Telemetry(
        handlers={"s": {"sink": sink, "mode": "dropping", "buffer_size": 512, "batch_size": 128}}
    )
    async with hub:
        await run_threads_and_loop(hub)
    stats = hub.stats()
    h = stats.handlers["s"]
    assert h.emitted == THREADS * PER_THREAD + FROM_LOOP
    assert h.written == len(sink.signals)
    assert h.dropped_total > 0
    assert set(h.dropped) == {"queue_full"}
    assert_accounted(stats)


async def test_thread_signals_emitted_before_close_are_written() -> None:
    """Signals handed over by a thread just before aclose() are accepted and written."""
    sink = MemorySink()
    hub = Telemetry(handlers={"m": {"sink": sink, "buffer_size": 10_000}})
    async with hub:
        await asyncio.to_thread(lambda: [hub.log_nowait("info", "t", i=i) for i in range(5000)])
    assert len(sink.signals) == 5000
    assert_accounted(hub.stats())


async def test_a_thread_never_sees_an_error_after_close() -> None:
    """A thread emitting after the hub closed gets no exception; the signal counts as closed."""
    sink = MemorySink()
    hub = Telemetry(handlers={"m": sink})
    async with hub:
        pass
    await asyncio.to_thread(hub.log_nowait, "info", "late")
    assert hub.stats().handlers["m"].dropped == {"closed": 1}


async def test_close_while_thread_signals_wait_for_room_counts_each_once() -> None:
    """Threads flooding a blocking handler whose sink is stuck, then a close that times out:
    every signal is counted exactly once (written, closed or timeout), and close returns."""
    sink = SlowSink(delay=0.05)
    hub = Telemetry(
        handlers={"s": {"sink": sink, "mode": "blocking", "buffer_size": 16, "batch_size": 4}}
    )
    async with hub:
        await asyncio.to_thread(lambda: [hub.log_nowait("info", "t", i=i) for i in range(400)])
        stats = await hub.aclose(timeout=0.2)
    h = stats.handlers["s"]
    assert h.emitted == 400
    assert h.written == len(sink.signals)
    assert_accounted(stats)


async def test_a_handler_added_and_removed_at_once_closes_its_sink() -> None:
    """A handler removed while its sink is still opening ends with the sink closed, by the
    time remove_handler returns, and what it queued is written."""
    sink = GatedOpeningSink()
    async with Telemetry(handlers={"m": MemorySink()}) as hub:
        hub.add_handler("late", sink)
        await sink.opening.wait()
        hub.log_nowait("info", "queued while opening")
        removing = asyncio.create_task(hub.remove_handler("late"))
        while "late" in hub.handlers:  # noqa: ASYNC110 - until the removal began
            await asyncio.sleep(0)
        assert sink.state == "new"  # removed while the sink is still opening
        sink.gate.set()
        stats = await removing
        assert sink.state == "closed"
    assert [s.msg for s in sink.signals] == ["queued while opening"]
    assert (stats.emitted, stats.written, stats.dropped_total) == (1, 1, 0)


@pytest.mark.parametrize("mode", ["blocking", "backpressure"])
async def test_a_thread_signal_arriving_while_one_is_parked_goes_behind_it(mode: str) -> None:
    """A thread emits A while the queue (1 signal) is full, so A parks and a pump waits for
    room with it in hand. The worker takes a signal, which makes room, and B and C are
    delivered before the pump lets A in: they must still queue behind A, and the sink
    receives W X A B C (once, B went first)."""
    sink = GatedSink()
    hub = Telemetry(handlers={"s": {"sink": sink, "mode": mode, "buffer_size": 1, "batch_size": 1}})

    def emit(*msgs: str) -> None:
        t = threading.Thread(target=lambda: [hub.log_nowait("info", m) for m in msgs])
        t.start()
        t.join()

    def when_x_is_taken(batch: Sequence[Signal]) -> None:
        if batch[0].msg == "X":  # room was just made; the pump has not run yet
            emit("B", "C")
            hub._bridge.drain()

    async with hub:
        await hub.log("info", "W")
        await sink.entered.wait()  # the worker holds W in write()
        hub.log_nowait("info", "X")  # the queue is full
        emit("A")
        while not hub.handlers["s"].intake.pumping:  # noqa: ASYNC110 - handed over, then parked
            await asyncio.sleep(0)
        sink.on_write = when_x_is_taken
        sink.gate.set()
        with anyio.fail_after(10):  # a guard against a hang, not a timing
            while len(sink.signals) < 5:  # noqa: ASYNC110 - written within the block
                await asyncio.sleep(0)
    assert [s.msg for s in sink.signals] == ["W", "X", "A", "B", "C"]
    assert_accounted(hub.stats())


async def test_threads_are_not_held_up_for_long_by_a_stuck_sink() -> None:
    """The default mode with a sink whose write never returns: 4 threads emitting 10,000
    signals each all finish, the loop keeps running, and after aclose(timeout=...) every
    signal is accounted for (written, stalled, or timed out)."""
    sink = GatedSink()
    hub = Telemetry(handlers={"s": {"sink": sink, "buffer_size": 64, "max_wait": 0.02}})

    def producer(t: int) -> None:
        for i in range(10_000):
            hub.log_nowait("info", "thread", t=t, i=i)

    async with hub:
        threads = [threading.Thread(target=producer, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        with anyio.fail_after(60):  # a guard against a hang, not a timing
            await asyncio.to_thread(lambda: [th.join() for th in threads])
        await hub.aclose(timeout=0.5)
    h = hub.stats().handlers["s"]
    assert h.emitted == 40_000 == h.written + h.dropped_total
    assert h.dropped.get("stalled", 0) > 0


async def test_a_thread_signal_parked_in_the_loops_callback_starts_its_pump_with_sniffio() -> None:
    """With sniffio installed (many applications have it; anyio then asks it which event loop
    runs, and it can tell only inside a task), a signal from another thread that must wait for
    room is handed over in a plain callback of the loop and still starts its handler's pump:
    every signal is written once the sink moves, and nothing hangs."""
    needs("sniffio")
    sink = GatedSink()
    hub = Telemetry(
        handlers={"s": {"sink": sink, "mode": "blocking", "buffer_size": 4, "batch_size": 4}}
    )
    async with hub:
        await hub.log("info", "first")  # the worker takes it and waits at the gate
        await sink.entered.wait()
        await asyncio.to_thread(lambda: [hub.log_nowait("info", "t", i=i) for i in range(20)])
        for _ in range(10):  # the hand-over callback runs, parks what does not fit
            await asyncio.sleep(0)
        sink.gate.set()
    h = hub.stats().handlers["s"]
    assert (h.emitted, h.written, h.dropped) == (21, 21, {})
    assert [s.data["i"] for s in sink.signals[1:]] == list(range(20))
