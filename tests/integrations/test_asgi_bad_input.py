"""The middleware against hostile requests, under uvicorn, sent over a raw socket: huge,
repeated and non-latin-1 headers, malformed traceparents, a 10 KB request id, a 64 KB path.
It answers, bounds what it records (cut values end with the mark and are counted), and never
raises into the app."""

from __future__ import annotations

from tests.conftest import needs

needs("fastapi", "uvicorn")

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

from fastapi import FastAPI

import telemetry as tel
from telemetry import Signal, Telemetry
from telemetry.integrations.asgi import (
    MAX_VALUE_LENGTH,
    REQUEST_SPAN_ID,
    TRUNCATION_MARK,
    TelemetryMiddleware,
)
from telemetry.sinks import MemorySink

from ..conftest import assert_accounted
from .servers import serve

#: uvicorn's limit on a request's head, raised so that the huge heads reach the app.
HEAD_LIMIT = 1024 * 1024


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, Any]:
        await tel.log("info", "item read", item_id=item_id)
        return {"request_id": tel.current_context().get("request_id")}

    return app


@contextlib.asynccontextmanager
async def served(**options: Any) -> AsyncIterator[tuple[str, MemorySink]]:
    sink = MemorySink()
    hub = Telemetry(handlers={"mem": sink})
    app = TelemetryMiddleware(make_app(), **options)
    async with hub, serve(app, h11_max_incomplete_event_size=HEAD_LIMIT) as addr:
        yield addr, sink
    assert_accounted(hub.stats())


async def raw_request(addr: str, target: bytes, headers: list[tuple[bytes, bytes]]) -> Reply:
    """Send one GET with exactly these bytes (and a Host header if none is given: HTTP/1.1
    requires one); read the reply's status and headers."""
    host, port = addr.split(":")
    if not any(k == b"host" for k, _ in headers):
        headers = [(b"host", addr.encode()), *headers]
    reader, writer = await asyncio.open_connection(host, int(port))
    head = b"GET " + target + b" HTTP/1.1\r\nConnection: close\r\n"
    head += b"".join(k + b": " + v + b"\r\n" for k, v in headers)
    writer.write(head + b"\r\n")
    data = await reader.read()
    writer.close()
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    out = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        out[name.strip().lower()] = value.strip()
    return Reply(status, out)


def the_span(sink: MemorySink) -> Signal:
    (span,) = [s for s in sink.signals if s.kind == "span" and s.id == REQUEST_SPAN_ID]
    return span


def cut(value: object) -> bool:
    return (
        isinstance(value, str)
        and value.endswith(TRUNCATION_MARK)
        and len(value) == MAX_VALUE_LENGTH + len(TRUNCATION_MARK)
    )


async def test_a_64_kb_path_is_recorded_cut_and_counted() -> None:
    """A 64 KB path (no route matches it) is answered; url.path and http.route keep its first
    MAX_VALUE_LENGTH characters and the mark, and the span counts what it cut."""
    async with served() as (addr, sink):
        reply = await raw_request(addr, b"/p/" + b"a" * 65536, [(b"host", b"x")])
    assert reply.status == 404
    span = the_span(sink)
    assert cut(span.data["url.path"]) and cut(span.data["http.route"])
    assert span.data["truncated"] >= 1
    assert reply.headers["x-request-id"] == span.trace_id


async def test_a_10_kb_request_id_is_replaced_by_the_trace_id() -> None:
    """An X-Request-ID of 10 KB is not trusted: the request id is the span's trace id, bound
    for the endpoint and returned in the response."""
    async with served() as (addr, sink):
        reply = await raw_request(addr, b"/items/1", [(b"x-request-id", b"r" * 10240)])
    assert reply.status == 200
    span = the_span(sink)
    (log,) = [s for s in sink.signals if s.kind == "log"]
    assert reply.headers["x-request-id"] == span.trace_id == log.ctx["request_id"]
    assert span.ctx["request_id"] == span.trace_id and len(span.trace_id) == 32


async def test_malformed_and_all_zero_traceparents_start_a_new_trace() -> None:
    """A traceparent that is all zeros, malformed or huge is ignored: a new trace, no parent."""
    bad = [
        b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        b"00-xyz-00f067aa0ba902b7-01",
        b"-" * 5000,
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" + b"-x" * 5000,
    ]
    for value in bad:
        async with served() as (addr, sink):
            reply = await raw_request(addr, b"/items/1", [(b"traceparent", value)])
        assert reply.status == 200, value[:60]
        span = the_span(sink)
        assert span.parent_id is None, value[:60]
        assert span.trace_id != "0" * 32 and span.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_headers_that_are_not_latin_1_huge_or_repeated_are_bounded() -> None:
    """Header bytes that are UTF-8 or not text at all are read as latin-1; a 100 KB user agent
    and a header repeated 2,000 times are cut and counted; the request is answered."""
    headers = [
        (b"host", b"h\xc3\xbcst:8080"),
        (b"user-agent", b"\xff\xfe" + b"u" * 100_000),
        (b"x-note", "caf\u00e9 \u2603".encode()),
        *[(b"x-tag", b"value")] * 2000,
    ]
    async with served(record_headers=["x-note", "x-tag"]) as (addr, sink):
        reply = await raw_request(addr, b"/items/1", headers)
    assert reply.status == 200
    span = the_span(sink)
    assert span.data["server.address"] == "h\u00c3\u00bcst" and span.data["server.port"] == 8080
    assert cut(span.data["user_agent.original"])
    assert span.data["user_agent.original"].startswith("\u00ff\u00feuuu")
    assert span.data["request_headers"]["x-note"] == "caf\u00c3\u00a9 \u00e2\u0098\u0083"
    assert cut(span.data["request_headers"]["x-tag"])
    assert span.data["truncated"] >= 2


async def test_a_host_with_a_port_of_thousands_of_digits_has_no_port() -> None:
    """A Host header whose port is thousands of digits (int() of it would raise) records the
    name and the port the request came in on."""
    async with served() as (addr, sink):
        reply = await raw_request(addr, b"/items/1", [(b"host", b"example.com:" + b"9" * 5000)])
    assert reply.status == 200
    span = the_span(sink)
    assert span.data["server.address"] == "example.com"
    assert span.data["server.port"] == int(addr.split(":")[1])


async def test_every_value_the_span_records_is_bounded_whatever_the_client_sends() -> None:
    """With a 64 KB path through a mount whose path parameter becomes part of the route, a
    64 KB query, a huge host, user agent and recorded headers, every string the request span
    records (nested ones too) is at most MAX_VALUE_LENGTH characters and the mark."""
    from fastapi import FastAPI

    outer = FastAPI()
    outer.mount("/t/{tenant}", make_app())
    sink = MemorySink()
    hub = Telemetry(handlers={"mem": sink})
    app = TelemetryMiddleware(outer, record_headers=["x-note"], record_response_headers=["x-b"])
    target = b"/t/" + b"t" * 65536 + b"/items/1?q=" + b"v" * 65536
    headers = [
        (b"host", b"h" * 70_000 + b":80"),
        (b"user-agent", b"u" * 70_000),
        (b"x-note", b"n" * 70_000),
    ]
    async with hub, serve(app, h11_max_incomplete_event_size=4 * HEAD_LIMIT) as addr:
        reply = await raw_request(addr, target, headers)
    assert_accounted(hub.stats())
    assert reply.status == 200
    span = the_span(sink)

    def strings(value: object) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        return []

    found = strings(span.data)
    assert all(len(s) <= MAX_VALUE_LENGTH + len(TRUNCATION_MARK) for s in found)
    assert cut(span.data["http.route"]) and span.data["http.route"].startswith("/t/ttt")
    assert cut(span.data["url.path"]) and cut(span.data["request_headers"]["x-note"])
