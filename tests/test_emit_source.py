"""The generated emitters in the open: named, registered in linecache, their source kept, and
the source of the main shapes pinned by golden files.

A change to a template shows in review as a change to ``tests/golden/``: rerun with
``UPDATE_GOLDEN=1`` to rewrite the files, then read the diff.
"""

from __future__ import annotations

import gc
import inspect
import linecache
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from telemetry import ConfigError, Signal, Telemetry, _otel
from telemetry._emit_source import OTEL_LINES, signal_call
from telemetry.sinks import MemorySink
from telemetry.testing import capture_signals

GOLDEN = Path(__file__).parent / "golden"


def _emitter(hub: Telemetry, level: str = "info") -> Any:
    return hub._table[level]


def _without_otel(source: str) -> str:
    """The source as compiled without opentelemetry-api (the golden files have it)."""
    block = "".join(f"    {line}\n" for line in OTEL_LINES)
    return source.replace(block, "")


def _check_golden(name: str, source: str) -> None:
    path = GOLDEN / f"emit_{name}.py.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1" and _otel.available():
        path.write_text(source)
    golden = path.read_text()
    assert source == (golden if _otel.available() else _without_otel(golden))


def _no_handler() -> Telemetry:
    return Telemetry(handlers={})


def _one_handler() -> Telemetry:
    return Telemetry(handlers={"memory": MemorySink()})


def _handler_filter() -> Telemetry:
    hub = Telemetry()
    hub.add_handler("audit", MemorySink(), kind_filter=["event"])
    return hub


def _call_filters() -> Telemetry:
    return Telemetry(
        handlers={"memory": MemorySink()},
        min_level={"*": "info", "noisy.*": "error"},
        kind_filter={"deny": ["debug"]},
        sample=0.5,
        when=lambda sig: True,
    )


def _several_handlers() -> Telemetry:
    return Telemetry(
        handlers={
            "a": MemorySink(),
            "b": {"sink": MemorySink(), "min_level": "error"},
            "c": {"sink": MemorySink(), "mode": "dropping", "id_filter": ["x.*"]},
        }
    )


SHAPES: dict[str, Callable[[], Telemetry]] = {
    "no_handler": _no_handler,
    "one_handler": _one_handler,
    "handler_filter": _handler_filter,
    "call_filters": _call_filters,
    "several_handlers": _several_handlers,
}


@pytest.mark.parametrize("name", sorted(SHAPES))
async def test_the_source_of_each_main_shape_is_pinned(name: str) -> None:
    """The emitter an open hub compiles for ``info`` in each main shape is exactly the golden
    source: a template change cannot pass unseen."""
    async with SHAPES[name]() as hub:
        _check_golden(name, _emitter(hub).__source__)


async def test_the_source_with_capture_taps_is_pinned() -> None:
    """With a capture active the emitter shows each signal to the taps: pinned too."""
    async with _one_handler() as hub:
        with capture_signals():
            _check_golden("taps", _emitter(hub).__source__)


async def test_each_emitter_has_a_filename_naming_level_hub_and_shape() -> None:
    """An emitter's filename says what it is, for which level, hub and shape; two hubs'
    emitters never share one, and the nowait form has its own."""
    async with _several_handlers() as first, _one_handler() as second:
        a, b = _emitter(first, "warn"), _emitter(second, "warn")
        name = a.__code__.co_filename
        assert name.startswith(f"<telemetry emit warn {first._label} [3 handlers, filters ")
        assert b.__code__.co_filename.startswith(
            f"<telemetry emit warn {second._label} [1 handler] "
        )
        assert name != b.__code__.co_filename
        now = first._table_nowait["warn"].__code__.co_filename
        assert now.startswith(f"<telemetry emit_nowait warn {first._label} ")


async def test_inspect_and_linecache_read_an_emitter() -> None:
    """``inspect.getsource`` finds an emitter's source, and linecache holds it under its
    filename before any traceback asks."""
    async with _one_handler() as hub:
        emit = _emitter(hub)
        source = inspect.getsource(emit)
        assert source.startswith("def emit(kind, id, msg, data, error=None, more=None):")
        assert emit.__source__.startswith(source)
        lines = linecache.getlines(emit.__code__.co_filename)
        assert "".join(lines) == emit.__source__


async def test_a_traceback_through_an_emitter_shows_its_lines() -> None:
    """An error raised inside a generated emitter (a bad ``rate_limit``) has a traceback that
    names the emitter and shows the line that raised."""
    async with _one_handler() as hub:
        with pytest.raises(ConfigError) as info:
            await hub.signal("x", rate_limit="nonsense")
    text = "".join(traceback.format_exception(info.value))
    assert "<telemetry emit info hub" in text
    assert ", in emit_more\n    limiter = limiters[spec] = RateLimiter(rate)\n" in text


def test_debug_emit_prints_each_new_source(capsys: pytest.CaptureFixture[str]) -> None:
    """``TELEMETRY_DEBUG_EMIT=1`` prints every newly compiled source, under its filename."""
    hub = Telemetry(handlers={"memory": MemorySink()}, env={"TELEMETRY_DEBUG_EMIT": "1"})
    err = capsys.readouterr().err
    emit = _emitter(hub)
    assert f"# {emit.__code__.co_filename}\n{emit.__source__}" in err
    quiet = Telemetry(handlers={"memory": MemorySink()}, env={})
    assert _emitter(quiet) is not None and capsys.readouterr().err == ""


def test_a_hub_that_is_gone_takes_its_sources_out_of_linecache() -> None:
    """linecache does not grow with every hub ever made: a collected hub's entries go."""
    hub = _one_handler()
    name = _emitter(hub).__code__.co_filename
    assert name in linecache.cache
    del hub
    gc.collect()
    assert name not in linecache.cache


def test_the_signal_fields_the_emitters_fill_are_in_the_order_they_are_passed() -> None:
    """The emitters build Signal by position, fastest; the positions follow the struct's
    own field order, which is pinned here, and a template that names them out of order fails
    when it is generated."""
    assert Signal.__struct_fields__ == (
        "inst",
        "uid",
        "kind",
        "level",
        "host",
        "pid",
        "id",
        "ns",
        "msg",
        "data",
        "ctx",
        "location",
        "trace_id",
        "span_id",
        "error",
        "parent_id",
        "duration_ns",
        "sample",
        "thread",
        "task",
    )
    assert signal_call(inst="1", uid="u") == [
        "sig = Signal(",
        "    1,  # inst",
        "    u,  # uid",
        ")",
    ]
    with pytest.raises(AssertionError):
        signal_call(uid="u", inst="1")
