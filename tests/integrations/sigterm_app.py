"""The app the SIGTERM test runs under uvicorn in a child process.

Every request to ``/work`` emits one log signal inside its request span (two lines in the file
per request). At shutdown the lifespan writes the hub's final stats and the number of requests
handled to ``SIGTERM_APP_STATS``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import msgspec
from fastapi import FastAPI

import telemetry as tel
from telemetry.integrations.asgi import TelemetryMiddleware, telemetry_lifespan
from telemetry.sinks import FileSink

LOG = Path(os.environ["SIGTERM_APP_LOG"])
STATS = Path(os.environ["SIGTERM_APP_STATS"])
handled = 0


def write_stats(stats: tel.Stats) -> None:
    STATS.write_bytes(msgspec.json.encode({"stats": stats.to_dict(), "handled": handled}))


app = FastAPI(
    lifespan=telemetry_lifespan(
        lambda: {"file": {"sink": FileSink(LOG), "mode": "blocking"}}, on_close=write_stats
    )
)
app.add_middleware(TelemetryMiddleware)


@app.get("/work")
async def work(n: int) -> dict[str, int]:
    global handled
    handled += 1
    await tel.log("info", "working", n=n)
    await asyncio.sleep(0.002)
    return {"n": n}
