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
"""

from __future__ import annotations

from typing import Any

from .._signal import LEVELS, ErrorInfo, Signal

__all__ = [
    "DEFAULT_SCOPE",
    "SEVERITY_TEXT",
    "SPAN_KINDS",
    "STATUS_ERROR",
    "STATUS_UNSET",
    "attributes",
    "exception_attributes",
    "severity",
    "span_end",
    "span_kind",
    "span_name",
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
#: The data key that sets a span's kind (``"server"``, ``"client"``, ...); not an attribute.
SPAN_KIND_KEY = "span.kind"


def attributes(sig: Signal, *, span: bool) -> dict[str, Any]:
    """The attributes of the record or span made from ``sig``."""
    out: dict[str, Any] = dict(sig.ctx) if sig.ctx else {}
    if sig.data:
        out.update(sig.data)
        if span:
            out.pop(SPAN_KIND_KEY, None)
    loc = sig.location
    if loc is not None:
        out["code.file.path"] = loc.file
        out["code.line.number"] = loc.line
        out["code.function.name"] = loc.function
    if sig.thread is not None:
        out["thread.name"] = sig.thread
    if not span:
        out["log.record.uid"] = sig.uid
        if sig.error is not None:
            out.update(exception_attributes(sig.error))
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
