"""A FastAPI app whose telemetry is OpenTelemetry's API only: FastAPI's native telemetry and
OpenTelemetry's httpx instrumentation, with aiotelemetry as the SDK behind it (``install()``).
The hub is the one the configuration file named by ``TELEMETRY_CONFIG`` describes, opened and
closed by the lifespan. The tests serve it with ``python -m uvicorn otel_fastapi_app:app``."""

from __future__ import annotations

import os
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from telemetry.integrations.asgi import telemetry_lifespan
from telemetry.integrations.opentelemetry import install

install()
# Every httpx client is instrumented, the OTLP sink's own included: its requests must not be
# recorded (the sink suppresses instrumentation around them).
HTTPXClientInstrumentor().instrument()

app = FastAPI(lifespan=telemetry_lifespan())


@app.get("/items/{item_id}")
async def read_item(item_id: int) -> dict[str, Any]:
    return {"item_id": item_id}


@app.get("/boom")
async def boom() -> None:
    raise RuntimeError("the kitchen is on fire")


@app.get("/fetch")
async def fetch() -> Any:
    async with httpx.AsyncClient() as client:
        reply = await client.get(os.environ["ECHO_URL"])
    return reply.json()
