"""The app of the service benchmark, one set-up per process: a FastAPI app under uvicorn.

    python -m bench.service_app SETUP PORT OUT [OTLP_ENDPOINT]

serves ``GET /items/{item_id}`` and a websocket echo at ``/ws`` on 127.0.0.1:PORT (one worker,
uvicorn's access log off) with the set-up SETUP (:data:`SETUPS`), until SIGTERM or SIGINT;
then writes ``OUT/server.json``: the requests and websocket messages the endpoints served,
the full (generation 2) garbage collections seen in the process (counted with
``gc.callbacks``: how many, the longest, their total), and what the set-up reports it wrote.
The records each set-up wrote are in ``OUT`` (a file) or at the receiver (OTLP); the driver
(:mod:`bench.service`) counts them. On SIGUSR1 it prints ``served REQUESTS MESSAGES`` (what
the endpoints served so far) on its standard output.
"""

# No "from __future__ import annotations": FastAPI reads the endpoints' annotations, and
# WebSocket is imported where the endpoints are defined.

import gc
import json
import os
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["SETUPS", "GcWatch", "build"]

#: The set-ups, in the order of the table. ``ws-*`` are driven by the websocket client.
SETUPS = (
    "bare",
    "passthrough",
    "aiotelemetry",
    "aiotelemetry-nomw",
    "aiotelemetry-otlp",
    "structlog",
    "otel-sdk",
    "otel-providers",
    "native-sdk",
    "native-sdk-metrics",
    "native-ours",
    "native-ours-traces",
    "ws-bare",
    "ws-aiotelemetry",
)


#: Requests (or messages) served before promotions are counted (``BENCH_GC_DETAIL=1``).
DETAIL_AFTER = 2000


class GcWatch:
    """Garbage collections in this process: full (generation 2) ones (how many, the longest,
    the total) and young ones; with ``detail`` (``BENCH_GC_DETAIL=1``, dear: it lists the old
    generation around each generation-1 collection) also the objects promoted to the old
    generation, and their most common types, once ``counted()`` (the requests and messages
    served) reaches :data:`DETAIL_AFTER`: start-up's own promotions are not the requests'."""

    def __init__(self, detail: bool = False, counted: Callable[[], int] = lambda: 0) -> None:
        self.full = 0
        self.young = 0
        self.longest_ms = 0.0
        self.total_ms = 0.0
        self.collected = 0
        self.detail = detail
        self._counted = counted
        #: What ``counted()`` said when promotions started to be counted.
        self.detail_from: int | None = None
        self.promoted = 0
        self.promoted_types: Counter[str] = Counter()
        self._t0 = 0
        self._old: set[int] = set()
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        generation = info.get("generation")
        if phase == "stop":
            self.collected += info.get("collected", 0)
        if (
            generation == 1
            and self.detail
            and self.detail_from is None
            and self._counted() >= DETAIL_AFTER
        ):
            self.detail_from = self._counted()
        if generation == 1 and self.detail_from is not None:
            if phase == "start":
                self._old = {id(o) for o in gc.get_objects(2)}
            else:
                new = [o for o in gc.get_objects(2) if id(o) not in self._old]
                self.promoted += len(new)
                self.promoted_types.update(type(o).__qualname__ for o in new)
                self._old = set()
        if generation != 2:
            if phase == "stop":
                self.young += 1
            return
        if phase == "start":
            self._t0 = time.perf_counter_ns()
            return
        ms = (time.perf_counter_ns() - self._t0) / 1e6
        self.full += 1
        self.total_ms += ms
        self.longest_ms = max(self.longest_ms, ms)

    def report(self) -> dict[str, Any]:
        """The counts, for ``server.json``."""
        out: dict[str, Any] = {
            "gc_full": self.full,
            "gc_longest_ms": self.longest_ms,
            "gc_total_ms": self.total_ms,
            "gc_young": self.young,
            "gc_collected": self.collected,
        }
        if self.detail:
            out["gc_promoted"] = self.promoted
            out["gc_promoted_from"] = self.detail_from
            out["gc_promoted_types"] = dict(self.promoted_types.most_common(20))
        return out


class Served:
    """What the endpoints served, and what the set-up says it wrote when it closed."""

    def __init__(self) -> None:
        self.requests = 0
        self.messages = 0
        self.reported: dict[str, Any] = {}

    def on_close(self, stats: Any) -> None:
        """``telemetry_lifespan``'s ``on_close``: keep what the hub says it wrote and dropped."""
        self.reported = {
            "emitted": stats.emitted,
            "written": stats.written,
            "dropped": stats.dropped,
            # How the sinks wrote: batches, and the file sink's writes on the loop and in
            # its thread (after a write slower than SLOW_WRITE_S).
            "batches": sum(h.batches for h in stats.handlers.values()),
            "sink_counters": {name: dict(h.sink_counters) for name, h in stats.handlers.items()},
        }


def _routes(api: Any, served: Served, log: Callable[..., Any] | None) -> None:
    """The two endpoints; ``log`` is awaited once per request / message when given."""
    from fastapi import WebSocket, WebSocketDisconnect

    if log is None:

        @api.get("/items/{item_id}")
        async def read_item(item_id: int) -> dict[str, Any]:
            served.requests += 1
            return {"item_id": item_id, "name": "widget"}

        @api.websocket("/ws")
        async def echo(ws: WebSocket) -> None:
            await ws.accept()
            try:
                while True:
                    text = await ws.receive_text()
                    served.messages += 1
                    await ws.send_text(text)
            except WebSocketDisconnect:
                pass

        return

    @api.get("/items/{item_id}")
    async def read_item_logged(item_id: int) -> dict[str, Any]:
        served.requests += 1
        await log("info", "item read", item_id=item_id)
        return {"item_id": item_id, "name": "widget"}

    @api.websocket("/ws")
    async def echo_logged(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                text = await ws.receive_text()
                served.messages += 1
                await log("info", "echo", size=len(text))
                await ws.send_text(text)
        except WebSocketDisconnect:
            pass


def _passthrough(api: Any) -> Any:
    """The least any pure ASGI middleware that sees the response does: a frame around the app
    and a ``send`` of its own that reads each message's type and passes it on. What a
    middleware costs before it records anything: the floor under every set-up with one (it
    is structlog's access-log middleware below without its request id and its record)."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await api(scope, receive, send)
            return
        await api(scope, receive, _noting_status(send, [0]))

    return middleware


def _noting_status(send: Any, status: list[int]) -> Any:
    """``send``, noting the response's status in ``status[0]``: the ``send`` of structlog's
    access-log middleware and of the floor set-up, the same code in both."""

    async def send_status(message: Any) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]
        await send(message)

    return send_status


def _aiotelemetry(out: Path, served: Served, sink: Any, middleware: bool = True) -> Any:
    """The documented set-up: ``telemetry_lifespan`` + ``TelemetryMiddleware`` + one sink."""
    from fastapi import FastAPI

    import telemetry as tel
    from telemetry.integrations.asgi import TelemetryMiddleware, telemetry_lifespan

    api = FastAPI(lifespan=telemetry_lifespan(lambda: {"out": sink()}, on_close=served.on_close))
    _routes(api, served, tel.log)
    return TelemetryMiddleware(api) if middleware else api


def _structlog(out: Path, served: Served) -> Any:
    """structlog's usual recipe: orjson to a file, an access-log middleware with a request id."""
    import contextlib

    import orjson
    import structlog
    from fastapi import FastAPI

    stream = (out / "structlog.jsonl").open("wb")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(20),
        logger_factory=structlog.BytesLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    log = structlog.get_logger()

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        stream.close()

    api = FastAPI(lifespan=lifespan)

    async def info(level: str, msg: str, **kw: Any) -> None:
        log.info(msg, **kw)

    _routes(api, served, info)

    async def access_log(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await api(scope, receive, send)
            return
        status = [500]
        send_status = _noting_status(send, status)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=uuid.uuid4().hex)
        t0 = time.perf_counter()
        try:
            await api(scope, receive, send_status)
        finally:
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status[0],
                duration_ms=(time.perf_counter() - t0) * 1000,
            )

    return access_log


def _otel_sdk(out: Path, served: Served, endpoint: str) -> Any:
    """OpenTelemetry's FastAPI instrumentation, the SDK, a BatchSpanProcessor, OTLP export."""
    import contextlib

    from fastapi import FastAPI
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        provider.shutdown()

    api = FastAPI(lifespan=lifespan)
    _routes(api, served, None)
    FastAPIInstrumentor.instrument_app(api, tracer_provider=provider)
    return api


def _otel_providers(out: Path, served: Served) -> Any:
    """FastAPI's OpenTelemetry instrumentation through aiotelemetry's providers (a file sink)."""
    from fastapi import FastAPI
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    import telemetry as tel
    from telemetry.integrations.asgi import telemetry_lifespan
    from telemetry.integrations.opentelemetry import install  # type: ignore[import-not-found]
    from telemetry.sinks import FileSink

    api = FastAPI(
        lifespan=telemetry_lifespan(
            lambda: {"out": FileSink(out / "app.jsonl")}, on_close=served.on_close
        )
    )
    _routes(api, served, tel.log)
    install()
    FastAPIInstrumentor.instrument_app(api)
    return api


def _native_sdk(out: Path, served: Served, endpoint: str, metrics: bool = False) -> Any:
    """FastAPI's native telemetry on the OpenTelemetry SDK: a BatchSpanProcessor, OTLP export;
    with ``metrics`` also the SDK's meter provider (its two HTTP metrics exported over OTLP
    by a PeriodicExportingMetricReader), as ``install()`` records them for ours."""
    import contextlib

    from fastapi import FastAPI
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))
    # A global provider is what switches FastAPI's native telemetry on.
    trace.set_tracer_provider(provider)
    closing: list[Any] = [provider]
    if metrics:
        from opentelemetry import metrics as metrics_api
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        reader = PeriodicExportingMetricReader(OTLPMetricExporter(f"{endpoint}/v1/metrics"))
        meters = MeterProvider(metric_readers=[reader])
        metrics_api.set_meter_provider(meters)
        closing.append(meters)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        for each in closing:
            each.shutdown()

    api = FastAPI(lifespan=lifespan)
    _routes(api, served, None)
    return api


def _native_ours(out: Path, served: Served, endpoint: str, metrics: bool = True) -> Any:
    """FastAPI's native telemetry on aiotelemetry's providers (``install()``), the OTLP sink.
    ``install()`` sets the meter provider too, so FastAPI records its two HTTP metrics (pushed
    over OTLP by the sink); without ``metrics`` FastAPI is told not to (``telemetry=
    {"metrics": False}``): spans only, as the SDK set-up without its meter provider."""
    from fastapi import FastAPI

    from telemetry.integrations.asgi import telemetry_lifespan
    from telemetry.integrations.opentelemetry import install
    from telemetry.sinks import OTLPSink

    install()
    signals = ["logs", "traces", "metrics"] if metrics else ["logs", "traces"]
    api = FastAPI(
        lifespan=telemetry_lifespan(
            lambda: {"otlp": OTLPSink(endpoint, signals=signals)},
            on_close=served.on_close,
        ),
        telemetry={"metrics": metrics},
    )
    _routes(api, served, None)
    return api


def build(setup: str, out: Path, served: Served, endpoint: str = "") -> Any:
    """The ASGI app of ``setup``; ``ImportError`` when it needs what is not installed."""
    from fastapi import FastAPI

    from telemetry.sinks import FileSink

    if setup in ("bare", "ws-bare", "passthrough"):
        api = FastAPI()
        _routes(api, served, None)
        return _passthrough(api) if setup == "passthrough" else api
    if setup in ("aiotelemetry", "ws-aiotelemetry"):
        return _aiotelemetry(out, served, lambda: FileSink(out / "app.jsonl"))
    if setup == "aiotelemetry-nomw":
        return _aiotelemetry(out, served, lambda: FileSink(out / "app.jsonl"), middleware=False)
    if setup == "aiotelemetry-otlp":
        from telemetry.sinks import OTLPSink

        return _aiotelemetry(out, served, lambda: OTLPSink(endpoint))
    if setup == "structlog":
        return _structlog(out, served)
    if setup == "otel-sdk":
        return _otel_sdk(out, served, endpoint)
    if setup == "otel-providers":
        return _otel_providers(out, served)
    if setup in ("native-sdk", "native-sdk-metrics"):
        return _native_sdk(out, served, endpoint, metrics=setup == "native-sdk-metrics")
    if setup in ("native-ours", "native-ours-traces"):
        return _native_ours(out, served, endpoint, metrics=setup == "native-ours")
    raise ValueError(f"unknown set-up {setup!r}; one of {', '.join(SETUPS)}")


def main(argv: list[str]) -> int:
    """Serve one set-up until SIGTERM; then write ``server.json``."""
    import uvicorn

    setup, port, out = argv[0], int(argv[1]), Path(argv[2])
    endpoint = argv[3] if len(argv) > 3 else ""
    served = Served()
    try:
        app = build(setup, out, served, endpoint)
    except ImportError as exc:
        (out / "server.json").write_text(json.dumps({"na": f"not available: {exc}"}))
        print("na", flush=True)
        return 0
    watch = GcWatch(
        detail=os.environ.get("BENCH_GC_DETAIL") == "1",
        counted=lambda: served.requests + served.messages,
    )
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, access_log=False, log_level="warning", workers=1
    )
    server = uvicorn.Server(config)
    # uvicorn restores the handlers it found and raises the signal again once it has shut
    # down: a handler that does nothing lets the report below be written.
    signal.signal(signal.SIGTERM, lambda *_: None)
    # What was served so far, on request (bench.service_instructions counts a window with it).
    signal.signal(
        signal.SIGUSR1,
        lambda *_: print(f"served {served.requests} {served.messages}", flush=True),
    )
    server.run()
    report = {
        "requests": served.requests,
        "messages": served.messages,
        "reported": served.reported,
        **watch.report(),
    }
    (out / "server.json").write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
