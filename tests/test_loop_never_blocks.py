"""The loop is sacred: no blocking call on the event loop but one, measured; no long callback.

blockbuster (as anyio's own tests use) makes blocking calls on the loop thread (file I/O,
``time.sleep``, blocking socket calls, ``os.write`` ...) raise instead of silently stalling.
The one exception is allowed by name: the file sink's append of a batch of at most
``LOOP_WRITE_MAX_BYTES`` to a regular file (one ``write`` into the page cache, then the ``stat``
that notices a moved file), which takes tens of microseconds and falls back to a thread when
it gets slow; see ``docs/sinks/file.md``.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import pytest
from blockbuster import BlockingError, blockbuster_ctx

import telemetry as tel
from telemetry import Telemetry
from telemetry.sinks import ConsoleSink, FileSink, JournaldSink, MemorySink, SyslogSink
from telemetry.sinks import file as file_module

from .conftest import assert_accounted
from .sinks.udp_delivery import datagrams_that_fit

#: Iterations of the test below: each emits a span and a log, so twice as many signals.
STEPS = 3000
#: The largest datagram the syslog handler sends in the test below (its signals are ~300
#: bytes); the receiver's room is measured in datagrams of this size.
PROBE_BYTES = 1024


@pytest.fixture
def udp_receiver() -> tuple[socket.socket, int]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # what the kernel allows
    yield rx, rx.getsockname()[1]
    rx.close()


async def test_emitting_and_writing_make_no_blocking_call_on_the_loop(
    tmp_path: Path, udp_receiver: tuple[socket.socket, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """File (fsync per batch, and appending on the loop), console, syslog (UDP), journald and
    memory handlers, spans, bound context, flush and close: no blocking call on the loop thread
    but the file sink's bounded append."""
    # Every append of the text file stays on the loop however busy the machine: a write timed
    # as slow (a descheduled test process) would send the next ones to the sink's thread.
    monkeypatch.setattr(file_module, "SLOW_WRITE_S", float("inf"))
    rx, port = udp_receiver
    # Nothing reads the receiver until the end: the syslog handler takes the signals of the
    # first steps only, half as many as the buffer the kernel really granted holds.
    syslog_steps = min(STEPS, datagrams_that_fit(rx, PROBE_BYTES) // 4)
    console_out = (tmp_path / "console.log").open("w")
    file_sink, memory = FileSink(tmp_path / "logs" / "app.jsonl", fsync="batch"), MemorySink()
    on_loop = FileSink(tmp_path / "logs" / "loop.log", format="text")
    with blockbuster_ctx(["telemetry"]) as bb:
        bb.functions["os.write"].can_block_in("telemetry/sinks/_append.py", "write")
        bb.functions["os.stat"].can_block_in("telemetry/sinks/_append.py", "_observe")
        hub = Telemetry(
            handlers={
                "file": {"sink": file_sink, "mode": "blocking"},
                "loop": {"sink": on_loop, "mode": "blocking"},
                "console": ConsoleSink(console_out),
                "syslog": {
                    "sink": SyslogSink("127.0.0.1", transport="udp", port=port),
                    "when": lambda sig: sig.data["i"] < syslog_steps,
                },
                "journald": JournaldSink(tmp_path / "no-journal.sock", missing_ok=True),
                "memory": {"sink": memory, "mode": "blocking"},
            }
        )
        async with hub:
            with tel.bind(request_id="r1"):
                for i in range(STEPS):
                    async with tel.span("work", i=i):
                        await tel.log("info", "step", i=i)
                await hub.flush()
    console_out.close()
    stats = hub.stats()
    assert_accounted(stats)
    assert stats.handlers["file"].written == stats.handlers["loop"].written == 2 * STEPS
    assert stats.handlers["loop"].sink_counters["loop_writes"] == stats.handlers["loop"].batches
    rx.settimeout(0.5)
    sizes = []
    with contextlib.suppress(TimeoutError):
        while data := rx.recv(65536):
            sizes.append(len(data))
    assert len(sizes) == stats.handlers["syslog"].written == 2 * syslog_steps > 0
    assert max(sizes) <= PROBE_BYTES
    assert len(memory.signals) == 2 * STEPS
    assert len((tmp_path / "logs" / "app.jsonl").read_bytes().splitlines()) == 2 * STEPS
    journald = stats.handlers["journald"]  # dropping mode: the queue may overflow, counted too
    assert set(journald.dropped) <= {"journald_missing", "queue_full"}
    assert journald.dropped["journald_missing"] == journald.processed


def test_blockbuster_does_catch_a_blocking_call() -> None:
    """The guard is live: a blocking call on the loop raises (so the test above can fail)."""
    import asyncio
    import time

    async def naughty() -> None:
        time.sleep(0.001)  # noqa: ASYNC251 - the blocking call this test wants caught

    with blockbuster_ctx(), pytest.raises(BlockingError):
        asyncio.run(naughty())


def test_the_loop_callbacks_bench_runs_and_writes_every_signal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """bench/loop_callbacks.py, tiny: a row for each format, every signal written (the times
    it reports are not checked)."""
    from bench.loop_callbacks import FORMATS, main

    results = main(["2000"])
    assert [r.format for r in results] == list(FORMATS) == ["json", "text", "logfmt"]
    assert all(r.written == r.lines == r.signals == 2000 for r in results)
    assert all(r.rate > 0 and r.busy_rate > 0 for r in results)
    table = capsys.readouterr().out
    assert all(f"\n{fmt} " in table for fmt in FORMATS)
