"""OTLP exporter configuration: the ``OTEL_*`` environment variables, the arguments that override
them, and the resource that describes this process.

The variables are the ones every OpenTelemetry SDK reads (the specification's "OTLP Exporter
Configuration" and "General SDK Configuration"): ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL
to which ``/v1/logs`` and ``/v1/traces`` are appended) or the per-signal
``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` / ``..._TRACES_ENDPOINT`` (used as they are),
``..._HEADERS`` (``key=value`` pairs separated by commas, values percent-encoded),
``..._TIMEOUT`` (milliseconds), ``..._COMPRESSION`` (``gzip`` or ``none``), ``..._PROTOCOL``
(``http/protobuf`` or ``http/json``), ``..._CERTIFICATE`` (the CA certificates to trust),
``..._CLIENT_CERTIFICATE`` and ``..._CLIENT_KEY`` (mutual TLS), each with a per-signal form that
wins over the general one;
``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``. A malformed value is a
[`ConfigError`][telemetry.ConfigError] naming the variable.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import msgspec

from .._errors import ConfigError

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_ENDPOINT",
    "DEFAULT_TIMEOUT_S",
    "PROTOCOLS",
    "SIGNALS",
    "TLSFiles",
    "Target",
    "build_resource",
    "build_targets",
    "parse_headers",
]

Protocol = Literal["http/protobuf", "http/json"]
Compression = Literal["gzip", "none"]
SignalName = Literal["logs", "traces", "metrics"]

PROTOCOLS = ("http/json", "http/protobuf")
COMPRESSIONS = ("gzip", "none")
SIGNALS = ("logs", "traces", "metrics")
#: Where an OpenTelemetry Collector listens for OTLP over HTTP by default.
DEFAULT_ENDPOINT = "http://localhost:4318"
#: How long one export may take, retries included (the specification's default, 10 s).
DEFAULT_TIMEOUT_S = 10.0
_PATHS: dict[str, str] = {"logs": "/v1/logs", "traces": "/v1/traces", "metrics": "/v1/metrics"}
_ENV = "OTEL_EXPORTER_OTLP_"


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how one signal type (logs or traces) is exported."""

    signal: str
    url: str
    protocol: str
    compression: str
    timeout: float
    headers: tuple[tuple[str, str], ...]
    #: TLS: the CA certificates to trust (PEM file; None: the system's), and a client
    #: certificate and key for mutual TLS. Each with the name it was given under, for errors.
    tls: TLSFiles | None = None


class TLSFiles(msgspec.Struct, frozen=True, kw_only=True):
    """The files of a TLS configuration, and the names (argument or variable) they came from."""

    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    names: tuple[str, str, str] = ("certificate", "client_certificate", "client_key")


def _check_url(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(name, f"must be an http:// or https:// URL, got {value!r}")
    url = value.strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise ConfigError(name, f"must be an http:// or https:// URL, got {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(name, f"must be an http:// or https:// URL with a host, got {url!r}")
    if port == 0 or any(c.isspace() for c in url):
        raise ConfigError(name, f"must be an http:// or https:// URL, got {url!r}")
    return url


def _signal_url(base: str, signal: str) -> str:
    return base.rstrip("/") + _PATHS[signal]


def parse_headers(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    """``key=value,key2=value2`` (the W3C baggage form, values percent-decoded) as pairs.
    Raises [`ConfigError`][telemetry.ConfigError] naming ``name`` for an entry without ``=`` or with
    an empty or invalid key."""
    out = []
    for item in raw.split(","):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key = unquote(key).strip()
        if not eq or not key or not _token(key):
            raise ConfigError(
                name,
                f"must be comma-separated key=value pairs with valid header names, got {raw!r}",
            )
        value = unquote(value).strip()
        if any(c in value for c in "\r\n\0"):
            raise ConfigError(name, f"header {key!r} has a line break or NUL in its value")
        out.append((key, value))
    return tuple(out)


def _token(key: str) -> bool:
    # An HTTP field name (RFC 9110 token).
    return all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~") for c in key)


def _check_headers(name: str, value: object) -> tuple[tuple[str, str], ...]:
    if isinstance(value, str):
        return parse_headers(name, value)
    if not isinstance(value, Mapping):
        raise ConfigError(name, f"must be a mapping of header names to values, got {value!r}")
    out = []
    for k, v in value.items():
        if not isinstance(k, str) or not _token(k) or not isinstance(v, str):
            raise ConfigError(name, f"must map header names to strings, got {k!r}: {v!r}")
        if any(c in v for c in "\r\n\0"):
            raise ConfigError(name, f"header {k!r} has a line break or NUL in its value")
        out.append((k, v))
    return tuple(out)


def _check_protocol(name: str, value: object) -> str:
    proto = value.strip().lower() if isinstance(value, str) else value
    if proto == "grpc":
        raise ConfigError(
            name, "'grpc' is not supported: use 'http/protobuf' (port 4318) or 'http/json'"
        )
    if proto not in PROTOCOLS:
        raise ConfigError.choice(name, value, PROTOCOLS)
    return str(proto)


def _check_compression(name: str, value: object) -> str:
    comp = value.strip().lower() if isinstance(value, str) else value
    if comp is None or comp == "":
        return "none"
    if comp not in COMPRESSIONS:
        raise ConfigError.choice(name, value, COMPRESSIONS)
    return str(comp)


def _check_timeout(name: str, value: object, *, millis: bool) -> float:
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ConfigError(
                name, f"must be a number of milliseconds > 0, got {value!r}"
            ) from None
        seconds = number / 1000
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value) / (1000 if millis else 1)
    else:
        raise ConfigError(name, f"must be a number of seconds > 0, got {value!r}")
    if not 0 < seconds < float("inf"):
        unit = "milliseconds" if millis else "seconds"
        raise ConfigError(name, f"must be a number of {unit} > 0, got {value!r}")
    return seconds


def _pick(env: Mapping[str, str], per: str, key: str) -> tuple[str, str] | None:
    """The per-signal variable if set, else the general one: ``(name, value)``."""
    for var in (per + key, _ENV + key):
        raw = env.get(var)
        if raw is not None and raw.strip():
            return var, raw
    return None


def build_targets(
    env: Mapping[str, str],
    signals: tuple[str, ...],
    *,
    endpoint: str | None,
    protocol: str | None,
    compression: str | None,
    timeout: float | None,
    headers: Mapping[str, str] | str | None,
    certificate: str | os.PathLike[str] | None = None,
    client_certificate: str | os.PathLike[str] | None = None,
    client_key: str | os.PathLike[str] | None = None,
) -> dict[str, Target]:
    """One `Target` per exported signal: arguments first, then the per-signal variable, then
    the general one, then the specification's default. `env` holds the
    `OTEL_EXPORTER_OTLP_*` variables; each keyword is the sink's argument, `None` if not given
    (`headers` given replace the environment's of the same name). Returns them by signal.

    Raises:
        ConfigError: A value given or in the environment is not allowed.
    """
    out = {}
    for signal in signals:
        per = f"{_ENV}{signal.upper()}_"
        url = _url(env, per, signal, endpoint)
        if protocol is not None:
            proto = _check_protocol("protocol", protocol)
        else:
            got = _pick(env, per, "PROTOCOL")
            proto = "http/protobuf" if got is None else _check_protocol(*got)
        if compression is not None:
            comp = _check_compression("compression", compression)
        else:
            got = _pick(env, per, "COMPRESSION")
            comp = "none" if got is None else _check_compression(*got)
        if timeout is not None:
            secs = _check_timeout("timeout", timeout, millis=False)
        else:
            got = _pick(env, per, "TIMEOUT")
            secs = DEFAULT_TIMEOUT_S if got is None else _check_timeout(*got, millis=True)
        hdrs = _headers(env, per, headers)
        tls = _tls(
            env,
            per,
            certificate=certificate,
            client_certificate=client_certificate,
            client_key=client_key,
        )
        out[signal] = Target(
            signal=signal,
            url=url,
            protocol=proto,
            compression=comp,
            timeout=secs,
            headers=hdrs,
            tls=tls,
        )
    return out


def _url(env: Mapping[str, str], per: str, signal: str, endpoint: str | None) -> str:
    """A signal's URL: the endpoint given, else the per-signal variable (used as it is), else
    the general one, else the default (both with the signal's path added)."""
    if endpoint is not None:
        return _signal_url(_check_url("endpoint", endpoint), signal)
    if (raw := env.get(per + "ENDPOINT", "")).strip():
        return _check_url(per + "ENDPOINT", raw)
    if (raw := env.get(_ENV + "ENDPOINT", "")).strip():
        return _signal_url(_check_url(_ENV + "ENDPOINT", raw), signal)
    return _signal_url(DEFAULT_ENDPOINT, signal)


def _headers(
    env: Mapping[str, str], per: str, headers: Mapping[str, str] | str | None
) -> tuple[tuple[str, str], ...]:
    """A signal's headers: the environment's, with the ones given replacing those of the same
    name."""
    hdrs: tuple[tuple[str, str], ...] = ()
    got = _pick(env, per, "HEADERS")
    if got is not None:
        hdrs = parse_headers(*got)
    if headers is not None:
        given = _check_headers("headers", headers)
        names = {k.lower() for k, _ in given}
        hdrs = tuple(h for h in hdrs if h[0].lower() not in names) + given
    return hdrs


def _path(name: str, value: object) -> str:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ConfigError(name, f"must be the path of a PEM file, got {value!r}")
    return str(os.fspath(value))


def _tls(
    env: Mapping[str, str],
    per: str,
    *,
    certificate: object,
    client_certificate: object,
    client_key: object,
) -> TLSFiles | None:
    """The TLS files: each argument, else its per-signal variable, else the general one."""
    found: list[tuple[str | None, str]] = []
    for param, var, value in (
        ("certificate", "CERTIFICATE", certificate),
        ("client_certificate", "CLIENT_CERTIFICATE", client_certificate),
        ("client_key", "CLIENT_KEY", client_key),
    ):
        if value is not None:
            found.append((_path(param, value), param))
            continue
        got = _pick(env, per, var)
        found.append((None, param) if got is None else (got[1].strip(), got[0]))
    (ca, ca_name), (cert, cert_name), (key, key_name) = found
    if cert is None and key is not None:
        raise ConfigError(key_name, f"needs a client certificate too ({cert_name})")
    if ca is None and cert is None:
        return None
    return TLSFiles(
        ca_file=ca, client_cert=cert, client_key=key, names=(ca_name, cert_name, key_name)
    )


def _resource_env(env: Mapping[str, str]) -> dict[str, str]:
    raw = env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    out = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key = unquote(key).strip()
        if not eq or not key:
            raise ConfigError(
                "OTEL_RESOURCE_ATTRIBUTES", f"must be comma-separated key=value pairs, got {raw!r}"
            )
        out[key] = unquote(value).strip()
    return out


def _sdk_version() -> str:
    try:
        from importlib.metadata import version

        return version("aiotelemetry")
    except Exception:  # not installed as a distribution (a source checkout)
        return "0+unknown"


def build_resource(
    env: Mapping[str, str],
    *,
    service_name: str | None,
    service_version: str | None,
    attributes: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The resource attributes: ``OTEL_RESOURCE_ATTRIBUTES``, then ``OTEL_SERVICE_NAME``, then
    the arguments, each overriding the one before; ``host.name``, ``process.pid`` and the
    ``telemetry.sdk.*`` attributes unless given. ``service.name`` is always present (the
    specification's ``unknown_service`` when nothing names it)."""
    res: dict[str, Any] = {
        "host.name": socket.gethostname(),
        "process.pid": os.getpid(),
        "telemetry.sdk.name": "aiotelemetry",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": _sdk_version(),
    }
    res.update(_resource_env(env))
    name = env.get("OTEL_SERVICE_NAME", "").strip()
    if name:
        res["service.name"] = name
    if attributes is not None:
        if not isinstance(attributes, Mapping) or not all(isinstance(k, str) for k in attributes):
            raise ConfigError(
                "resource_attributes", f"must be a mapping with string keys, got {attributes!r}"
            )
        res.update(attributes)
    for param, key, value in (
        ("service_name", "service.name", service_name),
        ("service_version", "service.version", service_version),
    ):
        if value is not None:
            if not isinstance(value, str) or not value:
                raise ConfigError(param, f"must be a non-empty string, got {value!r}")
            res[key] = value
    res.setdefault("service.name", "unknown_service")
    return res


def environ() -> Mapping[str, str]:
    """The process environment (a seam for tests, which pass their own mapping)."""
    return os.environ
