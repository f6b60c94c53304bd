"""What the OpenTelemetry providers accept from instrumentation, and what they count as lost.

The API's specification asks an SDK never to raise into the app for bad input: an attribute
whose key is not a non-empty string, or whose value is not one of the API's types (``str``,
``bool``, ``int``, ``float``, or a sequence of one of them), is dropped with a warning, once
per kind of mistake. Spans keep at most `MAX_ATTRIBUTES` attributes, `MAX_EVENTS`
events and `MAX_LINKS` links (the OpenTelemetry SDK's defaults); the excess is dropped
and counted. A span that is garbage-collected without being ended loses its signal, which is
counted too. The counts are process-wide and read with
[`telemetry.integrations.opentelemetry.dropped`][telemetry.integrations.opentelemetry.dropped].

Nothing here takes a lock: a count is a dict increment, as exact as the GIL makes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._warn import warn

__all__ = [
    "DROPPED",
    "MAX_ATTRIBUTES",
    "MAX_EVENTS",
    "MAX_LINKS",
    "add_attribute",
    "clean_attributes",
    "count",
    "warn_once",
]

#: Attributes a span, an event or a link keeps at most (``OTEL_ATTRIBUTE_COUNT_LIMIT``'s
#: default in the OpenTelemetry SDK).
MAX_ATTRIBUTES = 128
#: Events a span keeps at most.
MAX_EVENTS = 128
#: Links a span keeps at most.
MAX_LINKS = 128

#: What was lost, by reason: ``attributes`` (a wrong key or value type, or past the limit),
#: ``events`` and ``links`` (past the limit), ``never_ended`` (a recording span garbage-collected
#: before ``end()``: its signal is lost), ``ended_twice`` (the second ``end()`` is ignored).
DROPPED: dict[str, int] = {
    "attributes": 0,
    "events": 0,
    "links": 0,
    "never_ended": 0,
    "ended_twice": 0,
}
_warned: set[str] = set()
_SCALARS = (str, bool, int, float)


def warn_once(key: str, message: str) -> None:
    """Warn on stderr the first time ``key`` is seen in this process, never again."""
    if key not in _warned:
        _warned.add(key)
        warn(f"opentelemetry:{key}", message + " (reported once)")


def count(reason: str, n: int = 1) -> None:
    """Count ``n`` things lost for ``reason``."""
    DROPPED[reason] = DROPPED.get(reason, 0) + n


_INVALID = object()


def _clean(value: object) -> object:
    """``value`` as an attribute keeps it (a sequence as a tuple), or ``_INVALID``."""
    t = type(value)
    if t is str or t is int or t is float or t is bool:
        return value
    if isinstance(value, _SCALARS):  # a subclass: an IntEnum, a str enum
        return value
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        # Homogeneous: every item of one of the scalar types (None allowed), as the API says.
        kind: type | None = None
        for item in value:
            if item is None:
                continue
            # bool first: it is an int too.
            it = next((s for s in (bool, str, int, float) if isinstance(item, s)), None)
            if it is None or (kind is not None and it is not kind):
                return _INVALID
            kind = it
        return tuple(value)
    return _INVALID


def add_attribute(attrs: dict[str, Any], key: object, value: object) -> None:
    """Set ``attrs[key] = value`` if both are valid and the limit allows; else drop, count and
    warn once."""
    if type(key) is not str or not key:
        count("attributes")
        warn_once("key", f"an attribute key must be a non-empty string, got {key!r:.80}; dropped")
        return
    t = type(value)
    if not (t is str or t is int or t is float or t is bool):
        value = _clean(value)
        if value is _INVALID:
            count("attributes")
            warn_once(
                "value",
                f"attribute {key!r:.80}: a value must be a str, bool, int, float or a sequence "
                f"of one of them, got {t.__name__}; dropped",
            )
            return
    if len(attrs) >= MAX_ATTRIBUTES and key not in attrs:
        count("attributes")
        warn_once("limit", f"more than {MAX_ATTRIBUTES} attributes on one span; the rest dropped")
        return
    attrs[key] = value


def clean_attributes(attributes: Mapping[Any, Any] | None) -> dict[str, Any]:
    """A new dict of the valid attributes of ``attributes`` (see `add_attribute`)."""
    # The common case, checked in one pass and copied at C speed: a dict of str keys (none
    # empty) and scalar values, under the limit. Instrumentations pass a few attributes;
    # for those a loop costs less than building the sets of their types.
    if type(attributes) is dict and len(attributes) <= MAX_ATTRIBUTES and "" not in attributes:
        for key, value in attributes.items():
            t = type(value)
            if type(key) is not str or not (t is str or t is int or t is float or t is bool):
                break
        else:
            return attributes.copy()
    out: dict[str, Any] = {}
    if attributes:
        try:
            items = list(attributes.items())
        except Exception as exc:  # not a mapping after all
            count("attributes")
            warn_once("mapping", f"attributes must be a mapping, got {exc!r:.80}; dropped")
            return out
        for key, value in items:
            t = type(value)
            # The common case inline: a str key and a scalar value, under the limit.
            if (
                (t is str or t is int or t is float or t is bool)
                and type(key) is str
                and key
                and len(out) < MAX_ATTRIBUTES
            ):
                out[key] = value
            else:
                add_attribute(out, key, value)
    return out
