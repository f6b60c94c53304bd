"""The public API: complete, documented, shown under its public path."""

from __future__ import annotations

import inspect

import telemetry
import telemetry.sinks
import telemetry.testing


def _public_names(module: object) -> set[str]:
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", "").startswith("telemetry")
    }


def test_all_is_complete_and_sorted() -> None:
    """Every public class and function of the package is in __all__, which is sorted."""
    assert _public_names(telemetry) <= set(telemetry.__all__)
    assert telemetry.__all__ == sorted(telemetry.__all__, key=lambda n: (not n.isupper(), n))
    for name in telemetry.__all__:
        assert hasattr(telemetry, name), name


def test_every_public_object_has_a_docstring() -> None:
    """Docstrings on every public class, function and method."""
    missing = []
    for module in (telemetry, telemetry.sinks, telemetry.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants and type aliases
            if not inspect.getdoc(obj):
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or not callable(member):
                        continue
                    if not inspect.getdoc(member):
                        missing.append(f"{module.__name__}.{name}.{attr}")
    assert missing == []


def test_public_classes_show_the_public_path() -> None:
    """Classes re-exported by telemetry say telemetry, not telemetry._hub, in tracebacks."""
    assert telemetry.Telemetry.__module__ == "telemetry"
    assert telemetry.TelemetryError.__module__ == "telemetry"
    assert telemetry.Signal.__module__ == "telemetry"
