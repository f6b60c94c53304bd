"""Reading the JSON-lines files the file sink writes, plain or gzip-compressed, line by line.

Every non-blank line becomes one `Record`: either a decoded [`Signal`][telemetry.Signal]
(from a line with ``inst``, the nanoseconds every version writes, with or without the RFC 3339
``"timestamp"`` that lines carry since it was added, or from one with a ``"timestamp"`` only),
or the raw line with the reason it is not one (`PROBLEMS`). Nothing is skipped silently:
a line that is not JSON, a JSON value that is not a signal, a last line cut short by a crash or
a copy in progress, a compressed stream that ends early, all come out as records with a problem,
so that the commands can show them and count them. Blank lines carry no data and are passed
over (they still count for line numbers).

Compression is recognised by the gzip magic number, not the file name, so a rotated file keeps
working whatever it is called.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path

import msgspec

from .._signal import Signal
from ..formats.text import escape

__all__ = ["GZIP_MAGIC", "PROBLEMS", "LineDecoder", "Record", "is_gzip", "read_records"]

GZIP_MAGIC = b"\x1f\x8b"

PROBLEMS = {
    "not_json": "not JSON",
    "not_signal": "JSON, but not a signal",
    "truncated": "cut short (no end of line)",
    "unreadable": "the file could not be read on from here",
}
"""Why a line is not a signal."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

MAX_SHOWN_CHARS = 200
"""How much of a bad line is shown."""


class Record:
    """One line of a log file: a signal, or a line that is not one and why."""

    __slots__ = ("file", "lineno", "problem", "raw", "signal")

    def __init__(
        self,
        file: str,
        lineno: int,
        raw: bytes,
        signal: Signal | None,
        problem: str | None = None,
    ) -> None:
        self.file = file
        self.lineno = lineno
        self.raw = raw
        """The line as read, without its end of line."""
        self.signal = signal
        self.problem = problem
        """A key of `PROBLEMS` when [`signal`][telemetry.signal] is ``None``."""

    def shown_text(self) -> str:
        """The raw line as safe, single-line text (control characters escaped), shortened."""
        text = escape(self.raw.decode("utf-8", "backslashreplace"))
        if len(text) > MAX_SHOWN_CHARS:
            text = text[:MAX_SHOWN_CHARS] + "..."
        return text

    def __repr__(self) -> str:
        what = self.problem if self.signal is None else self.signal.uid
        return f"<Record {self.file}:{self.lineno} {what}>"


class LineDecoder:
    """Turns lines into records with one reused msgspec decoder typed for
    [`Signal`][telemetry.Signal]."""

    def __init__(self) -> None:
        self._decoder = msgspec.json.Decoder(Signal)

    def decode(self, line: bytes, *, file: str, lineno: int, complete: bool = True) -> Record:
        """Decode one line (with or without its end of line).

        ``complete=False`` says the line had no end of line: if it does not decode, it was cut
        short (``truncated``) rather than corrupt.
        """
        body = line.rstrip(b"\r\n")
        # msgspec raises UnicodeDecodeError, not DecodeError, for bytes that are not UTF-8
        # inside a JSON string.
        try:
            return Record(file, lineno, body, self._decoder.decode(body))
        except (msgspec.DecodeError, UnicodeDecodeError):  # ValidationError: the wrong shape
            pass
        if not complete:
            problem = "truncated"
        else:
            try:
                obj = msgspec.json.decode(body)
            except (msgspec.DecodeError, UnicodeDecodeError):
                problem = "not_json"
            else:
                sig = _from_timestamp(obj)
                if sig is not None:
                    return Record(file, lineno, body, sig)
                problem = "not_signal"
        return Record(file, lineno, body, None, problem)


def _from_timestamp(obj: object) -> Signal | None:
    """A signal from a line that has an RFC 3339 ``"timestamp"`` but no ``inst`` (rewritten
    by a shipper, say), or ``None``."""
    if not isinstance(obj, dict) or "inst" in obj or not isinstance(obj.get("timestamp"), str):
        return None
    try:
        when = dt.datetime.fromisoformat(obj["timestamp"])
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        delta = when - _EPOCH
        inst = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
        return msgspec.convert({**obj, "inst": inst}, Signal)
    except (ValueError, OverflowError, msgspec.ValidationError):
        return None


def is_gzip(path: str | Path) -> bool:
    """Whether the file starts with the gzip magic number."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def _open(path: Path) -> gzip.GzipFile | io.BufferedReader:
    if is_gzip(path):
        return gzip.open(path, "rb")
    return open(path, "rb")


def read_records(path: str | Path, decoder: LineDecoder | None = None) -> Iterator[Record]:
    """Every record of a file, in order. Raises ``OSError`` if the file cannot be opened.

    A gzip stream that ends early or is corrupt ends the file with an ``unreadable`` or
    ``truncated`` record instead of an exception: what came before it is still delivered.
    """
    path = Path(path)
    decoder = decoder or LineDecoder()
    name = str(path)
    lineno = 0
    with _open(path) as fh:
        try:
            for line in fh:
                lineno += 1
                if not line.strip():
                    continue
                yield decoder.decode(line, file=name, lineno=lineno, complete=line.endswith(b"\n"))
        except EOFError:  # the compressed stream stops before its end marker
            yield Record(name, lineno + 1, b"<compressed stream ends early>", None, "truncated")
        except (OSError, zlib.error) as exc:  # corrupt compressed data
            yield Record(name, lineno + 1, str(exc).encode(), None, "unreadable")
