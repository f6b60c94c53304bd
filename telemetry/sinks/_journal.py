"""The journal's native entry format: valid field names, and one signal as one entry.

Kept apart from the sink so that it can be read and tested without a socket: it only turns a
[`Signal`][telemetry.Signal] into the bytes of one datagram (``KEY=VALUE\\n``, or ``KEY\\n`` +
64-bit little-endian length + value + ``\\n`` for values with a newline or binary content). The
rules for names and values are described in `telemetry.sinks.journald`.
"""

from __future__ import annotations

import struct
import unicodedata
import zlib
from collections import Counter
from collections.abc import Generator, Mapping
from typing import Any

import msgspec

from .._signal import ErrorInfo, Level, Signal
from ..formats._safe import placeholder_signal, repair_signal, repr_checked, safe_value

__all__ = [
    "FIELD_NAME_MAX",
    "HUGE_ITEMS",
    "MAX_FIELDS",
    "PROTECTED",
    "PROTECTED_PREFIXES",
    "RESERVED",
    "HugeList",
    "JournalEncoder",
    "field_name",
    "format_traceback",
    "is_protected",
]

FIELD_NAME_MAX = 64
"""Longest journal field name."""
MAX_FIELDS = 1000
"""journald refuses whole entries with 1024 fields or more; the encoder writes at most this many."""

_LEN = struct.Struct("<Q")
#: A text at least this long is appended to the entry in parts rather than formatted first.
_LONG_TEXT = 4096
#: A list or tuple of more than this many items is written as JSON a piece at a time
#: (`JournalEncoder.resolve`), about this many bytes per piece.
HUGE_ITEMS = 512
_PIECE_BYTES = 64 * 1024
_MAX_DEPTH = 32
_NAME_CACHE_MAX = 4096
_FIELD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_JSON_ERRORS = (RecursionError, TypeError, ValueError, msgspec.EncodeError, OverflowError)
_PRIORITY = {lv.label: str(lv.syslog_severity).encode() for lv in Level}
_PRIORITY.update({"warning": b"4", "critical": b"2"})


def _segment(key: str) -> str:
    """One key, upper-cased, accents dropped, every other character that is not allowed as
    ``_``; empty when nothing of it can be written in ASCII."""
    if not key.isascii():
        key = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode("ascii")
    key = key.upper()
    return "".join(c if c in _FIELD_CHARS else "_" for c in key)


def _finish(raw: str, prefix: str) -> str:
    """A joined, sanitised path as a valid field name (``raw`` has a letter or digit)."""
    name = raw.lstrip("_")
    if name[0].isdigit():
        name = prefix + name
    if len(name) > FIELD_NAME_MAX:
        digest = f"{zlib.crc32(name.encode('ascii')):08X}"
        name = f"{name[: FIELD_NAME_MAX - 9]}_{digest}"
    return name


def field_name(key: str, *, prefix: str = "DATA_") -> str | None:
    """The journal field name for the key ``key``: upper case, ``[A-Z0-9_]``, not starting with
    ``_`` or a digit (``prefix`` goes in front of a digit), at most 64 characters; ``None`` when
    the key has no letter or digit to make a name of."""
    seg = _segment(key)
    if _ALNUM.isdisjoint(seg):
        return None
    return _finish(seg, prefix)


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return text.encode("utf-8", "backslashreplace")


def _put(out: bytearray, name: bytes, value: bytes) -> None:
    """Append one field: ``KEY=VALUE\\n``, or the binary form when the value has a newline or a
    NUL byte."""
    if b"\n" in value or b"\0" in value:
        _put_binary(out, name, value)
    else:
        out += name
        out += b"="
        _put_long(out, value)
        out += b"\n"


def _put_text(out: bytearray, name: bytes, text: str) -> None:
    """Append a text field, choosing the form by looking at the text itself."""
    if "\n" in text or "\0" in text:
        _put_binary(out, name, _utf8(text))
    elif len(text) < _LONG_TEXT:
        out += b"%s=%s\n" % (name, _utf8(text))
    else:  # no formatted copy of a long text: its bytes are joined into the entry once
        out += name
        out += b"="
        _put_long(out, _utf8(text))
        out += b"\n"


def _put_binary(out: bytearray, name: bytes, value: bytes) -> None:
    out += name
    out += b"\n"
    out += _LEN.pack(len(value))
    _put_long(out, value)
    out += b"\n"


def _put_long(out: bytearray, value: bytes) -> None:
    """Append a value: a long one to an `_Entry` is set aside, to be joined in at the end."""
    if len(value) >= _LONG_TEXT and type(out) is _Entry:
        out.aside.append((len(out), value))
    else:
        out += value


class HugeList:
    """A long list or tuple set aside in an entry, its JSON to be made a piece at a time
    (`JournalEncoder.resolve`)."""

    __slots__ = ("value",)

    def __init__(self, value: list[Any] | tuple[Any, ...]) -> None:
        self.value = value


class _Entry(bytearray):
    """An entry being built. Fields are appended, but a long value is set aside with the place
    it goes, and the entry is its `parts` in order: a 10 MB value appended would be copied
    by every growth of the buffer, and each fresh 10 MB costs the loop milliseconds in page
    faults alone."""

    __slots__ = ("aside",)

    def __init__(self) -> None:
        super().__init__()
        self.aside: list[tuple[int, bytes | HugeList]] = []

    def parts(self) -> list[bytes | HugeList]:
        """The entry's bytes in order, as parts to join: the values set aside are parts of
        their own, in their places."""
        if not self.aside:
            return [bytes(self)]
        parts: list[bytes | HugeList] = []
        done = 0
        for at, value in self.aside:
            parts.append(bytes(self[done:at]))
            parts.append(value)
            done = at
        parts.append(bytes(self[done:]))
        return parts


def _priority(level: str) -> bytes:
    """The syslog severity of a level given by number (a custom level): that of the nearest
    standard level at or below it; informational when it is not a number."""
    try:
        number = int(level)
    except ValueError:
        return b"6"
    below = [lv for lv in Level if lv <= number]
    return str((max(below) if below else Level.TRACE).syslog_severity).encode()


def format_traceback(err: ErrorInfo) -> str:
    """A Python-style traceback text for an [`ErrorInfo`][telemetry.ErrorInfo], causes first
    ([`ErrorInfo.traceback`][telemetry.ErrorInfo.traceback])."""
    return err.traceback()


RESERVED = frozenset(
    {
        "MESSAGE",
        "MESSAGE_ID",
        "PRIORITY",
        "SYSLOG_IDENTIFIER",
        "CODE_FILE",
        "CODE_LINE",
        "CODE_FUNC",
        "TID",
        "TELEMETRY_KIND",
        "TELEMETRY_LEVEL",
        "TELEMETRY_UID",
        "TELEMETRY_INST",
        "TELEMETRY_ID",
        "TELEMETRY_NS",
        "TELEMETRY_TRACE_ID",
        "TELEMETRY_SPAN_ID",
        "TELEMETRY_PARENT_ID",
        "TELEMETRY_DURATION_NS",
        "TELEMETRY_SAMPLE",
        "TELEMETRY_THREAD",
        "TELEMETRY_TASK",
        "TELEMETRY_ERROR_TYPE",
        "TELEMETRY_ERROR_MESSAGE",
        "TELEMETRY_ERROR_TRACEBACK",
    }
)
"""Every name the sink may write itself; data and context keys never take them."""


PROTECTED = frozenset(
    {
        "UNIT",
        "USER_UNIT",
        "INVOCATION_ID",
        "USER_INVOCATION_ID",
        "DOCUMENTATION",
    }
)
"""Fields journald's tools read as facts about an entry (``journalctl -u`` matches ``UNIT``,
``OBJECT_SYSTEMD_UNIT`` and ``COREDUMP_UNIT``; ``-o short`` shows ``SYSLOG_PID`` as the pid;
``OBJECT_*`` describe another process; coredump and syslog tooling trust their own): a data or
context key that would make one of them is written under ``DATA_`` / ``CTX_`` instead, unless the
sink's ``allow_fields`` names it."""
PROTECTED_PREFIXES = ("OBJECT_", "COREDUMP_", "SYSLOG_", "SYSTEMD_")
"""Prefixes of protected fields (see `PROTECTED`)."""


def is_protected(name: str) -> bool:
    """Whether journald's tools treat the field ``name`` as a fact about the entry."""
    return name in PROTECTED or name.startswith(PROTECTED_PREFIXES)


class JournalEncoder:
    """Turns a signal into one native-protocol journal entry (see the module docstring).

    One per sink: it owns a reused JSON encoder and a cache of field names. Never raises.
    Fields it must leave out are counted in ``counters``: ``invalid_fields`` (no name can be
    made of the key) and ``excess_fields`` (over `MAX_FIELDS`).
    """

    def __init__(
        self,
        *,
        identifier: str,
        message_ids: Mapping[str, str] | None = None,
        counters: Counter[str] | None = None,
        allow_fields: frozenset[str] = frozenset(),
    ) -> None:
        self.counters: Counter[str] = Counter() if counters is None else counters
        self.allow_fields = allow_fields
        self._identifier = bytearray()
        _put_text(self._identifier, b"SYSLOG_IDENTIFIER", identifier)
        self._message_ids = {
            sig_id: b"MESSAGE_ID=" + mid.encode("ascii") + b"\n"
            for sig_id, mid in (message_ids or {}).items()
        }
        self._json = msgspec.json.Encoder(enc_hook=self._hook)
        # Key -> sanitised segment ("" when it has no letter or digit); path -> field name.
        self._segments: dict[str, str] = {}
        self._names: dict[tuple[str, str], str] = {}

    def encode(self, sig: Signal) -> bytes:
        """The journal entry for ``sig``; a signal with a value that cannot be written (a key
        whose ``__str__`` raises, an int of thousands of digits) has it replaced, and is
        counted in ``counters["bad_values"]``."""
        return b"".join(self.encode_parts(sig))

    def encode_parts(self, sig: Signal) -> list[bytes]:
        """`encode` as parts to join: a long value is a part of its own, so that a large
        entry can be written out without being joined first."""
        parts = self.entry_parts(sig)
        if len(parts) == 1 or not any(type(part) is HugeList for part in parts):
            return parts  # type: ignore[return-value]
        pieces = self.resolve(parts)
        while True:
            try:
                next(pieces)
            except StopIteration as stop:
                done: list[bytes] = stop.value
                return done

    def entry_parts(self, sig: Signal) -> list[bytes | HugeList]:
        """`encode_parts`, but a list or tuple of more than `HUGE_ITEMS` items left as a
        `HugeList`, for `resolve` to write a piece at a time."""
        try:
            return self._entry(sig).parts()
        except Exception:
            pass
        self.counters["bad_values"] += 1
        try:
            return self._entry(repair_signal(sig)).parts()
        except Exception:
            return self._entry(placeholder_signal(sig)).parts()

    def resolve(self, parts: list[bytes | HugeList]) -> Generator[None, None, list[bytes]]:
        """The parts with each `HugeList` written as JSON, yielding between its pieces
        (about 64 KiB each), so that the sink can let the loop run in between: a list of a
        million ints took 10 to 20 ms in one go."""
        out: list[bytes] = []
        for part in parts:
            if type(part) is HugeList:
                out += yield from self._json_pieces(part.value)
            else:
                out.append(part)  # type: ignore[arg-type]
        return out

    def _json_pieces(
        self, value: list[Any] | tuple[Any, ...]
    ) -> Generator[None, None, list[bytes]]:
        """The JSON of a long list or tuple as parts, some items at a time: msgspec writes the
        items one after the other, so the parts join to the JSON in one go. A value msgspec
        refuses is written the usual way (repaired)."""
        encode = self._json.encode
        parts = [b"["]
        i, n = 0, 64
        try:
            while i < len(value):
                inside = encode(value[i : i + n])[1:-1]
                if i:
                    parts.append(b",")
                parts.append(inside)
                i += n
                # About 64 KiB of JSON per piece, however long an item is.
                n = max(1, min(4 * n, n * _PIECE_BYTES // max(1, len(inside))))
                yield
        except _JSON_ERRORS:
            return [self._to_json(value)]
        parts.append(b"]")
        return parts

    def _entry(self, sig: Signal) -> _Entry:
        out = _Entry()
        text = _put_text
        msg = sig.msg if sig.msg is not None else (sig.id if sig.id is not None else sig.kind)
        text(out, b"MESSAGE", msg)
        out += b"PRIORITY=%s\n" % (_PRIORITY.get(sig.level) or _priority(sig.level))
        out += self._identifier
        if sig.id is not None:
            mid = self._message_ids.get(sig.id)
            if mid is not None:
                out += mid
            text(out, b"TELEMETRY_ID", sig.id)
        loc = sig.location
        if loc is not None:
            text(out, b"CODE_FILE", loc.file)
            out += b"CODE_LINE=%d\n" % loc.line
            text(out, b"CODE_FUNC", loc.function)
        text(out, b"TELEMETRY_KIND", sig.kind)
        text(out, b"TELEMETRY_LEVEL", sig.level)
        text(out, b"TELEMETRY_UID", sig.uid)
        out += b"TELEMETRY_INST=%d\n" % sig.inst
        if sig.ns is not None:
            text(out, b"TELEMETRY_NS", sig.ns)
        if sig.trace_id is not None:
            text(out, b"TELEMETRY_TRACE_ID", sig.trace_id)
        if sig.span_id is not None:
            text(out, b"TELEMETRY_SPAN_ID", sig.span_id)
        if sig.parent_id is not None:
            text(out, b"TELEMETRY_PARENT_ID", sig.parent_id)
        if sig.duration_ns is not None:
            out += b"TELEMETRY_DURATION_NS=%d\n" % sig.duration_ns
        if sig.sample is not None:
            out += b"TELEMETRY_SAMPLE=%s\n" % self._json.encode(sig.sample)
        if sig.thread is not None:
            text(out, b"TELEMETRY_THREAD", sig.thread)
            if sig.thread.isascii() and sig.thread.isdigit():
                out += b"TID=%s\n" % sig.thread.encode("ascii")
        if sig.task is not None:
            text(out, b"TELEMETRY_TASK", sig.task)
        err = sig.error
        if err is not None:
            text(out, b"TELEMETRY_ERROR_TYPE", err.type)
            text(out, b"TELEMETRY_ERROR_MESSAGE", err.message)
            if err.frames or err.cause is not None:
                text(out, b"TELEMETRY_ERROR_TRACEBACK", format_traceback(err))
        if sig.data or sig.ctx:
            # The fixed part above has at most len(RESERVED) fields.
            state = _Fields(out, MAX_FIELDS - len(RESERVED))
            self._fields(state, "DATA_", "", sig.data, 0)
            self._fields(state, "CTX_", "", sig.ctx, 0)
        return out

    def _name(self, prefix: str, raw: str) -> str:
        """The field name of a sanitised path, cached."""
        names = self._names
        name = names.get((prefix, raw))
        if name is None:
            name = _finish(raw, prefix)
            if is_protected(name) and name not in self.allow_fields:
                name = _finish(prefix + name, prefix)
            if len(names) < _NAME_CACHE_MAX:
                names[(prefix, raw)] = name
        return name

    def _fields(
        self, st: _Fields, prefix: str, parent: str, mapping: Mapping[Any, Any], depth: int
    ) -> None:
        """Append the fields of a mapping's items until the entry is full; the items left
        are then counted, one excess field each, without being looked at: naming each of a
        dict of 100,000 keys would hold the event loop for a fifth of a second."""
        for done, (key, value) in enumerate(mapping.items()):
            if st.room <= 0:
                self.counters["excess_fields"] += len(mapping) - done
                return
            self._field(st, prefix, parent, key, value, depth)

    def _field(
        self, st: _Fields, prefix: str, parent: str, key: object, value: Any, depth: int
    ) -> None:
        """Append the field(s) of one data or context item, flattening mappings."""
        key = key if type(key) is str else str(key)
        seg = self._segments.get(key)
        if seg is None:
            seg = _segment(key)
            if _ALNUM.isdisjoint(seg):
                seg = ""
            if len(self._segments) < _NAME_CACHE_MAX:
                self._segments[key] = seg
        if not seg:
            self.counters["invalid_fields"] += 1
            return
        raw = f"{parent}_{seg}" if parent else seg
        kind = type(value)
        nested = kind is not str and kind is not int and isinstance(value, Mapping)
        if nested and value and depth < _MAX_DEPTH:  # an empty or too deep one is JSON
            self._fields(st, prefix, raw, value, depth + 1)
            return
        if st.room <= 0:
            self.counters["excess_fields"] += 1
            return
        st.room -= 1
        name = self._name(prefix, raw)
        used = st.used
        if name in used or name in RESERVED:
            name = _unused(name, used)
        used.add(name)
        bname = name.encode("ascii")
        out = st.out
        if kind is str:
            _put_text(out, bname, value)
        elif kind is int:
            out += b"%s=%d\n" % (bname, value)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            _put_binary(out, bname, bytes(value))
        elif (kind is list or kind is tuple) and len(value) > HUGE_ITEMS and type(out) is _Entry:
            # Its JSON is made a piece at a time by resolve (it has no newline, no NUL).
            out += bname
            out += b"="
            out.aside.append((len(out), HugeList(value)))
            out += b"\n"
        else:
            _put(out, bname, self._to_json(value))

    def _hook(self, obj: object) -> str:
        text, ok = repr_checked(obj)
        if not ok:
            self.counters["bad_values"] += 1
        return text

    def _to_json(self, value: Any) -> bytes:
        """``value`` as JSON; made safe first when msgspec refuses it, its repr as a last
        resort (an integer wider than 64 bits)."""
        try:
            return self._json.encode(value)
        except _JSON_ERRORS:
            pass
        self.counters["bad_values"] += 1
        try:
            return self._json.encode(safe_value(value))
        except _JSON_ERRORS:
            return _utf8(self._hook(value))


class _Fields:
    """Per-entry state while data and context are flattened."""

    __slots__ = ("out", "room", "used")

    def __init__(self, out: bytearray, room: int) -> None:
        self.out = out
        self.room = room
        self.used: set[str] = set()


def _unused(name: str, used: set[str]) -> str:
    """``name`` with the first free ``_2``, ``_3``, ... suffix, kept within 64 characters."""
    n = 2
    while True:
        suffix = f"_{n}"
        candidate = name[: FIELD_NAME_MAX - len(suffix)] + suffix
        if candidate not in used and candidate not in RESERVED:
            return candidate
        n += 1
