"""Overflow modes, back-pressure, sink failures and the accounting invariant."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import anyio
import msgspec
import pytest

import telemetry as tel
from telemetry import ConfigError, Telemetry
from telemetry.sinks import FileSink, MemorySink

from ._sinks import FlakySink, GatedSink, SlowSink
from .conftest import assert_accounted

N = 200_000


@pytest.mark.parametrize("mode", ["dropping", "blocking", "sliding"])
async def test_accounting_is_exact_with_a_slow_sink(mode: str) -> None:
    """200,000 signals into a slow sink: emitted == written + dropped, exactly, in every mode;
    the sink holds exactly the written signals; the caller never sees an error."""
    sink = SlowSink(delay=0.002)
    hub = Telemetry(
        handlers={"slow": {"sink": sink, "mode": mode, "buffer_size": 1024, "batch_size": 512}}
    )
    async with hub:
        for i in range(N):
            await hub.log("info", "x", i=i)
            if i % 1000 == 0:
                await asyncio.sleep(0)  # an app that yields now and then
    stats = hub.stats()
    h = stats.handlers["slow"]
    assert_accounted(stats)
    assert h.emitted == N
    assert h.written == len(sink.signals)
    if mode == "blocking":
        assert h.dropped == {} and h.written == N
        assert [s.data["i"] for s in sink.signals] == list(range(N))
    elif mode == "dropping":
        assert set(h.dropped) == {"queue_full"} and h.written < N
        # dropping keeps the oldest queued: what is written is in order, with gaps
        written = [s.data["i"] for s in sink.signals]
        assert written == sorted(written)
    else:
        assert set(h.dropped) == {"evicted"} and h.written < N
        written = [s.data["i"] for s in sink.signals]
        assert written == sorted(written)
        assert written[-1] == N - 1, "sliding keeps the newest"


async def test_blocking_mode_applies_back_pressure_to_the_caller() -> None:
    """In blocking mode an awaited call waits for room; the queue never exceeds its size."""
    sink = SlowSink(delay=0.01)
    async with Telemetry(
        handlers={"s": {"sink": sink, "mode": "blocking", "buffer_size": 8, "batch_size": 4}}
    ) as hub:
        for i in range(40):
            await hub.log("info", "x", i=i)
        assert hub.stats().handlers["s"].peak_queued <= 8
    assert len(sink.signals) == 40


async def test_nowait_in_blocking_mode_drops_instead_of_blocking_the_loop() -> None:
    """The *_nowait form never waits: with a full blocking queue it counts queue_full."""
    sink = MemorySink()
    async with Telemetry(
        handlers={"b": {"sink": sink, "mode": "blocking", "buffer_size": 5}}
    ) as hub:
        for i in range(12):
            hub.log_nowait("info", "x", i=i)
    h = hub.stats().handlers["b"]
    assert (h.written, h.dropped) == (5, {"queue_full": 7})
    assert [s.data["i"] for s in sink.signals] == [0, 1, 2, 3, 4]


async def test_sliding_mode_drops_the_oldest() -> None:
    """Sliding mode evicts the oldest queued signal to make room for the new one."""
    sink = MemorySink()
    async with Telemetry(
        handlers={"s": {"sink": sink, "mode": "sliding", "buffer_size": 3}}
    ) as hub:
        for i in range(10):
            hub.log_nowait("info", "x", i=i)
        await hub.flush()
    assert [s.data["i"] for s in sink.signals] == [7, 8, 9]
    assert hub.stats().handlers["s"].dropped == {"evicted": 7}


async def test_a_failing_sink_is_retried_then_its_batch_counted() -> None:
    """A sink that raises is retried with backoff; a batch still failing is dropped as
    sink_error; other handlers are unaffected; the caller never sees the exception."""
    flaky = FlakySink(failing=True)
    good = MemorySink()
    hub = Telemetry(
        handlers={
            "flaky": {"sink": flaky, "max_retries": 2, "retry_backoff": 0.001},
            "good": good,
        }
    )
    async with hub:
        for i in range(5):  # queued before the worker runs: one batch of 5
            hub.log_nowait("info", "x", i=i)
        await hub.flush()
    stats = hub.stats()
    f = stats.handlers["flaky"]
    assert f.dropped == {"sink_error": 5} and f.written == 0
    assert f.errors == flaky.attempts == 3  # the first attempt and max_retries=2 more
    assert f.retries == 2
    assert len(good.signals) == 5
    assert_accounted(stats)


async def test_a_sink_that_recovers_loses_nothing() -> None:
    """A sink failing twice then working writes every signal once (retries succeed)."""
    flaky = FlakySink(fail_times=2)
    async with Telemetry(
        handlers={"f": {"sink": flaky, "max_retries": 3, "retry_backoff": 0.001}}
    ) as hub:
        for i in range(20):
            hub.log_nowait("info", "x", i=i)
    h = hub.stats().handlers["f"]
    assert h.written == 20 and h.dropped == {} and h.errors == 2 and h.retries == 2
    assert [s.data["i"] for s in flaky.signals] == list(range(20))


async def test_aclose_timeout_counts_what_could_not_be_written() -> None:
    """A sink too slow for the close timeout: the rest is counted as 'timeout', exactly."""
    sink = SlowSink(delay=0.2)
    hub = Telemetry(handlers={"s": {"sink": sink, "batch_size": 1}})
    async with hub:
        for i in range(50):
            hub.log_nowait("info", "x", i=i)
        stats = await hub.aclose(timeout=0.3)
    h = stats.handlers["s"]
    assert h.dropped.get("timeout", 0) > 0
    assert h.written == len(sink.signals) < 50
    assert_accounted(stats)


async def test_sync_handlers_write_inline() -> None:
    """sync=True writes before the awaited call returns (for debugging)."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": {"sink": sink, "sync": True}}) as hub:
        await hub.log("info", "one")
        assert [s.msg for s in sink.signals] == ["one"]
        hub.log_nowait("info", "two")
        assert [s.msg for s in sink.signals] == ["one", "two"]
    assert_accounted(hub.stats())


async def test_telemetry_sync_env_forces_every_handler_inline() -> None:
    """TELEMETRY_SYNC=1 makes every handler synchronous."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}, env={"TELEMETRY_SYNC": "1"}) as hub:
        await hub.log("info", "one")
        assert len(sink.signals) == 1


async def test_several_workers_share_one_queue() -> None:
    """workers=N runs N tasks on the handler's queue; everything is written once."""
    sink = SlowSink(delay=0.001)
    async with Telemetry(
        handlers={"s": {"sink": sink, "workers": 4, "mode": "blocking", "batch_size": 8}}
    ) as hub:
        for i in range(2000):
            await hub.log("info", "x", i=i)
    assert sorted(s.data["i"] for s in sink.signals) == list(range(2000))
    assert_accounted(hub.stats())


# -- the default: backpressure, bounded by max_wait --------------------------------------------


async def test_the_default_loses_nothing_in_a_loop_that_never_yields(tmp_path: Path) -> None:
    """With the defaults, a loop of awaited calls that awaits nothing else writes every signal
    to a real file: a full queue makes the call wait for the worker instead of dropping."""
    path = tmp_path / "flood.jsonl"
    async with Telemetry(handlers={"f": FileSink(path)}) as hub:
        for i in range(20_000):
            await tel.log("info", "request handled", user_id=i, path="/x", ms=1.5)
    h = hub.stats().handlers["f"]
    assert (h.mode, h.written, h.dropped) == ("backpressure", 20_000, {})
    lines = path.read_bytes().splitlines()
    assert [msgspec.json.decode(line)["data"]["user_id"] for line in lines] == list(range(20_000))


async def test_a_stuck_sink_costs_one_bounded_wait_then_drops_at_once() -> None:
    """A sink whose write never returns: the call that first finds the queue full waits for
    max_wait and counts its signal as stalled; the calls after it do not wait for the sink
    (one turn of the loop each) and count theirs; after aclose(timeout=...) emitted = written
    + dropped."""
    sink = GatedSink()
    hub = Telemetry(handlers={"s": {"sink": sink, "buffer_size": 4, "max_wait": 0.05}})
    async with hub:
        await hub.log("info", "taken by the worker")
        await sink.entered.wait()  # the worker is stuck in write() with one signal
        for i in range(4):
            assert hub.log_nowait("info", "fills the queue", i=i)
        await hub.log("info", "waits")
        assert hub.stats().handlers["s"].dropped == {"stalled": 1}
        # Were each call to wait max_wait, these would take 50 s: the guard is 100 waits.
        with anyio.fail_after(5):
            for i in range(1000):
                assert await hub.log("info", "while stuck", i=i) is True
        assert hub.stats().handlers["s"].dropped == {"stalled": 1001}
        assert hub.log_nowait("info", "nowait never waits") is True
        await hub.aclose(timeout=0.2)
    h = hub.stats().handlers["s"]
    assert h.dropped["stalled"] == 1001 and h.dropped["queue_full"] == 1
    assert h.emitted == 1007 == h.written + h.dropped_total


async def test_calls_wait_again_once_a_stuck_sink_moves() -> None:
    """After a stall, the first batch the worker takes ends it: later calls wait for room
    again and lose nothing."""
    sink = GatedSink()
    async with Telemetry(
        handlers={"s": {"sink": sink, "buffer_size": 2, "batch_size": 2, "max_wait": 0.02}}
    ) as hub:
        await hub.log("info", "first")
        await sink.entered.wait()
        for i in range(3):
            await hub.log("info", "stuck", i=i)  # 2 queued, the third stalls
        sink.gate.set()
        for i in range(500):
            await hub.log("info", "flowing", i=i)
    h = hub.stats().handlers["s"]
    assert h.dropped == {"stalled": 1}
    assert [s.data["i"] for s in sink.signals if s.msg == "flowing"] == list(range(500))


@pytest.mark.parametrize("bad", [0, -1, float("inf"), "1", True])
def test_max_wait_must_be_a_positive_number_of_seconds(bad: object) -> None:
    """max_wait is validated when the handler is added, naming the parameter."""
    with pytest.raises(ConfigError, match="max_wait must be a number of seconds > 0"):
        Telemetry(handlers={"s": {"sink": MemorySink(), "max_wait": bad}})


async def test_a_steady_trickle_is_written_in_gathered_batches() -> None:
    """Signals that keep coming one per loop turn are written in batches of many, not one
    write per signal or two (the worker lets a small batch gather); nothing is lost."""
    sink = MemorySink()
    n = 2000
    async with Telemetry(handlers={"m": sink}) as hub:
        for i in range(n):
            await hub.log("info", "tick", i=i)
            await asyncio.sleep(0)  # another callback's turn, as in a server
    stats = hub.stats()
    assert_accounted(stats)
    assert [s.data["i"] for s in sink.signals] == list(range(n))
    assert stats.handlers["m"].batches * 4 <= n


async def test_signals_that_came_during_a_slow_write_gather_for_the_next_batch() -> None:
    """After a write that took long (a busy loop, a slow receiver), the few signals that came
    meanwhile are not taken at once: the next batch gathers (until the sink's ``linger_below``
    wait, a flush or the close), so that a dear write is not spent on a handful of signals."""
    sink = GatedSink()
    sink.linger = 60.0  # only the flush below ends the gathering
    sink.linger_below = 64
    sizes: list[int] = []
    sink.on_write = lambda batch: sizes.append(len(batch))
    async with Telemetry(handlers={"g": sink}) as hub:
        await hub.log("info", "first")
        with anyio.fail_after(10):
            await sink.entered.wait()  # the worker writes the first signal alone
        for i in range(10):
            await hub.log("info", "during", i=i)
        sink.gate.set()  # the write ends with ten signals waiting
        for _ in range(50):
            await asyncio.sleep(0)
        for i in range(5):
            await hub.log("info", "after", i=i)
        await hub.flush()
        assert sizes == [1, 15]
    assert_accounted(hub.stats())


async def test_a_linger_ends_once_enough_signals_wait() -> None:
    """A gathering batch is taken once ``linger_below`` signals wait, however long the sink's
    linger: the calls behind it never wait for the gathering."""
    sink = GatedSink()
    sink.gate.set()
    sink.linger = 60.0
    sink.linger_below = 8
    sizes: list[int] = []
    taken = asyncio.Event()

    def on_write(batch: Sequence[object]) -> None:
        sizes.append(len(batch))
        if sum(sizes) >= 10:
            taken.set()

    sink.on_write = on_write
    async with Telemetry(handlers={"g": sink}) as hub:
        await hub.log("info", "first")
        await hub.flush()
        await hub.log("info", "second")  # taken alone: no batch before it was recent
        await hub.flush()
        with anyio.fail_after(10):
            # The worker lingers from here (a small batch was just written) for up to 60 s.
            for i in range(8):
                await hub.log("info", "more", i=i)
            await taken.wait()  # taken by the worker, with no flush asking for it
        assert sizes == [1, 1, 8]
    assert_accounted(hub.stats())


async def test_a_dropping_handler_does_not_let_batches_gather() -> None:
    """In dropping mode a worker never waits for more (a full queue would drop): a trickle is
    taken as it comes."""
    sink = MemorySink()
    n = 300
    async with Telemetry(handlers={"m": {"sink": sink, "mode": "dropping"}}) as hub:
        for i in range(n):
            await hub.log("info", "tick", i=i)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
    stats = hub.stats()
    assert_accounted(stats)
    assert len(sink.signals) == n
    assert stats.handlers["m"].batches * 2 > n
