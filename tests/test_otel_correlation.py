"""Trace correlation with OpenTelemetry, both ways (opentelemetry-api installed, as in the test
environment): signals inside an OpenTelemetry span carry its ids and our spans become its
children; inside our spans, OpenTelemetry's propagation and spans see ours."""

from __future__ import annotations

from tests.conftest import needs

needs("opentelemetry.sdk")

from collections.abc import Iterator

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import telemetry as tel
from telemetry.sinks import MemorySink


@pytest.fixture
def otel() -> Iterator[tuple[trace.Tracer, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test"), exporter
    provider.shutdown()


def _hex(n: int, digits: int) -> str:
    return f"{n:0{digits}x}"


async def test_signals_in_an_opentelemetry_span_carry_its_ids(
    otel: tuple[trace.Tracer, InMemorySpanExporter],
) -> None:
    """A log emitted while an OpenTelemetry span is current carries its trace and span ids;
    a span of ours started there is its child, in its trace."""
    tracer, _ = otel
    sink = MemorySink()
    async with tel.Telemetry(handlers={"m": sink}) as hub:
        await hub.log("info", "before")
        with tracer.start_as_current_span("request") as outer:
            ctx = outer.get_span_context()
            await hub.log("info", "inside")
            hub.log_nowait("info", "inside, nowait")
            async with hub.span("ours", level="info"):
                await hub.log("info", "in ours")
        await hub.log("info", "after")
    by_msg = {s.msg or s.id: s for s in sink.signals}
    trace_id, span_id = _hex(ctx.trace_id, 32), _hex(ctx.span_id, 16)
    for msg in ("inside", "inside, nowait"):
        assert (by_msg[msg].trace_id, by_msg[msg].span_id) == (trace_id, span_id)
    ours = by_msg["ours"]
    assert ours.trace_id == trace_id and ours.parent_id == span_id and ours.span_id != span_id
    assert (by_msg["in ours"].trace_id, by_msg["in ours"].span_id) == (trace_id, ours.span_id)
    assert by_msg["before"].trace_id is None and by_msg["after"].trace_id is None


async def test_opentelemetry_sees_our_span_inside_it(
    otel: tuple[trace.Tracer, InMemorySpanExporter],
) -> None:
    """Inside a span of ours, the W3C traceparent OpenTelemetry injects (what an instrumented
    HTTP client sends) and the spans it starts carry our trace and our span as parent."""
    tracer, exporter = otel
    sink = MemorySink()
    async with tel.Telemetry(handlers={"m": sink}) as hub:
        async with hub.span("ours", level="info") as ours:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            with tracer.start_as_current_span("theirs"):
                await hub.log("info", "in theirs")
        carrier_after: dict[str, str] = {}
        propagate.inject(carrier_after)
    assert carrier["traceparent"] == f"00-{ours.trace_id}-{ours.span_id}-01"
    assert "traceparent" not in carrier_after  # detached when our span ended
    (theirs,) = exporter.get_finished_spans()
    assert _hex(theirs.context.trace_id, 32) == ours.trace_id
    assert theirs.parent is not None and _hex(theirs.parent.span_id, 16) == ours.span_id
    (log,) = [s for s in sink.signals if s.msg == "in theirs"]
    assert (log.trace_id, log.span_id) == (ours.trace_id, _hex(theirs.context.span_id, 16))


async def test_without_an_opentelemetry_span_nothing_changes() -> None:
    """No OpenTelemetry span current: our spans start their own traces, logs outside carry
    no ids."""
    sink = MemorySink()
    async with tel.Telemetry(handlers={"m": sink}) as hub:
        await hub.log("info", "plain")
        async with hub.span("root", level="info"):
            pass
    plain, root = sink.signals
    assert plain.trace_id is None and root.parent_id is None and root.trace_id


async def test_spans_alternate_between_ours_and_opentelemetrys(
    otel: tuple[trace.Tracer, InMemorySpanExporter],
) -> None:
    """ours > theirs > ours: each is the child of the one around it, in one trace."""
    tracer, exporter = otel
    sink = MemorySink()
    hub = tel.Telemetry(handlers={"m": sink})
    async with hub, hub.span("outer", level="info") as outer:
        with tracer.start_as_current_span("middle") as middle:
            async with hub.span("inner", level="info") as inner:
                pass
    mid = middle.get_span_context()
    assert inner.trace_id == outer.trace_id == _hex(mid.trace_id, 32)
    (finished,) = exporter.get_finished_spans()
    assert finished.parent is not None and _hex(finished.parent.span_id, 16) == outer.span_id
    (inner_sig,) = [s for s in sink.signals if s.id == "inner"]
    assert inner_sig.parent_id == _hex(mid.span_id, 16)


async def test_opentelemetry_sees_the_innermost_of_our_nested_spans() -> None:
    """Nested spans of ours: what OpenTelemetry injects is the innermost one, then the outer
    one again when it ends, then nothing; OpenTelemetry's context is restored exactly."""
    from opentelemetry import context

    before = context.get_current()
    hub = tel.Telemetry(handlers={"m": MemorySink()})
    async with hub, hub.span("outer", level="info") as outer:
        async with hub.span("inner", level="info") as inner:
            in_inner: dict[str, str] = {}
            propagate.inject(in_inner)
        in_outer: dict[str, str] = {}
        propagate.inject(in_outer)
    assert in_inner["traceparent"] == f"00-{outer.trace_id}-{inner.span_id}-01"
    assert in_outer["traceparent"] == f"00-{outer.trace_id}-{outer.span_id}-01"
    assert context.get_current() is before


async def test_a_span_of_ours_builds_nothing_of_opentelemetrys() -> None:
    """Starting spans of ours while OpenTelemetry is in use makes no OpenTelemetry span,
    span context or context object per span (one stand-in answers for the current span of
    ours): objects that would live as long as each span, such as a request."""
    import gc

    from opentelemetry import context

    watched = (trace.NonRecordingSpan, trace.SpanContext, context.Context)

    def count() -> int:
        return sum(isinstance(o, watched) for o in gc.get_objects())

    async with tel.Telemetry(handlers={"m": MemorySink()}) as hub:
        async with hub.span("warm-up", level="info"):
            pass
        open_spans = [hub.span(f"s{i}", level="info") for i in range(100)]
        gc.collect()
        before = count()
        for s in open_spans:
            s.start()
        during = count()
        assert trace.get_current_span().get_span_context().span_id == int(
            open_spans[-1].span_id or "0", 16
        )
        for s in reversed(open_spans):
            await s.end()
    assert during == before
