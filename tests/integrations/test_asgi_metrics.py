"""The middleware's HTTP server metrics, under uvicorn with a real HTTP client; and a FastAPI
service whose native telemetry measures through the meter provider, each request once."""

from __future__ import annotations

from tests.conftest import needs

needs(
    "fastapi",
    "httpx",
    "opentelemetry.metrics",
    "opentelemetry.proto",
    "prometheus_client",
    "starlette",
    "uvicorn",
)

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from telemetry._metrics._http import SCOPE
from telemetry._metrics._reader import MetricReader
from telemetry._metrics._state import MetricsState
from telemetry.integrations.asgi import TelemetryMiddleware

from .servers import serve

ROOT = Path(__file__).resolve().parents[2]


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hi")


async def boom(request: Request) -> PlainTextResponse:
    return PlainTextResponse("no", status_code=503)


starlette_app = Starlette(
    routes=[Route("/hello/{name}", hello), Route("/boom", boom, methods=["POST"])]
)


def by_name(state: MetricsState) -> dict[str, Any]:
    return {m.name: m for m in MetricReader(state=state).collect() if m.scope == SCOPE}


async def test_requests_are_measured_per_route_and_status(metrics_state: MetricsState) -> None:
    """Duration per method, route template, status, scheme and protocol version (error.type
    on a 5xx); the active requests back to zero once answered."""
    app = TelemetryMiddleware(starlette_app, metrics=True)
    async with serve(app) as where, httpx.AsyncClient(base_url=f"http://{where}") as client:
        for i in range(6):
            assert (await client.get(f"/hello/{i}")).status_code == 200
        assert (await client.post("/boom")).status_code == 503
        assert (await client.get("/nowhere")).status_code == 404
    got = by_name(metrics_state)
    duration = {
        (p.attrs["http.route"], p.attrs["http.response.status_code"]): p
        for p in got["http.server.request.duration"].points
    }
    assert set(duration) == {("/hello/{name}", 200), ("/boom", 503), ("/nowhere", 404)}
    ok = duration[("/hello/{name}", 200)]
    assert ok.count == 6 == sum(ok.buckets) and ok.bounds[0] == 0.005
    assert ok.attrs == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "http.route": "/hello/{name}",
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    assert duration[("/boom", 503)].attrs["error.type"] == "503"
    active = got["http.server.active_requests"]
    assert {p.attrs["http.request.method"]: p.value for p in active.points} == {"GET": 0, "POST": 0}


async def test_nothing_is_measured_while_metrics_are_off(metrics_state: MetricsState) -> None:
    """By default the middleware records only once metrics are switched on."""
    async with serve(TelemetryMiddleware(starlette_app)) as where:
        async with httpx.AsyncClient(base_url=f"http://{where}") as client:
            await client.get("/hello/x")
        assert by_name(metrics_state) == {}
        metrics_state.enabled = True
        async with httpx.AsyncClient(base_url=f"http://{where}") as client:
            await client.get("/hello/x")
    points = by_name(metrics_state)["http.server.request.duration"].points
    assert [p.count for p in points] == [1]


def family_counts(text: str) -> dict[tuple[str, str], float]:
    """Per (route, scope): the duration histogram's count in a Prometheus scrape."""
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name == "http_server_request_duration_seconds":
            for s in family.samples:
                if s.name.endswith("_count"):
                    out[(s.labels["http_route"], s.labels["otel_scope_name"])] = s.value
    return out


def test_a_fastapi_service_measures_each_request_once() -> None:
    """install_meter_provider() plus the middleware around FastAPI: FastAPI's native telemetry
    measures through our provider and the middleware yields; the scrape and the OTLP push
    count every request once per route, and the buckets add up."""
    n = 150
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests/integrations/metrics_app.py"), str(n)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    counts = family_counts(out["prometheus"])
    assert counts == {
        ("/items/{item_id}", "fastapi"): 50,
        ("/users", "fastapi"): 50,
        ("/orders", "fastapi"): 50,
    }
    otlp = {}
    for rm in out["otlp"]["resourceMetrics"]:
        for sm in rm["scopeMetrics"]:
            for m in sm["metrics"]:
                if m["name"] == "http.server.request.duration":
                    for p in m["histogram"]["dataPoints"]:
                        attrs = {a["key"]: a["value"] for a in p["attributes"]}
                        route = attrs["http.route"]["stringValue"]
                        assert sum(int(c) for c in p["bucketCounts"]) == int(p["count"])
                        assert len(p["explicitBounds"]) == 14
                        otlp[(route, sm["scope"]["name"])] = int(p["count"])
    assert otlp == counts
    assert sum(otlp.values()) == n
    assert out["sink_counters"]["metric_exports"] == out["pushes"] >= 1


async def test_fastapi_measures_and_the_middleware_yields_either_way(
    metrics_state: MetricsState,
) -> None:
    """Around FastAPI or added inside it, the middleware leaves the measuring to FastAPI's
    native telemetry: one duration per request, in FastAPI's scope only."""
    from fastapi import FastAPI

    from telemetry.integrations._otel_metrics import MeterProvider

    metrics_state.enabled = True
    provider = MeterProvider(metrics_state)
    inner = FastAPI(telemetry={"meter_provider": provider, "tracing": False, "logs": False})
    inner.add_middleware(TelemetryMiddleware)
    outer_api = FastAPI(telemetry={"meter_provider": provider, "tracing": False, "logs": False})

    @inner.get("/in")
    async def in_() -> str:
        return "in"

    @outer_api.get("/out")
    async def out() -> str:
        return "out"

    for app, path in ((inner, "/in"), (TelemetryMiddleware(outer_api), "/out")):
        async with serve(app) as where, httpx.AsyncClient(base_url=f"http://{where}") as client:
            for _ in range(3):
                assert (await client.get(path)).status_code == 200
    counts = {
        (m.scope.name, p.attrs["http.route"]): p.count
        for m in MetricReader(state=metrics_state).collect()
        if m.name == "http.server.request.duration"
        for p in m.points
    }
    assert counts == {("fastapi", "/in"): 3, ("fastapi", "/out"): 3}
