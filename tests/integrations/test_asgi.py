"""The ASGI middleware and lifespan, under uvicorn with real HTTP and websocket clients."""

from __future__ import annotations

from tests.conftest import needs

needs("fastapi", "httpx", "uvicorn", "websockets")

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import httpx
import msgspec
import pytest
from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect
from starlette.routing import Mount
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import telemetry as tel
from telemetry import ConfigError, Signal, Telemetry
from telemetry.integrations.asgi import (
    REQUEST_SPAN_ID,
    WEBSOCKET_SPAN_ID,
    TelemetryMiddleware,
    parse_traceparent,
    telemetry_lifespan,
)
from telemetry.sinks import MemorySink

from ..conftest import assert_accounted
from .servers import listening_socket, serve, start_uvicorn

HERE = Path(__file__).parent
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Catcher:
    """Outermost ASGI layer: keeps what the inner app raised (so it can be compared with
    what the endpoint raised) instead of letting uvicorn log it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.raised: list[BaseException] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            self.raised.append(exc)


def make_app(raised: list[BaseException] | None = None) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def get_item(item_id: int, response: Response) -> dict[str, Any]:
        await tel.log("info", "item read", item_id=item_id)
        response.set_cookie("session", "s3cr3t")
        return {"item_id": item_id, "request_id": tel.current_context().get("request_id")}

    @app.get("/work")
    async def work(n: int) -> dict[str, Any]:
        await tel.log("info", "step one", n=n)
        for _ in range(n % 5):
            await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        await tel.log("info", "step two", n=n)
        return {"n": n, "request_id": tel.current_context().get("request_id")}

    @app.get("/sync")
    def sync_route() -> dict[str, Any]:
        tel.log_nowait("info", "from the threadpool")
        return {"request_id": tel.current_context().get("request_id")}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        await tel.log("info", "health checked")
        return {"ok": "yes"}

    @app.get("/boom")
    async def boom() -> None:
        exc = ValueError("boom")
        if raised is not None:
            raised.append(exc)
        raise exc

    @app.websocket("/ws/{room}")
    async def echo(ws: WebSocket, room: str) -> None:
        await ws.accept()
        while True:  # a client close ends this with WebSocketDisconnect, left uncaught
            text = await ws.receive_text()
            await tel.log("info", "ws message", room=room, text=text)
            if text == "bye":
                await ws.close(code=4001)
                return
            await ws.send_text(text.upper())

    @app.websocket("/polite")
    async def polite(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except WebSocketDisconnect:
            await tel.log("info", "client left")

    app.add_middleware(
        TelemetryMiddleware,
        skip_paths=["/healthz"],
        record_headers=["user-agent", "authorization", "cookie", "x-api-key"],
        record_response_headers=["content-type", "set-cookie"],
    )
    return app


class Served(NamedTuple):
    addr: str
    sink: MemorySink
    client: httpx.AsyncClient


@contextlib.asynccontextmanager
async def running(app: Any, **client_options: Any) -> AsyncIterator[Served]:
    """A hub with a memory sink, ``app`` under uvicorn, and an HTTP client for it. The hub is
    closed on the way out, after the server, so every span is written when the test reads the
    sink, and the accounting is checked."""
    sink = MemorySink()
    hub = Telemetry(handlers={"mem": sink})
    async with hub, serve(app) as addr:
        client = httpx.AsyncClient(base_url=f"http://{addr}", **client_options)
        async with client:
            yield Served(addr, sink, client)
    assert_accounted(hub.stats())


def spans(sink: MemorySink, id: str = REQUEST_SPAN_ID) -> list[Signal]:
    return [s for s in sink.signals if s.kind == "span" and s.id == id]


def logs(sink: MemorySink) -> list[Signal]:
    return [s for s in sink.signals if s.kind == "log"]


async def test_the_query_string_is_recorded_with_secrets_redacted() -> None:
    """url.query holds the query string, the values of secret parameters (token, api_key,
    password, ...) replaced, the others as they came."""
    async with running(make_app()) as srv:
        r = await srv.client.get("/items/42?page=2&access_token=s3cr3t&Api-Key=k&q=a%20b")
    assert r.status_code == 200
    (span,) = spans(srv.sink)
    assert span.data["url.query"] == ("page=2&access_token=[REDACTED]&Api-Key=[REDACTED]&q=a%20b")
    assert "s3cr3t" not in repr(span)


async def test_request_span_records_method_route_status_client_and_size() -> None:
    """A request span carries, under the HTTP semantic conventions' names, method, route
    template, path, scheme, status, response size, server and client addresses, protocol
    version and user agent; its duration; and the endpoint as its module and location."""
    async with running(make_app()) as srv:
        r = await srv.client.get("/items/42")
    assert r.status_code == 200
    (span,) = spans(srv.sink)
    d = span.data
    assert d["http.request.method"] == "GET"
    assert d["http.route"] == "/items/{item_id}"
    assert (d["url.path"], d["url.scheme"]) == ("/items/42", "http")
    assert d["http.response.status_code"] == 200
    assert d["http.response.body.size"] == len(r.content)
    assert d["client.address"] == "127.0.0.1" and isinstance(d["client.port"], int)
    host, port = srv.addr.rsplit(":", 1)
    assert (d["server.address"], d["server.port"]) == (host, int(port))
    assert d["network.protocol.version"] == "1.1"
    assert d["user_agent.original"].startswith("python-httpx/")
    assert d["span.kind"] == "server"
    assert "url.query" not in d  # none asked for
    assert span.level == "info"
    assert span.duration_ns is not None
    assert span.duration_ns > 0
    assert span.ns == __name__
    assert span.location is not None
    assert span.location.function.endswith("get_item")


async def test_request_id_from_header_is_returned_and_bound_into_every_signal() -> None:
    """An incoming X-Request-ID comes back in the response and is in the context of the span
    and of every signal the endpoint emits."""
    async with running(make_app()) as srv:
        r = await srv.client.get("/items/7", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert r.json()["request_id"] == "abc-123"
    assert srv.sink.signals
    assert {s.ctx.get("request_id") for s in srv.sink.signals} == {"abc-123"}


async def test_generated_request_id_when_none_is_given() -> None:
    """Without a header, a fresh request id is generated per request, returned and bound."""
    async with running(make_app()) as srv:
        a = await srv.client.get("/items/1")
        b = await srv.client.get("/items/2")
    ids = [a.headers["x-request-id"], b.headers["x-request-id"]]
    assert ids[0] != ids[1]
    assert [r.json()["request_id"] for r in (a, b)] == ids
    for rid in ids:
        assert len([s for s in srv.sink.signals if s.ctx.get("request_id") == rid]) == 2


async def test_request_id_with_unsafe_characters_is_replaced() -> None:
    """A request id that is too long or has unsafe characters is not trusted."""
    async with running(make_app()) as srv:
        bad = await srv.client.get("/items/1", headers={"X-Request-ID": "a b<script>"})
        long = await srv.client.get("/items/1", headers={"X-Request-ID": "x" * 500})
    assert bad.headers["x-request-id"] not in ("a b<script>", "")
    assert long.headers["x-request-id"] != "x" * 500


async def test_traceparent_continues_the_callers_trace() -> None:
    """A W3C traceparent makes the request span a child of the caller's span in the caller's
    trace; the handler's signals are in that trace, and the trace id is the request id."""
    async with running(make_app()) as srv:
        traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
        r = await srv.client.get("/items/3", headers={"traceparent": traceparent})
    (span,) = spans(srv.sink)
    assert (span.trace_id, span.parent_id) == (TRACE_ID, PARENT_ID)
    assert span.span_id not in (None, PARENT_ID)
    (log,) = logs(srv.sink)
    assert (log.trace_id, log.span_id) == (TRACE_ID, span.span_id)
    assert r.headers["x-request-id"] == TRACE_ID


@pytest.mark.parametrize(
    "value",
    [
        f"00-{TRACE_ID}-{PARENT_ID}",
        f"ff-{TRACE_ID}-{PARENT_ID}-01",
        f"00-{'0' * 32}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",
        "garbage",
    ],
)
def test_malformed_traceparent_is_ignored(value: str) -> None:
    """A malformed or invalid traceparent header is ignored, never an error."""
    assert parse_traceparent(value) is None


def test_future_traceparent_version_is_read() -> None:
    """A later traceparent version with extra fields still gives its trace and parent ids."""
    ctx = parse_traceparent(f"01-{TRACE_ID}-{PARENT_ID}-01-more")
    assert ctx is not None
    assert (ctx.trace_id, ctx.span_id) == (TRACE_ID, PARENT_ID)


async def test_concurrent_requests_never_mix_their_contexts() -> None:
    """200 concurrent requests: every signal carries the request id of its own request."""
    n_requests = 200
    limits = httpx.Limits(max_connections=n_requests)
    async with running(make_app(), limits=limits, timeout=30) as srv:
        responses = await asyncio.gather(
            *(
                srv.client.get("/work", params={"n": n}, headers={"x-request-id": f"r{n}"})
                for n in range(n_requests)
            )
        )
    for n, r in enumerate(responses):
        assert r.headers["x-request-id"] == f"r{n}"
        assert r.json() == {"n": n, "request_id": f"r{n}"}
    step_logs = logs(srv.sink)
    assert len(step_logs) == 2 * n_requests
    for s in step_logs:
        assert s.ctx["request_id"] == f"r{s.data['n']}"
    request_spans = spans(srv.sink)
    assert sorted(s.ctx["request_id"] for s in request_spans) == sorted(
        f"r{n}" for n in range(n_requests)
    )
    by_rid = {s.ctx["request_id"]: s for s in request_spans}
    for s in step_logs:
        assert s.span_id == by_rid[s.ctx["request_id"]].span_id


async def test_requests_after_a_pipelined_one_are_not_its_children() -> None:
    """Requests pipelined on one connection, and a request sent later on it, each get a trace
    and a request id of their own, with no parent: the server reads the next request while it
    finishes a response, and that is not inside the finished request."""
    async with running(make_app()) as srv:
        host, port = srv.addr.split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        request = b"GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n"

        async def answers(n: int, seen: bytes = b"") -> bytes:
            while seen.count(b'"request_id"') < n:
                seen += await reader.read(65536)
            return seen

        writer.write(request * 3)
        await answers(3)
        writer.write(request)
        await answers(1)
        writer.close()
        await writer.wait_closed()
    request_spans = spans(srv.sink)
    assert len(request_spans) == 4
    assert len({s.trace_id for s in request_spans}) == 4
    assert [s.parent_id for s in request_spans] == [None] * 4
    assert all(s.ctx["request_id"] == s.trace_id for s in request_spans)
    for log in logs(srv.sink):
        (span,) = [s for s in request_spans if s.span_id == log.span_id]
        assert log.ctx["request_id"] == span.ctx["request_id"]


async def test_sync_endpoint_signals_carry_the_request_id() -> None:
    """A sync endpoint runs in the threadpool; its signals still carry the request id."""
    async with running(make_app()) as srv:
        r = await srv.client.get("/sync", headers={"x-request-id": "sync-1"})
    assert r.json() == {"request_id": "sync-1"}
    (log,) = logs(srv.sink)
    assert log.msg == "from the threadpool"
    assert log.ctx["request_id"] == "sync-1"


async def test_sensitive_headers_are_redacted_when_recorded() -> None:
    """Recorded headers keep their values, except authorization, cookies and API keys."""
    async with running(make_app()) as srv:
        await srv.client.get(
            "/items/5",
            headers={
                "User-Agent": "tester/1.0",
                "Authorization": "Bearer hunter2",
                "Cookie": "session=abc",
                "X-API-Key": "k-123",
            },
        )
    (span,) = spans(srv.sink)
    assert span.data["request_headers"] == {
        "user-agent": "tester/1.0",
        "authorization": "[REDACTED]",
        "cookie": "[REDACTED]",
        "x-api-key": "[REDACTED]",
    }
    assert span.data["response_headers"] == {
        "content-type": "application/json",
        "set-cookie": "[REDACTED]",
    }
    encoded = msgspec.json.encode(srv.sink.signals)
    for secret in (b"hunter2", b"session=abc", b"k-123", b"s3cr3t"):
        assert secret not in encoded


async def test_skipped_paths_pass_through_without_a_span() -> None:
    """A skipped path gets no span and no request id; what the endpoint emits is unbound."""
    async with running(make_app()) as srv:
        r = await srv.client.get("/healthz")
    assert r.status_code == 200
    assert "x-request-id" not in r.headers
    assert spans(srv.sink) == []
    (log,) = logs(srv.sink)
    assert "request_id" not in log.ctx


async def test_exception_is_recorded_and_reraised_unchanged() -> None:
    """An endpoint's exception is recorded on the span (level error, status 500) and leaves
    the middleware as the very same object."""
    raised: list[BaseException] = []
    catcher = Catcher(make_app(raised))
    async with running(catcher) as srv:
        r = await srv.client.get("/boom", headers={"x-request-id": "boom-1"})
    assert r.status_code == 500
    assert len(raised) == 1
    assert catcher.raised == raised
    (span,) = spans(srv.sink)
    assert span.level == "error"
    assert span.data["http.response.status_code"] == 500
    assert span.error is not None
    assert (span.error.type, span.error.message) == ("ValueError", "boom")
    assert span.ctx["request_id"] == "boom-1"


async def test_wrapping_the_whole_app_puts_the_request_id_on_error_responses() -> None:
    """Wrapped around the whole FastAPI app, the middleware sees FastAPI's own 500 response:
    it carries the request id, and the span its size."""
    api = FastAPI()

    @api.get("/fail")
    async def fail() -> None:
        raise ArithmeticError("nope")

    catcher = Catcher(TelemetryMiddleware(api))
    async with running(catcher) as srv:
        r = await srv.client.get("/fail", headers={"x-request-id": "err-1"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "err-1"
    assert [type(e) for e in catcher.raised] == [ArithmeticError]
    (span,) = spans(srv.sink)
    assert span.data["http.response.status_code"] == 500
    assert span.data["http.route"] == "/fail"
    assert span.data["http.response.body.size"] == len(r.content)
    assert span.error is not None
    assert span.error.type == "ArithmeticError"


async def test_exception_before_any_response_is_recorded_as_500() -> None:
    """A bare ASGI app that raises before answering: status 500, the error, re-raised."""
    boom = KeyError("raw")

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        raise boom

    catcher = Catcher(TelemetryMiddleware(bare))
    async with running(catcher) as srv:
        r = await srv.client.get("/anything/9")
    assert r.status_code == 500
    assert catcher.raised == [boom]
    (span,) = spans(srv.sink)
    assert span.data["http.response.status_code"] == 500
    assert span.data["http.route"] == "/anything/9"
    assert span.error is not None
    assert span.error.type == "KeyError"


async def test_mounted_app_route_template_includes_the_mount() -> None:
    """A route of a mounted sub-application is recorded with the mount's prefix."""
    inner = FastAPI()

    @inner.get("/users/{uid}")
    async def user(uid: int) -> dict[str, int]:
        return {"uid": uid}

    outer = FastAPI(routes=[Mount("/v1", app=inner)])
    outer.add_middleware(TelemetryMiddleware)
    async with running(outer) as srv:
        r = await srv.client.get("/v1/users/12")
    assert r.json() == {"uid": 12}
    (span,) = spans(srv.sink)
    assert span.data["http.route"] == "/v1/users/{uid}"


async def test_websocket_span_counts_messages_and_client_close() -> None:
    """A websocket connection is one span: messages in and out, the client's close code; the
    connection id is returned in the handshake and bound into the handler's signals. A
    disconnect the endpoint does not catch is not an error."""
    async with running(make_app()) as srv, connect(f"ws://{srv.addr}/ws/lobby") as ws:
        cid = ws.response.headers["x-request-id"]
        for text in ("a", "b", "c"):
            await ws.send(text)
            assert await ws.recv() == text.upper()
        await ws.close(code=1000)
    (span,) = spans(srv.sink, WEBSOCKET_SPAN_ID)
    assert span.data["http.route"] == "/ws/{room}"
    assert span.data["url.path"] == "/ws/lobby"
    assert (span.data["url.scheme"], span.data["span.kind"]) == ("ws", "server")
    assert span.data["client.address"] == "127.0.0.1"
    assert span.data["accepted"] is True
    assert (span.data["messages_in"], span.data["messages_out"]) == (3, 3)
    assert (span.data["close_code"], span.data["closed_by"]) == (1000, "client")
    assert span.level == "info"
    assert span.error is None
    assert span.ctx["connection_id"] == cid
    handler_logs = logs(srv.sink)
    assert [s.data["text"] for s in handler_logs] == ["a", "b", "c"]
    assert {s.ctx["connection_id"] for s in handler_logs} == {cid}
    assert {s.span_id for s in handler_logs} == {span.span_id}


async def test_each_websocket_message_passes_two_frames_of_the_middleware() -> None:
    """A websocket endpoint resumed by a message runs beneath two frames of the middleware
    (its entry and the connection's span), no more: every frame a task's step passes through
    costs each message of every connection."""
    app = FastAPI()
    seen: list[list[str]] = []

    @app.websocket("/ws")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        while True:
            text = await ws.receive_text()  # resumed by the server's message
            frame = sys._getframe()
            names = []
            while frame is not None:
                if frame.f_code.co_filename.endswith(os.path.join("integrations", "asgi.py")):
                    names.append(frame.f_code.co_name)
                frame = frame.f_back
            seen.append(names)
            await ws.send_text(text)

    async with running(TelemetryMiddleware(app)) as srv, connect(f"ws://{srv.addr}/ws") as ws:
        for text in ("a", "b"):
            await ws.send(text)
            assert await ws.recv() == text
    assert seen == [["_websocket", "__call__"]] * 2


async def test_websocket_server_close_code() -> None:
    """A close from the server is recorded with its code; a caught disconnect too."""
    async with running(make_app()) as srv:
        async with connect(f"ws://{srv.addr}/ws/x") as ws:
            await ws.send("bye")
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4001
        async with connect(f"ws://{srv.addr}/polite") as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
    polite, server_closed = sorted(
        spans(srv.sink, WEBSOCKET_SPAN_ID), key=lambda s: s.data["url.path"]
    )
    assert (server_closed.data["close_code"], server_closed.data["closed_by"]) == (4001, "server")
    assert (server_closed.data["messages_in"], server_closed.data["messages_out"]) == (1, 0)
    assert polite.data["closed_by"] == "client"
    assert (polite.data["messages_in"], polite.data["messages_out"]) == (1, 1)
    (left,) = [s for s in logs(srv.sink) if s.msg == "client left"]
    assert left.ctx["connection_id"] == polite.ctx["connection_id"]


async def test_lifespan_opens_and_closes_the_hub_around_the_users_lifespan() -> None:
    """telemetry_lifespan opens a hub at startup (the user's lifespan runs inside it and can
    emit), and awaits aclose() at shutdown: the final stats account for every signal."""
    sink = MemorySink()
    finals: list[tel.Stats] = []

    @contextlib.asynccontextmanager
    async def users(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        await tel.log("info", "user startup")
        yield {"greeting": "hello"}
        await tel.log("info", "user shutdown")

    app = FastAPI(
        lifespan=telemetry_lifespan(
            lambda: {"mem": sink}, lifespan=users, on_close=finals.append, min_level="info"
        )
    )
    app.add_middleware(TelemetryMiddleware)

    @app.get("/hello")
    async def hello(request: Request) -> dict[str, str]:
        await tel.log("info", "hello")
        return {"greeting": request.state.greeting}

    async with serve(app, lifespan="on") as addr:
        hub = tel.get_hub()
        assert hub is not None
        assert hub.state == "open"
        async with httpx.AsyncClient(base_url=f"http://{addr}") as client:
            assert (await client.get("/hello")).json() == {"greeting": "hello"}
    assert hub.state == "closed"
    assert sink.state == "closed"
    assert [s.msg for s in logs(sink)] == ["user startup", "hello", "user shutdown"]
    (final,) = finals
    assert_accounted(final)
    assert final.handlers["mem"].written == len(sink.signals) == 4


def test_lifespan_options_are_checked_at_construction() -> None:
    """Wrong lifespan options fail at once, naming the parameter."""
    with pytest.raises(ConfigError, match="hub"):
        telemetry_lifespan({"mem": MemorySink()}, hub=Telemetry)
    with pytest.raises(ConfigError, match="logging_bridge"):
        telemetry_lifespan({"mem": MemorySink()}, logging_bridge="loud")


def test_middleware_options_are_checked_at_construction() -> None:
    """Wrong middleware options fail at construction with the parameter named."""
    app = FastAPI()
    with pytest.raises(ConfigError, match="skip_paths"):
        TelemetryMiddleware(app, skip_paths="/healthz")
    with pytest.raises(ConfigError, match="level"):
        TelemetryMiddleware(app, level="loud")
    with pytest.raises(ConfigError, match="hub"):
        TelemetryMiddleware(app, hub="default")  # type: ignore[arg-type]


def test_middleware_and_lifespan_need_no_starlette() -> None:
    """The integration is pure ASGI: it imports and serves with Starlette and FastAPI absent."""
    code = (
        "import sys, asyncio\n"
        "sys.modules['starlette'] = None; sys.modules['fastapi'] = None\n"
        "from telemetry.integrations.asgi import TelemetryMiddleware, telemetry_lifespan\n"
        "sent = []\n"
        "async def app(scope, receive, send):\n"
        "    await send({'type': 'http.response.start', 'status': 204, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b''})\n"
        "async def send(m): sent.append(m)\n"
        "async def receive(): return {'type': 'http.request'}\n"
        "scope = {'type': 'http', 'method': 'GET', 'path': '/', 'headers': []}\n"
        "asyncio.run(TelemetryMiddleware(app)(scope, receive, send))\n"
        "assert sent[0]['status'] == 204, sent\n"
    )
    env = {**os.environ, "TELEMETRY_MIN_LEVEL": "error"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


async def test_sigterm_during_load_loses_no_accepted_signal(tmp_path: Path) -> None:
    """uvicorn stopped by SIGTERM in the middle of a load: the lifespan awaits aclose(), and
    the file holds every signal of every request answered (two per request), nothing dropped."""
    log, stats_path = tmp_path / "app.jsonl", tmp_path / "stats.json"
    env = {"SIGTERM_APP_LOG": str(log), "SIGTERM_APP_STATS": str(stats_path)}
    with listening_socket() as sock:
        proc = start_uvicorn(
            "sigterm_app:app", sock, app_dir=HERE, env=env, log=tmp_path / "uvicorn.out"
        )
        port = sock.getsockname()[1]
    completed: set[str] = set()
    enough = anyio.Event()

    async def client_loop(client: httpx.AsyncClient, worker: int) -> None:
        for i in range(100_000):
            rid = f"w{worker}-{i}"
            try:
                r = await client.get("/work", params={"n": i}, headers={"x-request-id": rid})
            except httpx.TransportError:
                return  # the server is gone
            assert r.status_code == 200
            completed.add(rid)
            if len(completed) >= 300:
                enough.set()

    try:
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
        async with client, anyio.create_task_group() as tg:
            for w in range(8):
                tg.start_soon(client_loop, client, w)
            with anyio.fail_after(30):
                await enough.wait()
            proc.send_signal(signal.SIGTERM)
        code = await anyio.to_thread.run_sync(lambda: proc.wait(timeout=30))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = (tmp_path / "uvicorn.out").read_text()
    # uvicorn re-raises the signal once it has shut down, so the exit says "killed by SIGTERM".
    assert code in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    report = msgspec.json.decode(stats_path.read_bytes())
    handled = report["handled"]
    file_stats = report["stats"]["handlers"]["file"]
    lines = log.read_bytes().splitlines()
    signals = [msgspec.json.decode(line) for line in lines]
    assert file_stats["dropped"] == {}
    assert len(lines) == file_stats["written"] == file_stats["emitted"] == 2 * handled
    request_ids = [s["ctx"]["request_id"] for s in signals if s.get("id") == REQUEST_SPAN_ID]
    assert len(request_ids) == len(set(request_ids)) == handled
    assert set(request_ids) == completed
    assert len(completed) >= 300


# -- secrets in query strings and headers, with the documented set-up ---------------------------

SECRETS = ("tok-S1", "key-S2", "sess-S3", "ws-S4", "pw-S5", "hdr-S6")


async def test_secrets_in_query_strings_and_headers_never_reach_a_sink() -> None:
    """The documented FastAPI set-up (lifespan with the logging bridge, the middleware recording
    headers): secret query parameters (?token=, &api_key=, websocket ?token=) and secret
    headers appear nowhere in what is written, uvicorn's access lines included, while the rest
    of those lines (the path, a harmless parameter) is kept."""
    sink = MemorySink()
    api = FastAPI(lifespan=telemetry_lifespan(lambda: {"mem": sink}, logging_bridge="info"))

    @api.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        await tel.log("info", "item read", item_id=item_id)
        return {"item_id": item_id}

    @api.websocket("/ws")
    async def ws(sock: WebSocket) -> None:
        await sock.accept()
        await sock.send_text("hi")
        await sock.close()

    app = TelemetryMiddleware(api, record_headers=["user-agent", "x-session-token"])
    async with serve(app, lifespan="on", log_level="info") as addr:
        async with httpx.AsyncClient(base_url=f"http://{addr}") as client:
            for i in range(20):
                response = await client.get(
                    f"/items/{i}?token=tok-S1&api_key=key-S2&page=3&db_password=pw-S5",
                    headers={"X-Session-Token": "hdr-S6", "Cookie": "session=sess-S3"},
                )
                assert response.status_code == 200
        async with connect(f"ws://{addr}/ws?token=ws-S4&room=lobby") as sock:
            assert await sock.recv() == "hi"
    written = msgspec.json.encode(sink.signals).decode()
    leaked = [s for s in SECRETS if s in written]
    assert leaked == []
    access = [s for s in sink.signals if s.ns == "uvicorn.access"]
    assert len(access) == 20
    assert all("page=3" in (s.msg or "") and "token=[REDACTED]" in (s.msg or "") for s in access)
    (span, *_) = spans(sink)
    assert span.data["request_headers"]["x-session-token"] == "[REDACTED]"
