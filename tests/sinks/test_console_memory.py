"""The console and memory sinks."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import threading
from collections.abc import Iterator

import pytest

from telemetry import ConfigError, Telemetry
from telemetry.sinks import ConsoleSink, MemorySink
from telemetry.testing import make_signal
from tests.conftest import assert_accounted


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_console_writes_json_lines_when_not_a_terminal() -> None:
    """Piped output (not a TTY) gets JSON lines."""
    stream = io.StringIO()
    async with Telemetry(handlers={"c": ConsoleSink(stream)}) as hub:
        await hub.log("info", "hello", n=1)
    record = json.loads(stream.getvalue())
    assert (record["msg"], record["data"]) == ("hello", {"n": 1})


async def test_console_writes_coloured_text_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal gets readable, coloured lines; NO_COLOR turns colour off."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TELEMETRY_FORMAT", raising=False)
    tty = FakeTTY()
    async with Telemetry(handlers={"c": ConsoleSink(tty)}) as hub:
        await hub.log("warn", "careful")
    assert "\x1b[33mWARN" in tty.getvalue() and "careful" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    plain = FakeTTY()
    async with Telemetry(handlers={"c": ConsoleSink(plain, format="text")}) as hub:
        await hub.log("warn", "careful")
    assert "\x1b" not in plain.getvalue() and "WARN  " in plain.getvalue()


async def test_console_format_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """TELEMETRY_FORMAT picks the console format when the sink says auto."""
    monkeypatch.setenv("TELEMETRY_FORMAT", "logfmt")
    stream = io.StringIO()
    async with Telemetry(handlers={"c": ConsoleSink(stream)}) as hub:
        await hub.log("info", "x", k="v w")
    assert 'msg=x k="v w"' in stream.getvalue()


def test_console_and_memory_reject_bad_options() -> None:
    """Unknown console formats and a non-positive maxlen are ConfigErrors."""
    with pytest.raises(ConfigError, match="format must be one of"):
        ConsoleSink(format="yaml")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="maxlen"):
        MemorySink(maxlen=0)


def test_memory_sink_bounded() -> None:
    """maxlen keeps the newest signals and counts what it discarded."""
    sink = MemorySink(maxlen=3)
    sink.write_sync([make_signal(str(i)) for i in range(5)])
    assert [s.msg for s in sink.signals] == ["2", "3", "4"]
    assert sink.counters["discarded"] == 2
    sink.clear()
    assert sink.signals == []


@pytest.fixture
def stalled_pipe() -> Iterator[tuple[int, io.TextIOWrapper]]:
    """A real pipe, full, that nobody reads: the next write to it blocks. Yields the read end
    and a text stream on the write end; closing the read end at the end fails a stuck write."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(w, b"x" * 65536)
    os.set_blocking(w, True)
    stream = os.fdopen(w, "w")
    try:
        yield r, stream
    finally:
        os.close(r)  # a write still stuck in it now fails with EPIPE and its thread ends
        with contextlib.suppress(BrokenPipeError):
            stream.close()


async def test_a_stalled_pipe_never_blocks_the_loop_and_close_returns(
    stalled_pipe: tuple[int, io.TextIOWrapper],
) -> None:
    """A console on a full pipe that nobody reads: the loop keeps turning while the write is
    stuck, and hub.aclose(timeout=...) returns with every signal counted."""
    _, stream = stalled_pipe
    sink = ConsoleSink(stream, format="json")
    hub = Telemetry(handlers={"c": {"sink": sink, "mode": "dropping"}})
    await hub.open()
    for i in range(10):
        await hub.log("info", "stuck", i=i)
    for _ in range(100):  # a hundred turns of the loop while the batch is being written
        await asyncio.sleep(0)
    assert hub.stats().handlers["c"].batches == 0  # ... and still is
    stats = await hub.aclose(timeout=0.2)
    assert_accounted(stats)
    assert stats.handlers["c"].dropped == {"timeout": 10}


def _drain(fd: int, into: bytearray) -> None:
    while chunk := os.read(fd, 65536):
        into.extend(chunk)


async def test_batches_waiting_for_the_console_go_out_in_one_write(
    stalled_pipe: tuple[int, io.TextIOWrapper],
) -> None:
    """Batches handed over while the console's thread is stuck in a write are written together
    with one call once the pipe drains; every line arrives whole."""
    r, stream = stalled_pipe
    sink = ConsoleSink(stream, format="json")
    options = {"sink": sink, "mode": "blocking", "workers": 3, "batch_size": 4}
    received = bytearray()
    async with Telemetry(handlers={"c": options}) as hub:
        for i in range(12):
            await hub.log("info", "line", i=i)
        for _ in range(50):  # every worker hands its batch over
            await asyncio.sleep(0)
        assert hub.stats().handlers["c"].queued == 0
        reader = threading.Thread(target=_drain, args=(r, received))
        reader.start()
    stats = hub.stats()
    assert_accounted(stats)
    h = stats.handlers["c"]
    assert (h.written, h.batches) == (12, 3)
    assert h.sink_counters["thread_writes"] == 2  # the stuck one, then the two waiting
    stream.close()  # end of file for the reader
    reader.join()
    lines = bytes(received).lstrip(b"x").splitlines()
    assert sorted(json.loads(line)["data"]["i"] for line in lines) == list(range(12))
