"""A FastAPI service with aiotelemetry's meter provider and middleware, run as a script in a
process of its own (the global meter provider is set once per process): it serves requests
over three routes under uvicorn, then prints, as one JSON object, the Prometheus scrape and
what an OTLP receiver decoded of the metrics pushed on the interval and at the close.

``python tests/integrations/metrics_app.py [REQUESTS] [--json]``
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from google.protobuf import json_format
from prometheus_client import CollectorRegistry, generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from telemetry import Telemetry
from telemetry.integrations._otel_metrics import install_meter_provider
from telemetry.integrations.asgi import TelemetryMiddleware
from telemetry.integrations.prometheus import TelemetryCollector
from telemetry.sinks import OTLPSink
from tests.integrations.servers import serve
from tests.sinks.otlp_receiver import receiving

install_meter_provider()
api = FastAPI()


@api.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    return {"item": item_id}


@api.get("/users")
async def users() -> list[str]:
    return ["ada", "grace"]


@api.post("/orders")
async def order() -> dict[str, bool]:
    return {"ok": True}


app = TelemetryMiddleware(api)


async def main(n: int, protocol: str) -> dict[str, Any]:
    registry = CollectorRegistry()
    registry.register(TelemetryCollector())
    async with receiving() as rx:
        sink = OTLPSink(rx.endpoint, protocol=protocol, metrics_interval=0.5)
        hub = Telemetry(handlers={"otlp": {"sink": sink, "mode": "blocking"}})
        async with hub, serve(app) as where:
            async with httpx.AsyncClient(base_url=f"http://{where}") as client:
                for i in range(n):
                    if i % 3 == 0:
                        r = await client.get(f"/items/{i}")
                    elif i % 3 == 1:
                        r = await client.get("/users")
                    else:
                        r = await client.post("/orders")
                    r.raise_for_status()
            scrape = generate_latest(registry).decode()
        pushes = sum(1 for r in rx.accepted if r.path == "/v1/metrics")
        # The last push holds the totals (cumulative temporality).
        last = [r for r in rx.accepted if r.path == "/v1/metrics"][-1]
        decoded = json_format.MessageToDict(last.message)
        return {
            "prometheus": scrape,
            "otlp": decoded,
            "pushes": pushes,
            "sink_counters": dict(hub.stats().handlers["otlp"].sink_counters),
        }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    proto = "http/json" if "--json" in sys.argv else "http/protobuf"
    print(json.dumps(asyncio.run(main(count, proto))))
