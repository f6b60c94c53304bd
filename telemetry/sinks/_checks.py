"""Checks of the sinks' constructor options, written once for every sink.

Each check returns the value it accepts (normalised where the sink keeps another type) or
raises the [`ConfigError`][telemetry.ConfigError] that names the parameter, what was given and
what is allowed. Checks particular to one sink stay in its module.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Sequence
from typing import TypeVar

from .._errors import ConfigError, check_int

__all__ = ["check_choice", "check_int", "check_names", "check_positive", "require_package"]

_T = TypeVar("_T")


def check_choice(param: str, value: _T, allowed: Collection[str]) -> _T:
    """``value`` if it is one of ``allowed``.

    Args:
        param: The parameter's name, for the error.
        value: What the caller gave.
        allowed: The values the parameter takes.

    Returns:
        ``value``, unchanged.

    Raises:
        ConfigError: ``value`` is not one of ``allowed`` (the error lists them).
    """
    if value not in allowed:
        raise ConfigError.choice(param, value, allowed)
    return value


def check_positive(param: str, value: object, *, unit: str = "", none_ok: bool = False) -> float:
    """``value`` as a float if it is a number (not a bool) greater than 0.

    Args:
        param: The parameter's name, for the error.
        value: What the caller gave.
        unit: Words after "a number" in the error, such as ``" of seconds"``.
        none_ok: Whether the caller may give ``None`` instead; the check is then the
            caller's (this one refuses ``None``, and its message says it is allowed).

    Returns:
        ``value`` as a float.

    Raises:
        ConfigError: ``value`` is not a number greater than 0.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        alternative = " or None" if none_ok else ""
        raise ConfigError(param, f"must be a number{unit} > 0{alternative}, got {value!r}")
    return float(value)


def check_names(param: str, value: object, allowed: Sequence[str]) -> tuple[str, ...]:
    """The names in ``value`` in the order of ``allowed``, if ``value`` is a non-empty
    sequence of them (a single string is not).

    Args:
        param: The parameter's name, for the error.
        value: What the caller gave.
        allowed: Every name the parameter may hold, in the order the result takes.

    Returns:
        The names given, each once, in the order of ``allowed``.

    Raises:
        ConfigError: ``value`` is a string, empty, not iterable or holds another name.
    """
    try:
        names = set() if isinstance(value, str) else set(value)  # type: ignore[call-overload]
    except TypeError:
        names = set()
    if not names or not names <= set(allowed):
        listed = ", ".join(repr(a) for a in allowed)
        raise ConfigError(param, f"must be a non-empty sequence of {listed}; got {value!r}")
    return tuple(a for a in allowed if a in names)


def require_package(module: str, sink: str, hint: str) -> None:
    """Import ``module`` now, so that a sink whose optional package is missing fails when it
    is made rather than when it first writes.

    Args:
        module: The module the sink imports later.
        sink: The sink's class name, which the error names as the parameter at fault.
        hint: How to install what is missing.

    Raises:
        ConfigError: ``module`` cannot be imported.
    """
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(sink, f"needs {module} ({exc.name} is missing): {hint}") from exc
