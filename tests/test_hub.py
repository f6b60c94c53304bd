"""The hub's lifecycle, handlers, default hub, stats and health."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

import telemetry as tel
from telemetry import ClosedError, ConfigError, HandlerStats, Telemetry, TelemetryError
from telemetry.sinks import FileSink, MemorySink

from ._sinks import GatedOpeningSink
from .conftest import assert_accounted

ROOT = Path(__file__).resolve().parents[1]


async def test_signals_reach_every_handler() -> None:
    """Every handler receives each signal, and aclose() writes everything accepted."""
    a, b = MemorySink(), MemorySink()
    async with Telemetry(handlers={"a": a, "b": b}) as hub:
        for i in range(100):
            await hub.log("info", "hello", i=i)
    assert [s.data["i"] for s in a.signals] == list(range(100))
    assert [s.uid for s in a.signals] == [s.uid for s in b.signals]
    assert a.signals[0] is b.signals[0], "one immutable signal is shared, not copied"
    assert_accounted(hub.stats())


async def test_module_level_calls_use_the_default_hub() -> None:
    """Entering a hub makes it the default for tel.log & co.; leaving restores the previous."""
    outer_sink, inner_sink = MemorySink(), MemorySink()
    async with Telemetry(handlers={"m": outer_sink}) as outer:
        assert tel.get_hub() is outer
        async with Telemetry(handlers={"m": inner_sink}) as inner:
            assert tel.get_hub() is inner
            await tel.log("info", "to inner")
        assert tel.get_hub() is outer
        await tel.event("to.outer")
    assert tel.get_hub() is None
    assert [s.msg for s in inner_sink.signals] == ["to inner"]
    assert [s.id for s in outer_sink.signals] == ["to.outer"]


async def test_without_a_hub_signals_print_one_readable_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With no hub open, a signal becomes one human-readable line on stderr."""
    assert tel.get_hub() is None
    await tel.log("info", "no hub yet", user=42)
    tel.log_nowait("warn", "still none")
    await tel.log("debug", "below the default level")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert "INFO" in err[0] and "no hub yet" in err[0] and "user=42" in err[0]
    assert "WARN" in err[1] and "still none" in err[1]


async def test_fields_of_a_signal() -> None:
    """A signal records time, uid, level, kind, namespace, location, host and pid."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}):
        await tel.log("warn", "disk low", free_mb=12)
    (sig,) = sink.signals
    assert sig.level == "warn" and sig.kind == "log" and sig.msg == "disk low"
    assert sig.ns == __name__
    assert sig.location is not None and sig.location.file == __file__
    assert sig.location.function == "test_fields_of_a_signal"
    assert re.fullmatch("[0-9a-f]{16}", sig.uid), sig.uid
    assert sig.data == {"free_mb": 12} and sig.pid > 0 and sig.host
    assert sig.severity == tel.Level.WARN == 13


async def test_add_and_remove_handlers_while_running() -> None:
    """A handler added while running gets later signals; a removed one is drained and closed."""
    first, second = MemorySink(), MemorySink()
    async with Telemetry(handlers={"first": first}) as hub:
        await hub.log("info", "one")
        hub.add_handler("second", second)
        await hub.flush()
        await hub.log("info", "two")
        stats = await hub.remove_handler("first")
        await hub.log("info", "three")
    assert [s.msg for s in first.signals] == ["one", "two"]
    assert stats.written == 2 and stats.state == "closed" and first.state == "closed"
    assert [s.msg for s in second.signals] == ["two", "three"]


@pytest.mark.parametrize("how", ["remove_handler", "aclose"])
async def test_a_handler_closed_while_its_sink_opens_writes_what_it_queued(how: str) -> None:
    """Added to a running hub and closed before its sink finished opening: the close waits
    for the open, then drains, so the signals queued meanwhile are written, not dropped."""
    sink = GatedOpeningSink()
    hub = Telemetry(handlers={})
    async with hub, anyio.create_task_group() as tg:
        hub.add_handler("late", sink)
        await sink.opening.wait()
        for i in range(3):
            await hub.log("info", "queued while opening", i=i)
        result: list[HandlerStats] = []

        async def close() -> None:
            if how == "remove_handler":
                result.append(await hub.remove_handler("late"))
            else:
                await hub.aclose()
                result.append(hub.stats().handlers["late"])

        tg.start_soon(close)
        while "late" in hub.handlers and hub.state == "open":  # noqa: ASYNC110 - the close began
            await asyncio.sleep(0)
        assert (sink.state, sink.signals) == ("new", [])  # the close began before the open ended
        sink.gate.set()
    (stats,) = result
    assert [s.data["i"] for s in sink.signals] == [0, 1, 2]
    assert (stats.emitted, stats.written, stats.dropped) == (3, 3, {})
    assert sink.state == "closed"


async def test_flush_returns_when_everything_accepted_is_written() -> None:
    """flush() waits for the workers to write what was accepted before the call."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": sink}) as hub:
        for i in range(500):
            hub.log_nowait("info", "x", i=i)
        assert len(sink.signals) < 500  # nothing has yielded to the worker yet
        await hub.flush()
        assert len(sink.signals) == 500


async def test_aclose_twice_and_signals_after_close() -> None:
    """aclose() is idempotent; signals after it are counted as dropped ('closed'), not raised."""
    sink = MemorySink()
    hub = Telemetry(handlers={"m": sink})
    async with hub:
        await hub.log("info", "before")
    first = await hub.aclose()
    second = await hub.aclose()
    assert first == second
    assert await hub.log("info", "after") is True
    assert hub.log_nowait("info", "after again")
    stats = hub.stats()
    assert stats.handlers["m"].dropped == {"closed": 2}
    assert [s.msg for s in sink.signals] == ["before"]
    assert_accounted(stats)


async def test_a_hub_opens_once() -> None:
    """Reopening a closed hub is a clear error, not a silent no-op."""
    hub = Telemetry(handlers={"m": MemorySink()})
    async with hub:
        pass
    with pytest.raises(ClosedError):
        await hub.open()


async def test_a_sink_that_cannot_open_fails_the_hub_at_open(tmp_path: object) -> None:
    """An unwritable path raises a TelemetryError naming the parameter at open time."""
    sink = MemorySink()
    bad = FileSink("/proc/version/cannot/exist.jsonl")
    hub = Telemetry(handlers={"m": sink, "bad": bad})
    with pytest.raises(TelemetryError, match="path"):
        await hub.open()
    assert sink.state == "closed", "sinks already opened are closed again"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"mode": "drop"}, "mode"),
        ({"buffer_size": 0}, "buffer_size"),
        ({"buffer_size": -5}, "buffer_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"workers": 0}, "workers"),
        ({"max_retries": -1}, "max_retries"),
        ({"min_level": "loud"}, "min_level"),
        ({"sample": 1.5}, "sample"),
        ({"rate_limit": "ten per sec"}, "rate_limit"),
    ],
)
def test_bad_handler_options_name_the_parameter(kwargs: dict[str, object], param: str) -> None:
    """Every bad handler option raises ConfigError naming the handler, the parameter and what
    is allowed."""
    hub = Telemetry()
    with pytest.raises(ConfigError) as info:
        hub.add_handler("m", MemorySink(), **kwargs)  # type: ignore[arg-type]
    assert (info.value.handler, info.value.param) == ("m", param)
    assert str(info.value).startswith(f"handler 'm': {param}")


def test_bad_hub_options_and_duplicate_names() -> None:
    """Bad hub options and a handler name used twice raise ConfigError at construction."""
    with pytest.raises(ConfigError, match="min_level must be one of 'debug', 'error'"):
        Telemetry(min_level="verbose")
    with pytest.raises(ConfigError, match=r"^handler 'x': sink must be a telemetry\.sinks\.Sink"):
        Telemetry(handlers={"x": object()})  # type: ignore[dict-item]
    hub = Telemetry(handlers={"x": MemorySink()})
    with pytest.raises(ConfigError, match="unique"):
        hub.add_handler("x", MemorySink())
    modes = "'backpressure', 'blocking', 'dropping', 'sliding'"
    with pytest.raises(ConfigError, match=f"mode must be one of {modes}"):
        Telemetry(handlers={"y": {"sink": MemorySink(), "mode": "fast"}})


async def test_a_bad_level_at_the_call_site_raises() -> None:
    """A misspelt level is a programming error: ConfigError naming 'level'."""
    async with Telemetry(handlers={"m": MemorySink()}) as hub:
        with pytest.raises(ConfigError, match=r"^level must be one of"):
            await hub.log("verbose", "x")
        with pytest.raises(ConfigError, match=r"^level"):
            tel.log_nowait("loud", "x")


async def test_stats_and_health() -> None:
    """Stats count per handler; health reports drops since the last look, then recovers."""
    sink = MemorySink()
    async with Telemetry(handlers={"m": {"sink": sink, "buffer_size": 4}}) as hub:
        assert hub.health().healthy
        for i in range(10):
            hub.log_nowait("info", "x", i=i)
        health = hub.health()
        assert not health.healthy
        assert any("6 dropped (queue_full=6)" in p for p in health.problems)
        await hub.flush()
        assert hub.health().healthy, "no new drops since the last look"
        stats = hub.stats()
        h = stats.handlers["m"]
        assert (h.emitted, h.written, h.dropped, h.peak_queued) == (10, 4, {"queue_full": 6}, 4)
        assert h.latency.count == h.batches >= 1 and h.latency.max_us >= h.latency.p50_us
    final = hub.stats()
    assert final.to_dict()["handlers"]["m"]["written"] == 4
    assert not hub.health().healthy  # the hub is closed


async def test_open_hub_garbage_collected_warns() -> None:
    """A hub left open warns with ResourceWarning when it is collected (anyio's habit)."""
    import gc
    import warnings

    hub = Telemetry(handlers={"m": MemorySink()})
    await hub.open()
    await hub.aclose()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hub._state = "open"  # pretend it was never closed
        del hub
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
    await asyncio.sleep(0)


# -- a hub with no handlers ----------------------------------------------------------------------

_NO_HANDLERS = """
import asyncio, sys
import telemetry as tel
from telemetry.sinks import MemorySink

async def main():
    async with tel.Telemetry() as hub:
        await hub.log("info", "user joined", room="lobby")
    print("default", sorted(hub.stats().handlers), hub.stats().written)
    hub = tel.Telemetry()
    hub.add_handler("m", MemorySink())  # a handler added before open: no console
    async with hub:
        await hub.log("info", "to memory only")
    print("added", sorted(hub.stats().handlers))
    for _ in range(2):
        async with tel.Telemetry(handlers={}) as hub:
            await hub.log("info", "nowhere")
            await hub.log("warn", "nowhere either")
        s = hub.stats()
        print("empty", s.emitted, s.written, s.dropped, hub.health().problems)

asyncio.run(main())
"""


def _run_script(source: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    environ["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", source],
        capture_output=True,
        text=True,
        env={**environ, **env},
        timeout=60,
        check=True,
    )


def test_a_hub_given_no_handlers_writes_to_the_console() -> None:
    """Telemetry() opened with no handler writes each signal to stderr as readable text (as
    the no-hub fallback does), through a handler named console that counts it as written; a
    handler added before open replaces the console."""
    proc = _run_script(_NO_HANDLERS)
    out = proc.stdout.splitlines()
    assert out[:2] == ["default ['console'] 1", "added ['m']"]
    (line,) = [ln for ln in proc.stderr.splitlines() if "user joined" in ln]
    assert re.fullmatch(r"\S+Z INFO  \[__main__\] user joined room=lobby", line)
    assert "to memory only" not in proc.stderr


def test_a_hub_given_no_handlers_writes_json_when_told() -> None:
    """With TELEMETRY_FORMAT=json the console of a hub without handlers writes JSON lines."""
    proc = _run_script(_NO_HANDLERS, TELEMETRY_FORMAT="json")
    (line,) = [ln for ln in proc.stderr.splitlines() if "user joined" in ln]
    assert json.loads(line)["data"] == {"room": "lobby"}


def test_a_hub_given_empty_handlers_counts_what_it_drops_and_says_so_once() -> None:
    """handlers={} on purpose: every signal is counted as dropped (no_handler), so emitted ==
    written + dropped; health names it; stderr says so once, not once per hub."""
    proc = _run_script(_NO_HANDLERS)
    empty = [ln for ln in proc.stdout.splitlines() if ln.startswith("empty")]
    expected = "empty 2 0 {'no_handler': 2} ('hub is closed', 'hub has no handler: 2 dropped')"
    assert empty == [expected, expected]
    said = [ln for ln in proc.stderr.splitlines() if "handlers={}" in ln]
    assert len(said) == 1 and "no_handler" in said[0]
    assert "nowhere" not in proc.stderr


async def test_no_handler_drops_keep_the_hub_accounted() -> None:
    """A hub whose last handler is removed counts what follows as no_handler drops, and its
    stats balance: emitted == written + every drop, the hub's own included."""
    async with Telemetry(handlers={"m": MemorySink()}) as hub:
        await hub.log("info", "written")
        await hub.remove_handler("m")
        await hub.log("info", "dropped")
        await hub.event("dropped.too")
    stats = hub.stats()
    assert (stats.emitted, stats.no_handler) == (3, 2)
    assert stats.emitted == 1 + sum(stats.dropped.values())
