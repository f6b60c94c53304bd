"""Whose is it: the namespace of a 404's span, the request of uvicorn's exception record, the
side that closed a websocket at shutdown. Under uvicorn, with real clients."""

from __future__ import annotations

from tests.conftest import needs

needs("fastapi", "httpx", "uvicorn", "websockets")

import sys
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from telemetry import Telemetry
from telemetry.integrations.asgi import WEBSOCKET_SPAN_ID, TelemetryMiddleware
from telemetry.integrations.logging import install_logging_bridge, uninstall_logging_bridge
from telemetry.sinks import MemorySink

from ..conftest import assert_accounted
from .servers import serve
from .test_asgi import make_app, running, spans


async def not_found(scope: Any, receive: Any, send: Any) -> None:
    """A bare ASGI app that answers every request with a 404 (no router, no endpoint)."""
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"no"})


async def test_a_404_span_is_the_apps_not_the_librarys() -> None:
    """No route matched: the span's namespace is the app's (the module of its routes, when
    the framework built the middleware), and so is its location (that module, line 0)."""
    async with running(make_app()) as srv:
        r = await srv.client.get("/no/such/route")
    assert r.status_code == 404
    (span,) = spans(srv.sink)
    assert span.data["http.response.status_code"] == 404
    assert span.ns == "tests.integrations.test_asgi"  # where make_app's routes are
    assert span.location is not None
    assert span.location.file.endswith("tests/integrations/test_asgi.py")
    assert span.location.line == 0


@pytest.mark.parametrize(
    ("options", "expected"),
    [({}, __name__), ({"ns": "shop.api"}, "shop.api")],
)
async def test_a_404_span_takes_the_namespace_given_or_of_the_builder(
    options: dict[str, Any], expected: str
) -> None:
    """TelemetryMiddleware(app) built in a module: that module and line, unless ns= names
    the module."""
    app = TelemetryMiddleware(not_found, **options)
    built_at = sys._getframe().f_lineno - 1
    async with running(app) as srv:
        r = await srv.client.get("/anything")
    assert r.status_code == 404
    (span,) = spans(srv.sink)
    assert span.ns == expected
    assert span.location is not None
    assert (span.location.file, span.location.line) == (__file__, built_at)


async def test_uvicorns_exception_record_carries_the_request_id_and_the_trace() -> None:
    """uvicorn logs "Exception in ASGI application" after the app (and the middleware's
    context) is gone; through the logging bridge, the record still carries the request id,
    and the trace and span of the request it belongs to, and the traceback."""
    sink = MemorySink()
    hub = Telemetry(handlers={"mem": sink})
    async with hub:
        bridge = install_logging_bridge("info", hub=hub)
        try:
            async with (
                serve(make_app()) as addr,
                httpx.AsyncClient(base_url=f"http://{addr}") as client,
            ):
                r = await client.get("/boom", headers={"x-request-id": "req-boom"})
        finally:
            uninstall_logging_bridge(bridge)
    assert_accounted(hub.stats())
    assert r.status_code == 500
    (span,) = spans(sink)
    (record,) = [s for s in sink.signals if s.ns == "uvicorn.error" and s.level == "error"]
    assert record.msg == "Exception in ASGI application"
    assert record.ctx["request_id"] == "req-boom" == span.ctx["request_id"]
    assert (record.trace_id, record.span_id) == (span.trace_id, span.span_id)
    assert record.error is not None and record.error.type == "ValueError"
    assert record.error.stacktrace is not None and "raise exc" in record.error.stacktrace


async def test_a_websocket_the_server_closes_at_shutdown_is_closed_by_the_server() -> None:
    """uvicorn shutting down closes open websockets with 1012 (service restart); the app hears
    a disconnect, and the span says the server closed it."""
    sink = MemorySink()
    hub = Telemetry(handlers={"mem": sink})
    async with hub:
        async with serve(make_app()) as addr:
            ws = await connect(f"ws://{addr}/polite")
            await ws.send("hi")
            assert await ws.recv() == "hi"
            # leaving serve() shuts the server down with the connection still open
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        await ws.close()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    (span,) = spans(sink, WEBSOCKET_SPAN_ID)
    assert (span.data["close_code"], span.data["closed_by"]) == (1012, "server")
    assert span.level == "info" and span.error is None
