"""What the OTLP sink's requests cost the application's loop, against the real receiver on
loopback (tests/sinks/otlp_receiver.py): few requests at a moderate steady rate, flushes and
closes that do not wait for gathering, and connections opened ahead of the first batch."""

from __future__ import annotations

from tests.conftest import needs

needs("httpx", "opentelemetry.proto")

from typing import Any

import anyio
import pytest

import telemetry as tel
from telemetry.sinks import OTLPSink
from tests.conftest import assert_accounted
from tests.sinks.otlp_receiver import Receiver, receiving

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

#: Bounds every test: a hang is a failure, never a stuck run.
LIMIT_S = 30


def sink_for(rx: Receiver, **options: Any) -> OTLPSink:
    options.setdefault("env", {})
    options.setdefault("service_name", "shop")
    return OTLPSink(rx.endpoint, **options)


# -- gathering records into fewer requests ------------------------------------------------------


async def test_a_moderate_steady_rate_makes_few_requests() -> None:
    """Signals that keep coming a millisecond or so apart gather for up to the sink's linger
    (50 ms) before a request: a few requests for 200 records, not one per record or two
    (each request costs the loop about as much as encoding a hundred records)."""
    async with receiving() as rx:
        hub = tel.Telemetry(handlers={"otlp": {"sink": sink_for(rx), "mode": "blocking"}})
        with anyio.fail_after(LIMIT_S):
            async with hub:
                for i in range(200):
                    await hub.log("info", "tick", i=i)
                    await anyio.sleep(0.001)
            stats = await hub.aclose()
    assert_accounted(stats)
    h = stats.handlers["otlp"]
    assert h.written == 200 and [r.attributes[0].value.int_value for r in rx.log_records()] == list(
        range(200)
    )
    assert h.sink_counters["requests"] == len(rx.requests) <= 20


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


# -- connecting ahead ---------------------------------------------------------------------------


async def wait_for(condition: Any) -> None:
    """Let the loop run until ``condition()`` holds (the caller bounds the wait)."""
    while not condition():  # noqa: ASYNC110 - the receiver and the sink have no event
        await anyio.sleep(0.005)


async def test_opening_connects_ahead_and_the_first_batch_uses_those_connections() -> None:
    """Opening the sink opens its connections to the logs and traces endpoints before any
    signal, with a ``HEAD`` that carries no data (answered 405, as a collector does); the
    first batch's requests then go over them: no connection is opened on the loop under
    load."""
    async with receiving() as rx:
        hub = tel.Telemetry(
            handlers={
                "otlp": {"sink": sink_for(rx, signals=("logs", "traces")), "mode": "blocking"}
            }
        )
        with anyio.fail_after(LIMIT_S):
            async with hub:
                await wait_for(lambda: len(rx.probes) == 2)
                assert sorted(rx.probes) == [("HEAD", "/v1/logs"), ("HEAD", "/v1/traces")]
                opened = rx.connections
                assert 1 <= opened <= 2
                async with hub.span("work", level="info"):
                    await hub.log("info", "inside")
                await hub.flush()
                assert rx.connections == opened
            stats = await hub.aclose()
    assert_accounted(stats)
    assert stats.handlers["otlp"].written == 2
    assert (len(rx.log_records()), len(rx.spans()), rx.errors) == (1, 1, [])
    assert stats.handlers["otlp"].sink_counters["requests"] == 2


async def test_a_receiver_that_is_down_at_open_costs_nothing_until_it_is_back() -> None:
    """Connecting ahead to a receiver that is not up yet fails quietly: the hub opens, no
    signal is lost for it, and once the receiver is up the records arrive."""
    async with receiving() as rx:
        await rx.stop()
        sink = sink_for(rx)
        hub = tel.Telemetry(handlers={"otlp": {"sink": sink, "mode": "blocking"}})
        with anyio.fail_after(LIMIT_S):
            async with hub:
                ahead = sink._ahead
                await wait_for(lambda: ahead is not None and ahead.done())
                await rx.start()
                await hub.log("info", "after")
            stats = await hub.aclose()
    assert_accounted(stats)
    assert stats.handlers["otlp"].written == 1 and len(rx.log_records()) == 1
