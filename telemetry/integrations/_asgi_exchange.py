"""The per-connection state of
[`TelemetryMiddleware`][telemetry.integrations.asgi.TelemetryMiddleware].

One object per HTTP request (`Exchange`) or websocket connection
(`WsExchange`) holds everything the middleware reads from the scope and the messages,
and is itself the ``send`` (and ``receive``) the app is given: no closure, no cells, no dict
until the span's signal is built at the end, and then only when the hub takes it. Objects
that live as long as the request are what a full garbage collection would later have to walk
(a request alive during a young collection is promoted), so there are as few as can be.

Values come from the client and are bounded: a recorded path, query or header value longer
than `MAX_VALUE_LENGTH` characters is cut and ends with `TRUNCATION_MARK`, and the
span says how many were cut (``truncated``); bytes are read as latin-1, which cannot fail.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Awaitable, Callable, Generator, Iterable, MutableMapping
from typing import Any

from .._context import SpanContext
from .._redact import REDACTED, KeyMatcher, redact_query

__all__ = [
    "MAX_VALUE_LENGTH",
    "TRUNCATION_MARK",
    "Exchange",
    "WsExchange",
    "cut",
    "parse_traceparent",
    "route_of",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_VALUE_LENGTH = 2048
"""The longest path, query or header value recorded as it is (characters); longer ones are cut."""
TRUNCATION_MARK = "...[truncated]"
"""What a cut value ends with."""
MAX_REQUEST_ID_LENGTH = 128
"""An incoming request id longer than this, or with other characters than ``A-Z a-z 0-9 . _ : / + =
@ -``, is replaced by a generated one."""
_MAX_TRACEPARENT = 256
"""A ``traceparent`` longer than this is not read (version 00 is 55 characters; later versions may
append fields, which the parser ignores)."""

_SAFE_ID = re.compile(rf"[A-Za-z0-9._:/+=@-]{{1,{MAX_REQUEST_ID_LENGTH}}}")
_HEX = frozenset("0123456789abcdef")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def parse_traceparent(value: str) -> SpanContext | None:
    """Read a W3C ``traceparent`` header (``00-<trace id>-<parent id>-<flags>``).

    Args:
        value: The header's value.

    Returns:
        The remote span as a [`SpanContext`][telemetry.SpanContext] (its ``span_id`` is the
        caller's span, to become the parent of ours), or ``None`` for anything malformed: the
        header comes from outside, so a bad one is ignored, never an error.
    """
    if len(value) > _MAX_TRACEPARENT:
        return None
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


_HOSTS: dict[str, tuple[str, int | None]] = {}
"""Host headers already split: a server answers to a handful of names."""
_HOSTS_MAX = 256


def cut(text: str) -> str:
    """``text``, cut to `MAX_VALUE_LENGTH` characters (and the mark) when longer."""
    if len(text) <= MAX_VALUE_LENGTH:
        return text
    return text[:MAX_VALUE_LENGTH] + TRUNCATION_MARK


def _split_host(host: str) -> tuple[str, int | None]:
    """``example.com:8080`` -> (``example.com``, 8080); ``[::1]`` -> (``::1``, None)."""
    found = _HOSTS.get(host)
    if found is None:
        found = _split(host)
        if len(_HOSTS) < _HOSTS_MAX:
            _HOSTS[host] = found
    return found


def _split(host: str) -> tuple[str, int | None]:
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return host, None
        name, rest = host[1:end], host[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    # A port is at most five digits: anything longer is not one (and int() of thousands of
    # digits raises).
    return name, int(port) if 0 < len(port) <= 5 and port.isdigit() else None


def route_of(scope: Scope, entry_root: str) -> str | None:
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


class _Base:
    """What an HTTP request and a websocket handshake share: the headers read once, the
    connection's attributes, the request id header to return, the count of cut values."""

    __slots__ = (
        "_rid_key",
        "_secret",
        "agent",
        "host",
        "parent",
        "recorded",
        "request_id",
        "rid_value",
        "send",
        "truncated",
    )

    def __init__(self, send: Send, rid_key: bytes, secret: KeyMatcher) -> None:
        self.send = send
        self._rid_key = rid_key
        self._secret = secret
        self.host: str | None = None
        self.agent: str | None = None
        self.request_id: str | None = None
        self.parent: SpanContext | None = None
        self.recorded: dict[str, str] | None = None
        self.rid_value = b""
        self.truncated = 0

    def clip(self, text: str) -> str:
        """``text``, cut to `MAX_VALUE_LENGTH` (and counted) when longer."""
        if len(text) <= MAX_VALUE_LENGTH:
            return text
        self.truncated += 1
        return cut(text)

    def _text(self, value: bytes) -> str:
        if len(value) > MAX_VALUE_LENGTH:
            self.truncated += 1
            return value[:MAX_VALUE_LENGTH].decode("latin-1") + TRUNCATION_MARK
        return value.decode("latin-1")

    def read_headers(
        self,
        raw: Iterable[tuple[bytes, bytes]],
        wanted: frozenset[str],
        trust_request_id: bool,
        trust_traceparent: bool,
    ) -> None:
        """The host and user agent, the trusted request id, the remote parent span, and the
        headers to record; each read once, the first of repeated ones (recorded ones joined)."""
        rid_key = self._rid_key
        for key, value in raw:
            if key == b"host":
                if self.host is None:
                    self.host = self._text(value)
            elif key == b"user-agent":
                if self.agent is None:
                    self.agent = self._text(value)
            elif key == rid_key:
                if trust_request_id and self.request_id is None and len(value) <= 256:
                    text = value.decode("latin-1").strip()
                    if _SAFE_ID.fullmatch(text):
                        self.request_id = text
            elif key == b"traceparent" and trust_traceparent and self.parent is None:
                self.parent = parse_traceparent(value.decode("latin-1"))
            if wanted:
                self._record(key, value, wanted)

    def _record(self, key: bytes, value: bytes, wanted: frozenset[str]) -> None:
        name = key.decode("latin-1").lower()
        if name not in wanted:
            return
        text = REDACTED if self._secret(name) else self._text(value)
        recorded = self.recorded
        if recorded is None:
            self.recorded = {name: text}
        elif name in recorded:
            recorded[name] = self.clip(f"{recorded[name]}, {text}")
        else:
            recorded[name] = text

    def attributes(self, scope: Scope, default_scheme: str, method: str | None) -> dict[str, Any]:
        """The span's attributes from the scope and the headers: the method (HTTP), ``url.*``,
        the server and client addresses, the protocol version, the user agent, the kind."""
        # Every value is cut to MAX_VALUE_LENGTH (or comes from the server or the app's own
        # routes). A plain dict of strings and numbers, which the garbage collector does not
        # track: a span waiting in a queue or a batch is never walked nor promoted.
        out: dict[str, Any] = {}
        if method is not None:
            out["http.request.method"] = method
        out["url.path"] = self.clip(scope.get("path", ""))
        raw = scope.get("query_string")
        if raw:
            out["url.query"] = redact_query(self._text(raw), self._secret)
        out["url.scheme"] = scope.get("scheme") or default_scheme
        server = scope.get("server")
        host = self.host
        if host:
            # The name the client asked for (the Host header) is the server's address; its
            # port when it says one, else the one the request came in on.
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
        if self.agent is not None:
            out["user_agent.original"] = self.agent
        out["span.kind"] = "server"
        if self.recorded:
            out["request_headers"] = self.recorded
        return out

    def _with_id(self, message: Message) -> Message:
        """``message`` with the request id header added, unless the app set one."""
        headers = message.get("headers") or ()
        rid_key = self._rid_key
        for k, _ in headers:
            if k.lower() == rid_key:
                return message
        return {**message, "headers": [*headers, (rid_key, self.rid_value)]}


class Exchange(_Base):
    """One HTTP request: the state the span records, and the app's ``send``.

    The last message of the response (the body without ``more_body``) is passed on in the
    context the request came in with (`outer`), not in the request's: what the server
    starts while it finishes the response belongs to the connection, not to this request. A
    server that reads the next request of the connection there (uvicorn, after a pipelined
    request, from then on for that connection) would otherwise make every later request on
    it a child of this one, with its request id; and a keep-alive timer set there would keep
    the request's context alive for seconds, feeding the garbage collector's old generation.
    """

    __slots__ = ("_want_out", "outer", "response_headers", "size", "status")

    def __init__(
        self, send: Send, rid_key: bytes, secret: KeyMatcher, want_out: frozenset[str]
    ) -> None:
        super().__init__(send, rid_key, secret)
        self._want_out = want_out
        self.status: int | None = None
        self.size = 0
        self.response_headers: dict[str, str] | None = None
        self.outer = contextvars.copy_context()
        """The context before the middleware bound anything (made before it does)."""

    def __call__(self, message: Message) -> Awaitable[None]:
        """The ``send`` the app is given: notes the status and the body's size, adds the
        request id header to the response.

        A plain function that returns the server's own ``send`` awaitable: no coroutine of
        ours per message, and no frame of ours for each of its steps to pass through.
        """
        kind = message["type"]
        if kind == "http.response.body":
            self.size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return _Outside(self.outer, self.send(message))
        elif kind == "http.response.start":
            self.status = int(message["status"])
            message = self._with_id(message)
            if self._want_out:
                self._record_response(message.get("headers") or ())
        return self.send(message)

    def _record_response(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        out = self.response_headers = {}
        for k, v in headers:
            name = k.decode("latin-1").lower()
            if name in self._want_out:
                text = REDACTED if self._secret(name) else self._text(v)
                out[name] = self.clip(f"{out[name]}, {text}") if name in out else text


class _Outside:
    """Awaits ``awaitable`` with each of its steps run in ``context`` instead of the task's own
    (``await _Outside(ctx, send(message))``); what it sets in a context variable stays in
    ``context``."""

    __slots__ = ("_awaitable", "_context")

    def __init__(self, context: contextvars.Context, awaitable: Awaitable[None]) -> None:
        self._context = context
        self._awaitable = awaitable

    def __await__(self) -> Generator[Any, Any, None]:
        run, steps = self._context.run, self._awaitable.__await__()
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = run(steps.send, value) if error is None else run(steps.throw, error)
            except StopIteration:
                return
            try:
                value, error = (yield step), None
            except BaseException as exc:  # a cancellation, thrown into the awaited steps
                value, error = None, exc


class WsExchange(_Base):
    """One websocket connection: its counts, and the app's ``receive`` and ``send``."""

    __slots__ = (
        "accepted",
        "close_code",
        "closed_by",
        "messages_in",
        "messages_out",
        "receive_from",
        "status",
    )

    def __init__(self, receive: Receive, send: Send, rid_key: bytes, secret: KeyMatcher) -> None:
        super().__init__(send, rid_key, secret)
        self.receive_from = receive
        self.messages_in = 0
        self.messages_out = 0
        self.close_code: int | None = None
        self.closed_by: str | None = None
        self.accepted = False
        self.status: int | None = None

    async def receive(self) -> Message:
        """The ``receive`` the app is given: counts messages, notes a disconnect's code."""
        message = await self.receive_from()
        kind = message["type"]
        if kind == "websocket.receive":
            self.messages_in += 1
        elif kind == "websocket.disconnect" and self.close_code is None:
            self.closed(int(message.get("code", 1005)))
        return message

    def __call__(self, message: Message) -> Awaitable[None]:
        """The ``send`` the app is given: counts messages, notes the accept and the close;
        returns the server's own ``send`` awaitable, as `Exchange` does."""
        kind = message["type"]
        if kind == "websocket.send":
            self.messages_out += 1
        elif kind == "websocket.accept":
            self.accepted = True
            message = self._with_id(message)
        elif kind == "websocket.close" and self.close_code is None:
            self.close_code = int(message.get("code", 1000))
            self.closed_by = "server"
        elif kind == "websocket.http.response.start":
            self.status = int(message["status"])
        return self.send(message)

    def closed(self, code: int) -> None:
        """The app heard of a disconnect with ``code``: who ended it, by the code."""
        self.close_code = code
        self.closed_by = "server" if code in SERVER_CLOSE_CODES else "client"


SERVER_CLOSE_CODES = frozenset({1011, 1012, 1013, 1014})
"""Close codes only a server sends (RFC 6455 and the IANA registry): 1011 internal error, 1012
service restart (uvicorn's, when it shuts down), 1013 try again later, 1014 bad gateway."""
