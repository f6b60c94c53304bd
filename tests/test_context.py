"""Bound context and spans: across await, into tasks, into threads, nested."""

from __future__ import annotations

import asyncio

import anyio.to_thread
import pytest

import telemetry as tel
from telemetry import Telemetry, _spans
from telemetry.sinks import MemorySink


@pytest.fixture
async def sink() -> MemorySink:
    return MemorySink()


async def test_bind_nests_and_per_signal_ctx_merges_over_it(sink: MemorySink) -> None:
    """bind() nests (inner wins); ctx= on one signal merges over the bound values."""
    async with Telemetry(handlers={"m": sink}) as hub:
        with tel.bind(request_id="r1", user="alice"):
            with tel.bind({"user": "bob", 7: "seven"}):
                await hub.log("info", "inner")
            await hub.signal("override", ctx={"request_id": "r2", 3: "three"})
        await hub.log("info", "outside")
    ctxs = [s.ctx for s in sink.signals]
    assert ctxs == [
        {"request_id": "r1", "user": "bob", "7": "seven"},
        {"request_id": "r2", "user": "alice", "3": "three"},
        {},
    ]


async def test_bind_works_as_async_context_manager_too(sink: MemorySink) -> None:
    """`async with tel.bind(...)` behaves as `with`."""
    async with Telemetry(handlers={"m": sink}) as hub, tel.bind(k=1):
        await hub.log("info", "x")
    assert sink.signals[0].ctx == {"k": 1}


async def test_context_follows_tasks_and_threads(sink: MemorySink) -> None:
    """Bound context reaches tasks created inside, asyncio.to_thread and anyio threads."""
    async with Telemetry(handlers={"m": sink}) as hub:

        async def child(name: str) -> None:
            await asyncio.sleep(0)
            await hub.log("info", name)

        with tel.bind(request_id="r9"):
            await asyncio.gather(child("task-a"), child("task-b"))
            await asyncio.to_thread(hub.log_nowait, "info", "asyncio-thread")
            await anyio.to_thread.run_sync(lambda: hub.log_nowait("info", "anyio-thread"))
            await hub.flush()
    by_msg = {s.msg: s for s in sink.signals}
    for name in ("task-a", "task-b", "asyncio-thread", "anyio-thread"):
        assert by_msg[name].ctx == {"request_id": "r9"}, name
    assert by_msg["asyncio-thread"].thread is not None, "off-loop signals name their thread"
    assert by_msg["task-a"].thread is None


async def test_a_task_binding_more_does_not_leak_to_its_parent(sink: MemorySink) -> None:
    """Binding inside a child task never changes what the parent sees."""
    async with Telemetry(handlers={"m": sink}) as hub:

        async def child() -> None:
            with tel.bind(child=True):
                await hub.log("info", "child")

        with tel.bind(parent=True):
            await asyncio.create_task(child())
            await hub.log("info", "parent")
    assert [s.ctx for s in sink.signals] == [{"parent": True, "child": True}, {"parent": True}]


async def test_span_records_duration_ids_and_nesting(
    sink: MemorySink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A span emits one signal at exit, its duration the time between its start and its
    end on the monotonic clock; children share its trace and name it as parent; signals
    inside carry its ids."""
    clock = [1_000_000]
    monkeypatch.setattr(_spans, "_perf_ns", lambda: clock[0])
    async with Telemetry(handlers={"m": sink}) as hub:
        async with hub.span("outer", table="users") as outer:
            await hub.log("info", "in outer")
            clock[0] += 2_000_000
            async with hub.span("inner") as inner:
                clock[0] += 10_000_000
                inner.set(rows=3)
            clock[0] += 3_000_000
        assert tel.current_span() is None
    log, inner_sig, outer_sig = sink.signals
    assert (inner_sig.kind, inner_sig.id, outer_sig.id) == ("span", "inner", "outer")
    assert outer_sig.data == {"table": "users"} and inner_sig.data == {"rows": 3}
    assert len(outer_sig.trace_id or "") == 32 and len(outer_sig.span_id or "") == 16
    assert inner_sig.trace_id == outer_sig.trace_id == log.trace_id
    assert inner_sig.parent_id == outer_sig.span_id == log.span_id == outer.span_id
    assert outer_sig.parent_id is None
    assert inner_sig.duration_ns == 10_000_000
    assert outer_sig.duration_ns == 15_000_000
    assert outer_sig.inst <= inner_sig.inst, "a span's time is its start"
    assert outer_sig.ns == __name__ and outer_sig.location is not None
    assert outer_sig.location.function == "test_span_records_duration_ids_and_nesting"


async def test_spans_follow_await_into_tasks(sink: MemorySink) -> None:
    """Spans opened in tasks created inside a span are its children."""
    async with Telemetry(handlers={"m": sink}) as hub:

        async def work(i: int) -> None:
            async with hub.span(f"work.{i}"):
                await asyncio.sleep(0.001 * i)

        async with hub.span("batch") as batch:
            await asyncio.gather(*(work(i) for i in range(3)))
    spans = {s.id: s for s in sink.signals}
    for i in range(3):
        assert spans[f"work.{i}"].parent_id == batch.span_id
        assert spans[f"work.{i}"].trace_id == batch.trace_id
    assert len({spans[f"work.{i}"].span_id for i in range(3)}) == 3


async def test_span_records_the_exception_and_reraises_it_unchanged(sink: MemorySink) -> None:
    """A block that raises: the span signal carries the error at level error, and the very
    same exception propagates."""
    boom = KeyError("missing")
    async with Telemetry(handlers={"m": sink}) as hub:
        with pytest.raises(KeyError) as info:
            async with hub.span("lookup"):
                raise boom
        assert info.value is boom
        with pytest.raises(ZeroDivisionError), hub.span("sync.block"):
            _ = 1 / 0
    lookup, sync_block = sink.signals
    assert lookup.level == "error" and lookup.error is not None
    assert lookup.error.type == "KeyError" and lookup.error.message == "'missing'"
    assert sync_block.error is not None and sync_block.error.type == "ZeroDivisionError"


async def test_traced_decorates_sync_and_async_functions(sink: MemorySink) -> None:
    """@traced runs each call in a span named after the function; errors are recorded."""

    @tel.traced()
    async def fetch(n: int) -> int:
        await tel.log("info", "fetching")
        return n * 2

    @tel.traced("compute.square", level="debug")
    def square(n: int) -> int:
        return n * n

    @tel.traced()
    def broken() -> None:
        raise ValueError("nope")

    async with Telemetry(handlers={"m": sink}, min_level="debug"):
        assert await fetch(21) == 42
        assert square(4) == 16
        with pytest.raises(ValueError, match="nope"):
            broken()
    log, fetch_span, square_span, broken_span = sink.signals
    assert fetch_span.id.endswith("fetch") and log.span_id == fetch_span.span_id
    assert fetch_span.location is not None and fetch_span.location.function.endswith("fetch")
    assert (square_span.id, square_span.level) == ("compute.square", "debug")
    assert broken_span.error is not None and broken_span.error.type == "ValueError"


async def test_error_signals_carry_structured_tracebacks_and_causes(sink: MemorySink) -> None:
    """tel.error returns the exception; the signal holds type, message, frames and the cause
    chain; log(..., error=exc) records it too."""

    def inner() -> None:
        raise OSError(2, "no such file")

    def outer() -> None:
        try:
            inner()
        except OSError as exc:
            raise RuntimeError("config unreadable") from exc

    async with Telemetry(handlers={"m": sink}) as hub:
        try:
            outer()
        except RuntimeError as exc:
            returned = await hub.error(exc, id="config.load")
            await hub.log("warn", "degraded", error=exc, retry=True)
            caught = exc
        assert returned is caught
        with pytest.raises(ValueError, match="bad input"):
            raise await tel.error(ValueError("bad input"))
    err, warn, raised = sink.signals
    assert (err.kind, err.level, err.id, err.msg) == (
        "error",
        "error",
        "config.load",
        "config unreadable",
    )
    assert err.error is not None and err.error.type == "RuntimeError"
    assert [f.function for f in err.error.frames][-1] == "outer"
    assert err.error.cause is not None and err.error.cause.type == "FileNotFoundError"
    assert err.error.cause.frames[-1].function == "inner"
    assert warn.kind == "log" and warn.error == err.error and warn.data == {"retry": True}
    assert raised.error is not None and raised.error.message == "bad input"


async def test_a_span_repr_shows_name_state_ids_and_duration() -> None:
    """repr(span) names the span and says whether it is new, running or ended (with its
    duration in ms), with its level and, once started, its trace, span and parent ids."""
    async with Telemetry(handlers={"m": MemorySink()}) as hub:
        outer = hub.span("db.query", level="debug", table="users")
        assert repr(outer) == "<Span 'db.query' new level=debug>"
        async with outer:
            ids = f"trace_id={outer.trace_id} span_id={outer.span_id}"
            assert repr(outer) == f"<Span 'db.query' running level=debug {ids}>"
            with hub.span("row") as inner:
                pass
        ended = repr(outer)
    assert ended.startswith("<Span 'db.query' ended ")
    assert ended.endswith(f" ms level=debug {ids}>")
    duration_ms = float(ended.split(" ended ")[1].split(" ms")[0])
    assert duration_ms == round(outer.duration_ns / 1e6, 3)  # type: ignore[operator]
    assert repr(inner).endswith(
        f"trace_id={outer.trace_id} span_id={inner.span_id} parent_id={outer.span_id}>"
    )


async def test_a_span_started_by_hand_takes_a_parent_and_binds_values(sink: MemorySink) -> None:
    """span.start(parent=, bound=) makes the span a child of a remote parent and binds the
    values for its duration (its own signal and those inside carry them); end() emits it and
    restores what was current, bound values included."""
    remote = tel.SpanContext(
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7"
    )
    async with Telemetry(handlers={"m": sink}) as hub:
        with tel.bind(app="shop"):
            span = hub.span("request")
            ctx = span.start(parent=remote, bound={"request_id": "r-7"})
            await hub.log("info", "inside")
            await span.end()
            assert tel.current_span() is None
            assert tel.current_context() == {"app": "shop"}
            failing = hub.span("failing")
            failing.start()
            failing.end_nowait(ValueError("no"))
    log, request, failed = sink.signals
    assert (ctx.trace_id, ctx.parent_id) == (remote.trace_id, remote.span_id)
    assert log.ctx == request.ctx == {"app": "shop", "request_id": "r-7"}
    assert (log.span_id, request.span_id, request.parent_id) == (
        ctx.span_id,
        ctx.span_id,
        remote.span_id,
    )
    assert request.trace_id == log.trace_id == remote.trace_id
    assert (failed.level, failed.error.type if failed.error else None) == ("error", "ValueError")
