"""The console and memory sinks."""

from __future__ import annotations

import io
import json

import pytest

from telemetry import ConfigError, Telemetry
from telemetry.sinks import ConsoleSink, MemorySink
from telemetry.testing import make_signal


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
