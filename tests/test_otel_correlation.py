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
