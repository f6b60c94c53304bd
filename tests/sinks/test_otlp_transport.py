"""What the OTLP sink's requests cost the application's loop, against the real receiver on
loopback (tests/sinks/otlp_receiver.py): few requests at a moderate steady rate, flushes and
closes that do not wait for gathering."""

from __future__ import annotations

from tests.conftest import needs

needs("httpx", "opentelemetry.proto")

import gc
from typing import Any

import anyio

import telemetry as tel
from telemetry.sinks import OTLPSink
from tests.conftest import assert_accounted
from tests.sinks.otlp_receiver import Receiver, receiving

#: Bounds every test: a hang is a failure, never a stuck run.
LIMIT_S = 30


def sink_for(rx: Receiver, **options: Any) -> OTLPSink:
    options.setdefault("env", {})
    options.setdefault("service_name", "shop")
    return OTLPSink(rx.endpoint, **options)


# -- gathering records into fewer requests ------------------------------------------------------


async def test_a_moderate_steady_rate_makes_few_requests() -> None:
    """Signals that keep coming a millisecond or so apart gather for up to the sink's linger
    (50 ms) before a request: at most one request per linger while they come, not one per
    record or two (each request costs the loop about as much as encoding a hundred records).
    The bound is taken from how long the 200 records took to come, which a busy machine
    stretches."""
    async with receiving() as rx:
        sink = sink_for(rx)
        hub = tel.Telemetry(handlers={"otlp": {"sink": sink, "mode": "blocking"}})
        with anyio.fail_after(LIMIT_S):
            async with hub:
                t0 = anyio.current_time()
                for i in range(200):
                    await hub.log("info", "tick", i=i)
                    await anyio.sleep(0.001)
                lingers = (anyio.current_time() - t0) / sink.linger
            stats = await hub.aclose()
    assert_accounted(stats)
    h = stats.handlers["otlp"]
    assert h.written == 200 and [r.attributes[0].value.int_value for r in rx.log_records()] == list(
        range(200)
    )
    # One request per linger while they came (200 ms or so on a quiet machine: about 4); the
    # first record and the next each go at once (one per worker: nothing gathers before a
    # first batch), and the close may find a batch for each worker. Sent a record or two at
    # a time, it would be 100 or more.
    assert h.sink_counters["requests"] == len(rx.requests) <= lingers + 4 < 100


async def test_a_flush_and_the_close_do_not_wait_for_the_gathering() -> None:
    """With a linger far longer than the test may take, a flush still returns once what was
    emitted before it is at the receiver, and the close ends the wait: the linger gives way
    to both."""
    async with receiving() as rx:
        sink = sink_for(rx)
        sink.linger = 3600.0
        hub = tel.Telemetry(handlers={"otlp": {"sink": sink, "mode": "blocking"}})
        with anyio.fail_after(LIMIT_S):
            async with hub:
                for i in range(3):  # from the second batch on, the worker lingers
                    await hub.log("info", "step", i=i)
                    await hub.flush()
                    assert len(rx.log_records()) == i + 1
                await hub.log("info", "last")
            stats = await hub.aclose()
    assert_accounted(stats)
    assert stats.handlers["otlp"].written == 4 and len(rx.log_records()) == 4


async def test_a_full_queue_ends_the_gathering() -> None:
    """Calls that wait for room in a small queue are not held up by a long linger: a full
    queue ends it, and every signal is written."""
    async with receiving() as rx:
        sink = sink_for(rx)
        sink.linger = 3600.0
        hub = tel.Telemetry(handlers={"otlp": {"sink": sink, "mode": "blocking", "buffer_size": 8}})
        with anyio.fail_after(LIMIT_S):
            async with hub:
                await hub.log("info", "first")
                await hub.flush()
                for i in range(100):
                    await hub.log("info", "burst", i=i)
            stats = await hub.aclose()
    assert_accounted(stats)
    assert stats.handlers["otlp"].written == 101 and len(rx.log_records()) == 101


# -- what a request leaves behind ------------------------------------------------------------------


async def test_a_request_leaves_no_cycle_for_the_garbage_collector() -> None:
    """Each request the sink sends is freed when it is done: nothing of it (httpx's response
    and its stream refer to each other) waits for the garbage collector, whose young
    collections would otherwise come sooner and promote what the app's requests in flight
    hold to the old generation."""
    async with receiving() as rx:
        sink = sink_for(rx)
        hub = tel.Telemetry(handlers={"otlp": {"sink": sink, "mode": "blocking"}})
        with anyio.fail_after(LIMIT_S):
            async with hub:
                await hub.log("info", "warm-up")
                await hub.flush()  # the connection is made, the modules are loaded
                gc.collect()
                gc.disable()
                gc.set_debug(gc.DEBUG_SAVEALL)
                try:
                    for i in range(5):
                        await hub.log("info", "step", i=i)
                        await hub.flush()
                    gc.collect()
                    left = [type(o).__module__ + "." + type(o).__qualname__ for o in gc.garbage]
                finally:
                    gc.set_debug(0)
                    gc.garbage.clear()
                    gc.enable()
            stats = await hub.aclose()
    assert_accounted(stats)
    assert stats.handlers["otlp"].sink_counters["requests"] >= 6
    assert [name for name in left if name.startswith(("httpx.", "httpcore."))] == []
