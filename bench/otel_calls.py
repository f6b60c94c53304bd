"""What FastAPI's native telemetry's calls cost per request on aiotelemetry's providers, alone.

    python bench/otel_calls.py [REQUESTS] [ROUNDS] [--no-metrics] [--encode]   # 5000, 7

Replays, without FastAPI, the OpenTelemetry API calls FastAPI 0.165's native telemetry makes
for one ``GET /items/{item_id}`` (``fastapi/telemetry/_asgi.py`` and ``_api.py``): the active
requests counter up, a server span started with its attributes and made current, three
operation spans (dependencies, endpoint, serialization) as current spans with one attribute
each, the route and status set, the duration histogram recorded, the counter down, the span
ended; with ``--no-metrics``, the spans only. The signals go to a handler whose sink writes
nothing, so what is counted is the providers and the hub's emitting path, not a sink; with
``--encode`` the sink encodes each batch as the OTLP sink's protobuf requests of up to
``BATCH`` spans (resource, scope, spans; joined as ``OTLPSink`` joins a small request) and
sends nothing: the providers and the encoding, without the transport. Prints the CPU time per
request (the least and the median over the rounds).

The machine's load moves these figures by tens of percent; for a comparison that does not
depend on it, count instructions instead, the difference of two sizes cancelling the start-up:
``valgrind --tool=callgrind --callgrind-out-file=/dev/null python bench/otel_calls.py N 1``
for two values of N (its ``Collected`` line).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["BATCH", "main", "measure"]

#: Spans per encoded request with ``--encode``: about what the OTLP sink's worker takes at a
#: time in the service benchmark (a few requests' spans).
BATCH = 32


def _calls(metrics: bool) -> Any:
    """One request's calls, as FastAPI makes them, on the global providers."""
    from opentelemetry import context as otel_context
    from opentelemetry import metrics as metrics_api
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    tracer = trace.get_tracer_provider().get_tracer("fastapi", "0.165.0")
    meter = metrics_api.get_meter_provider().get_meter("fastapi", "0.165.0")
    duration = meter.create_histogram(
        "http.server.request.duration",
        unit="s",
        explicit_bucket_boundaries_advisory=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
    )
    active = meter.create_up_down_counter("http.server.active_requests", unit="{request}")
    key = otel_context.create_key("fastapi.request")

    def request() -> None:
        attributes: dict[str, Any] = {
            "url.scheme": "http",
            "http.request.method": "GET",
            "network.protocol.version": "1.1",
        }
        active_attributes = {k: v for k, v in attributes.items() if k != "network.protocol.version"}
        if metrics:
            active.add(1, active_attributes)
        started = time.perf_counter()
        parent = otel_context.Context()
        parent_token = otel_context.attach(parent)
        span = tracer.start_span(
            "GET",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                **attributes,
                "server.address": "127.0.0.1",
                "server.port": 8000,
                "url.path": "/items/1",
            },
        )
        token = otel_context.attach(otel_context.set_value(key, object()))
        with trace.use_span(
            span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        ):
            span.set_attribute("http.route", "/items/{item_id}")
            span.update_name("GET /items/{item_id}")
            for name in ("dependencies", "endpoint", "serialization"):
                with tracer.start_as_current_span(
                    f"fastapi.{name}",
                    attributes={"code.function.name": "bench.read_item"},
                    record_exception=False,
                    set_status_on_exception=False,
                ):
                    pass
            attributes["http.route"] = "/items/{item_id}"
            attributes["http.response.status_code"] = 200
            span.set_attributes(attributes)
            if metrics:
                duration.record(max(0, time.perf_counter() - started), attributes)
                active.add(-1, active_attributes)
            span.end()
        otel_context.detach(token)
        otel_context.detach(parent_token)

    return request


async def measure(
    requests: int, rounds: int, *, metrics: bool = True, encode: bool = False
) -> dict[str, Any]:
    """CPU µs per request in each round, what the hub wrote and dropped, and with ``encode``
    the bytes the spans made."""
    import telemetry as tel
    from telemetry.integrations.opentelemetry import install
    from telemetry.sinks import Sink

    encoded = [0]

    class Discard(Sink):
        kind = "discard"

        def __init__(self) -> None:
            super().__init__()
            self._enc: Any = None
            if encode:
                from telemetry.sinks._otlp_proto import ProtoSpans

                self._enc = ProtoSpans({"service.name": "bench"}, "0")

        async def write(self, batch: Sequence[Any]) -> None:
            enc = self._enc
            if enc is None:
                return
            for i in range(0, len(batch), BATCH):
                request = enc.batch()
                for sig in batch[i : i + BATCH]:
                    request.add(sig)
                encoded[0] += len(b"".join(request.parts()))

    install()
    request = _calls(metrics)
    per_round = []
    big = 1 << 20  # room for every span of a round: the sink's pace is not measured here
    hub = tel.Telemetry(handlers={"discard": {"sink": Discard(), "buffer_size": big}})
    async with hub:
        for _ in range(rounds):
            gc.collect()
            t0 = time.process_time()
            for i in range(requests):
                request()
                if i % 256 == 255:
                    await asyncio.sleep(0)  # the worker takes what is queued
            per_round.append((time.process_time() - t0) * 1e6 / max(requests, 1))
            await asyncio.sleep(0.01)
    stats = await hub.aclose()
    return {
        "us": per_round,
        "written": stats.written,
        "dropped": dict(stats.dropped),
        "bytes": encoded[0],
    }


def main(argv: list[str] | None = None) -> int:
    """Measure and print."""
    args = sys.argv[1:] if argv is None else argv
    metrics = "--no-metrics" not in args
    numbers = [int(a) for a in args if a.isdigit()]
    requests = numbers[0] if numbers else 5000
    rounds = numbers[1] if len(numbers) > 1 else 7
    encode = "--encode" in args
    res = asyncio.run(measure(requests, rounds, metrics=metrics, encode=encode))
    us = res["us"]
    print(
        f"{'spans and metrics' if metrics else 'spans'}{', encoded' if encode else ''}: "
        f"{min(us):.1f} µs per request at least, "
        f"{statistics.median(us):.1f} µs median over {rounds} rounds of {requests:,}; "
        f"written {res['written']:,}, dropped {res['dropped'] or 'none'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
