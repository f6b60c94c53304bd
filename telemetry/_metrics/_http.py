"""The HTTP server metrics of the semantic conventions, as the ASGI middleware records them:
``http.server.request.duration`` (a histogram in seconds, with the conventions' advisory
buckets) and ``http.server.active_requests`` (an up-down counter).

The duration carries ``http.request.method`` (``_OTHER`` for a method the conventions do not
know), ``url.scheme``, ``http.route``, ``http.response.status_code``,
``network.protocol.version`` and, for a 5xx, ``error.type``; the active requests only the
method and the scheme. Attribute sets are kept in a small cache keyed by their values, so that
the same mapping comes back for the same request shape and the instruments' fast path applies.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ._instruments import Histogram, Scope, UpDownCounter
from ._state import STATE, MetricsState

__all__ = [
    "DURATION_BUCKETS",
    "HTTP_METRICS",
    "SCOPE",
    "HttpServerMetrics",
    "app_measures_itself",
]

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""The conventions' advisory buckets of ``http.server.request.duration``, in seconds."""
SCOPE = Scope(("telemetry.integrations.asgi", "", "https://opentelemetry.io/schemas/1.26.0"))
"""The instrumentation scope of the middleware's instruments."""
_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "QUERY"}
)
_MAX_CACHED = 4096
"""Attribute sets cached at most; past this the cache starts again."""


class HttpServerMetrics:
    """The two instruments, made on first use, and the attribute sets of recent requests."""

    def __init__(self, state: MetricsState = STATE) -> None:
        self.state = state
        self._duration: Histogram | None = None
        self._active: UpDownCounter | None = None
        self._sets: dict[tuple[Any, ...], dict[str, Any]] = {}

    def _instruments(self) -> tuple[Histogram, UpDownCounter]:
        if self._duration is None or self._active is None:
            duration = self.state.instrument(
                SCOPE,
                "histogram",
                "http.server.request.duration",
                "s",
                "Duration of HTTP server requests.",
                buckets=DURATION_BUCKETS,
            )
            active = self.state.instrument(
                SCOPE,
                "up_down_counter",
                "http.server.active_requests",
                "{request}",
                "Number of active HTTP server requests.",
            )
            assert isinstance(duration, Histogram) and isinstance(active, UpDownCounter)
            self._duration, self._active = duration, active
        return self._duration, self._active

    def _attrs(self, key: tuple[Any, ...], names: tuple[str, ...]) -> dict[str, Any]:
        found = self._sets.get(key)
        if found is None:
            if len(self._sets) >= _MAX_CACHED:
                self._sets = {}
            found = self._sets[key] = {
                n: v for n, v in zip(names, key, strict=True) if v is not None
            }
        return found

    def start(self, scope: Mapping[str, Any], always: bool) -> tuple[float, str, str] | None:
        """A request begins: one more active request. Returns what `finish` needs, or
        ``None`` when this request is not measured here: metrics are off (and not ``always``
        on), or FastAPI's native telemetry, running around the middleware, measures it."""
        if not (always or self.state.enabled) or scope.get("fastapi.telemetry") is not None:
            return None
        method = scope.get("method") or ""
        if method not in _METHODS:
            method = "_OTHER"
        scheme = scope.get("scheme") or "http"
        self._instruments()[1].add(1, self._attrs((method, scheme), _ACTIVE))
        return time.perf_counter(), method, scheme

    def finish(
        self, started: tuple[float, str, str], scope: Mapping[str, Any], status: int, route: str
    ) -> None:
        """The request ended with ``status``, routed to ``route``: record its duration, one
        less active request."""
        t0, method, scheme = started
        elapsed = time.perf_counter() - t0
        duration, active = self._instruments()
        active.add(-1, self._attrs((method, scheme), _ACTIVE))
        error = str(status) if status >= 500 else None
        key = (method, scheme, route, status, scope.get("http_version"), error)
        duration.record(elapsed, self._attrs(key, _DURATION))


_ACTIVE = ("http.request.method", "url.scheme")
_DURATION = (
    "http.request.method",
    "url.scheme",
    "http.route",
    "http.response.status_code",
    "network.protocol.version",
    "error.type",
)

HTTP_METRICS = HttpServerMetrics()
"""The middleware's metrics, over the process's state."""


def app_measures_itself(app: object) -> bool:
    """Whether ``app`` is a FastAPI application whose native telemetry records these metrics
    (it does through the global meter provider, once ours is installed)."""
    native = getattr(app, "_native_telemetry", None)
    config = getattr(native, "config", None)
    return isinstance(config, Mapping) and bool(config.get("metrics", False))
