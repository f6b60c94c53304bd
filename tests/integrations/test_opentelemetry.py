"""aiotelemetry as the OpenTelemetry SDK, in process: the providers, the tracer and its spans,
the logger, sampling and filtering, nesting with our own spans, bad input, and the hub option.

OpenTelemetry lets a global provider be set once per process; the ``installed`` fixture puts
the API's globals back afterwards (its own private state, for tests only), so that the other
tests of the suite see no provider."""

from __future__ import annotations

from tests.conftest import needs

needs("fastapi", "httpx", "opentelemetry.sdk", "opentelemetry.proto")

import asyncio
import gc
import sys
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fastapi import WebSocket
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import _logs, metrics, propagate, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry._logs import _internal as logs_internal
from opentelemetry.context import Context
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util._once import Once

import telemetry as tel
from telemetry import ConfigError, Signal, Telemetry
from telemetry._metrics._state import STATE
from telemetry.integrations import opentelemetry as otel
from telemetry.integrations._otel_metrics import MeterProvider
from telemetry.sinks import MemorySink, OTLPSink

from .._sinks import GatedSink
from ..conftest import assert_accounted
from ..sinks.otlp_receiver import receiving


def _reset_globals() -> None:
    trace._TRACER_PROVIDER = None
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    logs_internal._LOGGER_PROVIDER = None
    logs_internal._LOGGER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    STATE.enabled = False


@pytest.fixture
def installed(metrics_state: Any) -> Iterator[None]:
    _reset_globals()
    otel.install()
    try:
        yield
    finally:
        _reset_globals()


def spans(sink: MemorySink) -> dict[str, Signal]:
    return {s.id: s for s in sink.signals if s.kind == "span" and s.id is not None}


def test_install_sets_both_providers_once(installed: None) -> None:
    """install() makes ours the global tracer and logger providers; again, it changes nothing."""
    assert otel.installed()
    assert trace.get_tracer_provider() is otel.TRACER_PROVIDER
    assert _logs.get_logger_provider() is otel.LOGGER_PROVIDER
    assert isinstance(metrics.get_meter_provider(), MeterProvider) and STATE.enabled
    otel.install()
    assert trace.get_tracer_provider() is otel.TRACER_PROVIDER


def test_install_refuses_when_another_sdk_is_installed(metrics_state: Any) -> None:
    """With the OpenTelemetry SDK's provider already global, install() raises a ConfigError
    naming it and installs nothing."""
    _reset_globals()
    try:
        trace.set_tracer_provider(SdkTracerProvider())
        with pytest.raises(ConfigError, match=r"opentelemetry\.sdk\.trace\.TracerProvider"):
            otel.install()
        assert not isinstance(_logs.get_logger_provider(), otel.HubLoggerProvider)
        with pytest.raises(ConfigError, match="opentelemetry"):
            Telemetry({}, opentelemetry=True)
    finally:
        _reset_globals()


def test_the_hub_option_and_the_configuration_file_install(metrics_state: Any) -> None:
    """Telemetry(opentelemetry=True) and 'opentelemetry = true' in a configuration install
    the providers."""
    _reset_globals()
    try:
        Telemetry({}, opentelemetry=True)
        assert otel.installed()
        _reset_globals()
        Telemetry.from_config({"opentelemetry": True, "handlers": {"m": {"sink": "memory"}}})
        assert otel.installed()
        _reset_globals()
        Telemetry.from_config({"handlers": {"m": {"sink": "memory"}}})
        assert not otel.installed()
    finally:
        _reset_globals()


async def test_a_span_becomes_one_span_signal_with_everything_it_was_given(
    installed: None,
) -> None:
    """Name, scope, ids, kind, attributes of the API's types, events, links, status, explicit
    start and end times, a new name: all in the one signal."""
    sink = MemorySink()
    tracer = trace.get_tracer("app.orders")
    other = trace.SpanContext(0xABC, 0xDEF, is_remote=True)
    async with Telemetry({"m": sink}) as hub:
        span = tracer.start_span(
            "draft",
            kind=SpanKind.CLIENT,
            attributes={"n": 3, "ok": True, "tags": ["a", "b"], "ratio": 0.5},
            links=[Link(other, {"why": "batch"})],
            start_time=1_000,
        )
        assert span.is_recording()
        span.set_attribute("order.id", "o-1")
        span.set_attributes({"items": (1, 2)})
        span.add_event("priced", {"total": 12.5}, timestamp=1_500)
        span.add_link(trace.SpanContext(0x1, 0x2, is_remote=False))
        span.update_name("place")
        span.set_status(Status(StatusCode.OK))
        span.set_status(StatusCode.ERROR, "ignored: OK is final")
        sc = span.get_span_context()
        span.end(end_time=3_000)
        assert not span.is_recording()
    assert_accounted(hub.stats())
    sig = spans(sink)["place"]
    assert sig.ns == "app.orders" and sig.level == "info"
    assert sig.trace_id == f"{sc.trace_id:032x}" and sig.span_id == f"{sc.span_id:016x}"
    assert sig.parent_id is None
    assert sig.inst == 1_000 and sig.duration_ns == 2_000
    assert sig.data == {
        "n": 3,
        "ok": True,
        "tags": ("a", "b"),
        "ratio": 0.5,
        "order.id": "o-1",
        "items": (1, 2),
        "span.kind": "client",
        "otel.status_code": "OK",
        "span.events": [{"name": "priced", "time": 1_500, "attributes": {"total": 12.5}}],
        "span.links": [
            {
                "trace_id": f"{0xABC:032x}",
                "span_id": f"{0xDEF:016x}",
                "attributes": {"why": "batch"},
            },
            {"trace_id": f"{0x1:032x}", "span_id": f"{0x2:016x}"},
        ],
    }


async def test_start_as_current_span_as_block_and_decorator_records_an_escaping_exception(
    installed: None,
) -> None:
    """start_as_current_span works as a with-block and as a decorator of sync and async
    functions; an exception leaving it is re-raised, sets an error status, adds an exception
    event and becomes the signal's error."""
    sink = MemorySink()
    tracer = trace.get_tracer("app")

    @tracer.start_as_current_span("sync.fn")
    def sync_fn() -> int:
        return 1

    @tracer.start_as_current_span("async.fn")
    async def async_fn() -> int:
        return 2

    async with Telemetry({"m": sink}):
        assert sync_fn() == 1 and await async_fn() == 2
        with pytest.raises(KeyError), tracer.start_as_current_span("fails"):
            raise KeyError("k")
    got = spans(sink)
    assert {"sync.fn", "async.fn", "fails"} <= set(got)
    failed = got["fails"]
    assert failed.level == "error" and failed.error is not None
    assert failed.error.type == "KeyError" and failed.error.stacktrace
    assert failed.data["otel.status_code"] == "ERROR"
    assert failed.data["otel.status_description"] == "KeyError: 'k'"
    (event,) = failed.data["span.events"]
    assert event["name"] == "exception"
    assert event["attributes"] == {"exception.type": "KeyError", "exception.message": "'k'"}


async def test_current_span_is_a_new_span_per_call_restores_the_context_and_ends_as_asked(
    installed: None,
) -> None:
    """start_as_current_span: a decorated function makes a new span per call (the awaited
    one's covers the await), the outer span is current again after the block, a
    BaseException ends the span without an error status, and end_on_exit=False leaves it
    running."""
    sink = MemorySink()
    tracer = trace.get_tracer("app")

    @tracer.start_as_current_span("each")
    async def each() -> str:
        await asyncio.sleep(0)
        return f"{trace.get_current_span().get_span_context().span_id:016x}"

    async with Telemetry({"m": sink}):
        with tracer.start_as_current_span("outer") as outer:
            ids = [await each(), await each()]
            assert trace.get_current_span() is outer
        with pytest.raises(KeyboardInterrupt), tracer.start_as_current_span("interrupted"):
            raise KeyboardInterrupt
        with tracer.start_as_current_span("kept", end_on_exit=False) as kept:
            pass
        assert kept.is_recording()
        kept.end()
    each_spans = [s for s in sink.signals if s.id == "each"]
    assert sorted(s.span_id for s in each_spans) == sorted(ids) and ids[0] != ids[1]
    assert all(s.duration_ns and s.parent_id == spans(sink)["outer"].span_id for s in each_spans)
    interrupted = spans(sink)["interrupted"]
    assert "otel.status_code" not in interrupted.data and interrupted.error is None
    assert "kept" in spans(sink)


async def test_attributes_that_are_not_plain_are_cleaned_as_the_api_says(installed: None) -> None:
    """A span's attributes given as a dict of plain str keys and scalars are kept as given; an
    IntEnum value is kept (an int), an empty or non-str key and a None value are dropped."""
    import enum

    class Code(enum.IntEnum):
        OK = 200

    sink = MemorySink()
    tracer = trace.get_tracer("app")
    async with Telemetry({"m": sink}):
        tracer.start_span("plain", attributes={"a": "x", "b": 1, "c": 1.5, "d": True}).end()
        bad: Any = {"code": Code.OK, "": 1, 3: "k", "none": None, "ok": "y"}
        tracer.start_span("mixed", attributes=bad).end()
    got = spans(sink)
    assert got["plain"].data == {"a": "x", "b": 1, "c": 1.5, "d": True}
    assert got["mixed"].data == {"code": 200, "ok": "y"}


async def test_spans_nest_either_way_and_logs_carry_the_innermost_span(installed: None) -> None:
    """Ours inside theirs inside ours: each a child of the one around it, in one trace; a log
    inside each carries the innermost span's ids, and inject() propagates the current one."""
    sink = MemorySink()
    tracer = trace.get_tracer("lib")
    async with Telemetry({"m": sink}), tel.span("outer") as outer:
        with tracer.start_as_current_span("theirs") as theirs:
            await tel.log("info", "in theirs")
            async with tel.span("inner") as inner:
                await tel.log("info", "in inner")
                carrier: dict[str, str] = {}
                propagate.inject(carrier)
            theirs_carrier: dict[str, str] = {}
            propagate.inject(theirs_carrier)
    got = spans(sink)
    sc = theirs.get_span_context()
    theirs_id = f"{sc.span_id:016x}"
    assert got["theirs"].parent_id == outer.span_id
    assert got["inner"].parent_id == theirs_id
    assert {got[n].trace_id for n in ("outer", "theirs", "inner")} == {outer.trace_id}
    logs = {s.msg: s for s in sink.signals if s.kind == "log"}
    assert logs["in theirs"].span_id == theirs_id
    assert logs["in inner"].span_id == inner.span_id
    assert carrier["traceparent"] == f"00-{outer.trace_id}-{inner.span_id}-01"
    assert theirs_carrier["traceparent"] == f"00-{outer.trace_id}-{theirs_id}-01"


async def test_refused_spans_do_not_record_but_propagate_unsampled(installed: None) -> None:
    """Below the hub's level, under a namespace's higher level, or sampled out: a
    non-recording span (nothing emitted) whose context propagates with the sampled flag off;
    a namespace with its own lower level still records."""
    sink = MemorySink()
    async with Telemetry({"m": sink}, min_level={"*": "info", "noisy.*": "warn"}) as hub:
        refused = trace.get_tracer("noisy.lib").start_span("quiet")
        assert not refused.is_recording()
        assert isinstance(refused, trace.NonRecordingSpan)
        assert not refused.get_span_context().trace_flags.sampled
        with trace.use_span(refused):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            child = trace.get_tracer("app").start_span("child")
            child.end()
        refused.end()
        assert carrier["traceparent"].endswith("-00")
        assert hub.refused == 1
    got = spans(sink)
    assert "quiet" not in got
    assert got["child"].trace_id == f"{refused.get_span_context().trace_id:032x}"
    async with Telemetry({"m": MemorySink()}, min_level="warn"):
        assert not trace.get_tracer("app").start_span("x").is_recording()
    sampled = MemorySink()
    async with Telemetry({"m": sampled}, sample=0.0) as hub:
        assert not trace.get_tracer("app").start_span("x").is_recording()
        assert hub.refused == 1


async def test_the_logger_emits_log_signals_and_answers_enabled_from_the_filters(
    installed: None,
) -> None:
    """Logger.emit: level from the severity, event name as id, body, attributes, exception,
    the explicit context's span; Logger.enabled follows the hub's levels per namespace."""
    sink = MemorySink()
    logger = _logs.get_logger("app.jobs")
    quiet = _logs.get_logger("quiet.lib")
    remote = trace.SpanContext(0x1234, 0x5678, is_remote=True)
    ctx: Context = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    async with Telemetry({"m": sink}, min_level={"*": "info", "quiet.*": "error"}):
        assert logger.enabled(severity_number=SeverityNumber.INFO)
        assert not logger.enabled(severity_number=SeverityNumber.DEBUG)
        assert not quiet.enabled(severity_number=SeverityNumber.WARN)
        assert quiet.enabled(severity_number=SeverityNumber.ERROR2)
        logger.emit(
            body="job done",
            severity_number=SeverityNumber.WARN3,
            attributes={"job": 7},
            event_name="job.done",
            timestamp=42,
            context=ctx,
        )
        logger.emit(body={"structured": True}, severity_number=SeverityNumber.DEBUG)
        try:
            raise ValueError("nope")
        except ValueError as exc:
            logger.emit(body="failed", severity_number=SeverityNumber.ERROR, exception=exc)
        quiet.emit(body="dropped", severity_number=SeverityNumber.WARN)
        logger.emit(body={"structured": True})
        logger.emit(_logs.LogRecord(body="as a record", severity_number=SeverityNumber.FATAL))
    by_msg = {s.msg: s for s in sink.signals}
    done = by_msg["job done"]
    assert done.level == "warn" and done.id == "job.done" and done.ns == "app.jobs"
    assert done.data == {"job": 7} and done.inst == 42
    assert done.trace_id == f"{0x1234:032x}" and done.span_id == f"{0x5678:016x}"
    assert by_msg["failed"].error is not None and by_msg["failed"].error.type == "ValueError"
    assert "dropped" not in by_msg
    assert by_msg["as a record"].level == "fatal" and by_msg["as a record"].ns == "app.jobs"
    (structured,) = [s for s in sink.signals if s.msg is None]
    assert structured.level == "info" and structured.data == {"body": {"structured": True}}


async def test_the_providers_follow_the_current_hub(installed: None) -> None:
    """Tracers obtained once emit into whichever hub is current at each call."""
    tracer = trace.get_tracer("app")
    first, second = MemorySink(), MemorySink()
    async with Telemetry({"m": first}):
        tracer.start_span("one").end()
    async with Telemetry({"m": second}):
        tracer.start_span("two").end()
    assert list(spans(first)) == ["one"] and list(spans(second)) == ["two"]


async def test_spans_ended_on_the_loop_wait_for_room_instead_of_being_dropped(
    installed: None,
) -> None:
    """The API's calls cannot wait: on the loop, a span that finds the queue full is parked for
    the handler (as a signal from another thread is), not dropped as a ``*_nowait`` call's."""
    sink = GatedSink()
    tracer = trace.get_tracer("app")
    hub = Telemetry(handlers={"g": {"sink": sink, "buffer_size": 4, "batch_size": 2}})
    async with hub:
        for i in range(20):
            tracer.start_span(f"s{i}").end()
        # The sink holds its first batch, the queue is full: the rest wait their turn.
        assert hub.stats().handlers["g"].dropped == {}
        sink.gate.set()
    assert sorted(spans(sink)) == sorted(f"s{i}" for i in range(20))
    assert hub.stats().handlers["g"].dropped == {}
    assert_accounted(hub.stats())


@pytest.mark.parametrize(("held", "lost"), [(3, False), (60, True)])
async def test_parked_spans_outwait_a_slow_write_but_not_a_stuck_one(
    installed: None, held: int, lost: bool
) -> None:
    """A span parked on the loop waits fifty times ``max_wait`` for room: a write held three
    times ``max_wait`` (a slow sink on a busy loop) loses nothing; one held sixty times (a
    stuck sink) has the parked spans counted as ``stalled``."""
    sink = GatedSink()
    tracer = trace.get_tracer("app")
    max_wait = 0.02
    handler = {"sink": sink, "buffer_size": 4, "batch_size": 4, "max_wait": max_wait}
    async with Telemetry(handlers={"g": handler}) as hub:
        for i in range(12):
            tracer.start_span(f"s{i}").end()
        await sink.entered.wait()
        await asyncio.sleep(held * max_wait)  # the sink holds its batch that long
        sink.gate.set()
    dropped = hub.stats().handlers["g"].dropped
    assert (dropped.get("stalled", 0) > 0) is lost
    assert set(dropped) <= {"stalled"}
    assert len(spans(sink)) == 12 - dropped.get("stalled", 0)
    assert_accounted(hub.stats())


async def test_bad_input_is_dropped_counted_and_never_raised(installed: None) -> None:
    """Wrong attribute types and None keys are dropped, a huge attribute list is capped, a
    second end is ignored, a span never ended is counted, one ended on another thread or
    after its hub closed is delivered or counted, an exception without a traceback recorded."""
    before = otel.dropped()
    sink = MemorySink()
    tracer = trace.get_tracer("app")
    async with Telemetry({"m": sink}) as hub:
        span = tracer.start_span("bad", attributes={None: 1, "obj": object(), "mixed": [1, "a"]})  # type: ignore[dict-item]
        span.set_attributes({f"k{i}": i for i in range(500)})
        span.record_exception(RuntimeError("no traceback"))
        span.end()
        span.end()
        forgotten = tracer.start_span("forgotten")
        del forgotten
        gc.collect()
        elsewhere = tracer.start_span("elsewhere")
        t = threading.Thread(target=elsewhere.end, name="ender")
        t.start()
        t.join()
        late = tracer.start_span("late")
    late.end()
    stats = hub.stats()
    assert_accounted(stats)
    assert stats.handlers["m"].dropped.get("closed") == 1
    after = otel.dropped()
    assert after["attributes"] - before["attributes"] == 3 + (500 - 128)
    assert after["ended_twice"] - before["ended_twice"] == 1
    assert after["never_ended"] - before["never_ended"] == 1
    got = spans(sink)
    assert len(got["bad"].data) == 128 + 1  # the attribute limit, and the events
    assert got["bad"].error is not None and got["bad"].error.frames == ()
    assert got["elsewhere"].thread == "ender"
    assert "late" not in got


def produce(tracer: trace.Tracer, linked: trace.SpanContext) -> None:
    with tracer.start_as_current_span(
        "op", kind=SpanKind.PRODUCER, links=[Link(linked, {"k": 1})]
    ) as span:
        span.add_event("step", {"n": 1})
        raise ValueError("broken")


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
async def test_kind_status_events_and_links_reach_otlp(installed: None, protocol: str) -> None:
    """Through the OTLP sink (both encodings), decoded by the receiver: span kind, error
    status and its message, events (the exception event with its stacktrace) and links."""
    tracer = trace.get_tracer("app.otlp")
    linked = trace.SpanContext(0xAA, 0xBB, is_remote=True)
    async with receiving() as rx:
        sink = OTLPSink(rx.endpoint, protocol=protocol)
        async with Telemetry({"otlp": {"sink": sink, "mode": "blocking"}}):
            with pytest.raises(ValueError, match="broken"):
                produce(tracer, linked)
    (got,) = rx.spans()
    assert got.kind == trace_pb2.Span.SPAN_KIND_PRODUCER
    assert got.status.code == trace_pb2.Status.STATUS_CODE_ERROR
    assert got.status.message == "ValueError: broken"
    assert [e.name for e in got.events] == ["step", "exception"]
    exc_attrs = {kv.key: kv.value.string_value for kv in got.events[1].attributes}
    assert exc_attrs["exception.type"] == "ValueError"
    assert "Traceback" in exc_attrs["exception.stacktrace"]
    (link,) = got.links
    assert link.trace_id.hex() == f"{0xAA:032x}" and link.span_id.hex() == f"{0xBB:016x}"
    assert {kv.key for kv in got.attributes}.isdisjoint({"span.kind", "span.events"})


async def test_four_spans_a_request_from_a_busy_loop_all_reach_the_otlp_receiver(
    installed: None,
) -> None:
    """FastAPI's native pattern (a server span and three operation spans per request) from 32
    tasks that keep the loop busy (each request holds it a millisecond), into the OTLP sink
    with the defaults: every span reaches the real receiver, none is dropped."""
    import time

    tracer = trace.get_tracer("app.busy")

    async def client(requests: int) -> None:
        for i in range(requests):
            attrs = {"http.request.method": "GET", "url.path": f"/items/{i}", "client.port": i}
            with tracer.start_as_current_span("GET /items/{id}", kind=SpanKind.SERVER) as span:
                span.set_attributes(attrs)
                until = time.perf_counter() + 0.001  # the request's own work
                while time.perf_counter() < until:
                    pass
                for op in ("dependencies", "endpoint", "serialization"):
                    with tracer.start_as_current_span(op, attributes={"fastapi.op": op}):
                        pass
            await asyncio.sleep(0)

    # The receiver in a process of its own, as a collector is: one in a thread would wait for
    # this busy loop to let go of the GIL.
    from bench.otlp import Receiver

    with Receiver() as rx:
        hub = Telemetry({"otlp": OTLPSink(rx.endpoint)})
        async with hub, anyio.create_task_group() as tg:
            for _ in range(32):
                tg.start_soon(client, 40)
        received = rx.records()
    assert hub.stats().handlers["otlp"].dropped == {}
    assert received == 32 * 40 * 4
    assert_accounted(hub.stats())


def test_import_telemetry_neither_imports_nor_installs_the_providers() -> None:
    """import telemetry (and a hub opened without the option) imports none of the providers'
    modules and sets no global provider (checked in a fresh interpreter)."""
    import subprocess

    code = (
        "import sys, telemetry\n"
        "telemetry.Telemetry({})\n"
        "from opentelemetry import trace, _logs\n"
        "print(sorted(m for m in sys.modules if m.startswith('telemetry.integrations')),"
        " type(trace.get_tracer_provider()).__name__,"
        " type(_logs.get_logger_provider()).__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[] ProxyTracerProvider ProxyLoggerProvider"


@pytest.mark.parametrize("placement", ["add_middleware", "wrapping"])
async def test_the_middleware_yields_to_fastapis_server_span_and_keeps_the_request_id(
    installed: None, placement: str
) -> None:
    """FastAPI's native telemetry on and TelemetryMiddleware added inside the app or wrapped
    around it: one server span per request (FastAPI's), carrying the request id, which is
    also bound for the endpoint's signals and returned in the response header; a log in the
    endpoint is in its trace."""
    import httpx
    from fastapi import FastAPI

    from telemetry.integrations.asgi import REQUEST_SPAN_ID, TelemetryMiddleware

    from .servers import serve

    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        await tel.log("info", "said hello")
        return {"hello": "world"}

    served: Any = app
    if placement == "add_middleware":
        app.add_middleware(TelemetryMiddleware)
    else:
        served = TelemetryMiddleware(app)
    sink = MemorySink()
    async with (
        Telemetry({"m": sink}),
        serve(served) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as client,
    ):
        given = await client.get("/hello", headers={"x-request-id": "req-1"})
        generated = await client.get("/hello")
    assert given.headers["x-request-id"] == "req-1"
    servers = [s for s in sink.signals if s.kind == "span" and s.data.get("span.kind") == "server"]
    assert len(servers) == 2 and all(s.ns == "fastapi" for s in servers)
    assert not [s for s in sink.signals if s.id == REQUEST_SPAN_ID]
    by_rid = {s.data["request_id"]: s for s in servers}
    assert set(by_rid) == {"req-1", generated.headers["x-request-id"]}
    if placement == "add_middleware":  # FastAPI's span had started: its trace id
        rid = generated.headers["x-request-id"]
        assert by_rid[rid].trace_id == rid
    logs = [s for s in sink.signals if s.msg == "said hello"]
    assert {s.ctx["request_id"] for s in logs} == set(by_rid)
    for log in logs:
        assert log.trace_id == by_rid[log.ctx["request_id"]].trace_id


def test_with_no_hub_open_spans_and_records_go_to_the_stderr_fallback(
    installed: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before any hub is open, a span and a log record print on stderr, as tel.log does."""
    with trace.get_tracer("app").start_as_current_span("unhosted"):
        _logs.get_logger("app").emit(body="a record", severity_number=SeverityNumber.WARN)
    err = capsys.readouterr().err
    assert "a record" in err and "span unhosted" in err


_scalar = st.text(max_size=4) | st.integers() | st.floats(allow_nan=False) | st.booleans()
_any_value = (
    _scalar
    | st.none()
    | st.binary(max_size=3)
    | st.lists(_scalar | st.none(), max_size=4)
    | st.dictionaries(st.text(max_size=3), _scalar, max_size=2)
)


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.none() | st.text(max_size=4) | st.integers(), _any_value), max_size=50
    )
)
def test_attributes_keep_exactly_the_apis_value_types(items: list[tuple[Any, Any]]) -> None:
    """Any keys and values: a str key with a str, bool, int or float, or a homogeneous
    sequence of one of them (None items allowed), is kept (a sequence as a tuple); anything
    else is dropped and counted; nothing raises."""
    from telemetry.integrations import _otel_limits as limits

    before = otel.dropped()["attributes"]
    attrs: dict[str, Any] = {}
    for key, value in items:
        limits.add_attribute(attrs, key, value)
    expected: dict[str, Any] = {}
    dropped = 0
    for key, value in items:
        kinds = {
            next(t for t in (bool, str, int, float) if isinstance(x, t))
            for x in (value if isinstance(value, list) else [value])
            if isinstance(x, (bool, str, int, float))
        }
        plain = isinstance(value, (bool, str, int, float))
        seq_ok = (
            isinstance(value, list)
            and len(kinds) <= 1
            and all(x is None or isinstance(x, (bool, str, int, float)) for x in value)
        )
        if isinstance(key, str) and key and (plain or seq_ok):
            expected[key] = tuple(value) if isinstance(value, list) else value
        else:
            dropped += 1
    assert attrs == expected
    assert otel.dropped()["attributes"] - before == dropped


@pytest.mark.parametrize("placement", ["add_middleware", "wrapping"])
async def test_a_websocket_has_one_server_span_with_the_connection_id(
    installed: None, placement: str
) -> None:
    """A websocket connection with FastAPI's native telemetry and TelemetryMiddleware: one
    server span (FastAPI's) carrying the connection id, which the endpoint's signals carry
    too and the handshake returns."""
    from fastapi import FastAPI
    from websockets.asyncio.client import connect

    from telemetry.integrations.asgi import WEBSOCKET_SPAN_ID, TelemetryMiddleware

    from .servers import serve

    app = FastAPI()

    @app.websocket("/ws")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await tel.log("info", "connected")
        await ws.send_text((await ws.receive_text()).upper())
        await ws.close()

    served: Any = app
    if placement == "add_middleware":
        app.add_middleware(TelemetryMiddleware)
    else:
        served = TelemetryMiddleware(app)
    sink = MemorySink()
    async with Telemetry({"m": sink}), serve(served) as address:
        ws = await connect(f"ws://{address}/ws", additional_headers={"x-request-id": "c-1"})
        assert ws.response.headers["x-request-id"] == "c-1"
        await ws.send("hi")
        assert await ws.recv() == "HI"
        await ws.close()
    got = [s for s in sink.signals if s.kind == "span"]
    (server,) = [s for s in got if s.data.get("span.kind") == "server"]
    assert server.ns == "fastapi" and server.data["connection_id"] == "c-1"
    assert not [s for s in got if s.id == WEBSOCKET_SPAN_ID]
    (log,) = [s for s in sink.signals if s.msg == "connected"]
    assert log.ctx["connection_id"] == "c-1" and log.trace_id == server.trace_id


async def test_fastapis_own_instrumentor_works_on_the_providers(installed: None) -> None:
    """OpenTelemetry's FastAPI instrumentation (which reads the SDK's span properties, such as
    ``kind``, on the current span) records through the providers: the request answers and
    its server span is a signal."""
    needs("opentelemetry.instrumentation.fastapi")  # in the bench group, not the test group
    import httpx
    from fastapi import FastAPI
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    api = FastAPI()

    @api.get("/x")
    async def x() -> dict[str, int]:
        return {"ok": 1}

    FastAPIInstrumentor.instrument_app(api)
    sink = MemorySink()
    async with (
        Telemetry({"m": sink}),
        httpx.AsyncClient(transport=httpx.ASGITransport(api), base_url="http://t") as client,
    ):
        assert (await client.get("/x")).status_code == 200
    servers = [s for s in sink.signals if s.kind == "span" and s.data.get("span.kind") == "server"]
    assert [s.ns for s in servers] == ["opentelemetry.instrumentation.fastapi"]
