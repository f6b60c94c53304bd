"""What closing an OTLP sink leaves behind, against the real receiver on loopback
(tests/sinks/otlp_receiver.py): no connection open, whatever the close interrupts.

A connection left open is counted twice over: as a socket this process still holds to the
receiver's port (Linux's /proc, before any garbage collection), and as the ResourceWarning the
garbage collector gives when it frees one (this module does not ignore them)."""

from __future__ import annotations

from tests.conftest import needs

needs("httpx", "opentelemetry.proto")

import gc
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import telemetry as tel
from telemetry._metrics._state import MetricsState
from telemetry.integrations._otel_metrics import MeterProvider
from telemetry.sinks import OTLPSink
from tests.sinks.otlp_receiver import Receiver, Reply, receiving

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="counts sockets through Linux's /proc"
)

#: Bounds every test: a hang is a failure, never a stuck run.
LIMIT_S = 30


def sink_for(rx: Receiver, **options: Any) -> OTLPSink:
    options.setdefault("env", {})
    options.setdefault("service_name", "shop")
    return OTLPSink(rx.endpoint, **options)


def logs(n: int) -> list[tel.Signal]:
    return [
        tel.Signal(inst=i, uid=f"{i:016x}", kind="log", level="info", msg="m") for i in range(n)
    ]


def sockets_to(port: int) -> int:
    """The sockets this process holds open whose peer is ``port`` on loopback (the sink's
    client side; the receiver's own side has ``port`` as its local port)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
        if link.startswith("socket:["):
            mine.add(link[len("socket:[") : -1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[9] in mine:
            count += 1
    return count


def unclosed_after_collection() -> list[str]:
    """The ResourceWarnings the garbage collector gives now (sockets and transports freed
    unclosed)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


async def test_a_close_during_a_write_leaves_no_connection_open() -> None:
    """The sink closed at every step of a write of several requests (connections being
    opened, requests sent, answers read): the write stops with ClosedError or ends, and no
    connection to the receiver is left open. Closing the client alone closed only the
    connections in its pool: one being opened meanwhile was opened after it, used, and left
    open."""
    with anyio.fail_after(LIMIT_S):
        async with receiving() as rx:
            for turns in range(30):
                sink = sink_for(rx, signals=["logs"], max_records=1)
                await sink.open()
                ended: list[str] = []

                async def write(sink: OTLPSink = sink, ended: list[str] = ended) -> None:
                    try:
                        await sink.write(logs(8))
                        ended.append("written")
                    except tel.ClosedError:
                        ended.append("closed")

                async with anyio.create_task_group() as tg:
                    tg.start_soon(write)
                    for _ in range(turns):  # the close comes a step later each time
                        await anyio.lowlevel.checkpoint()
                    await sink.aclose()
                assert len(ended) == 1, turns
                assert sockets_to(rx.port) == 0, f"left open when closed after {turns} steps"
    assert unclosed_after_collection() == []


async def test_a_close_cancelled_during_the_last_push_still_closes_the_connections(
    metrics_state: MetricsState,
) -> None:
    """The close cancelled while the last push of metrics waits for a receiver that does not
    answer (the hub's close gave up waiting for it, then the app's loop ended): the idle
    keep-alive connections are closed all the same, not left to the garbage collector."""
    MeterProvider(metrics_state).get_meter("m").create_counter("n").add(1)
    with anyio.fail_after(LIMIT_S):
        async with receiving() as rx:
            rx.script.extend([Reply(), Reply(), Reply(action="hang")])
            sink = sink_for(rx, max_records=1)
            await sink.open()
            await sink.write(logs(2))  # two requests at once: two keep-alive connections
            assert sockets_to(rx.port) == 2
            async with anyio.create_task_group() as tg:
                tg.start_soon(sink.aclose)
                while not any(r.path == "/v1/metrics" for r in rx.requests):
                    await anyio.wait_all_tasks_blocked()  # the push collects on a thread first
                await anyio.wait_all_tasks_blocked()
                tg.cancel_scope.cancel()
            assert sockets_to(rx.port) == 0
    assert unclosed_after_collection() == []


def test_an_app_whose_loop_ends_after_a_close_that_gave_up_leaves_no_connection_open() -> None:
    """An application's loop that ends right after the hub's close gave up waiting for the
    last push of metrics (a collector that does not answer it): the sink's close is cancelled
    there, and still closes the keep-alive connections of its writes (checked in a fresh
    interpreter, whose loop really ends)."""
    import subprocess
    import textwrap

    from tests.sinks.otlp_receiver import receiving_in_thread

    root = Path(__file__).resolve().parents[2]
    with receiving_in_thread() as tr:
        tr.receiver.script.extend([Reply(), Reply(), Reply(action="hang")])
        script = textwrap.dedent(
            f"""
            import asyncio, gc, warnings
            import telemetry as tel
            from telemetry._metrics._state import STATE
            from telemetry.integrations._otel_metrics import MeterProvider
            from telemetry.sinks import OTLPSink

            MeterProvider(STATE).get_meter("m").create_counter("n").add(1)

            async def main():
                sink = OTLPSink({tr.receiver.endpoint!r}, env={{}}, max_records=1)
                handlers = {{"otlp": {{"sink": sink, "mode": "blocking"}}}}
                async with tel.Telemetry(handlers=handlers, close_timeout=0.5) as hub:
                    await hub.log("info", "a")
                    await hub.log("info", "b")
                assert hub.stats().handlers["otlp"].written == 2

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResourceWarning)
                asyncio.run(main())
                gc.collect()
            print(sum(issubclass(w.category, ResourceWarning) for w in caught))
            """
        )
        proc = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=LIMIT_S,
            cwd=root,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0"], proc.stderr
