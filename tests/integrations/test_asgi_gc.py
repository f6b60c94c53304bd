"""The middleware's spans stay out of the garbage collector's way, under uvicorn with real HTTP
and websocket clients: what a request leaves waiting in a queue or an OTLP batch is never
walked by a collection nor promoted to the old generation, so the full collections that make a
service's p99 do not come from it."""

from __future__ import annotations

from tests.conftest import needs

needs("fastapi", "httpx", "uvicorn", "websockets")

import gc
from typing import Any

import httpx
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import connect

from telemetry import Telemetry
from telemetry.integrations.asgi import REQUEST_SPAN_ID, WEBSOCKET_SPAN_ID, TelemetryMiddleware
from telemetry.sinks import MemorySink

from ..conftest import assert_accounted
from .servers import serve


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, Any]:
        return {"item_id": item_id}

    @app.websocket("/ws")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(await ws.receive_text())
        await ws.close()

    return app


async def test_span_data_of_requests_and_connections_is_not_tracked_by_the_collector() -> None:
    """With the default options, the data of an HTTP request's span (a query included) and of
    a websocket connection's span is a plain dict of strings and numbers, which CPython does not
    track: a span waiting to be written costs a collection nothing and is never promoted."""
    sink = MemorySink()
    hub = Telemetry(handlers={"mem": sink})
    app = TelemetryMiddleware(make_app())
    async with hub, serve(app) as addr:
        async with httpx.AsyncClient(base_url=f"http://{addr}") as client:
            assert (await client.get("/items/7", params={"q": "x"})).status_code == 200
            assert (await client.get("/nowhere")).status_code == 404
        async with connect(f"ws://{addr}/ws") as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
    assert_accounted(hub.stats())
    spans = [s for s in sink.signals if s.kind == "span"]
    assert sorted(s.id for s in spans) == sorted([REQUEST_SPAN_ID] * 2 + [WEBSOCKET_SPAN_ID])
    for span in spans:
        assert type(span.data) is dict, span.data
        assert not gc.is_tracked(span.data), span.data
        assert all(type(v) in (str, int, bool) for v in span.data.values()), span.data
