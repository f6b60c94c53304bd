"""The app the uvicorn logging test runs under ``python -m uvicorn --log-config``: a console
sink writing text at info, and the logging bridge, as the uvicorn page of the docs sets up."""

from __future__ import annotations

from fastapi import FastAPI

import telemetry as tel
from telemetry.integrations.asgi import TelemetryMiddleware, telemetry_lifespan
from telemetry.sinks import ConsoleSink

api = FastAPI(
    lifespan=telemetry_lifespan(
        lambda: {"console": ConsoleSink(format="text")}, logging_bridge="info"
    )
)


@api.get("/hello")
async def hello() -> dict[str, str]:
    await tel.log("info", "said hello")
    return {"hello": "world"}


@api.get("/boom")
async def boom() -> None:
    raise RuntimeError("the kitchen is on fire")


app = TelemetryMiddleware(api)
