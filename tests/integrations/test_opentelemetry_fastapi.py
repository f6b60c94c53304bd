"""FastAPI's native telemetry end to end with aiotelemetry as the OpenTelemetry SDK: uvicorn
serving an app whose only telemetry is ``install()`` (and OpenTelemetry's httpx
instrumentation), real HTTP requests, the signals read back from the JSON lines file and from
the OTLP receiver (decoded with opentelemetry-proto)."""

from __future__ import annotations

from tests.conftest import needs

needs(
    "fastapi",
    "httpx",
    "uvicorn",
    "opentelemetry.sdk",
    "opentelemetry.proto",
    "opentelemetry.instrumentation.fastapi",
)

import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from ..sinks.otlp_receiver import Receiver, receiving
from .servers import listening_socket, serve, start_uvicorn

HERE = Path(__file__).parent
ROOT = HERE.parent.parent

pytestmark = pytest.mark.slow


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A second server: answers with the request headers it received, as JSON."""
    if scope["type"] != "http":
        return
    body = json.dumps({k.decode(): v.decode() for k, v in scope["headers"]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Run:
    """What one served run left: the signals of the JSON lines file and the receiver."""

    def __init__(self, signals: list[dict[str, Any]], receiver: Receiver, echoed: Any) -> None:
        self.signals = signals
        self.receiver = receiver
        self.echoed = echoed

    def spans(self) -> list[dict[str, Any]]:
        return [s for s in self.signals if s["kind"] == "span"]

    def logs(self) -> list[dict[str, Any]]:
        return [s for s in self.signals if s["kind"] == "log"]

    def server(self, path: str) -> dict[str, Any]:
        found = [
            s
            for s in self.spans()
            if s.get("data", {}).get("span.kind") == "server" and s["data"].get("url.path") == path
        ]
        assert len(found) == 1, (path, found)
        return found[0]

    def in_trace(self, trace_id: str) -> list[dict[str, Any]]:
        return [s for s in self.signals if s.get("trace_id") == trace_id]


@contextlib.asynccontextmanager
async def served_run(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, list[Run]]]:
    """The app under ``python -m uvicorn`` with a hub from a configuration file (a JSON lines
    file and the OTLP sink into a receiver); yields a client, and after the block (uvicorn
    stopped with SIGTERM, the hub closed) the run."""
    out = tmp_path / "signals.jsonl"
    runs: list[Run] = []
    async with receiving() as rx, serve(echo_app) as echo:
        config = tmp_path / "telemetry.toml"
        config.write_text(
            "opentelemetry = true\n"
            f'[handlers.file]\nsink = "file"\npath = "{out}"\n'
            f'[handlers.otlp]\nsink = "otlp"\nendpoint = "{rx.endpoint}"\nmode = "blocking"\n'
        )
        env = {
            "TELEMETRY_CONFIG": str(config),
            "ECHO_URL": f"http://{echo}/echo",
            "PYTHONPATH": str(ROOT),
        }
        with listening_socket() as sock:
            proc = start_uvicorn(
                "otel_fastapi_app:app", sock, app_dir=HERE, env=env, log=tmp_path / "uvicorn.log"
            )
            port = sock.getsockname()[1]
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
                yield c, runs
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
            assert code in (0, -signal.SIGTERM), (tmp_path / "uvicorn.log").read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        signals = [json.loads(line) for line in out.read_text().splitlines()]
        runs.append(Run(signals, rx, None))


def _descends(span: dict[str, Any], ancestor: dict[str, Any], spans: list[dict[str, Any]]) -> bool:
    by_id = {s["span_id"]: s for s in spans}
    node: dict[str, Any] | None = span
    while node is not None:
        if node.get("parent_id") == ancestor["span_id"]:
            return True
        node = by_id.get(node.get("parent_id", ""))
    return False


async def test_four_requests_become_server_spans_operation_spans_and_error_logs(
    tmp_path: Path,
) -> None:
    """A normal request, a 404, a validation failure and an unhandled exception: one server
    span each (kind, route, status, error status for the 500), operation spans as its
    children, FastAPI's validation and exception logs in its trace; the same in OTLP."""
    async with served_run(tmp_path) as (client, runs):
        assert (await client.get("/items/7")).status_code == 200
        assert (await client.get("/nope")).status_code == 404
        assert (await client.get("/items/abc")).status_code == 422
        assert (await client.get("/boom")).status_code == 500
    (run,) = runs
    servers = [s for s in run.spans() if s.get("data", {}).get("span.kind") == "server"]
    assert len(servers) == 4  # exactly one per request

    ok = run.server("/items/7")
    assert ok["id"] == "GET /items/{item_id}" and ok["ns"] == "fastapi"
    assert ok["data"]["http.route"] == "/items/{item_id}"
    assert ok["data"]["http.response.status_code"] == 200
    assert ok["level"] == "info" and "otel.status_code" not in ok["data"]
    children = [s for s in run.spans() if s.get("parent_id") == ok["span_id"]]
    assert children, "operation spans are children of the server span"
    assert all(c["trace_id"] == ok["trace_id"] for c in children)

    missing = run.server("/nope")
    assert missing["id"] == "GET" and missing["data"]["http.response.status_code"] == 404
    assert "otel.status_code" not in missing["data"]

    invalid = run.server("/items/abc")
    assert invalid["data"]["http.response.status_code"] == 422
    (failed,) = [s for s in run.logs() if s.get("id") == "fastapi.validation.failed"]
    assert failed["level"] == "warn" and failed["ns"] == "fastapi"
    assert failed["trace_id"] == invalid["trace_id"]

    boom = run.server("/boom")
    assert boom["level"] == "error"
    assert boom["data"]["otel.status_code"] == "ERROR"
    assert boom["data"]["error.type"] == "RuntimeError"
    assert boom["data"]["http.response.status_code"] == 500
    (crash,) = [s for s in run.logs() if s.get("id") == "http.server.request.exception"]
    assert crash["level"] == "error" and crash["error"]["type"] == "RuntimeError"
    assert crash["trace_id"] == boom["trace_id"]

    # The same through the OTLP sink, decoded by the receiver.
    otlp = {s.span_id.hex(): s for s in run.receiver.spans()}
    assert set(otlp) == {s["span_id"] for s in run.spans()}
    for sig in servers:
        span = otlp[sig["span_id"]]
        assert span.kind == trace_pb2.Span.SPAN_KIND_SERVER
        assert span.trace_id.hex() == sig["trace_id"] and span.name == sig["id"]
    assert otlp[boom["span_id"]].status.code == trace_pb2.Status.STATUS_CODE_ERROR
    assert otlp[ok["span_id"]].status.code == trace_pb2.Status.STATUS_CODE_UNSET
    for child in children:
        assert otlp[child["span_id"]].parent_span_id.hex() == ok["span_id"]
        assert otlp[child["span_id"]].kind == trace_pb2.Span.SPAN_KIND_INTERNAL
    attrs = {kv.key: kv.value for kv in otlp[ok["span_id"]].attributes}
    assert attrs["http.route"].string_value == "/items/{item_id}"
    assert attrs["http.response.status_code"].int_value == 200
    records = {r.event_name: r for r in run.receiver.log_records()}
    assert records["fastapi.validation.failed"].severity_number == 13
    assert records["fastapi.validation.failed"].trace_id.hex() == invalid["trace_id"]
    exc = records["http.server.request.exception"]
    assert exc.severity_number == 17 and exc.trace_id.hex() == boom["trace_id"]
    exc_attrs = {kv.key: kv.value.string_value for kv in exc.attributes}
    assert exc_attrs["exception.type"] == "RuntimeError"


async def test_an_instrumented_httpx_call_is_a_child_span_whose_traceparent_carries_the_trace(
    tmp_path: Path,
) -> None:
    """An httpx call inside a request (OpenTelemetry's httpx instrumentation): its client span
    descends from the server span, in the same trace, and the second server receives a
    traceparent naming that trace and the client span; the OTLP sink's own requests are not
    recorded."""
    async with served_run(tmp_path) as (client, runs):
        reply = await client.get("/fetch")
        assert reply.status_code == 200
        echoed = reply.json()
    (run,) = runs
    server = run.server("/fetch")
    (client_span,) = [s for s in run.spans() if s.get("data", {}).get("span.kind") == "client"]
    assert client_span["ns"] == "opentelemetry.instrumentation.httpx"
    assert client_span["trace_id"] == server["trace_id"]
    assert _descends(client_span, server, run.spans())
    assert echoed["traceparent"] == f"00-{server['trace_id']}-{client_span['span_id']}-01"
    otlp = {s.span_id.hex(): s for s in run.receiver.spans()}
    assert otlp[client_span["span_id"]].kind == trace_pb2.Span.SPAN_KIND_CLIENT
    assert otlp[client_span["span_id"]].parent_span_id.hex() == client_span["parent_id"]
    assert os.environ.get("TELEMETRY_CONFIG") is None  # the child's, not ours
