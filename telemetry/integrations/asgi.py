"""ASGI: a span per HTTP request and per websocket connection, and a lifespan for the hub.

```python
from fastapi import FastAPI
from telemetry.integrations.asgi import TelemetryMiddleware, telemetry_lifespan
from telemetry.sinks import FileSink

api = FastAPI(lifespan=telemetry_lifespan(lambda: {"file": FileSink("logs/app.jsonl")}))
...  # routes on api
app = TelemetryMiddleware(api, skip_paths=["/healthz"])   # serve this one
```

Wrapping the whole app puts the middleware outside the framework's own error handling, so the
500 response it sends for an unhandled exception also carries the request id.
``api.add_middleware(TelemetryMiddleware, ...)`` works too, but Starlette places such
middleware inside its error handler, whose 500 responses then go around it (the span still
records the exception and the status).

[`TelemetryMiddleware`][telemetry.integrations.asgi.TelemetryMiddleware] is pure ASGI: it never
wraps the app in a task of its own (as Starlette's ``BaseHTTPMiddleware`` does), so what it binds
with [`telemetry.bind`][telemetry.bind] is seen by the endpoint, and what the endpoint emits carries
the request id. It needs neither Starlette nor FastAPI and works in front of any ASGI app; with
Starlette or FastAPI it also records the route template. All per-request state lives in the frame of
``__call__``.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import (
    Awaitable,
    Callable,
    Iterable,
)
from types import CodeType, FrameType
from typing import Any

from .. import _otel
from .._context import (
    SpanContext,
    bind,
    current_context,
    enter_span,
    remember_context,
    reset_span,
)
from .._default import current_hub
from .._errors import ConfigError
from .._hub import Telemetry
from .._metrics._http import HTTP_METRICS, app_measures_itself
from .._redact import DEFAULT_REDACT_KEYS, KeyMatcher
from .._signal import Level, Location, new_span_id, new_trace_id, parse_level
from .._spans import Span, innermost_span
from ._asgi_exchange import (
    MAX_REQUEST_ID_LENGTH,
    MAX_VALUE_LENGTH,
    SERVER_CLOSE_CODES,
    TRUNCATION_MARK,
    Exchange,
    Message,
    Receive,
    Scope,
    Send,
    WsExchange,
    cut,
    parse_traceparent,
    route_of,
)
from ._asgi_lifespan import telemetry_lifespan

__all__ = [
    "DEFAULT_REDACT_HEADERS",
    "DEFAULT_REQUEST_ID_HEADER",
    "MAX_REQUEST_ID_LENGTH",
    "MAX_VALUE_LENGTH",
    "REQUEST_SPAN_ID",
    "SERVER_CLOSE_CODES",
    "TRUNCATION_MARK",
    "WEBSOCKET_SPAN_ID",
    "TelemetryMiddleware",
    "parse_traceparent",
    "telemetry_lifespan",
]

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_REQUEST_ID_HEADER = "x-request-id"
"""The header a request id is read from and returned in."""
DEFAULT_REDACT_HEADERS = DEFAULT_REDACT_KEYS | frozenset(
    {"proxy-authorization", "x-auth-token", "x-csrf-token", "x-xsrf-token", "x-amz-security-token"}
)
"""Header values never recorded as they are, whatever ``record_headers`` asks for: names and glob
patterns (``*token*`` covers ``x-session-token``), ``-`` and ``_`` alike."""
REQUEST_SPAN_ID = "http.request"
"""The id of the span signal of an HTTP request."""
WEBSOCKET_SPAN_ID = "websocket"
"""The id of the span signal of a websocket connection."""
_ENDPOINTS_MAX = 1024
"""How many endpoints' locations are remembered (an app has a fixed set of routes; endpoints made
per request would otherwise grow it without end)."""


def _names(param: str, values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str):
        raise ConfigError(param, f"must be a collection of strings, not the string {values!r}")
    out = set()
    for v in values:
        if not isinstance(v, str) or not v:
            raise ConfigError(param, f"must contain non-empty strings, got {v!r}")
        out.add(v.lower())
    return frozenset(out)


class TelemetryMiddleware:
    """Pure ASGI middleware: one span per HTTP request and per websocket connection.

    Each HTTP request runs inside a span (id ``"http.request"``, ``span.kind`` ``"server"``)
    whose signal records, under the OpenTelemetry HTTP semantic conventions' names,
    ``http.request.method``, ``http.route`` (the template, ``/items/{item_id}``, when the
    framework leaves its route in the scope as Starlette and FastAPI do; else the path),
    ``url.path``, ``url.query`` (the values of secret parameters, as ``redact_headers`` names
    them, replaced), ``url.scheme``, ``http.response.status_code``, ``http.response.body.size``,
    ``server.address`` / ``server.port`` (from the Host header), ``client.address`` /
    ``client.port``, ``network.protocol.version``, ``user_agent.original``, the duration, and
    the exception if the app raised; the exception is re-raised unchanged and the status
    recorded as 500 when no response was started. The span's module and location are the
    endpoint's when known; when no route matched (a 404), they are the app's, not this
    library's: the module and line that built the middleware, or when the framework built it
    (``add_middleware``), the module of the app's first route (at line 0); ``ns`` names the
    module instead. An exception leaving
    the app keeps the request id and the span, so that the server's own record of it
    ("Exception in ASGI application", through the logging bridge) carries them too.

    A request id is taken from the ``X-Request-ID`` header (``request_id_header``), else it is
    the trace id of the request's span (the caller's, from a W3C ``traceparent``, or a new
    one); it is bound into the context
    (``request_id``) so that every signal emitted while handling the request carries it, and it
    is returned in the response header. A valid ``traceparent`` also makes the request span a
    child of the caller's span, in the caller's trace.

    Each websocket connection runs inside a span (id ``"websocket"``) from the handshake to the
    end, recording the same connection attributes (``url.path``, ``http.route``, ...) and
    ``messages_in``, ``messages_out``, ``close_code``, ``closed_by`` (``"client"`` or
    ``"server"``: the side that sent the close, or for a disconnect with a code only servers
    send, [`SERVER_CLOSE_CODES`][telemetry.integrations.asgi.SERVER_CLOSE_CODES], such as
    uvicorn's 1012 at shutdown, the server) and whether it was ``accepted``; a
    ``connection_id`` (the handshake's ``X-Request-ID`` if it has a valid one, else the span's
    trace id) is bound into the context, so every signal the websocket endpoint emits carries
    it, and it is returned in the handshake response header.

    Other scope types (``lifespan``) are passed through.

    Added to a FastAPI app whose native telemetry records a server span for the request (an
    OpenTelemetry tracer provider is set, such as aiotelemetry's own with
    [`telemetry.integrations.opentelemetry.install`][telemetry.integrations.opentelemetry.install]),
    the middleware yields its span to FastAPI's, so that a request has one server span: it still
    binds the request id and
    returns it, and sets it on FastAPI's span as ``request_id``; the same for a websocket
    connection and its ``connection_id`` (the message counts are then not recorded).

    What the client sends is bounded: a path, query or header value over
    [`MAX_VALUE_LENGTH`][telemetry.integrations.asgi.MAX_VALUE_LENGTH] characters is recorded cut
    (ending with [`TRUNCATION_MARK`][telemetry.integrations.asgi.TRUNCATION_MARK]) and counted
    in the span's ``truncated``; nothing the client sends makes it raise.

    Args:
        app: The ASGI application wrapped.
        hub: The hub the spans go to; by default the default hub at request time.
        skip_paths: Exact paths, or prefixes ending in ``*``, passed through untouched:
            ``["/healthz", "/static/*"]``.
        record_headers: Request header names whose values are added as
            ``request_headers``.
        record_response_headers: Response header names whose values are added as
            ``response_headers``.
        redact_headers: Names and glob patterns of headers whose values are replaced by
            ``[REDACTED]`` even when asked for; the default,
            [`DEFAULT_REDACT_HEADERS`][telemetry.integrations.asgi.DEFAULT_REDACT_HEADERS],
            covers ``authorization``, ``cookie``, ``set-cookie`` and any name with ``token``,
            ``secret``, ``session``, ``password`` or ``api-key`` in it.
        request_id_header: The header the request id is read from and returned in.
        trust_request_id: Whether to take the request id from the client.
        trust_traceparent: Whether to take the caller's span from the client's
            ``traceparent``.
        level: The level of the spans, a name or number.
        ns: The namespace of a span no route answered.
        metrics: The HTTP server metrics of the semantic conventions
            (``http.server.request.duration``, ``http.server.active_requests``). ``None``
            (the default) records them once metrics are on (``install_meter_provider()``),
            except where FastAPI's native telemetry measures the request itself (the app is a
            FastAPI app with its metrics on, or FastAPI's telemetry runs around the
            middleware), so that each request is measured once; ``True`` always records
            them, ``False`` never.

    Raises:
        ConfigError: An option has a value it does not take.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        hub: Telemetry | None = None,
        skip_paths: Iterable[str] = (),
        record_headers: Iterable[str] = (),
        record_response_headers: Iterable[str] = (),
        redact_headers: Iterable[str] = DEFAULT_REDACT_HEADERS,
        request_id_header: str = DEFAULT_REQUEST_ID_HEADER,
        trust_request_id: bool = True,
        trust_traceparent: bool = True,
        level: str | int = "info",
        ns: str | None = None,
        metrics: bool | None = None,
    ) -> None:
        if not callable(app):
            raise ConfigError("app", f"must be an ASGI application (a callable), got {app!r}")
        if hub is not None and not isinstance(hub, Telemetry):
            raise ConfigError("hub", f"must be a telemetry.Telemetry or None, got {hub!r}")
        if not isinstance(request_id_header, str) or not request_id_header:
            raise ConfigError(
                "request_id_header", f"must be a header name, got {request_id_header!r}"
            )
        self.app = app
        self.hub = hub
        skip = _names("skip_paths", skip_paths)
        self._skip_exact = frozenset(p for p in skip if not p.endswith("*"))
        self._skip_prefixes = tuple(p[:-1] for p in skip if p.endswith("*"))
        self.record_headers = _names("record_headers", record_headers)
        self.record_response_headers = _names("record_response_headers", record_response_headers)
        self.redact_headers = _names("redact_headers", redact_headers)
        self._secret = KeyMatcher(self.redact_headers)
        self.request_id_header = request_id_header.lower()
        self._rid_key = self.request_id_header.encode("latin-1")
        self.trust_request_id = bool(trust_request_id)
        self.trust_traceparent = bool(trust_traceparent)
        self.level = parse_level(level, "level")
        if ns is not None and (not isinstance(ns, str) or not ns):
            raise ConfigError("ns", f"must be a namespace (a module name) or None, got {ns!r}")
        # Whose a span no endpoint answered is (a 404 on an unknown route): the module and
        # line that built the middleware; else (built by the framework) the module of the
        # app's first route, found on the first such request.
        self._owner = _builder()
        self._endpoints: dict[Any, tuple[str | None, Location]] = {}
        """endpoint -> (its module, its location), so that a request builds neither."""
        self.ns = ns if ns is not None else (self._owner[0] if self._owner else None)
        """The namespace of a span no endpoint answered; see ``ns``."""
        # The HTTP server metrics (telemetry._metrics._http), once per request: not when the
        # app is FastAPI measuring them itself, unless asked for.
        off = metrics is False or (metrics is None and app_measures_itself(app))
        self._meter = None if off else HTTP_METRICS
        self._meter_always = metrics is True
        self._native = _native_config(app)
        """The configuration of the native telemetry of the FastAPI app wrapped (>= 0.165)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        # The HTTP path is written out here rather than in a method of its own: one coroutine
        # per request instead of two (each lives as long as the request).
        if scope["type"] != "http":
            await self._other(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path in self._skip_exact or (
            self._skip_prefixes and path.startswith(self._skip_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        hub = self.hub if self.hub is not None else current_hub()
        meter = self._meter
        measured = meter.start(scope, self._meter_always) if meter is not None else None
        if _native_server_span(scope, self._native):
            await self._beside_native(
                scope, receive, Exchange(send, self._rid_key, self._secret, frozenset()), measured
            )
            return
        ex = Exchange(send, self._rid_key, self._secret, self.record_response_headers)
        # The request's span, without a Span object: what Span.start and Span.end do, in this
        # frame (see `_start`, which the websocket path uses).
        ex.read_headers(
            scope.get("headers") or (),
            self.record_headers,
            self.trust_request_id,
            self.trust_traceparent,
        )
        parent = ex.parent or innermost_span()
        if parent is None:
            trace_id = new_trace_id()
            ctx = SpanContext(trace_id=trace_id, span_id=new_span_id())
        else:
            trace_id = parent.trace_id
            ctx = SpanContext(trace_id=trace_id, span_id=new_span_id(), parent_id=parent.span_id)
        rid = ex.request_id or trace_id
        ex.rid_value = rid.encode("latin-1")
        token = enter_span(ctx, {"request_id": rid})
        otel_token = _otel.attach(ctx)
        inst = _time_ns()
        t0 = _perf_ns()
        entry_root: str = scope.get("root_path", "")
        error: BaseException | None = None
        try:
            await self.app(scope, receive, ex)
        except BaseException as exc:
            error = exc
            if isinstance(exc, Exception):
                remember_context(exc, current_context(), ctx)
            raise
        finally:
            try:
                duration = _perf_ns() - t0
                if ex.status is None:
                    # The app raised, or returned without answering: the server sends a 500.
                    ex.status = 500
                route = route_of(scope, entry_root)
                if measured is not None:
                    HTTP_METRICS.finish(measured, scope, ex.status, route or cut(path))
                level = self.level
                if (ex.status >= 500 or error is not None) and level < _ERROR:
                    level = _ERROR
                emit = hub.span_host.emitters.table[level]
                if emit is not False:
                    data = ex.attributes(scope, "http", scope.get("method"))
                    data["http.route"] = data["url.path"] if route is None else ex.clip(route)
                    data["http.response.status_code"] = ex.status
                    data["http.response.body.size"] = ex.size
                    if ex.response_headers:
                        data["response_headers"] = ex.response_headers
                    if ex.truncated:
                        data["truncated"] = ex.truncated
                    ns, location = self._locate(scope, hub)
                    # Emitted before the span stops being current: it carries the request id.
                    await emit.span(REQUEST_SPAN_ID, data, error, ns, location, ctx, duration, inst)
            finally:
                if otel_token is not None:
                    _otel.detach(otel_token)
                reset_span(token)

    def _other(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine of its own: ``__call__`` awaits the one returned here directly, so
        # every step of a websocket connection (each message) passes one frame fewer.
        if scope["type"] == "websocket":
            return self._websocket(scope, receive, send)
        return self.app(scope, receive, send)

    # -- helpers --------------------------------------------------------------------------------

    def _skipped(self, path: str) -> bool:
        return path in self._skip_exact or (
            bool(self._skip_prefixes) and path.startswith(self._skip_prefixes)
        )

    def _start(
        self, hub: Telemetry, id: str, ex: Exchange | WsExchange, scope: Scope, key: str
    ) -> Span:
        """Read the headers, start the span (a child of the caller's, with a ``traceparent``)
        with the request id bound under ``key``: the client's, else the trace id."""
        ex.read_headers(
            scope.get("headers") or (),
            self.record_headers,
            self.trust_request_id,
            self.trust_traceparent,
        )
        parent = ex.parent or innermost_span()
        trace_id = parent.trace_id if parent is not None else new_trace_id()
        rid = ex.request_id or trace_id
        ex.rid_value = rid.encode("latin-1")
        # Where the span is credited is known at its end (_locate); until then, nowhere.
        span = Span(hub, id, self.level, _NO_DATA, ns=self.ns, location=_NOWHERE)
        span.start(parent=parent, trace_id=trace_id, bound={key: rid})
        return span

    def _locate(self, scope: Scope, hub: Telemetry) -> tuple[str | None, Location | None]:
        """Credit the span to the endpoint that handled it, when the router says which; else
        (no route matched) to the app's namespace, with no location."""
        endpoint = scope.get("endpoint")
        code: CodeType | None = getattr(endpoint, "__code__", None)
        if code is None:
            if self._owner is None:
                self._owner = _app_module(scope)
            if self._owner is not None:
                return self.ns or self._owner[0], self._owner[1] if hub.location else None
            return self.ns, None
        found = self._endpoints.get(endpoint)
        if found is None:
            found = (
                getattr(endpoint, "__module__", None),
                Location(
                    file=code.co_filename,
                    line=code.co_firstlineno,
                    function=getattr(endpoint, "__qualname__", code.co_name),
                ),
            )
            if len(self._endpoints) < _ENDPOINTS_MAX:
                self._endpoints[endpoint] = found
        return found[0], found[1] if hub.location else None

    async def _beside_native(
        self,
        scope: Scope,
        receive: Receive,
        ex: Exchange | WsExchange,
        measured: tuple[float, str, str] | None,
    ) -> None:
        """FastAPI's native telemetry records this request's (or websocket connection's)
        server span (see `_native_server_span`): one server span each, so this
        middleware yields its own and keeps the id (``request_id``, ``connection_id``), bound
        into the context, returned in the response header and set on FastAPI's span as an
        attribute. Without an ``X-Request-ID`` header the id is the trace id of FastAPI's span
        when it has started, else of the ``traceparent``, else a new one. An HTTP request
        ``measured`` by the middleware's metrics (FastAPI not measuring it) is recorded."""
        key = "connection_id" if isinstance(ex, WsExchange) else "request_id"
        ex.read_headers(
            scope.get("headers") or (), frozenset(), self.trust_request_id, self.trust_traceparent
        )
        rid = ex.request_id
        if rid is None:
            span = getattr(scope.get("fastapi.telemetry"), "span", None)
            if span is not None:
                rid = f"{span.get_span_context().trace_id:032x}"
            else:
                rid = ex.parent.trace_id if ex.parent is not None else new_trace_id()
        ex.rid_value = rid.encode("latin-1")
        tagged = False

        async def send(message: Message) -> None:
            nonlocal tagged
            if not tagged and message["type"] in ("http.response.start", "websocket.accept"):
                tagged = True
                # FastAPI's span has started by now, whichever side of it this middleware is.
                span = getattr(scope.get("fastapi.telemetry"), "span", None)
                if span is not None:
                    with contextlib.suppress(Exception):  # its span: never the request's fault
                        span.set_attribute(key, rid)
            await ex(message)

        entry_root: str = scope.get("root_path", "")
        with bind({key: rid}):
            try:
                await self.app(scope, receive, send)
            except Exception as exc:
                remember_context(exc, current_context(), None)
                raise
            finally:
                if measured is not None:
                    status = ex.status if ex.status is not None else 500
                    route = route_of(scope, entry_root) or cut(scope.get("path", ""))
                    HTTP_METRICS.finish(measured, scope, status, route)

    # -- websockets -----------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if self._skipped(path):
            await self.app(scope, receive, send)
            return
        if _native_server_span(scope, self._native):
            ws = WsExchange(receive, send, self._rid_key, self._secret)
            await self._beside_native(scope, ws.receive, ws, None)
            return
        hub = self.hub if self.hub is not None else current_hub()
        ex = WsExchange(receive, send, self._rid_key, self._secret)
        span = self._start(hub, WEBSOCKET_SPAN_ID, ex, scope, "connection_id")
        entry_root: str = scope.get("root_path", "")
        error: BaseException | None = None
        disconnect: BaseException | None = None
        try:
            await self.app(scope, ex.receive, ex)
        except BaseException as exc:
            if not _is_disconnect(exc):
                error = exc
                if isinstance(exc, Exception):
                    remember_context(exc, current_context(), span.context)
                raise
            # The client went away and the endpoint did not catch it: a normal end of the
            # connection for the span, re-raised once the span is done.
            disconnect = exc
            code = getattr(exc, "code", None)
            if ex.close_code is None and isinstance(code, int):
                ex.closed(code)
        finally:
            level = span.level if error is None else max(span.level, int(Level.ERROR))
            if span.would_emit(level):
                data = ex.attributes(scope, "ws", None)
                route = route_of(scope, entry_root)
                data["http.route"] = data["url.path"] if route is None else ex.clip(route)
                data["accepted"] = ex.accepted
                data["messages_in"] = ex.messages_in
                data["messages_out"] = ex.messages_out
                if ex.close_code is not None:
                    data["close_code"] = ex.close_code
                    data["closed_by"] = ex.closed_by
                if ex.status is not None:
                    data["http.response.status_code"] = ex.status
                if ex.truncated:
                    data["truncated"] = ex.truncated
                span.data = data
                span.ns, span.location = self._locate(scope, hub)
            await span.end(error)
        if disconnect is not None:
            raise disconnect


_ERROR = int(Level.ERROR)
_time_ns = time.time_ns
_perf_ns = time.perf_counter_ns
_NO_DATA: dict[str, Any] = {}
"""The data of a span until its end builds the real one (never mutated: the middleware's spans are
not reachable by user code)."""
_NOWHERE = Location(file="", line=0, function="")
"""The location of a middleware's span until its end says whose it is."""


_FRAMEWORKS = ("telemetry.", "starlette.", "fastapi.")


def _native_config(app: object) -> dict[str, Any] | None:
    """The configuration of a FastAPI app's native telemetry (FastAPI >= 0.165), or ``None``
    for any other app."""
    config = getattr(getattr(app, "_native_telemetry", None), "config", None)
    return config if isinstance(config, dict) else None


def _native_server_span(scope: Scope, native: dict[str, Any] | None) -> bool:
    """Whether FastAPI's native telemetry records this request's server span: it runs around
    the middleware stack and leaves its request in ``scope["fastapi.telemetry"]`` (the
    middleware added with ``add_middleware``, inside it), or it is about to run, in the
    FastAPI app this middleware wraps (``native``, its configuration), with tracing on and a
    tracer provider set (its own, or a global one: aiotelemetry's, or another SDK's)."""
    if "fastapi.telemetry" in scope:
        return getattr(scope["fastapi.telemetry"], "span", None) is not None
    if native is None or not native.get("tracing"):
        return False
    # FastAPI's own check (enabled()) reads the environment three times: too dear per request.
    return native.get("tracer_provider") is not None or _otel.tracer_provider_set()


def _builder() -> tuple[str, Location] | None:
    """The module that built the middleware (``app = TelemetryMiddleware(api)`` in the app's
    module) and the line, or ``None`` when a framework built it (``app.add_middleware(...)``)."""
    frame: FrameType | None = sys._getframe(2)
    name = None if frame is None else frame.f_globals.get("__name__")
    if frame is None or not isinstance(name, str) or name.startswith(_FRAMEWORKS):
        return None
    code = frame.f_code
    return name, Location(file=code.co_filename, line=frame.f_lineno, function=code.co_name)


def _app_module(scope: Scope) -> tuple[str, Location] | None:
    """The module of the first route of the app in the scope (Starlette and FastAPI put it
    there) whose endpoint is the application's own, not the framework's; the location is the
    module itself (line 0)."""
    for route in getattr(scope.get("app"), "routes", None) or ():
        endpoint = getattr(route, "endpoint", None)
        module = getattr(endpoint, "__module__", None)
        code = getattr(endpoint, "__code__", None)
        if isinstance(module, str) and not module.startswith(_FRAMEWORKS) and code is not None:
            return module, Location(file=code.co_filename, line=0, function="<module>")
    return None


def _is_disconnect(exc: BaseException) -> bool:
    """Starlette's ``WebSocketDisconnect``, recognised without importing Starlette."""
    return type(exc).__name__ == "WebSocketDisconnect"
