"""Human-readable lines: time, level, namespace, id, message, then data as ``key=value``.

Every signal is exactly one line: newlines, other control characters (C0, DEL, C1) and the
Unicode line separators in every field (kind, level, id, namespace, message, keys, values,
trace id, the error's parts) are escaped, so a value can never forge an extra line or send a
terminal escape of its own. With ``traceback=True`` (the console's choice) a signal that
carries an exception is followed by its traceback, each line of it indented by four spaces
and escaped the same way, so that it cannot be taken for a signal either (a signal's line
starts with its time).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .._signal import ErrorInfo, Signal
from ._safe import NEVER_HUGE, HugeValue, LineFormat, Pieces, safe_repr

__all__ = ["TextFormat", "TimeFormatter", "escape", "format_time", "text_pieces", "traceback_lines"]

#: Characters of a huge string escaped at a time by `text_pieces`: at most a few
#: milliseconds' worth even when every character needs an escape.
STR_PIECE = 16 * 1024

_COLOURS = {
    "trace": "\x1b[2m",
    "debug": "\x1b[36m",
    "info": "\x1b[32m",
    "warn": "\x1b[33m",
    "error": "\x1b[31m",
    "fatal": "\x1b[1;31m",
}
_DIM = "\x1b[2m"
_BOLD = "\x1b[1m"
_RESET = "\x1b[0m"
_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(32), *range(0x7F, 0xA0))} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def escape(text: str) -> str:
    """``text`` with control characters (newline, carriage return, ESC, NEL, ...) and the
    Unicode line separators escaped."""
    # Control characters are never printable, so a printable string (nearly all of them) has
    # nothing to escape; isprintable() costs a tenth of translate(). The commonest ones are
    # replaced first, at the speed of a copy: translate() takes about 0.15 µs per character
    # of a string that needs it, so 10 MB of lines would take seconds.
    if text.isprintable():
        return text
    text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return text if text.isprintable() else text.translate(_ESCAPES)


def format_time(inst_ns: int, *, utc: bool = True) -> str:
    """ISO 8601 with microseconds: ``2026-08-10T17:15:34.892341Z``."""
    secs, ns = divmod(inst_ns, 1_000_000_000)
    if utc:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ns // 1000:06d}Z"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(secs)) + f".{ns // 1000:06d}"


class TimeFormatter:
    """`format_time` that renders each second once: the signals of a batch mostly share
    it, and ``strftime`` is the dearest step of a text line."""

    def __init__(self, *, utc: bool = True) -> None:
        self.utc = utc
        self._secs = -1
        self._prefix = ""

    def __call__(self, inst_ns: int) -> str:
        """The time of ``inst_ns`` as `format_time` writes it."""
        secs, ns = divmod(inst_ns, 1_000_000_000)
        if secs != self._secs:
            when = time.gmtime(secs) if self.utc else time.localtime(secs)
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", when)
            self._secs = secs
        return f"{self._prefix}.{ns // 1000:06d}{'Z' if self.utc else ''}"


def text_pieces(text: str, *, quote: str = " =") -> Pieces:
    """A huge string as `escape` writes it, a piece at a time (see
    `Pieces`); in double quotes if it holds a character of ``quote``
    (escaping never adds one)."""
    quoted = False
    for i in range(0, len(text), STR_PIECE):
        part = escape(text[i : i + STR_PIECE])
        if not quoted and any(c in part for c in quote):
            quoted = True
        yield part.encode("utf-8")
    return (b'"', b'"') if quoted else (b"", b"")


def _value(v: Any, as_text: Callable[[object], str] = safe_repr, huge: int = NEVER_HUGE) -> str:
    if isinstance(v, str):
        if len(v) > huge:
            raise HugeValue
        s = escape(v)
        return f'"{s}"' if (" " in s or "=" in s or not s) else s
    if type(v) is int:  # the commonest value: its repr needs no escaping
        return repr(v)
    return escape(as_text(v))


def _error(err: ErrorInfo) -> str:
    parts = []
    e: ErrorInfo | None = err
    while e is not None:
        where = f" at {escape(e.frames[-1].file)}:{e.frames[-1].line}" if e.frames else ""
        parts.append(f"{escape(e.type)}: {escape(e.message)}{where}")
        e = e.cause
    return " <- ".join(parts)


_RED = "\x1b[31m"
#: The lines of a Python traceback that are not frames or source: they are not indented.
_HEADINGS = ("Traceback (most recent call last):", "During handling", "The above exception")


def traceback_lines(err: ErrorInfo, *, colour: bool = False, indent: str = "    ") -> list[str]:
    """The traceback of ``err`` as lines to print under its signal: indented, control
    characters escaped; with ``colour``, frames dimmed and the exception lines in red."""
    out = []
    for line in err.traceback().splitlines():
        if not line:
            continue
        text = escape(line)
        if colour:
            if line[0] in " \t" or line.startswith(_HEADINGS):
                text = f"{_DIM}{text}{_RESET}"
            else:  # "ZeroDivisionError: division by zero"
                text = f"{_RED}{text}{_RESET}"
        out.append(indent + text)
    return out


class TextFormat(LineFormat):
    """Format signals as single readable lines, optionally with ANSI colour; with
    ``traceback=True``, a signal's exception is followed by its traceback (see
    `traceback_lines`)."""

    name = "text"
    #: 512 ordinary signals format in about 1.3 ms (see ``Format.slice_size``).
    slice_size = 512

    def __init__(self, *, colour: bool = False, utc: bool = True, traceback: bool = False) -> None:
        self.colour = colour
        self.utc = utc
        self.traceback = traceback
        self._time = TimeFormatter(utc=utc)
        self._levels: dict[str, str] = {}
        super().__init__()

    def _level(self, level: str) -> str:
        label = self._levels.get(level)
        if label is None:
            label = f"{escape(level.upper()):<5}"
            if self.colour:
                label = f"{_COLOURS.get(level, '')}{label}{_RESET}"
            if len(self._levels) < 64:  # levels are a handful of words; never grow unbounded
                self._levels[level] = label
        return label

    def pieces(self, value: Any, *, msg: bool = False) -> Pieces | None:
        """A huge string as a value (or, with ``msg``, as the message) is written, a piece at
        a time (see `Pieces`); ``None`` for anything else."""
        if type(value) is not str:
            return None
        return text_pieces(value, quote="" if msg else " =")

    def format(self, sig: Signal, huge: int = NEVER_HUGE) -> str:
        """One signal as one line (and its traceback's, with ``traceback=True``), without the
        trailing newline; `HugeValue` if a string value or the
        message is longer than ``huge`` characters (see ``LineFormat.encode_slice``)."""
        stamp = self._time(sig.inst)
        parts = [f"{_DIM}{stamp}{_RESET}" if self.colour else stamp, self._level(sig.level)]
        if sig.ns:
            parts.append(f"[{escape(sig.ns)}]")
        if sig.kind != "log":
            parts.append(escape(sig.kind))
        if sig.id:
            ident = escape(sig.id)
            parts.append(f"{_BOLD}{ident}{_RESET}" if self.colour else ident)
        if sig.msg is not None:
            if len(sig.msg) > huge:
                raise HugeValue
            parts.append(escape(sig.msg))
        if sig.duration_ns is not None:
            parts.append(f"duration={sig.duration_ns / 1e6:.3f}ms")
        as_text = self.repr
        for k, v in sig.data.items():
            parts.append(f"{escape(str(k))}={_value(v, as_text, huge)}")
        for k, v in sig.ctx.items():
            parts.append(f"{escape(str(k))}={_value(v, as_text, huge)}")
        if sig.trace_id:
            parts.append(f"trace={escape(sig.trace_id)}")
        if sig.error is not None:
            parts.append(f"error={_error(sig.error)}")
            if self.traceback and (sig.error.frames or sig.error.stacktrace):
                lines = traceback_lines(sig.error, colour=self.colour)
                return "\n".join([" ".join(parts), *lines])
        return " ".join(parts)
