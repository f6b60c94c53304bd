"""OpenTelemetry metric names in Prometheus spelling (the specification's "Prometheus and
OpenMetrics Compatibility").

A name keeps ``[a-zA-Z0-9_:]`` and every other character becomes ``_`` (runs of them one);
a name starting with a digit gets a leading ``_``. The unit becomes a suffix unless the name
ends with it already: curly-brace annotations (``{request}``) are dropped, UCUM units are
spelt out (``s`` -> ``seconds``, ``By`` -> ``bytes``, ``1`` -> ``ratio`` for gauges only),
``a/b`` is ``a_per_b``. Monotonic sums end in ``_total``. Label names follow the same rule
as metric names, without ``:``.
"""

from __future__ import annotations

import re

__all__ = ["label_name", "metric_name", "unit_suffix"]

_UNITS = {
    # time
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    # bytes
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    # SI
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "%": "percent",
}
_PER = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month"}
_BAD = re.compile(r"[^a-zA-Z0-9_:]+")
_BAD_LABEL = re.compile(r"[^a-zA-Z0-9_]+")
_BRACES = re.compile(r"\{[^}]*\}")


def _clean(name: str, bad: re.Pattern[str]) -> str:
    out = bad.sub("_", name)
    out = re.sub("__+", "_", out)
    if out and out[0].isdigit():
        out = "_" + out
    return out or "_"


def unit_suffix(unit: str, *, gauge: bool) -> str:
    """The suffix a unit adds (``""`` for none)."""
    unit = _BRACES.sub("", unit).strip()
    if not unit:
        return ""
    if unit == "1":
        return "ratio" if gauge else ""
    top, slash, bottom = unit.partition("/")
    words = _UNITS.get(top, top)
    if slash:
        per = _PER.get(bottom, _UNITS.get(bottom, bottom))
        words = f"{words}_per_{per}" if words else f"per_{per}"
    return _clean(words, _BAD_LABEL).strip("_")


def metric_name(name: str, unit: str, *, kind: str, monotonic: bool) -> str:
    """The Prometheus name of an instrument (``kind`` its aggregation: ``sum``, ``gauge``,
    ``histogram``). A counter's name is given without ``_total``: that is the sample's."""
    out = _clean(name, _BAD).rstrip("_") or "_"
    suffix = unit_suffix(unit, gauge=kind == "gauge" or (kind == "sum" and not monotonic))
    if suffix and not out.endswith("_" + suffix):
        out = f"{out}_{suffix}"
    if kind == "sum" and monotonic and out.endswith("_total"):
        out = out[: -len("_total")]
    return out


def label_name(key: str) -> str:
    """The Prometheus label of an attribute key."""
    return _clean(key, _BAD_LABEL)
