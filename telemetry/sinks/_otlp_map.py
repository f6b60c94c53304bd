"""What a signal becomes in OTLP, by the OpenTelemetry semantic conventions, independent of the
encoding (the protobuf and JSON encoders both read these).

A signal of kind ``span`` becomes a span; every other kind a log record:

- ``level`` -> ``severity_number`` (the level's number already is one) and ``severity_text``
  (``TRACE``, ``DEBUG``, ``INFO``, ``WARN``, ``ERROR``, ``FATAL``);
- ``msg`` -> ``body``; ``id`` -> ``event_name`` (log records) or the span's name;
- ``ctx`` then ``data`` -> attributes (``data`` wins a clash); nested values become OTLP maps
  and arrays;
- ``error`` -> ``exception.type``, ``exception.message``, ``exception.stacktrace`` (attributes of
  a log record; an ``exception`` event and an Error status on a span);
- ``location`` -> ``code.file.path``, ``code.line.number``, ``code.function.name``;
  ``thread`` -> ``thread.name``; ``uid`` -> ``log.record.uid``;
- ``ns`` -> the instrumentation scope's name (as the OpenTelemetry logging handler uses the
  logger's name);
- ``inst`` -> ``time_unix_nano`` and ``observed_time_unix_nano`` (a span's start; its end is
  ``inst + duration_ns``); trace and span ids as they are, with the sampled flag.

A span's data may hold, under reserved keys that are not attributes (the OpenTelemetry
providers write them, a ``tel.span`` may set them): ``span.kind`` (``"server"``, ...),
``otel.status_code`` (``"OK"`` or ``"ERROR"``) and ``otel.status_description``,
``span.events`` (a list of ``{"name", "time", "attributes"}``) and ``span.links`` (a list of
``{"trace_id", "span_id", "attributes"}``). They become the OTLP span's kind, status, events
and links. An ``error`` adds an ``exception`` event, or its ``exception.stacktrace`` to the
``exception`` event already there, and makes the status an error unless one was set.
"""

from __future__ import annotations

from typing import Any

from .._signal import LEVELS, ErrorInfo, Signal
from ..formats._safe import HUGE_VALUE_CHARS

__all__ = [
    "DEFAULT_SCOPE",
    "HUGE_TEXT",
    "ITEMS_IN_ONE_GO",
    "RESERVED",
    "SEVERITY_TEXT",
    "SPAN_KINDS",
    "STATUS_ERROR",
    "STATUS_UNSET",
    "HugeRecord",
    "attributes",
    "exception_attributes",
    "id_bytes",
    "is_id",
    "severity",
    "source_attributes",
    "span_end",
    "span_events",
    "span_kind",
    "span_links",
    "span_name",
    "span_status",
    "stacktrace",
]

#: The scope of signals that have no namespace.
DEFAULT_SCOPE = "aiotelemetry"
#: Severity number to the specification's short name.
SEVERITY_TEXT = {1: "TRACE", 5: "DEBUG", 9: "INFO", 13: "WARN", 17: "ERROR", 21: "FATAL"}
#: ``span.kind`` values a span's data may carry, to OTLP's span kind numbers.
SPAN_KINDS = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
STATUS_UNSET = 0
STATUS_ERROR = 2
STATUS_OK = 1
#: The data key that sets a span's kind (``"server"``, ``"client"``, ...); not an attribute.
SPAN_KIND_KEY = "span.kind"
#: The data keys of a span's status, events and links; not attributes.
STATUS_CODE_KEY = "otel.status_code"
STATUS_DESCRIPTION_KEY = "otel.status_description"
EVENTS_KEY = "span.events"
LINKS_KEY = "span.links"
#: A span's data keys that are not attributes.
RESERVED = (SPAN_KIND_KEY, STATUS_CODE_KEY, STATUS_DESCRIPTION_KEY, EVENTS_KEY, LINKS_KEY)
_STATUS_CODES = {"OK": STATUS_OK, "ERROR": STATUS_ERROR}
#: A string or ``bytes`` value longer than this (characters, bytes) is not encoded in one go:
#: the record it is in goes the way of huge values (``_otlp_huge``).
HUGE_TEXT = HUGE_VALUE_CHARS
#: Nor is a value whose lists, tuples, sets and dicts hold more than this many items in all
#: (nested ones counted): each item costs about a microsecond to encode, or two on a busy
#: machine (the same 512 as `HUGE_ITEMS_DIVISOR` makes of `HUGE_VALUE_CHARS`).
ITEMS_IN_ONE_GO = 512


class HugeRecord(Exception):
    """The encoders' word that a record carries a value too big to encode in one step of the
    loop (over `HUGE_TEXT` characters, or `ITEMS_IN_ONE_GO` items): the sink encodes that
    record a piece at a time instead (``_otlp_huge``). Raised before the work is done, or
    after at most about a millisecond of it."""


def attributes(sig: Signal, *, span: bool) -> dict[str, Any]:
    """The attributes of the record or span made from ``sig``."""
    out: dict[str, Any] = dict(sig.ctx) if sig.ctx else {}
    if sig.data:
        out.update(sig.data)
        if span:
            for key in RESERVED:
                out.pop(key, None)
    if sig.location is not None or sig.thread is not None:
        out.update(source_attributes(sig))
    if not span:
        out["log.record.uid"] = sig.uid
        if sig.error is not None:
            out.update(exception_attributes(sig.error))
    return out


def source_attributes(sig: Signal) -> dict[str, Any]:
    """Where the signal came from: ``code.*`` from its location, ``thread.name``."""
    out: dict[str, Any] = {}
    loc = sig.location
    if loc is not None:
        out["code.file.path"] = loc.file
        out["code.line.number"] = loc.line
        out["code.function.name"] = loc.function
    if sig.thread is not None:
        out["thread.name"] = sig.thread
    return out


def exception_attributes(err: ErrorInfo) -> dict[str, str]:
    """``exception.type``, ``exception.message`` and ``exception.stacktrace``."""
    return {
        "exception.type": err.type,
        "exception.message": err.message,
        "exception.stacktrace": stacktrace(err),
    }


def stacktrace(err: ErrorInfo) -> str:
    """The error as Python prints a traceback, causes first (the way the semantic conventions
    ask for it: the language's usual form)."""
    chain = []
    e: ErrorInfo | None = err
    while e is not None:
        chain.append(e)
        e = e.cause
    parts = []
    for i, e in enumerate(reversed(chain)):
        if i:
            parts.append(
                "\nThe above exception was the direct cause of the following exception:\n\n"
            )
        if e.frames:
            parts.append("Traceback (most recent call last):\n")
            for f in e.frames:
                parts.append(f'  File "{f.file}", line {f.line}, in {f.function}\n')
        parts.append(f"{e.type}: {e.message}\n" if e.message else f"{e.type}\n")
    return "".join(parts)


def severity(sig: Signal) -> tuple[int, str]:
    """The severity number and text; 0 and the level as it is for a level that is not one of
    ours (a middleware's doing)."""
    number = LEVELS.get(sig.level, 0)
    return number, SEVERITY_TEXT.get(number, sig.level.upper())


def span_name(sig: Signal) -> str:
    """A span's name: its id, else its message, else ``"span"``."""
    return sig.id or sig.msg or "span"


def span_end(sig: Signal) -> int:
    """A span's end time in nanoseconds since the epoch."""
    return sig.inst + (sig.duration_ns or 0)


def span_kind(sig: Signal) -> int:
    """A span's kind: from ``data["span.kind"]`` when it names one, else internal."""
    kind = sig.data.get(SPAN_KIND_KEY) if sig.data else None
    return SPAN_KINDS.get(kind, 1) if isinstance(kind, str) else 1


def span_status(sig: Signal) -> tuple[int, str]:
    """A span's status code and message: ``otel.status_code`` when its data says one (the
    description only with an error), else an error for a span that recorded one, else unset."""
    data = sig.data
    code = _STATUS_CODES.get(data.get(STATUS_CODE_KEY)) if data else None  # type: ignore[arg-type]
    if code is not None:
        message = data.get(STATUS_DESCRIPTION_KEY) if code == STATUS_ERROR else None
        return code, message if isinstance(message, str) else ""
    err = sig.error
    if err is not None:
        return STATUS_ERROR, f"{err.type}: {err.message}" if err.message else err.type
    return STATUS_UNSET, ""


def _as_int(value: object, default: int) -> int:
    return value if type(value) is int else default


def span_events(sig: Signal) -> list[tuple[str, int, dict[str, Any]]]:
    """A span's events as ``(name, time, attributes)``: ``span.events`` (malformed entries
    left out), and the ``error`` as an ``exception`` event (or its stacktrace added to the
    ``exception`` event already there)."""
    end = span_end(sig)
    out: list[tuple[str, int, dict[str, Any]]] = []
    raw = sig.data.get(EVENTS_KEY) if sig.data else None
    if isinstance(raw, (list, tuple)):
        for ev in raw:
            if isinstance(ev, dict) and isinstance(ev.get("name"), str):
                attrs = ev.get("attributes")
                attrs = dict(attrs) if isinstance(attrs, dict) else {}
                out.append((ev["name"], _as_int(ev.get("time"), end), attrs))
    err = sig.error
    if err is not None:
        for _, _, attrs in out:
            if attrs.get("exception.type") == err.type:
                attrs.setdefault("exception.stacktrace", stacktrace(err))
                break
        else:
            out.append(("exception", end, exception_attributes(err)))
    return out


def span_links(sig: Signal) -> list[tuple[str, str, dict[str, Any]]]:
    """A span's links as ``(trace id, span id, attributes)`` in hex (entries without valid
    ids, such as a link to an invalid context, keep empty ids)."""
    raw = sig.data.get(LINKS_KEY) if sig.data else None
    out: list[tuple[str, str, dict[str, Any]]] = []
    if isinstance(raw, (list, tuple)):
        for link in raw:
            if not isinstance(link, dict):
                continue
            trace_id, span_id = link.get("trace_id"), link.get("span_id")
            attrs = link.get("attributes")
            out.append(
                (
                    trace_id if isinstance(trace_id, str) and is_id(trace_id, 32) else "",
                    span_id if isinstance(span_id, str) and is_id(span_id, 16) else "",
                    dict(attrs) if isinstance(attrs, dict) else {},
                )
            )
    return out


def id_bytes(value: object, size: int) -> bytes:
    """An id as its ``size`` bytes when it is exactly ``2 * size`` hex digits; else empty.

    Stricter than Python's parsers, which a receiver is not: ``bytes.fromhex`` skips
    whitespace and ``int(_, 16)`` also takes whitespace, a ``0x`` prefix, underscores and a
    sign. An id written with any of them would be refused by the receiver with the whole
    request (JSON), or sent as another id (protobuf)."""
    if not isinstance(value, str) or len(value) != 2 * size:
        return b""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return b""
    # Of exactly 2 * size characters, fewer bytes mean whitespace was skipped.
    return raw if len(raw) == size else b""


def is_id(value: object, digits: int) -> bool:
    """Whether ``value`` is an id of exactly ``digits`` hex digits (see `id_bytes`)."""
    return bool(id_bytes(value, digits // 2))
