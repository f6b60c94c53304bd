"""ASGI: a span per HTTP request and per websocket connection, and a lifespan for the hub.

::

    from fastapi import FastAPI
    from telemetry.integrations.asgi import TelemetryMiddleware, telemetry_lifespan
    from telemetry.sinks import FileSink

    api = FastAPI(lifespan=telemetry_lifespan(lambda: {"file": FileSink("logs/app.jsonl")}))
    ...  # routes on api
    app = TelemetryMiddleware(api, skip_paths=["/healthz"])   # serve this one

Wrapping the whole app puts the middleware outside the framework's own error handling, so the
500 response it sends for an unhandled exception also carries the request id.
``api.add_middleware(TelemetryMiddleware, ...)`` works too, but Starlette places such
middleware inside its error handler, whose 500 responses then go around it (the span still
records the exception and the status).

:class:`TelemetryMiddleware` is pure ASGI: it never wraps the app in a task of its own (as
Starlette's ``BaseHTTPMiddleware`` does), so what it binds with :func:`telemetry.bind` is seen by
the endpoint, and what the endpoint emits carries the request id. It needs neither Starlette nor
FastAPI and works in front of any ASGI app; with Starlette or FastAPI it also records the route
template. All per-request state lives in the frame of ``__call__``.
"""

from __future__ import annotations

import contextlib
import re
import sys
import uuid
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    MutableMapping,
)
from contextlib import AbstractAsyncContextManager
from types import FrameType
from typing import Any

from .._context import (
    SpanContext,
    bind,
    current_context,
    remember_context,
    reset_span,
    set_span,
)
from .._default import current_hub
from .._errors import ConfigError
from .._hub import Telemetry
from .._metrics._http import HTTP_METRICS, app_measures_itself
from .._redact import DEFAULT_REDACT_KEYS, REDACTED, KeyMatcher, redact_query
from .._signal import Level, Location, parse_level
from .._spans import Span
from .._stats import Stats
from ..sinks._base import Sink

__all__ = [
    "DEFAULT_REDACT_HEADERS",
    "DEFAULT_REQUEST_ID_HEADER",
    "MAX_REQUEST_ID_LENGTH",
    "REQUEST_SPAN_ID",
    "SERVER_CLOSE_CODES",
    "WEBSOCKET_SPAN_ID",
    "TelemetryMiddleware",
    "parse_traceparent",
    "telemetry_lifespan",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handlers = Mapping[str, Sink | Mapping[str, Any]]

#: The header a request id is read from and returned in.
DEFAULT_REQUEST_ID_HEADER = "x-request-id"
#: Header values never recorded as they are, whatever ``record_headers`` asks for: names and
#: glob patterns (``*token*`` covers ``x-session-token``), ``-`` and ``_`` alike.
DEFAULT_REDACT_HEADERS = DEFAULT_REDACT_KEYS | frozenset(
    {"proxy-authorization", "x-auth-token", "x-csrf-token", "x-xsrf-token", "x-amz-security-token"}
)
#: An incoming request id longer than this, or with other characters than
#: ``A-Z a-z 0-9 . _ : / + = @ -``, is replaced by a generated one.
MAX_REQUEST_ID_LENGTH = 128
#: The id of the span signal of an HTTP request.
REQUEST_SPAN_ID = "http.request"
#: The id of the span signal of a websocket connection.
WEBSOCKET_SPAN_ID = "websocket"

_SAFE_ID = re.compile(rf"[A-Za-z0-9._:/+=@-]{{1,{MAX_REQUEST_ID_LENGTH}}}")
_HEX = frozenset("0123456789abcdef")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def parse_traceparent(value: str) -> SpanContext | None:
    """Read a W3C ``traceparent`` header (``00-<trace id>-<parent id>-<flags>``).

    Returns the remote span as a :class:`~telemetry.SpanContext` (its ``span_id`` is the
    caller's span, to become the parent of ours), or ``None`` for anything malformed: the
    header comes from outside, so a bad one is ignored, never an error.
    """
    parts = value.strip().split("-")
    if len(parts) < 4:
        return None
    version, trace_id, parent_id, flags = parts[:4]
    if len(version) != 2 or not _HEX.issuperset(version) or version == "ff":
        return None
    if version == "00" and len(parts) != 4:
        return None
    if len(trace_id) != 32 or len(parent_id) != 16 or len(flags) != 2:
        return None
    if not (_HEX.issuperset(trace_id) and _HEX.issuperset(parent_id) and _HEX.issuperset(flags)):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return SpanContext(trace_id=trace_id, span_id=parent_id)


def _names(param: str, values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str):
        raise ConfigError(param, f"must be a collection of strings, not the string {values!r}")
    out = set()
    for v in values:
        if not isinstance(v, str) or not v:
            raise ConfigError(param, f"must contain non-empty strings, got {v!r}")
        out.add(v.lower())
    return frozenset(out)


def _split_host(host: str) -> tuple[str, int | None]:
    """``example.com:8080`` -> (``example.com``, 8080); ``[::1]`` -> (``::1``, None)."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return host, None
        name, rest = host[1:end], host[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name, int(port) if port.isdigit() else None


def _connection(scope: Scope, default_scheme: str) -> dict[str, Any]:
    """The HTTP semantic conventions' attributes of the connection: scheme, server and client
    addresses, protocol version and user agent."""
    out: dict[str, Any] = {"url.scheme": scope.get("scheme") or default_scheme}
    host: str | None = None
    agent: str | None = None
    for key, value in scope.get("headers") or ():
        if key == b"host" and host is None:
            host = value.decode("latin-1")
        elif key == b"user-agent" and agent is None:
            agent = value.decode("latin-1")
    server = scope.get("server")
    if host:
        # The name the client asked for (the Host header) is the server's address; its port
        # when it says one, else the one the request came in on.
        name, port = _split_host(host)
        out["server.address"] = name
        if port is not None:
            out["server.port"] = port
        elif server:
            out["server.port"] = server[1]
    elif server:
        out["server.address"], out["server.port"] = server[0], server[1]
    client = scope.get("client")
    if client:
        out["client.address"], out["client.port"] = client[0], client[1]
    version = scope.get("http_version")
    if version:
        out["network.protocol.version"] = version
    if agent is not None:
        out["user_agent.original"] = agent
    return out


def _route(scope: Scope, entry_root: str) -> str | None:
    """The route template the router matched (Starlette and FastAPI leave it in the scope).

    A mounted sub-application's router overwrites ``scope["route"]`` with its own route, whose
    template is relative to the mount; the mount's part is what it appended to ``root_path``.
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return None
    root = scope.get("root_path", "")
    prefix = root[len(entry_root) :] if root != entry_root and root.startswith(entry_root) else ""
    if hasattr(route, "routes"):
        # The mount itself answered (a static files app, say): the rest is a free path.
        return f"{prefix or template}/{{path}}"
    return prefix + template


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

    A request id is taken from the ``X-Request-ID`` header (``request_id_header``), else from the
    trace id of a W3C ``traceparent``, else generated; it is bound into the context
    (``request_id``) so that every signal emitted while handling the request carries it, and it
    is returned in the response header. A valid ``traceparent`` also makes the request span a
    child of the caller's span, in the caller's trace.

    Each websocket connection runs inside a span (id ``"websocket"``) from the handshake to the
    end, recording the same connection attributes (``url.path``, ``http.route``, ...) and
    ``messages_in``, ``messages_out``, ``close_code``, ``closed_by``
    (``"client"`` or ``"server"``: the side that sent the close, or for a disconnect with a
    code only servers send, :data:`SERVER_CLOSE_CODES`, such as uvicorn's 1012 at shutdown,
    the server) and whether it was ``accepted``; a ``connection_id`` (the
    handshake's ``X-Request-ID`` if it has a valid one, else generated) is bound into the
    context, so every signal the websocket endpoint emits carries it, and it is returned in the
    handshake response header.

    Options: ``hub`` (default: the default hub at request time), ``skip_paths`` (exact paths,
    or prefixes ending in ``*``, passed through untouched: ``["/healthz", "/static/*"]``),
    ``record_headers`` / ``record_response_headers`` (header names whose values are added as
    ``request_headers`` / ``response_headers``), ``redact_headers`` (names and glob patterns
    whose values are replaced by ``[REDACTED]`` even when asked for;
    :data:`DEFAULT_REDACT_HEADERS` covers ``authorization``, ``cookie``, ``set-cookie`` and
    any name with ``token``, ``secret``, ``session``, ``password`` or ``api-key`` in it),
    ``trust_request_id`` / ``trust_traceparent`` (whether to take these from the client),
    ``level`` of the spans, and ``ns``, the namespace of a span no route answered. Other scope
    types (``lifespan``) are passed through.

    ``metrics``: the HTTP server metrics of the semantic conventions
    (``http.server.request.duration``, ``http.server.active_requests``; see
    ``telemetry._metrics._http``). ``None`` (the default) records them once metrics are on
    (``install_meter_provider()``), except where FastAPI's native telemetry measures the
    request itself (the app is a FastAPI app with its metrics on, or FastAPI's telemetry runs
    around the middleware), so that each request is measured once; ``True`` always records
    them, ``False`` never.
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
        #: The namespace of a span no endpoint answered; see ``ns``.
        self.ns = ns if ns is not None else (self._owner[0] if self._owner else None)
        # The HTTP server metrics (telemetry._metrics._http), once per request: not when the
        # app is FastAPI measuring them itself, unless asked for.
        off = metrics is False or (metrics is None and app_measures_itself(app))
        self._meter = None if off else HTTP_METRICS
        self._meter_always = metrics is True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # -- helpers --------------------------------------------------------------------------------

    def _skipped(self, path: str) -> bool:
        return path in self._skip_exact or (
            bool(self._skip_prefixes) and path.startswith(self._skip_prefixes)
        )

    def _read_headers(
        self, raw: Iterable[tuple[bytes, bytes]], wanted: frozenset[str]
    ) -> tuple[str | None, SpanContext | None, dict[str, str]]:
        """The trusted request id, the remote parent span, and the headers to record."""
        rid: str | None = None
        parent: SpanContext | None = None
        recorded: dict[str, str] = {}
        rid_key = self._rid_key
        for key, value in raw:
            if key == rid_key and self.trust_request_id:
                text = value.decode("latin-1").strip()
                if _SAFE_ID.fullmatch(text):
                    rid = text
            elif key == b"traceparent" and self.trust_traceparent:
                parent = parse_traceparent(value.decode("latin-1"))
            if wanted:
                name = key.decode("latin-1").lower()
                if name in wanted:
                    text = REDACTED if self._secret(name) else value.decode("latin-1")
                    recorded[name] = f"{recorded[name]}, {text}" if name in recorded else text
        return rid, parent, recorded

    def _query(self, scope: Scope) -> dict[str, str]:
        """``url.query``, the values of secret parameters (as ``redact_headers`` names them:
        ``token``, ``api_key``, ...) replaced; nothing when there is no query string."""
        raw = scope.get("query_string") or b""
        if not raw:
            return {}
        return {"url.query": redact_query(raw.decode("latin-1"), self._secret)}

    def _locate(self, span: Span, scope: Scope, hub: Telemetry) -> None:
        """Credit the span to the endpoint that handled it, when the router says which; else
        (no route matched) to the app's namespace, with no location."""
        endpoint = scope.get("endpoint")
        code = getattr(endpoint, "__code__", None)
        if code is None:
            if self._owner is None:
                self._owner = _app_module(scope)
            if self._owner is not None:
                span.ns = self.ns or self._owner[0]
                span.location = self._owner[1] if hub.location else None
            elif self.ns is not None:
                span.ns = self.ns
            return
        span.ns = getattr(endpoint, "__module__", span.ns)
        if hub.location:
            span.location = Location(
                file=code.co_filename,
                line=code.co_firstlineno,
                function=getattr(endpoint, "__qualname__", code.co_name),
            )

    # -- HTTP -----------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if self._skipped(path):
            await self.app(scope, receive, send)
            return
        hub = self.hub if self.hub is not None else current_hub()
        meter = self._meter
        measured = meter.start(scope, self._meter_always) if meter is not None else None
        rid, parent, recorded = self._read_headers(scope.get("headers") or (), self.record_headers)
        if rid is None:
            rid = parent.trace_id if parent is not None else uuid.uuid4().hex
        entry_root: str = scope.get("root_path", "")
        data: dict[str, Any] = {
            "http.request.method": scope.get("method"),
            "url.path": path,
            **self._query(scope),
            **_connection(scope, "http"),
            "span.kind": "server",
        }
        if recorded:
            data["request_headers"] = recorded

        status: int | None = None
        size = 0
        response_headers: dict[str, str] = {}
        rid_key = self._rid_key
        rid_value = rid.encode("latin-1")
        wanted_out = self.record_response_headers

        async def send_wrapper(message: Message) -> None:
            nonlocal status, size
            kind = message["type"]
            if kind == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers") or ())
                if not any(k.lower() == rid_key for k, _ in headers):
                    headers.append((rid_key, rid_value))
                    message = {**message, "headers": headers}
                if wanted_out:
                    for k, v in headers:
                        name = k.decode("latin-1").lower()
                        if name in wanted_out:
                            text = REDACTED if self._secret(name) else v.decode("latin-1")
                            response_headers[name] = (
                                f"{response_headers[name]}, {text}"
                                if name in response_headers
                                else text
                            )
            elif kind == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        with bind(request_id=rid):
            token = set_span(parent) if parent is not None else None
            try:
                span = Span(hub, REQUEST_SPAN_ID, self.level, data, 1)
                async with span:
                    try:
                        await self.app(scope, receive, send_wrapper)
                    except Exception as exc:
                        if status is None:
                            status = 500
                        remember_context(exc, current_context(), span.context)
                        raise
                    finally:
                        if status is None:
                            # The app returned without answering: the server sends a 500.
                            status = 500
                        data["http.route"] = _route(scope, entry_root) or path
                        data["http.response.status_code"] = status
                        data["http.response.body.size"] = size
                        if measured is not None:
                            HTTP_METRICS.finish(measured, scope, status, data["http.route"])
                        if response_headers:
                            data["response_headers"] = response_headers
                        if status >= 500 and span.level < Level.ERROR:
                            span.level = int(Level.ERROR)
                        self._locate(span, scope, hub)
            finally:
                if token is not None:
                    reset_span(token)

    # -- websockets -----------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if self._skipped(path):
            await self.app(scope, receive, send)
            return
        hub = self.hub if self.hub is not None else current_hub()
        cid, parent, recorded = self._read_headers(scope.get("headers") or (), self.record_headers)
        if cid is None:
            cid = uuid.uuid4().hex
        entry_root: str = scope.get("root_path", "")
        data: dict[str, Any] = {
            "url.path": path,
            **self._query(scope),
            **_connection(scope, "ws"),
            "span.kind": "server",
        }
        if recorded:
            data["request_headers"] = recorded

        messages_in = messages_out = 0
        close_code: int | None = None
        closed_by: str | None = None
        accepted = False
        status: int | None = None
        rid_key = self._rid_key
        cid_value = cid.encode("latin-1")

        async def receive_wrapper() -> Message:
            nonlocal messages_in, close_code, closed_by
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                messages_in += 1
            elif kind == "websocket.disconnect" and close_code is None:
                close_code = int(message.get("code", 1005))
                closed_by = _closed_by(close_code)
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal messages_out, close_code, closed_by, accepted, status
            kind = message["type"]
            if kind == "websocket.send":
                messages_out += 1
            elif kind == "websocket.accept":
                accepted = True
                headers = list(message.get("headers") or ())
                if not any(k.lower() == rid_key for k, _ in headers):
                    headers.append((rid_key, cid_value))
                    message = {**message, "headers": headers}
            elif kind == "websocket.close" and close_code is None:
                close_code = int(message.get("code", 1000))
                closed_by = "server"
            elif kind == "websocket.http.response.start":
                status = int(message["status"])
            await send(message)

        with bind(connection_id=cid):
            token = set_span(parent) if parent is not None else None
            try:
                span = Span(hub, WEBSOCKET_SPAN_ID, self.level, data, 1)
                disconnect: BaseException | None = None
                async with span:
                    try:
                        await self.app(scope, receive_wrapper, send_wrapper)
                    except Exception as exc:
                        if not _is_disconnect(exc):
                            remember_context(exc, current_context(), span.context)
                            raise
                        # The client went away and the endpoint did not catch it: a normal
                        # end of the connection for the span, re-raised once the span is done.
                        disconnect = exc
                        code = getattr(exc, "code", None)
                        if close_code is None and isinstance(code, int):
                            close_code, closed_by = code, _closed_by(code)
                    finally:
                        data["http.route"] = _route(scope, entry_root) or path
                        data["accepted"] = accepted
                        data["messages_in"] = messages_in
                        data["messages_out"] = messages_out
                        if close_code is not None:
                            data["close_code"] = close_code
                            data["closed_by"] = closed_by
                        if status is not None:
                            data["http.response.status_code"] = status
                        self._locate(span, scope, hub)
                if disconnect is not None:
                    raise disconnect
            finally:
                if token is not None:
                    reset_span(token)


#: Close codes only a server sends (RFC 6455 and the IANA registry): 1011 internal error,
#: 1012 service restart (uvicorn's, when it shuts down), 1013 try again later, 1014 bad gateway.
SERVER_CLOSE_CODES = frozenset({1011, 1012, 1013, 1014})


def _closed_by(code: int) -> str:
    """Who ended a connection the app heard of as a disconnect, by its close code."""
    return "server" if code in SERVER_CLOSE_CODES else "client"


_FRAMEWORKS = ("telemetry.", "starlette.", "fastapi.")


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


# -- lifespan -----------------------------------------------------------------------------------

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def telemetry_lifespan(
    handlers: Handlers | Callable[[], Handlers] | None = None,
    *,
    lifespan: Lifespan | None = None,
    hub: Callable[[], Telemetry] | None = None,
    logging_bridge: str | int | None = None,
    on_close: Callable[[Stats], object] | None = None,
    **options: Any,
) -> Lifespan:
    """A lifespan that runs a :class:`~telemetry.Telemetry` hub for as long as the app.

    ``FastAPI(lifespan=telemetry_lifespan(handlers={...}, min_level="info"))``: at startup a hub
    is made from ``handlers`` and ``options`` (the :class:`~telemetry.Telemetry` keywords) and
    opened, becoming the default hub; at shutdown, when uvicorn stops on SIGTERM or SIGINT,
    :meth:`~telemetry.Telemetry.aclose` is awaited, so every accepted signal is written before
    the process exits. A hub can be opened only once and sinks closed only once, so give
    ``handlers`` as a function returning the mapping, or ``hub`` as a function returning a hub,
    when the app may start more than once in a process (tests). With neither, the hub reads
    the configuration file that ``TELEMETRY_CONFIG`` names, when it is set; for a file named
    in code, ``hub=lambda: Telemetry.from_file("telemetry.toml")``.

    ``lifespan`` is the app's own lifespan, run inside (its startup and shutdown can emit
    signals); the state it yields is passed on. ``logging_bridge`` (a level such as
    ``"info"``) installs :func:`telemetry.integrations.logging.install_logging_bridge` once the
    hub is open, and removes it before the hub closes. ``on_close`` receives the final stats.
    """
    if hub is not None and (handlers is not None or options):
        raise ConfigError("hub", "give either hub= (a factory) or handlers= and hub options")
    if hub is not None and not callable(hub):
        raise ConfigError("hub", f"must be a function returning a Telemetry, got {hub!r}")
    if lifespan is not None and not callable(lifespan):
        raise ConfigError(
            "lifespan", f"must be a lifespan function (app -> context manager), got {lifespan!r}"
        )
    if logging_bridge is not None:
        from .logging import logging_level

        logging_level(logging_bridge, "logging_bridge")

    def make_hub() -> Telemetry:
        if hub is not None:
            made = hub()
            if not isinstance(made, Telemetry):
                raise ConfigError("hub", f"must return a telemetry.Telemetry, got {made!r}")
            return made
        spec = handlers() if callable(handlers) else handlers
        return Telemetry(spec, **options)

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[Any]:
        tel = make_hub()
        try:
            async with tel:
                bridge = None
                if logging_bridge is not None:
                    from .logging import install_logging_bridge

                    bridge = install_logging_bridge(logging_bridge, hub=tel)
                try:
                    if lifespan is None:
                        yield None
                    else:
                        async with lifespan(app) as state:
                            yield state
                finally:
                    if bridge is not None:
                        from .logging import uninstall_logging_bridge

                        uninstall_logging_bridge(bridge)
        finally:
            if on_close is not None and tel.state == "closed":
                on_close(tel.stats())

    return run
