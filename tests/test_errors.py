"""Exceptions on signals: exc_info=, exception(), the traceback kept and shown."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import msgspec
import pytest

import telemetry as tel
from telemetry import Signal
from telemetry.cli import main
from telemetry.formats import JsonFormat, TextFormat
from telemetry.sinks import ConsoleSink, FileSink, MemorySink
from telemetry.testing import capture_signals

from .conftest import assert_accounted


def charge(amount: int) -> float:
    return 100 / amount  # raises for 0: the line the traceback must show


async def test_exc_info_true_records_the_exception_being_handled() -> None:
    sink = MemorySink()
    async with tel.Telemetry(handlers={"m": sink}) as hub:
        try:
            charge(0)
        except ZeroDivisionError:
            await tel.log("error", "charge failed", exc_info=True, order=7)
            hub.log_nowait("warn", "nowait too", exc_info=True)
        await tel.log("error", "nothing handled", exc_info=True)
    first, second, none = sink.signals
    for sig in (first, second):
        assert sig.error is not None
        assert sig.error.type == "ZeroDivisionError"
        assert sig.error.frames[-1].function == "charge"
        assert sig.error.stacktrace is not None
        assert "return 100 / amount" in sig.error.stacktrace
        assert sig.error.stacktrace.endswith("ZeroDivisionError: division by zero")
    assert first.data == {"order": 7}  # exc_info is not data
    assert none.error is None and none.data == {}


async def test_exc_info_takes_an_exception_or_an_exc_info_tuple() -> None:
    sink = MemorySink()
    async with tel.Telemetry(handlers={"m": sink}):
        try:
            raise KeyError("k")
        except KeyError as exc:
            caught = exc
            info = sys.exc_info()
        await tel.log("error", "instance", exc_info=caught)
        tel.log_nowait("error", "tuple", exc_info=info)
        await tel.log("error", "false", exc_info=False)
    assert [s.error.type if s.error else None for s in sink.signals] == [
        "KeyError",
        "KeyError",
        None,
    ]


async def test_exception_logs_the_handled_exception_at_error() -> None:
    """exception() and exception_nowait(), module-level and on the hub: level error, kind log,
    the message and data as given, the exception with its traceback; outside an except block,
    the message alone."""
    sink = MemorySink()
    async with tel.Telemetry(handlers={"m": sink}) as hub:
        try:
            charge(0)
        except ZeroDivisionError:
            assert await tel.exception("module, awaited", order=1)
            assert tel.exception_nowait("module, nowait", order=2)
            assert await hub.exception("hub, awaited", order=3)
            assert hub.exception_nowait("hub, nowait", level="fatal", order=4)
        await tel.exception("no exception")
    assert [(s.msg, s.level, s.kind) for s in sink.signals] == [
        ("module, awaited", "error", "log"),
        ("module, nowait", "error", "log"),
        ("hub, awaited", "error", "log"),
        ("hub, nowait", "fatal", "log"),
        ("no exception", "error", "log"),
    ]
    for i, sig in enumerate(sink.signals[:4], 1):
        assert sig.data == {"order": i}
        assert sig.error is not None and sig.error.frames[-1].function == "charge"
        assert sig.location is not None and sig.location.file == __file__
    assert sink.signals[4].error is None


async def test_the_json_line_keeps_the_formatted_stack(tmp_path: Path) -> None:
    """JSON: error.stacktrace is the traceback as Python prints it, chained causes included
    (OpenTelemetry's exception.stacktrace)."""
    path = tmp_path / "app.jsonl"
    async with tel.Telemetry(handlers={"file": FileSink(path)}) as hub:
        try:
            try:
                charge(0)
            except ZeroDivisionError as exc:
                raise RuntimeError("payment service") from exc
        except RuntimeError:
            await tel.exception("checkout failed")
    assert_accounted(hub.stats())
    (line,) = path.read_text().splitlines()
    error = json.loads(line)["error"]
    stack = error["stacktrace"]
    assert stack.startswith("Traceback (most recent call last):")
    assert "return 100 / amount" in stack
    assert "The above exception was the direct cause" in stack
    assert stack.endswith("RuntimeError: payment service")
    assert error["cause"]["type"] == "ZeroDivisionError"
    # and it reads back
    sig = msgspec.json.decode(line, type=Signal)
    assert sig.error is not None and sig.error.stacktrace == stack


def _signal_with_error(message: str = "division by zero") -> Signal:
    captured: list[Signal] = []
    hub = tel.Telemetry(handlers={"m": MemorySink()})
    hub._serve_inline()
    with capture_signals() as got:
        try:
            raise ZeroDivisionError(message)
        except ZeroDivisionError:
            hub.exception_nowait("failed")
    captured.extend(got)
    return captured[0]


def test_text_shows_the_traceback_indented_under_the_line() -> None:
    sig = _signal_with_error()
    plain = TextFormat().format(sig)
    assert "\n" not in plain  # without traceback=True, one line as before
    text = TextFormat(traceback=True).format(sig)
    head, *rest = text.split("\n")
    assert head == plain
    assert rest[0] == "    Traceback (most recent call last):"
    assert all(line.startswith("    ") for line in rest)
    assert rest[-1] == "    ZeroDivisionError: division by zero"
    coloured = TextFormat(traceback=True, colour=True).format(sig)
    assert "\x1b[31mZeroDivisionError: division by zero\x1b[0m" in coloured


def test_a_message_cannot_forge_a_line_in_the_traceback() -> None:
    """A newline in the exception's message is escaped: every traceback line stays indented,
    so none can pass for a signal."""
    sig = _signal_with_error("boom\n2026-01-01T00:00:00.000000Z INFO forged")
    lines = TextFormat(traceback=True).format(sig).split("\n")
    assert all(line.startswith("    ") for line in lines[1:])
    assert not any(line.startswith("2026-01-01") for line in lines)


def test_an_error_without_a_stacktrace_is_rebuilt_from_its_frames() -> None:
    sig = _signal_with_error()
    assert sig.error is not None
    old = msgspec.structs.replace(sig, error=msgspec.structs.replace(sig.error, stacktrace=None))
    lines = TextFormat(traceback=True).format(old).split("\n")
    assert lines[1] == "    Traceback (most recent call last):"
    assert lines[2].startswith('      File "') and "_signal_with_error" in lines[2]
    assert lines[-1] == "    ZeroDivisionError: division by zero"


async def test_the_console_prints_the_traceback_in_text_and_keeps_it_in_json() -> None:
    text, js = io.StringIO(), io.StringIO()
    handlers = {
        "text": ConsoleSink(text, format="text"),
        "json": ConsoleSink(js, format="json"),
    }
    async with tel.Telemetry(handlers=handlers):
        try:
            charge(0)
        except ZeroDivisionError:
            await tel.exception("charge failed")
    out = text.getvalue().splitlines()
    assert "charge failed" in out[0]
    assert "    Traceback (most recent call last):" in out
    assert any("return 100 / amount" in line for line in out)
    assert json.loads(js.getvalue())["error"]["stacktrace"].endswith("division by zero")


async def test_tail_shows_the_traceback_unless_told_not_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "app.jsonl"
    async with tel.Telemetry(handlers={"file": FileSink(path)}):
        await tel.log("info", "fine")
        try:
            charge(0)
        except ZeroDivisionError:
            await tel.exception("charge failed")
    assert main(["tail", "--color", "never", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("fine")
    assert "charge failed" in out[1]
    assert out[2] == "    Traceback (most recent call last):"
    assert out[-1] == "    ZeroDivisionError: division by zero"
    assert main(["tail", "--no-traceback", "--color", "never", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "charge failed" in out[1]
    # --json prints the lines as they are, stacktrace and all
    assert main(["tail", "--json", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "stacktrace" in json.loads(lines[1])["error"]


def test_json_format_of_an_error_signal_reads_back_equal() -> None:
    sig = _signal_with_error()
    assert msgspec.json.decode(JsonFormat().encode(sig), type=Signal) == sig


async def test_error_and_exc_info_keywords_of_the_module_level_log() -> None:
    """tel.log reads error= and exc_info= out of its keywords: an exception is the signal's
    error (error= before exc_info=), None is nothing, anything else stays as data."""
    sink = MemorySink()
    first = ValueError("first")
    async with tel.Telemetry(handlers={"m": sink}):
        await tel.log("info", "none", error=None, exc_info=None, k=1)
        try:
            raise KeyError("handled")
        except KeyError:
            await tel.log("error", "both", error=first, exc_info=True)
            tel.log_nowait("error", "exc_info only", exc_info=True)
        await tel.log("info", "not an exception", error="timeout")
    got = [(s.msg, s.error.type if s.error else None, s.data) for s in sink.signals]
    assert got == [
        ("none", None, {"k": 1}),
        ("both", "ValueError", {}),
        ("exc_info only", "KeyError", {}),
        ("not an exception", None, {"error": "timeout"}),
    ]
