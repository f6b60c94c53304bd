"""Pushing metrics over OTLP on an interval: the OTLP sink's periodic metric reader.

While the sink is open, a task of its own sleeps ``interval`` seconds, collects every
instrument of the metrics state and posts the result to ``/v1/metrics``; ``aclose`` stops it
and pushes once more, so that what was measured up to the close is sent. Collecting (which
runs the observable instruments' callbacks, each collection on a thread of its own, waited for
at most the callback deadline) and encoding run in a worker thread: the event loop only sends
and waits. Requests are retried and bounded as the logs' and spans' are (``_otlp_http``).

Accounting, in the sink's counters: ``metric_points`` (data points accepted by the receiver),
``metric_points_dropped_<reason>`` (``rejected``: a status that must not be retried;
``partial_success``: what the receiver says it rejected, its ``rejected_data_points``;
``unreachable``; ``timeout``: the push ran out of time, at the close after at most
``CLOSE_TIMEOUT_S``) and ``metric_exports`` (requests
accepted). With cumulative temporality a lost push costs nothing in the end (the next one
carries the totals); with delta, the points lost are the interval's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from .._metrics._reader import MetricReader
from .._metrics._state import STATE
from .._offload import off_loop
from .._warn import warn
from . import _otlp_config as cfg

if TYPE_CHECKING:
    from collections import Counter

    import httpx

    from ._otlp_metrics import Request

__all__ = ["DEFAULT_INTERVAL_S", "MetricsPush"]

#: How often metrics are pushed (the specification's ``OTEL_METRIC_EXPORT_INTERVAL``, 60 s).
DEFAULT_INTERVAL_S = 60.0


class MetricsPush:
    """The periodic push of one OTLP sink."""

    def __init__(
        self,
        target: cfg.Target,
        resource: Mapping[str, Any],
        *,
        interval: float,
        temporality: str,
        max_points: int,
        max_backoff: float,
        version: str,
        counters: Counter[str],
    ) -> None:
        self.target = target
        self.interval = interval
        self.reader = MetricReader(temporality, state=STATE)
        self._resource = dict(resource)
        self._max_points = max_points
        self._max_backoff = max_backoff
        self._version = version
        self._counters = counters
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._down = False
        self._exporting = anyio.Lock()

    def start(self, client: httpx.AsyncClient) -> None:
        """Start pushing every ``interval`` seconds through ``client``."""
        self._client = client
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await anyio.sleep(self.interval)
            try:
                await self.export()
            except Exception as exc:  # a bug of ours: the next interval tries again
                warn("otlp-metrics", f"otlp sink: a metrics push failed: {exc!r}")

    async def aclose(self, limit: float) -> None:
        """Stop the interval and push what was measured since the last push, within ``limit``
        seconds (and the target's timeout): a close is bounded whatever the receiver does."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Its end, not its CancelledError: a cancellation of this close itself still
            # propagates (awaiting the task and suppressing CancelledError would swallow it,
            # and the last push would run on, unbounded by the caller).
            await asyncio.wait({task})
        if self._client is not None:
            await self.export(min(limit, self.target.timeout))
        self._client = None

    def _prepare(self) -> list[Request]:
        """Collect and encode (on a worker thread)."""
        metrics = self.reader.collect()
        if not metrics:
            return []
        from . import _otlp_metrics as enc

        encode = enc.encode_json if self.target.protocol == "http/json" else enc.encode_proto
        return encode(metrics, self._resource, self._max_points)

    async def export(self, timeout: float | None = None) -> None:
        """Collect now and post the result within ``timeout`` (default: the target's);
        every data point is counted."""
        limit = self.target.timeout if timeout is None else timeout
        async with self._exporting:
            deadline = time.monotonic() + limit
            requests: list[Request] = []
            with anyio.move_on_after(limit) as collecting:
                requests = await off_loop(self._prepare, abandon_on_cancel=True)
            if collecting.cancelled_caught:
                warn("otlp-metrics-collect", "otlp sink: collecting metrics took too long")
                return
            for i, (body, n) in enumerate(requests):
                with anyio.move_on_after(max(deadline - time.monotonic(), 0)) as sending:
                    await self._post(body, n, deadline)
                if sending.cancelled_caught:
                    lost = sum(k for _, k in requests[i:])
                    self._lose("timeout", lost, "did not answer within the timeout")
                    return

    async def _post(self, body: bytes, n: int, deadline: float) -> None:
        from ._otlp_http import Outcome, gzip, post

        target = self.target
        headers = {
            "Content-Type": "application/json"
            if target.protocol == "http/json"
            else "application/x-protobuf",
            "User-Agent": f"aiotelemetry/{self._version}",
        }
        if target.compression == "gzip":
            headers["Content-Encoding"] = "gzip"
            body = await gzip(body)
        headers.update(target.headers)
        assert self._client is not None
        answer = await post(
            self._client,
            target.url,
            body,
            headers,
            deadline=deadline,
            retry=not self._down,
            max_backoff=self._max_backoff,
        )
        self._counters["retries"] += max(0, answer.attempts - 1)
        if answer.outcome is Outcome.ACCEPTED:
            self._down = False
            self._accepted(answer.body, n)
        elif answer.outcome is Outcome.REFUSED:
            self._lose("rejected", n, f"answered HTTP {answer.status}: {answer.body[:200]!r}")
        else:
            self._down = True
            self._lose(
                "unreachable", n, f"unreachable after {answer.attempts} attempts: {answer.error}"
            )

    def _accepted(self, body: bytes, n: int) -> None:
        from . import _otlp_metrics as enc

        read: Callable[[bytes], tuple[int, str]] = (
            enc.rejected_json if self.target.protocol == "http/json" else enc.rejected_proto
        )
        self._counters["metric_exports"] += 1
        try:
            rejected, message = read(body)
        except ValueError:
            self._counters["unreadable_responses"] += 1
            rejected, message = 0, ""
        rejected = min(max(rejected, 0), n)
        self._counters["metric_points"] += n - rejected
        if rejected:
            self._lose("partial_success", rejected, f"the receiver rejected them: {message!r}")
        elif message:
            self._counters["receiver_warnings"] += 1

    def _lose(self, reason: str, n: int, why: str) -> None:
        self._counters[f"metric_points_dropped_{reason}"] += n
        warn(
            f"otlp-metrics-{reason}:{self.target.url}",
            f"otlp sink: {n} metric data points dropped: {self.target.url} {why}",
        )


def interval_of(env: Mapping[str, str], given: float | None) -> float:
    """The push interval in seconds: ``given``, else ``OTEL_METRIC_EXPORT_INTERVAL``
    (milliseconds), else 60 s. A bad value is a [`ConfigError`][telemetry.ConfigError] naming its
    source."""
    from .._errors import ConfigError

    if given is not None:
        if isinstance(given, bool) or not isinstance(given, (int, float)) or not 0 < given < 1e9:
            raise ConfigError("metrics_interval", f"must be a number of seconds > 0, got {given!r}")
        return float(given)
    raw = env.get("OTEL_METRIC_EXPORT_INTERVAL", "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        ms = float(raw)
    except ValueError:
        ms = -1.0
    if not 0 < ms < 1e12:
        raise ConfigError(
            "OTEL_METRIC_EXPORT_INTERVAL", f"must be a number of milliseconds > 0, got {raw!r}"
        )
    return ms / 1000


def temporality_of(env: Mapping[str, str], given: str | None) -> str:
    """``given``, else ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``, else
    ``cumulative``; one of ``cumulative``, ``delta``, ``lowmemory``."""
    from .._errors import ConfigError
    from .._metrics._reader import TEMPORALITIES

    name, value = "metrics_temporality", given
    if given is None:
        name = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
        value = env.get(name, "").strip().lower() or "cumulative"
    if value not in TEMPORALITIES:
        raise ConfigError.choice(name, value, TEMPORALITIES)
    return str(value)
