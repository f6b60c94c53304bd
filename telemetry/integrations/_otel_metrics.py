"""aiotelemetry's ``MeterProvider`` behind the OpenTelemetry metrics API.

```python
from telemetry.integrations._otel_metrics import install_meter_provider

install_meter_provider()   # opentelemetry.metrics.get_meter_provider() is now ours
```

Every meter it hands out records into the process's metrics state (``telemetry._metrics``):
``Counter``, ``UpDownCounter``, ``Histogram`` (with the instrument's advisory buckets),
``Gauge`` and the three observable instruments. The instruments are the state's own, typed
as the API's: a measurement is one method call of ours, with nothing in between. Readers
export the state: the Prometheus collector (``telemetry.integrations.prometheus``) and the
OTLP sink (``/v1/metrics``).

Needs ``opentelemetry-api``; imported only by who calls it, never at ``import telemetry``.
"""

from __future__ import annotations

import re
import threading
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._extras import missing_package

try:
    from opentelemetry import metrics as api
except ImportError:  # not installed: say so in one line
    raise missing_package("telemetry.integrations._otel_metrics", "opentelemetry-api") from None

from .._metrics import _instruments as core
from .._metrics._observable import Observable
from .._metrics._series import check_buckets
from .._metrics._state import STATE, MetricsState
from .._warn import warn

__all__ = ["MeterProvider", "install_meter_provider"]

# The API's rules for instrument names (a letter, then up to 254 of [A-Za-z0-9_./-]).
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_./\-]{0,254}")
_UNIT = re.compile(r"[\x00-\x7F]{0,63}")


class _Counter(core.Counter, api.Counter):
    """A counter of ours, typed as the API's."""


class _UpDownCounter(core.UpDownCounter, api.UpDownCounter):
    """An up-down counter of ours, typed as the API's."""


class _Histogram(core.Histogram, api.Histogram):
    """A histogram of ours, typed as the API's."""


class _Gauge(core.Gauge, api._Gauge):
    """A gauge of ours, typed as the API's."""


class _ObservableCounter(Observable, api.ObservableCounter):
    """An observable counter of ours, typed as the API's."""


class _ObservableUpDownCounter(Observable, api.ObservableUpDownCounter):
    """An observable up-down counter of ours, typed as the API's."""


class _ObservableGauge(Observable, api.ObservableGauge):
    """An observable gauge of ours, typed as the API's."""


def _callback(cb: Any) -> Callable[[Any], Iterable[Any]]:
    """A callback as a function of the options: the API also allows a generator that is sent
    the options and yields the observations each time."""
    if not isinstance(cb, types.GeneratorType):
        return cb  # type: ignore[no-any-return]
    gen = cb
    next(gen)

    def send(options: Any) -> Iterable[Any]:
        try:
            return gen.send(options)  # type: ignore[no-any-return]
        except StopIteration:
            return []

    return send


class Meter(api.Meter):
    """Instruments of one instrumentation scope, recording into the metrics state."""

    def __init__(
        self,
        state: MetricsState,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
    ) -> None:
        super().__init__(name, version, schema_url)
        self._state = state
        self._scope = core.Scope((name, version or "", schema_url or ""))

    def _make(
        self,
        kind: str,
        cls: Callable[..., core.Instrument],
        name: str,
        unit: str | None,
        description: str | None,
        **more: Any,
    ) -> Any:
        unit = unit or ""
        if not isinstance(name, str) or not _NAME.fullmatch(name) or not _UNIT.fullmatch(unit):
            return self._state.refused(
                self._scope, kind, str(name), unit, "invalid_instrument", cls=cls
            )
        return self._state.instrument(
            self._scope, kind, name, unit, description or "", cls=cls, **more
        )

    def create_counter(self, name: str, unit: str = "", description: str = "") -> api.Counter:
        """A monotonic sum."""
        made: api.Counter = self._make("counter", _Counter, name, unit, description)
        return made

    def create_up_down_counter(
        self, name: str, unit: str = "", description: str = ""
    ) -> api.UpDownCounter:
        """A sum that goes both ways."""
        made: api.UpDownCounter = self._make(
            "up_down_counter", _UpDownCounter, name, unit, description
        )
        return made

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> api.Histogram:
        """An explicit-bucket histogram: the advised boundaries if valid, else the default."""
        buckets = None
        if explicit_bucket_boundaries_advisory is not None:
            buckets = check_buckets(explicit_bucket_boundaries_advisory)
            if buckets is None:
                warn(
                    f"metrics:advice:{name}",
                    f"metrics: {name}: bucket advice {explicit_bucket_boundaries_advisory!r} "
                    "is not increasing finite numbers; the default buckets are used",
                )
        made: api.Histogram = self._make(
            "histogram", _Histogram, name, unit, description, buckets=buckets
        )
        return made

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> api._Gauge:
        """The last value set, per attribute set."""
        made: api._Gauge = self._make("gauge", _Gauge, name, unit, description)
        return made

    def _observable(
        self,
        kind: str,
        cls: Callable[..., core.Instrument],
        name: str,
        callbacks: Sequence[Any] | None,
        unit: str,
        description: str,
    ) -> Any:
        fns = [_callback(cb) for cb in callbacks or ()]
        return self._make(kind, cls, name, unit, description, callbacks=fns)

    def create_observable_counter(
        self,
        name: str,
        callbacks: Sequence[Any] | None = None,
        unit: str = "",
        description: str = "",
    ) -> api.ObservableCounter:
        """A monotonic sum its callbacks report at each collection."""
        made: api.ObservableCounter = self._observable(
            "observable_counter", _ObservableCounter, name, callbacks, unit, description
        )
        return made

    def create_observable_up_down_counter(
        self,
        name: str,
        callbacks: Sequence[Any] | None = None,
        unit: str = "",
        description: str = "",
    ) -> api.ObservableUpDownCounter:
        """A sum its callbacks report at each collection."""
        made: api.ObservableUpDownCounter = self._observable(
            "observable_up_down_counter",
            _ObservableUpDownCounter,
            name,
            callbacks,
            unit,
            description,
        )
        return made

    def create_observable_gauge(
        self,
        name: str,
        callbacks: Sequence[Any] | None = None,
        unit: str = "",
        description: str = "",
    ) -> api.ObservableGauge:
        """Values its callbacks report at each collection."""
        made: api.ObservableGauge = self._observable(
            "observable_gauge", _ObservableGauge, name, callbacks, unit, description
        )
        return made


class MeterProvider(api.MeterProvider):
    """Hands out meters that record into the process's metrics state (one meter per scope)."""

    def __init__(self, state: MetricsState = STATE) -> None:
        self._state = state
        self._meters: dict[tuple[str, str, str], Meter] = {}
        self._lock = threading.Lock()

    def get_meter(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> api.Meter:
        """The meter of the scope ``name`` (``version``, ``schema_url``)."""
        if not isinstance(name, str) or not name:
            warn("metrics:meter-name", f"metrics: a meter was asked for with name {name!r}")
            name = ""
        key = (name, version or "", schema_url or "")
        with self._lock:
            meter = self._meters.get(key)
            if meter is None:
                meter = self._meters[key] = Meter(self._state, name, version, schema_url)
        return meter

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Nothing to flush: readers take the state when they export. True."""
        return True

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        """Nothing to shut down: exporters close with their hubs."""


#: The provider `install_meter_provider` installs.
PROVIDER = MeterProvider()
_install_lock = threading.Lock()


def _deferred(provider: object) -> bool:
    # The API's stand-in until a provider is set.
    return type(provider).__name__ == "_ProxyMeterProvider"


def install_meter_provider() -> MeterProvider:
    """Make `PROVIDER` OpenTelemetry's global meter provider, and switch the metrics of
    the ASGI middleware on. Idempotent. Where another provider is installed already (the
    OpenTelemetry SDK's, say), it stays, and a warning says so: measurements made through the
    global API then go there, not here. Returns our provider either way (it can be passed as
    ``meter_provider=`` to what takes one)."""
    with _install_lock:
        current = api.get_meter_provider()
        if current is PROVIDER:
            return PROVIDER
        if not _deferred(current):
            kind = f"{type(current).__module__}.{type(current).__qualname__}"
            warn(
                "metrics:other-provider",
                f"metrics: OpenTelemetry's global meter provider is already {kind}; it stays, "
                "and what is measured through the global API goes there, not to aiotelemetry "
                "(install aiotelemetry's before anything sets another)",
            )
            return PROVIDER
        api.set_meter_provider(PROVIDER)
        STATE.enabled = True
    return PROVIDER
