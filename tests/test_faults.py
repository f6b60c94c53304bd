"""Fault injection: sinks stuck in threads, stalled pipes, and everything at once.

Each test injects faults the way they happen in production (a thread that never returns, a
real pipe or FIFO nobody reads, a real tmpfs that fills up, a real rsyslogd killed with SIGKILL
and restarted, threads emitting hostile values) and checks the promises that must survive
them: every deadline holds, the process can exit, and after the close every signal is written
or counted under a reason. Hostile values through every format and sink are in
``tests/test_hostile_values.py``; a full disk alone and fork in ``tests/sinks/test_file.py`` and
``tests/test_process.py``; receivers going away alone in the sinks' own tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from telemetry import Signal, Telemetry
from telemetry.sinks import FileSink, MemorySink, SyslogSink
from tests.conftest import assert_accounted
from tests.sinks.rsyslog import Rsyslog, rsyslog_fresh_fixture  # noqa: F401
from tests.sinks.test_file import Disk, small_disk  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
#: Far longer than any deadline the tests set: a test that reaches it has hung.
HANG_S = 30.0


class ThreadStuckSink(MemorySink):
    """A sink whose writes block in a worker thread (``anyio.to_thread.run_sync``, which cannot
    be cancelled) until ``release`` is set: a sink blocked on a dead NFS mount, say. With
    ``stuck_close`` its close blocks the same way."""

    kind = "thread-stuck"

    def __init__(self, *, stuck_close: bool = False) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()
        self.left = threading.Event()
        self.stuck_close = stuck_close

    async def write(self, batch: Sequence[Signal]) -> None:
        """Block in a thread until released."""
        self.entered.set()
        await anyio.to_thread.run_sync(self._block)
        self.signals.extend(batch)

    def _block(self) -> None:
        self.release.wait()
        self.left.set()

    async def _aclose(self) -> None:
        if self.stuck_close:
            await anyio.to_thread.run_sync(self.release.wait)


@pytest.fixture
def stuck() -> Iterator[list[ThreadStuckSink]]:
    """Sinks to release once the test is over, so that no thread outlives it."""
    sinks: list[ThreadStuckSink] = []
    yield sinks
    for sink in sinks:
        sink.release.set()


@pytest.mark.parametrize("stuck_close", [False, True])
async def test_aclose_returns_by_its_deadline_when_a_sink_is_stuck_in_a_thread(
    stuck: list[ThreadStuckSink], stuck_close: bool
) -> None:
    """aclose(timeout=) returns although a write (and the sink's close) never returns from its
    thread; the batch in the stuck write and the queued signals are counted as ``timeout``;
    the healthy handler beside it writes everything."""
    sink = ThreadStuckSink(stuck_close=stuck_close)
    stuck.append(sink)
    memory = MemorySink()
    hub = Telemetry(handlers={"stuck": {"sink": sink, "batch_size": 10}, "memory": memory})
    with anyio.fail_after(HANG_S):
        async with hub:
            for i in range(50):
                await hub.log("info", "m", i=i)
            await anyio.to_thread.run_sync(sink.entered.wait)
            stats = await hub.aclose(timeout=0.3)
    assert_accounted(stats)
    h = stats.handlers["stuck"]
    assert h.written == 0
    assert h.dropped == {"timeout": 50}
    assert stats.handlers["memory"].written == 50


async def test_remove_handler_returns_by_its_deadline_when_a_sink_is_stuck_in_a_thread(
    stuck: list[ThreadStuckSink],
) -> None:
    """remove_handler() is bounded by the hub's close_timeout whatever the sink does."""
    sink = ThreadStuckSink(stuck_close=True)
    stuck.append(sink)
    hub = Telemetry(handlers={"stuck": sink}, close_timeout=0.3)
    with anyio.fail_after(HANG_S):
        async with hub:
            for i in range(5):
                await hub.log("info", "m", i=i)
            await anyio.to_thread.run_sync(sink.entered.wait)
            final = await hub.remove_handler("stuck")
            await hub.log("info", "after")
    assert final.emitted == final.written + final.dropped_total
    assert final.dropped == {"timeout": 5}


async def test_a_stuck_write_that_returns_later_is_not_counted_twice(
    stuck: list[ThreadStuckSink],
) -> None:
    """A write abandoned at the deadline that completes afterwards changes no count: the
    final stats stay exact."""
    sink = ThreadStuckSink()
    stuck.append(sink)
    hub = Telemetry(handlers={"stuck": {"sink": sink, "batch_size": 10}})
    with anyio.fail_after(HANG_S):
        async with hub:
            for i in range(20):
                await hub.log("info", "m", i=i)
            await anyio.to_thread.run_sync(sink.entered.wait)
            stats = await hub.aclose(timeout=0.2)
        sink.release.set()
        await anyio.to_thread.run_sync(sink.left.wait)
        for _ in range(10):  # the loop's turns in which the abandoned write could resume
            await anyio.lowlevel.checkpoint()
    later = hub.stats().handlers["stuck"]
    assert (later.written, later.dropped) == (stats.handlers["stuck"].written, {"timeout": 20})
    assert later.emitted == later.written + later.dropped_total


# -- stalled pipes: the close returns, and so does the process ----------------------------------

_STALLED_PIPE_APP = """
import asyncio, os, sys
from telemetry import Telemetry
from telemetry.sinks import ConsoleSink, FileSink

kind, path = sys.argv[1], sys.argv[2]
if kind == "file":
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads
    sink = FileSink(path)
else:
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b"x" * 65536)  # fill the pipe: nobody reads it
    except BlockingIOError:
        pass
    os.set_blocking(w, True)
    sink = ConsoleSink(os.fdopen(w, "w"), format="json")

async def main():
    hub = Telemetry(handlers={"s": sink})
    async with hub:
        for i in range(5000):
            await hub.log("info", "x" * 200, i=i)
        stats = await hub.aclose(timeout=0.3)
    h = stats.handlers["s"]
    assert h.emitted == h.written + h.dropped_total, h
    print("closed", h.written, sorted(h.dropped), flush=True)

asyncio.run(main())
print("exited", flush=True)
"""


@pytest.mark.parametrize("kind", ["file", "console"])
def test_a_stalled_pipe_holds_up_neither_the_close_nor_the_exit(tmp_path: Path, kind: str) -> None:
    """A file sink on a FIFO, or a console on a pipe, that nobody reads: aclose(timeout=)
    returns with every signal accounted for, and the process exits (the stuck writer is a
    daemon thread, not one the interpreter waits for)."""
    proc = subprocess.run(
        [sys.executable, "-c", _STALLED_PIPE_APP, kind, str(tmp_path / "fifo")],
        capture_output=True,
        text=True,
        timeout=HANG_S,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("closed") and "timeout" in lines[0]
    assert lines[-1] == "exited"


# -- everything at once: threads, hostile values, a full disk, a killed receiver, a stuck sink --

#: Signals each thread emits before the faults begin (written, hostile ones among them).
FIRST = 50
KNOWN_REASONS = {"timeout", "sink_error", "queue_full", "stalled", "connection_lost", "unreachable"}


async def test_every_signal_is_accounted_for_when_everything_goes_wrong_at_once(
    small_disk: Disk,  # noqa: F811 - the fixture imported above
    rsyslog_fresh: Rsyslog,
    stuck: list[ThreadStuckSink],
) -> None:
    """Four threads emit (every 25th signal carrying a hostile value) into a file on a disk that
    fills up, a syslog receiver that is killed (SIGKILL) and restarted, and a sink stuck in a
    thread: aclose(timeout=) returns, every handler's counts are exact, every drop has a known
    reason, the file holds only whole lines, and the hostile values were written, repaired."""
    rs = rsyslog_fresh
    path = small_disk.root / "app.jsonl"
    stuck_sink = ThreadStuckSink()
    stuck.append(stuck_sink)
    retry = {"max_retries": 1, "retry_backoff": 0.001}
    handlers: dict[str, Any] = {
        "file": {"sink": FileSink(path), **retry},
        "syslog": {
            "sink": SyslogSink(
                "127.0.0.1", transport="tcp", port=rs.tcp_port, timeout=0.3, max_backoff=0.05
            ),
            **retry,
        },
        "stuck": {"sink": stuck_sink, "batch_size": 16},
    }
    hostile: list[object] = [10**5000, "lone \udcff surrogate", {"nested": [10**4400]}]
    started, halfway = threading.Barrier(5), threading.Barrier(5, timeout=HANG_S)
    go = threading.Event()

    def emit(hub: Telemetry, t: int) -> None:
        started.wait()
        for i in range(500):
            if i == FIRST:  # the first ones are written before anything goes wrong
                halfway.wait()
                go.wait(HANG_S)
            value = hostile[i % 3] if i % 25 == 0 else i
            hub.log_nowait("info", f"t{t} s{i}", value=value, pad="x" * 200)

    hub = Telemetry(handlers=handlers)
    with anyio.fail_after(HANG_S):
        async with hub:
            threads = [threading.Thread(target=emit, args=(hub, t)) for t in range(4)]
            for thread in threads:
                thread.start()
            await anyio.to_thread.run_sync(started.wait)
            try:
                await anyio.to_thread.run_sync(halfway.wait)
                while hub.stats().handlers["file"].written < 4 * FIRST:  # noqa: ASYNC110
                    await anyio.sleep(0.01)  # (flush() would wait for the stuck sink too)
            finally:
                go.set()
            await anyio.to_thread.run_sync(small_disk.fill, 64 * 1024)
            assert rs.proc is not None
            rs.proc.kill()  # no goodbye: whatever it had not read is gone
            await anyio.to_thread.run_sync(rs.proc.wait)
            rs.proc = None
            await anyio.to_thread.run_sync(rs.start)
            for thread in threads:
                await anyio.to_thread.run_sync(thread.join)
            stats = await hub.aclose(timeout=1.0)
    assert_accounted(stats)
    for name, h in stats.handlers.items():
        assert h.emitted == 2000, name
        assert set(h.dropped) <= KNOWN_REASONS, (name, h.dropped)
    assert stats.handlers["stuck"].written == 0
    lines = path.read_bytes().splitlines()
    assert len(lines) == stats.handlers["file"].written
    records = [json.loads(line) for line in lines]  # whole lines only, valid JSON
    # The first FIRST of each thread were written before the disk filled up, hostile ones
    # among them (every 25th); each hostile value arrived repaired, and was counted.
    written = {r["msg"] for r in records}
    assert {f"t{t} s{i}" for t in range(4) for i in range(FIRST)} <= written
    hostile_written = [r for r in records if int(r["msg"].split(" s")[1]) % 25 == 0]
    assert len(hostile_written) >= 4 * len(range(0, FIRST, 25))
    assert all(not isinstance(r["data"]["value"], int) for r in hostile_written)
    bad_values = stats.handlers["file"].sink_counters.get("bad_values", 0)
    assert bad_values >= len(hostile_written)


class PickySink(MemorySink):
    """Delivers the signals whose ``i`` is not a multiple of three; counts the others as
    dropped (``too_large``), as a sink that must refuse some lines of a batch does."""

    kind = "picky"

    async def write(self, batch: Sequence[Signal]) -> None:
        """Keep some of the batch, count the rest."""
        for sig in batch:
            if sig.data["i"] % 3 == 0:
                self.count_drop("too_large")
            else:
                self.signals.append(sig)


async def test_drops_a_sink_counts_in_some_batches_settle_exactly() -> None:
    """Batches with and without drops of the sink's own interleave: each drop is counted under
    its reason, every other signal as written, and a batch without drops takes an empty,
    read-only mapping (no new counter per batch)."""
    sink = PickySink()
    async with Telemetry(handlers={"p": {"sink": sink, "batch_size": 2}}) as hub:
        for i in range(100):
            await hub.log("info", "line", i=i)
    stats = hub.stats()
    assert_accounted(stats)
    h = stats.handlers["p"]
    assert h.dropped == {"too_large": 34}
    assert h.written == len(sink.signals) == 66
    none = sink.take_drops()
    assert none == {} and sink.take_drops() is none
    with pytest.raises(TypeError):
        none["x"] = 1  # type: ignore[index]
