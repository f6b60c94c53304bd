"""The exceptions a user can catch: one public tree under TelemetryError, the same class for
the same kind of mistake everywhere."""

from __future__ import annotations

import inspect

import pytest

import telemetry
from telemetry import (
    ClosedError,
    ConfigError,
    ConfigFileError,
    SinkError,
    Telemetry,
    TelemetryError,
)
from telemetry.sinks import MemorySink
from telemetry.testing import make_signal
from tests.conftest import needs


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_subclasses(sub)}
    return out


def test_every_error_of_the_package_is_public_and_in_the_tree() -> None:
    """Every TelemetryError subclass the package defines is exported by ``telemetry``, named
    in ``__all__``, documented, and drawn in the tree of the errors module."""
    import telemetry._errors as errors_module

    ours = {c for c in _subclasses(TelemetryError) if c.__module__.startswith("telemetry")}
    assert {ConfigError, ConfigFileError, ClosedError, SinkError} <= ours
    tree = inspect.getdoc(errors_module) or ""
    for cls in ours | {TelemetryError}:
        assert getattr(telemetry, cls.__name__) is cls, cls
        assert cls.__name__ in telemetry.__all__, cls
        assert inspect.getdoc(cls), cls
        assert cls.__name__ in tree, cls


def test_a_configuration_with_problems_raises_the_exported_config_file_error() -> None:
    """``from_config`` with mistakes raises ``telemetry.ConfigFileError``, a ConfigError
    (and so a TelemetryError and a ValueError), listing every problem."""
    bad = {"min_level": "loud", "handlers": {"m": {"sink": "memory", "mode": "drop"}}}
    with pytest.raises(ConfigFileError) as info:
        Telemetry.from_config(bad, env={})
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, TelemetryError) and isinstance(info.value, ValueError)
    assert len(info.value.problems) == 2


def test_an_unknown_keyword_is_a_config_error_everywhere() -> None:
    """A misspelt option is a ConfigError naming it and the closest option, whether given
    to ``signal()``, ``Telemetry()``, ``add_handler()`` or a sink."""
    hub = Telemetry()
    cases = [
        lambda: hub.signal_nowait("x", levle="info"),  # type: ignore[call-arg]
        lambda: telemetry.signal_nowait("x", levle="info"),  # type: ignore[call-arg]
        lambda: Telemetry(min_levle="info"),  # type: ignore[call-arg]
        lambda: hub.add_handler("m", MemorySink(), buffer_sise=8),  # type: ignore[call-arg]
        lambda: MemorySink(maxlem=3),  # type: ignore[call-arg]
    ]
    for case in cases:
        with pytest.raises(ConfigError, match="did you mean"):
            case()


async def test_the_otlp_sink_says_not_open_and_closed_as_the_other_sinks_do() -> None:
    """Writing to an OTLP sink that is not open is a SinkError, and to one that is closed a
    ClosedError, as with the file sink (not a RuntimeError)."""
    needs("httpx", "opentelemetry.proto")
    from telemetry.sinks import OTLPSink

    sink = OTLPSink("http://127.0.0.1:9", env={})
    with pytest.raises(SinkError, match="not open"):
        await sink.write([make_signal(msg="x")])
    await sink.aclose()
    with pytest.raises(ClosedError):
        await sink.write([make_signal(msg="x")])
