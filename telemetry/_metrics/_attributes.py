"""Attribute sets of measurements: what the specification allows, and the key they aggregate
under.

An attribute value is a string, a bool, an int or a float, or a homogeneous sequence of one of
these; keys are non-empty strings. An attribute that breaks these rules is dropped (the
measurement is kept with the others), as the OpenTelemetry SDK does, and counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Attributes", "clean", "frozen_key"]

Attributes = dict[str, Any]
_SCALARS = (str, bool, int, float)


def _value(v: Any) -> Any:
    """``v`` as an allowed attribute value (sequences as tuples), or ``None``."""
    t = type(v)
    if t is str or t is bool or t is int or t is float:
        return v
    if isinstance(v, _SCALARS):  # subclasses (an IntEnum, a str enum) as the plain type
        for base in (bool, str, int, float):
            if isinstance(v, base):
                return base(v)
    if isinstance(v, Sequence) and not isinstance(v, (bytes, bytearray)):
        items = tuple(v)
        kinds = {type(x) for x in items}
        if len(kinds) <= 1 and kinds <= set(_SCALARS):
            return items
    return None


def clean(attributes: object) -> tuple[Attributes, int]:
    """The allowed part of ``attributes`` (a mapping or ``None``), and how many attributes
    were dropped (a key that is not a non-empty string, a value of another type)."""
    if attributes is None:
        return {}, 0
    if not isinstance(attributes, Mapping):
        return {}, 1
    out: Attributes = {}
    dropped = 0
    for k, v in attributes.items():
        value = _value(v)
        if type(k) is not str or not k or value is None:
            dropped += 1
            continue
        out[k] = value
    return out, dropped


def frozen_key(attributes: Attributes) -> tuple[tuple[str, Any], ...]:
    """The key of a cleaned attribute set: its items, sorted (the order given does not make a
    different series)."""
    if len(attributes) < 2:
        return tuple(attributes.items())
    return tuple(sorted(attributes.items()))
