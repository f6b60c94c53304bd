"""A sink that exports signals over OTLP/HTTP: to an OpenTelemetry Collector, Grafana Loki's
``/otlp``, or any backend that speaks the protocol.

Copy, paste, adapt:

```python
import telemetry as tel
from telemetry.sinks import OTLPSink

# With no arguments: OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318),
# OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and the other OTEL_EXPORTER_OTLP_* variables.
handlers = {"otlp": {"sink": OTLPSink(service_name="shop"), "mode": "blocking"}}
async with tel.Telemetry(handlers=handlers):
    await tel.log("info", "order placed", order=1234)
```

Log records go to ``/v1/logs``, spans (signals of kind ``span``) to ``/v1/traces``; see
``_otlp_map`` for how a signal maps to the semantic conventions. Metrics (the instruments of
the OpenTelemetry metrics API through aiotelemetry's meter provider, and the ASGI
middleware's) go to ``/v1/metrics`` every ``metrics_interval`` seconds and once more at the
close (see ``_otlp_push``). Needs the optional
dependencies: ``pip install 'aiotelemetry[otlp]'`` (``httpx``; ``opentelemetry-proto`` for the
default ``http/protobuf`` encoding).

Delivery. A batch from the handler becomes one or more requests of at most ``max_records``
records and ``max_bytes`` bytes (before compression). A record that carries a huge value (a
string or ``bytes`` over 16,384 characters, containers of more than 512 items in all), or is
larger than ``max_bytes``, is made a piece at a time, the loop running in between, and sent in
a request of its own; a value that does not fit is cut to what does and marked (see
``_otlp_huge``), counted in ``counters["truncated"]``. A record that does not fit even without
its long values is dropped (``too_large``); one whose value changed while it was being written
(a dict that grew meanwhile) too (``unencodable``).

Each request is retried as the specification says (see ``_otlp_http``) until ``timeout``
seconds after it was first sent; then its records are dropped (``unreachable``), and until a
request gets through again each request is tried once, without retries, so that a receiver
that is down costs one attempt per batch, not ``timeout``. A status
that must not be retried (400, 401, 404, 413, 500, ...) drops the request's records
(``rejected``); a partial success drops as many as the receiver says it rejected
(``partial_success``). Every failure is reported on stderr, rate-limited. When ``aclose``'s
timeout runs out during a request, the handler counts the batch as ``timeout``. The exit
fallback sends through [`OTLPSink.write_sync`][telemetry.sinks.OTLPSink.write_sync]: one attempt per
request, a second in all.

Counters: ``requests`` (answered 2xx), ``retries``, ``unreadable_responses`` (a 2xx whose body
is not an OTLP response: the records count as written), ``receiver_warnings`` (a partial
success that rejected nothing but said something), ``truncated`` (values cut to fit
``max_bytes``; their records count as written).
"""

from __future__ import annotations

import os
import ssl
import time
import zlib
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.lowlevel

from .._errors import ClosedError, ConfigError, SinkError, check_int
from .._extras import install_hint
from .._offload import off_loop
from .._otel import suppressed
from .._signal import Signal
from .._warn import warn
from . import _otlp_config as cfg
from ._base import Sink
from ._checks import check_names, check_positive, require_package
from ._otlp_map import DEFAULT_SCOPE, HugeRecord

if TYPE_CHECKING:
    import httpx

    from ._otlp_http import Answer
    from ._otlp_huge import Made
    from ._otlp_push import MetricsPush

__all__ = [
    "DEFAULT_MAX_BACKOFF_S",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_RECORDS",
    "LINGER_BELOW",
    "LINGER_S",
    "OTLPSink",
]

#: Records per request at most (the OpenTelemetry SDK's default export batch size).
DEFAULT_MAX_RECORDS = 512
#: Bytes per request at most, before compression; collectors refuse more than 20 MiB by default.
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
#: Longest wait between retries of one request (unless the receiver asks for longer).
DEFAULT_MAX_BACKOFF_S = 5.0
#: The exit fallback spends at most this long sending.
SYNC_TIMEOUT_S = 1.0
#: Closing waits at most this long for each of its steps: the writes in flight to stop, the
#: last push of metrics, the connections to close.
CLOSE_TIMEOUT_S = 2.0
#: Encoding runs this long at most per step of the event loop before it lets other tasks run.
SLICE_BUDGET_S = 0.001
#: ... and at most this long on a loop that is slow to come back (see ``OTLPSink._requests``).
MAX_SLICE_S = 0.004
#: Requests of one batch in flight at once.
IN_FLIGHT = 4
#: How long a small batch may gather more signals while they keep coming (the handler's
#: worker waits; no call does). A request costs the loop about as much as encoding a hundred
#: records, so at a moderate rate one request per record or two would cost far more than
#: the records; a flush or the close does not wait for it.
LINGER_S = 0.05
#: ... and a batch smaller than this gathers (until this many wait): half the handler's
#: default queue, so that calls keep room while it gathers.
LINGER_BELOW = 512
_INSTALL = install_hint("otlp")


class _Batch(Protocol):
    count: int
    size: int

    def add(self, sig: Signal) -> int: ...

    def fill(self, part: Sequence[Signal], i: int, stop: int, most: int, limit: int) -> int: ...

    def put(self, name: str, pieces: list[bytes], size: int) -> None: ...

    def pop(self) -> None: ...

    def parts(self) -> list[bytes]: ...


class _Encoder(Protocol):
    content_type: str
    overhead: int

    def batch(self) -> _Batch: ...

    def huge(self, sig: Signal, room: int) -> Generator[None, None, Made | None]: ...

    def rejected(self, body: bytes) -> tuple[int, str]: ...


class _Pace:
    """When a slice of encoding has had its time on the loop.

    A slice takes `SLICE_BUDGET_S`, or, when the loop took long to come back, an eighth of
    that time up to `MAX_SLICE_S`: on a loop busy with many tasks a turn of one millisecond
    gives the encoding too small a share to keep up with them."""

    __slots__ = ("_away", "_budget", "_t0")

    def __init__(self) -> None:
        self._t0 = self._away = time.perf_counter()
        self._budget = SLICE_BUDGET_S

    def due(self) -> bool:
        """Whether the slice has had its time (the caller yields, then calls `resumed`)."""
        now = time.perf_counter()
        if now - self._t0 > self._budget:
            self._away = now
            return True
        return False

    def resumed(self) -> None:
        """The loop came back: a new slice starts."""
        self._t0 = time.perf_counter()
        self._budget = min(MAX_SLICE_S, max(SLICE_BUDGET_S, (self._t0 - self._away) / 8))

    def through(self, work: Generator[None, None, Any]) -> Generator[None, None, Any]:
        """Run ``work`` (which yields after each piece), yielding whenever a slice is due;
        return what it returns."""
        while True:
            try:
                next(work)
            except StopIteration as stop:
                return stop.value
            if self.due():
                yield None
                self.resumed()


def _encoders(protocol: str, resource: dict[str, Any], version: str) -> tuple[_Encoder, _Encoder]:
    if protocol == "http/json":
        from ._otlp_json import JsonLogs, JsonSpans

        return JsonLogs(resource, version), JsonSpans(resource, version)
    try:
        from ._otlp_proto import ProtoLogs, ProtoSpans
    except ImportError as exc:
        # Named after the sink, as a missing httpx is: a dependency the sink lacks, which a
        # switched-off handler of a configuration file may lack (telemetry._config).
        raise ConfigError(
            "OTLPSink",
            f"with protocol 'http/protobuf' needs opentelemetry-proto ({exc.name} is missing): "
            f"{_INSTALL}, or use protocol='http/json'",
        ) from exc
    return ProtoLogs(resource, version), ProtoSpans(resource, version)


class OTLPSink(Sink):
    """Export signals over OTLP/HTTP to a collector or any backend that speaks it.

    Each option not given comes from its ``OTEL_EXPORTER_OTLP_*`` variable (the per-signal one
    first), else from the specification's default. The resource says who sends:
    ``service.name``, ``service.version``, the ``resource_attributes``, and ``host.name``,
    ``process.pid`` and ``telemetry.sdk.*``. See the module documentation for what happens to
    signals that cannot be delivered.

    Args:
        endpoint: The base URL (``http://collector:4318``): ``/v1/logs``, ``/v1/traces`` and
            ``/v1/metrics`` are appended. Not given, it comes from
            ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
            (whole URLs) or ``OTEL_EXPORTER_OTLP_ENDPOINT``, else ``http://localhost:4318``.
        signals: What the sink exports, of ``"logs"``, ``"traces"`` and ``"metrics"``.
            Signals of a type left out are counted as dropped (``not_exported``): give the
            handler a ``kind_filter`` instead. ``("metrics",)`` alone exports only metrics.
        protocol: ``"http/protobuf"`` (the default) or ``"http/json"``.
        compression: ``"gzip"`` or ``"none"``.
        headers: Added to every request, over the ``..._HEADERS`` variables: a mapping, or
            ``"k=v,k2=v2"``.
        timeout: Bounds each request, retries included (seconds).
        certificate: A PEM file of the CA certificates to trust for ``https://`` (else the
            system's).
        client_certificate: A PEM certificate for mutual TLS.
        client_key: The key of ``client_certificate``.
        service_name: ``service.name``; else ``OTEL_SERVICE_NAME``, else ``service.name``
            from ``OTEL_RESOURCE_ATTRIBUTES``, else ``unknown_service``.
        service_version: ``service.version``.
        resource_attributes: More resource attributes, over ``OTEL_RESOURCE_ATTRIBUTES``.
        max_records: The most records in one request.
        max_bytes: The most bytes in one request, before compression; a record larger than
            this has its long values cut to fit (``counters["truncated"]``), or is dropped
            (``too_large``) if it does not fit even without them.
        max_backoff: The longest wait between two retries of a request (seconds), unless the
            receiver asks for longer.
        metrics_interval: Seconds between two pushes of metrics (and one more at the close);
            else ``OTEL_METRIC_EXPORT_INTERVAL``, else 60.
        metrics_temporality: ``"cumulative"``, ``"delta"`` or ``"lowmemory"``; else
            ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``, else cumulative.
        env: Replaces ``os.environ`` as the source of the variables.

    Raises:
        ConfigError: An option (or the variable it comes from) has a value it does not take,
            or the optional packages the sink needs are missing.

    Attributes:
        targets (dict[str, Target]): Where and how each exported signal type goes.
        resource (dict[str, Any]): The resource attributes sent with every request.
        metrics_interval (float): Seconds between two pushes of metrics.
        metrics_temporality (str): The temporality preference of the metrics pushed.
        linger (float): Seconds a small batch gathers more signals while they keep coming
            (`LINGER_S`; see [`Sink.linger`][telemetry.sinks.Sink.linger]).
        linger_below (int): A batch smaller than this gathers, until this many signals wait
            (`LINGER_BELOW`; see [`Sink.linger_below`][telemetry.sinks.Sink.linger_below]).
    """

    kind = "otlp"
    linger = LINGER_S
    linger_below = LINGER_BELOW
    #: Two workers: a write spends most of its time waiting for the receiver's answers, a
    #: turn of the loop per step of each request; on a loop busy with requests that is long
    #: enough that one worker falls behind spans ended from synchronous code (OpenTelemetry's
    #: API), which cannot wait for room. The second writes the next batch meanwhile.
    workers = 2

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        signals: Sequence[str] = cfg.SIGNALS,
        protocol: str | None = None,
        compression: str | None = None,
        headers: Mapping[str, str] | str | None = None,
        timeout: float | None = None,
        certificate: str | os.PathLike[str] | None = None,
        client_certificate: str | os.PathLike[str] | None = None,
        client_key: str | os.PathLike[str] | None = None,
        service_name: str | None = None,
        service_version: str | None = None,
        resource_attributes: Mapping[str, Any] | None = None,
        max_records: int = DEFAULT_MAX_RECORDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_backoff: float = DEFAULT_MAX_BACKOFF_S,
        metrics_interval: float | None = None,
        metrics_temporality: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        require_package("httpx", "OTLPSink", _INSTALL)  # a missing extra fails at once
        self.signals = check_names("signals", signals, cfg.SIGNALS)
        environ = cfg.environ() if env is None else env
        self.targets = cfg.build_targets(
            environ,
            self.signals,
            endpoint=endpoint,
            protocol=protocol,
            compression=compression,
            timeout=timeout,
            headers=headers,
            certificate=certificate,
            client_certificate=client_certificate,
            client_key=client_key,
        )
        self.max_records = check_int("max_records", max_records, 1)
        self.max_bytes = check_int("max_bytes", max_bytes, 1024)
        self.max_backoff = check_positive("max_backoff", max_backoff, unit=" of seconds")
        self._resource_args = (service_name, service_version, resource_attributes, environ)
        self.resource = cfg.build_resource(
            environ,
            service_name=service_name,
            service_version=service_version,
            attributes=resource_attributes,
        )
        self._version = str(self.resource.get("telemetry.sdk.version", ""))
        self._encoders: dict[str, _Encoder] = {}
        self._make_encoders()
        from ._otlp_push import interval_of, temporality_of

        self.metrics_interval = interval_of(environ, metrics_interval)
        self.metrics_temporality = temporality_of(environ, metrics_temporality)
        self._metrics: MetricsPush | None = None
        #: Per signal type, the HTTP client (one per distinct TLS configuration).
        self._clients: dict[str, httpx.AsyncClient] = {}
        #: Per signal type: a request gave up; try once per request until one gets through.
        self._down: dict[str, bool] = dict.fromkeys(self.signals, False)
        #: The writes in flight, each under a scope of its own that the close cancels.
        self._writing: set[anyio.CancelScope] = set()
        #: Set when the last write in flight has unwound (made by the close that waits).
        self._unwound: anyio.Event | None = None

    def _make_encoders(self) -> None:
        for signal, target in self.targets.items():
            if signal != "metrics":  # metrics are encoded by the push (_otlp_push)
                logs, spans = _encoders(target.protocol, self.resource, self._version)
                self._encoders[signal] = logs if signal == "logs" else spans

    def __repr__(self) -> str:
        where = ", ".join(f"{t.signal}={t.url}" for t in self.targets.values())
        return f"<OTLPSink {where} {self.state}>"

    # -- lifecycle ----------------------------------------------------------------------------

    async def _open(self) -> None:
        # Nothing connects here: a collector that is not up yet never fails the app's start.
        # The clients are made off the loop: they load certificates from disk.
        made: dict[cfg.TLSFiles | None, httpx.AsyncClient] = {}
        for signal, target in self.targets.items():
            client = made.get(target.tls)
            if client is None:
                client = made[target.tls] = await off_loop(self._make_client, target.tls)
            self._clients[signal] = client
        metrics = self.targets.get("metrics")
        if metrics is not None:
            from ._otlp_push import MetricsPush

            self._metrics = MetricsPush(
                metrics,
                self.resource,
                interval=self.metrics_interval,
                temporality=self.metrics_temporality,
                max_points=self.max_records,
                max_backoff=self.max_backoff,
                version=self._version,
                counters=self.counters,
            )
            self._metrics.start(self._clients["metrics"])

    @staticmethod
    def _ssl_context(tls: cfg.TLSFiles) -> ssl.SSLContext:
        ca_name, cert_name, _ = tls.names
        try:
            context = ssl.create_default_context(cafile=tls.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                ca_name, f"must be a readable PEM file of CA certificates: {exc}"
            ) from exc
        if tls.client_cert is not None:
            try:
                context.load_cert_chain(tls.client_cert, tls.client_key)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    cert_name, f"must be a readable PEM certificate (with its key): {exc}"
                ) from exc
        return context

    def _make_sync_client(self, tls: cfg.TLSFiles | None) -> httpx.Client:
        import httpx

        verify: ssl.SSLContext | bool = True if tls is None else self._ssl_context(tls)
        return httpx.Client(timeout=None, verify=verify)

    def _make_client(self, tls: cfg.TLSFiles | None) -> httpx.AsyncClient:
        import httpx

        # Imported here, in the opening thread, not by the first request on the loop.
        from . import _otlp_http  # noqa: F401

        verify: ssl.SSLContext | bool = True if tls is None else self._ssl_context(tls)
        return httpx.AsyncClient(
            timeout=None,  # each request is bounded by its own deadline
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
            verify=verify,
        )

    async def _aclose(self) -> None:
        push, self._metrics = self._metrics, None
        clients = {id(c): c for c in self._clients.values()}
        self._clients = {}
        try:
            # A write still in flight (one the handler's close gave up on) is stopped first:
            # closing a client only closes the connections in its pool, and one being opened
            # meanwhile would be opened after it, used, and left open, never closed.
            with anyio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
                await self._stop_writes()
            if push is not None:
                await push.aclose(CLOSE_TIMEOUT_S)  # the last push, before the clients close
        finally:
            # Even when the close is cancelled (the hub's close gave up waiting for the last
            # push, and the loop then ends): idle keep-alive connections are closed, not
            # left to the garbage collector.
            with anyio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
                for client in clients.values():
                    await client.aclose()

    async def _stop_writes(self) -> None:
        """Cancel the writes in flight and wait until they have unwound (each closes the
        connection of its request as it goes)."""
        if not self._writing:
            return
        self._unwound = anyio.Event()
        for scope in self._writing:
            scope.cancel()
        await self._unwound.wait()

    def _after_fork(self) -> None:
        # The parent's connections are the parent's: forget them unclosed. The pid changed.
        self._clients = {}
        self._writing, self._unwound = set(), None  # the parent's loop's
        self._metrics = None  # the parent's task; the child's starts at its open
        service_name, service_version, attributes, environ = self._resource_args
        self.resource = cfg.build_resource(
            environ,
            service_name=service_name,
            service_version=service_version,
            attributes=attributes,
        )
        self._make_encoders()
        self._down = dict.fromkeys(self.signals, False)

    # -- writing ------------------------------------------------------------------------------

    async def write(self, batch: Sequence[Signal]) -> None:
        """Export the batch: log records to the logs endpoint, spans to the traces endpoint,
        in requests bounded by ``max_records`` and ``max_bytes``. What cannot be delivered
        is counted, not raised. OpenTelemetry's instrumentations are suppressed meanwhile:
        with httpx instrumented, the export's own requests would become spans to export.

        Args:
            batch: The signals to export.

        Raises:
            ClosedError: The sink is closed, or was closed during the write (the close stops
                the requests in flight).
        """
        with suppressed():
            parts = self._split(batch)
            # Raises at once when the sink is not open; the requests use these clients even
            # if the sink closes meanwhile (the close then stops them first).
            clients = {signal: self._client(signal) for signal, _ in parts}
            # Up to IN_FLIGHT requests at a time, the next one encoded while the others
            # wait for their answers: on a busy loop every wait is a turn of the loop long,
            # and one request after the other would take a batch that many turns per request.
            with anyio.CancelScope() as scope:
                self._writing.add(scope)
                try:
                    await self._send_all(parts, clients)
                finally:
                    self._writing.discard(scope)
                    if not self._writing and self._unwound is not None:
                        self._unwound.set()
            if scope.cancelled_caught:
                raise ClosedError("otlp sink closed during the write")

    async def _send_all(
        self, parts: list[tuple[str, list[Signal]]], clients: dict[str, httpx.AsyncClient]
    ) -> None:
        room = anyio.Semaphore(IN_FLIGHT)
        async with anyio.create_task_group() as tg:
            for signal, part in parts:
                enc = self._encoders[signal]
                for request in self._requests(enc, part):
                    if request is None:
                        await anyio.lowlevel.checkpoint()  # let the app run between slices
                        continue
                    if room.value:  # no checkpoint: a turn of a busy loop is long
                        room.acquire_nowait()
                    else:
                        await room.acquire()
                    tg.start_soon(self._send, clients[signal], signal, enc, request, room)

    def write_sync(self, batch: Sequence[Signal]) -> None:
        """Export the batch on the calling thread (the exit fallback, and ``*_nowait`` calls
        into a synchronous handler): one attempt per request, within a second in all.
        OpenTelemetry's instrumentations are suppressed meanwhile, as in
        [`write`][telemetry.sinks.OTLPSink.write].

        Args:
            batch: The signals to export.
        """
        with suppressed():
            self._export_sync(batch)

    def _export_sync(self, batch: Sequence[Signal]) -> None:
        from ._otlp_http import post_sync

        deadline = time.monotonic() + SYNC_TIMEOUT_S
        clients: dict[cfg.TLSFiles | None, httpx.Client] = {}
        try:
            for signal, part in self._split(batch):
                enc = self._encoders[signal]
                target = self.targets[signal]
                client = clients.get(target.tls)
                if client is None:
                    client = clients[target.tls] = self._make_sync_client(target.tls)
                for request in self._requests(enc, part):
                    if request is None:
                        continue
                    headers = self._headers(enc, target)
                    body = b"".join(request.parts())
                    if target.compression == "gzip":
                        body = zlib.compress(body, 6, 31)
                    answer = post_sync(
                        client,
                        target.url,
                        body,
                        headers,
                        deadline=min(deadline, time.monotonic() + target.timeout),
                    )
                    self._settle(signal, enc, answer, request.count)
        finally:
            for client in clients.values():
                client.close()

    def _split(self, batch: Sequence[Signal]) -> list[tuple[str, list[Signal]]]:
        """The batch as log records and spans; a type this sink does not export is counted."""
        logs: list[Signal] = []
        spans: list[Signal] = []
        for sig in batch:
            (spans if sig.kind == "span" else logs).append(sig)
        out = []
        for signal, part in (("logs", logs), ("traces", spans)):
            if not part:
                continue
            if signal not in self._encoders:
                self.count_drop("not_exported", len(part))
                warn(
                    f"otlp-not-exported:{signal}",
                    f"otlp sink: {len(part)} signals dropped: this sink does not export "
                    f"{signal} (signals={self.signals!r}); give its handler a kind_filter",
                )
                continue
            out.append((signal, part))
        return out

    def _requests(self, enc: _Encoder, part: Sequence[Signal]) -> Iterator[_Batch | None]:
        """The requests ``part`` makes, each full one as soon as it is; ``None`` in between
        whenever a slice of encoding has taken its time (the caller lets the loop run).

        A record with a huge value, or larger than a request may be, is made by ``huge`` a
        piece at a time, in a request of its own (see `_huge`)."""
        limit, most = self.max_bytes, self.max_records
        batch = enc.batch()
        pace = _Pace()
        i, end = 0, len(part)
        while i < end:
            if pace.due():
                yield None
                pace.resumed()
            # Sixteen records at a time between two looks at the clock.
            stop = min(i + 16, end)
            i = batch.fill(part, i, stop, most, limit)
            if i == stop:
                continue
            # part[i] did not fit, or has a huge value: in a request of its own if it leaves
            # the room `_huge` would give it, else made a piece at a time.
            sig = part[i]
            i += 1
            if batch.count:
                yield batch
                batch = enc.batch()
                try:
                    n = batch.add(sig)
                except HugeRecord:
                    pass
                else:
                    if n + enc.overhead + len(sig.ns or DEFAULT_SCOPE) + 40 <= limit:
                        continue
                    batch.pop()
            yield from self._huge(enc, batch, sig, pace)
            if batch.count:  # a request of its own: its pieces are sent as they are
                yield batch
                batch = enc.batch()
        if batch.count:
            yield batch

    def _huge(
        self, enc: _Encoder, batch: _Batch, sig: Signal, pace: _Pace
    ) -> Generator[None, None, None]:
        """Add to the empty ``batch`` the record of ``sig`` made a piece at a time, its
        values cut to fit ``max_bytes`` (counted in ``truncated``), or count it dropped:
        ``too_large`` when the rest of it does not fit, ``unencodable`` when a value changed
        while it was being written (a dict that grew in between)."""
        name = sig.ns or DEFAULT_SCOPE
        room = self.max_bytes - enc.overhead - len(name) - 40
        try:
            made = yield from pace.through(enc.huge(sig, room))
        except Exception as exc:  # the app changed the value meanwhile: it costs only itself
            self.count_drop("unencodable")
            warn("otlp-unencodable", f"otlp sink: a record dropped, its value changed: {exc!r}")
            return
        if made is None:
            self.count_drop("too_large")
            warn(
                "otlp-too-large",
                f"otlp sink: a record dropped, larger than max_bytes={self.max_bytes} "
                "without its long values",
            )
            return
        pieces, size, cuts = made
        batch.put(name, pieces, size)
        if cuts:
            self.counters["truncated"] += cuts
            warn(
                "otlp-truncated",
                f"otlp sink: {cuts} value(s) of a record cut to fit max_bytes={self.max_bytes}",
            )

    def _headers(self, enc: _Encoder, target: cfg.Target) -> dict[str, str]:
        headers = {"Content-Type": enc.content_type, "User-Agent": f"aiotelemetry/{self._version}"}
        if target.compression == "gzip":
            headers["Content-Encoding"] = "gzip"
        headers.update(target.headers)
        return headers

    def _client(self, signal: str) -> httpx.AsyncClient:
        client = self._clients.get(signal)
        if client is None:
            if self.state == "closed":
                raise ClosedError("otlp sink is closed")
            raise SinkError("otlp sink is not open")
        return client

    async def _send(
        self,
        client: httpx.AsyncClient,
        signal: str,
        enc: _Encoder,
        batch: _Batch,
        room: anyio.Semaphore,
    ) -> None:
        from ._otlp_http import STREAM_BYTES, gzip, gzip_parts, post

        try:
            target = self.targets[signal]
            headers = self._headers(enc, target)
            # A large request is sent (and compressed) part by part, never joined: joining
            # 4 MiB takes a few milliseconds of the loop.
            parts = batch.parts()
            body: bytes | list[bytes]
            if sum(map(len, parts)) <= STREAM_BYTES:
                body = b"".join(parts)
                if target.compression == "gzip":
                    body = await gzip(body)
            else:
                body = await gzip_parts(parts) if target.compression == "gzip" else parts
            answer = await post(
                client,
                target.url,
                body,
                headers,
                deadline=time.monotonic() + target.timeout,
                retry=not self._down[signal],
                max_backoff=self.max_backoff,
            )
            self._settle(signal, enc, answer, batch.count)
        finally:
            room.release()

    def _settle(self, signal: str, enc: _Encoder, answer: Answer, n: int) -> None:
        """Count how a request of ``n`` records ended."""
        from ._otlp_http import Outcome

        target = self.targets[signal]
        self.counters["retries"] += max(0, answer.attempts - 1)
        if answer.outcome is Outcome.ACCEPTED:
            self._down[signal] = False
            self.counters["requests"] += 1
            self._accepted(target.url, enc, answer, n)
        elif answer.outcome is Outcome.REFUSED:
            self.count_drop("rejected", n)
            detail = answer.body[:200].decode("utf-8", "replace")
            warn(
                f"otlp-refused:{target.url}",
                f"otlp sink: {target.url} answered HTTP {answer.status}; {n} {signal} records "
                f"dropped (not retried): {detail!r}",
            )
        else:
            self._down[signal] = True
            self.count_drop("unreachable", n)
            warn(
                f"otlp-unreachable:{target.url}",
                f"otlp sink: {n} {signal} records dropped after {answer.attempts} attempts "
                f"within {target.timeout}s, {target.url} unreachable: {answer.error}",
            )

    def _accepted(self, url: str, enc: _Encoder, answer: Answer, n: int) -> None:
        from ._otlp_http import MAX_RESPONSE_BYTES

        try:
            if answer.truncated:
                raise ValueError(f"a body of more than {MAX_RESPONSE_BYTES} bytes")
            rejected, message = enc.rejected(answer.body)
        except ValueError as exc:
            self.counters["unreadable_responses"] += 1
            warn(
                f"otlp-unreadable:{url}",
                f"otlp sink: {url} accepted a request with a response that is not OTLP "
                f"({exc}); its records are counted as written",
            )
            return
        if rejected > 0:
            self.count_drop("partial_success", min(rejected, n))
            warn(
                f"otlp-partial:{url}",
                f"otlp sink: {url} rejected {rejected} of {n} records: {message!r}",
            )
        elif message:
            self.counters["receiver_warnings"] += 1
            warn(f"otlp-warning:{url}", f"otlp sink: {url} says: {message!r}")
