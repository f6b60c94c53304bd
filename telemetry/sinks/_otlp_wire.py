"""OTLP's protobuf wire format, written directly for the few messages the sink sends: log
records, spans (with events, links and status), their attributes and the request envelope.

Filling ``opentelemetry-proto``'s message classes field by field cost about 12 µs per span,
most of it crossing into the protobuf runtime once per field; writing the bytes here costs a
fraction of that, and a record's size is known exactly as it is made. The tests decode what
this writes with ``opentelemetry-proto`` and compare it with the JSON encoding's message.

Field numbers are those of ``opentelemetry/proto/{common,resource,trace,logs}/v1``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from .._signal import Signal
from ..formats._safe import safe_repr
from . import _otlp_map as m

__all__ = ["attributes", "envelope", "framed", "log_record", "span", "value", "varint"]

_MAX_DEPTH = 32
_NOT_SEEN: frozenset[int] = frozenset()
_HUGE_TEXT = m.HUGE_TEXT
_INT64_MIN, _INT64_END = -(2**63), 2**63
_MASK64 = 2**64 - 1
_double = struct.Struct("<d").pack
_fixed64 = struct.Struct("<Q").pack
#: A span's start and end times (fields 7 and 8, fixed64) and its flags (field 16, fixed32,
#: always 1: sampled), in one call.
_times_and_flags = struct.Struct("<BQBQHI").pack
_fromhex = bytes.fromhex
_ONE_BYTE = [bytes((i,)) for i in range(128)]
#: Encoded attribute fields (a key with a string of up to `_CACHED_STR` characters or an
#: integer) seen lately: most repeat from record to record (see `_Fields`).
_CACHE_MAX = 4096
_CACHED_STR = 128
#: Span names (field 5, tag and length included) seen lately.
_span_names: dict[str, bytes] = {}
#: A span's data keys that are not attributes (see ``_otlp_map``).
_RESERVED = frozenset(
    (m.SPAN_KIND_KEY, m.STATUS_CODE_KEY, m.STATUS_DESCRIPTION_KEY, m.EVENTS_KEY, m.LINKS_KEY)
)
#: A span's kind field by the name ``span.kind`` holds (internal for any other).
_KIND_FIELDS = {name: b"\x30" + bytes((number,)) for name, number in m.SPAN_KINDS.items()}
_INTERNAL = _KIND_FIELDS["internal"]
_EVENTS_KEY, _LINKS_KEY, _STATUS_CODE_KEY = m.EVENTS_KEY, m.LINKS_KEY, m.STATUS_CODE_KEY


def varint(n: int) -> bytes:
    """``n`` (``0 <= n < 2**64``) as a base-128 varint."""
    if n < 0x80:
        return _ONE_BYTE[n]
    if n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _utf8(s: str) -> bytes:
    # A lone surrogate cannot be UTF-8: it costs only itself (a replacement character).
    return s.encode("utf-8", "replace")


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag, the payload's length, the payload."""
    return tag + varint(len(payload)) + payload


def value(v: Any, seen: frozenset[int] = frozenset(), walked: list[int] | None = None) -> bytes:
    """The ``AnyValue`` message of ``v``: scalars as themselves, mappings as key/value lists,
    sequences and sets as arrays, ``None`` as an empty value, anything else as its ``repr``.

    Raises ``HugeRecord`` for a string or ``bytes`` over ``HUGE_TEXT``, or containers of
    more than ``ITEMS_IN_ONE_GO`` items in all (counted in ``walked``, shared by the values of
    one record)."""
    t = type(v)
    if t is str:
        if len(v) > _HUGE_TEXT:
            raise m.HugeRecord
        b = _utf8(v)
        return b"\x0a" + varint(len(b)) + b
    if t is bool:
        return b"\x10\x01" if v else b"\x10\x00"
    if t is int:
        if _INT64_MIN <= v < _INT64_END:
            return b"\x18" + varint(v & _MASK64)
        return value(str(v))
    if t is float:
        return b"\x21" + _double(v)
    if v is None:
        return b""
    return _other(v, seen, walked)


def _other(v: Any, seen: frozenset[int], walked: list[int] | None) -> bytes:
    if isinstance(v, (bytes, bytearray, memoryview)):
        if len(v) > _HUGE_TEXT:
            raise m.HugeRecord
        return _field(b"\x3a", bytes(v))
    if isinstance(v, (Mapping, list, tuple, set, frozenset)):
        if len(seen) >= _MAX_DEPTH:
            return value("<too deep>")
        if id(v) in seen:
            return value("<cycle>")
        # Counted before the items are walked: the work done in vain is bounded.
        if walked is None:
            walked = [0]
        walked[0] += len(v)
        if walked[0] > m.ITEMS_IN_ONE_GO:
            raise m.HugeRecord
        inner = seen | {id(v)}
        if isinstance(v, Mapping):
            kvs = b"".join(
                _field(b"\x0a", _kv(key if type(key) is str else safe_repr(key), x, inner, walked))
                for key, x in v.items()
            )
            return _field(b"\x32", kvs)  # an empty map is still a map, not "no value"
        return _field(b"\x2a", b"".join(_field(b"\x0a", value(x, inner, walked)) for x in v))
    if isinstance(v, str):
        return value(str.__str__(v))
    if isinstance(v, bool):
        return value(bool(v))
    if isinstance(v, int):
        return value(int(v))
    if isinstance(v, float):
        return value(float(v))
    return value(safe_repr(v))


def _kv(
    key: str, v: Any, seen: frozenset[int] = frozenset(), walked: list[int] | None = None
) -> bytes:
    """A ``KeyValue`` message (its value always present, empty for ``None``)."""
    k = _utf8(key)
    return b"\x0a" + varint(len(k)) + k + _field(b"\x12", value(v, seen, walked))


class _Fields:
    """The encoded fields of one kind of attribute list (its tag): each a key with a short
    string or an integer value, tag and length included, by key and then by value, made
    again only for values not seen lately; a key in ``skip`` makes no field.

    Two levels, not one dict keyed by ``(key, value)`` pairs: a dict of strings or integers
    to bytes is never tracked by the garbage collector, while each pair would be a tuple it
    tracks, alive until the cache is cleared. Every new value (a request id, a record's uid)
    then added a tracked object, which made young collections frequent, each promoting what
    the app's requests in flight held to the old generation, and full collections followed.
    Only ``str`` and ``int`` values are looked up (``True == 1`` and ``1.0 == 1`` would find
    an int's field). Cleared when it holds `_CACHE_MAX` values."""

    __slots__ = ("by_key", "held", "skip", "tag")

    def __init__(self, tag: bytes, skip: frozenset[str] = frozenset()) -> None:
        self.tag = tag
        self.skip = skip
        self.by_key: dict[str, dict[str | int, bytes]] = {}
        self.held = 0

    def encode(self, attrs: Mapping[str, Any]) -> bytes:
        """``attrs`` as repeated fields."""
        by_key = self.by_key
        out = []
        walked = [0]  # container items met in these attributes (see `value`)
        for key, v in attrs.items():
            t = type(v)
            if t is str or t is int:
                values = by_key.get(key)
                if values is not None:
                    hit = values.get(v)
                    if hit is not None:
                        out.append(hit)
                        continue
            out.append(self._made(key, v, t, walked))
        return b"".join(out)

    def _made(self, key: str, v: Any, t: type, walked: list[int]) -> bytes:
        if key in self.skip:
            field = b""
        else:
            kv = _kv(key, v, _NOT_SEEN, walked)
            field = self.tag + varint(len(kv)) + kv
        if ((t is str and len(v) <= _CACHED_STR) or t is int) and type(key) is str:
            if self.held >= _CACHE_MAX:
                self.by_key.clear()
                self.held = 0
            values = self.by_key.get(key)
            if values is None:
                values = self.by_key[key] = {}
            values[v] = field
            self.held += 1
        return field


#: A span's attributes (field 9) from its data, where a reserved key makes nothing.
_SPAN_DATA = _Fields(b"\x4a", _RESERVED)
#: Other attribute lists, by their field's tag.
_by_tag: dict[bytes, _Fields] = {}


def attributes(tag: bytes, attrs: Mapping[str, Any]) -> bytes:
    """``attrs`` as the repeated ``KeyValue`` field whose tag is ``tag``."""
    fields = _by_tag.get(tag)
    if fields is None:
        fields = _by_tag[tag] = _Fields(tag)
    return fields.encode(attrs)


def log_record(sig: Signal) -> bytes:
    """The ``LogRecord`` message of ``sig``."""
    t = _fixed64(sig.inst)
    parts = [b"\x09", t, b"\x59", t]  # time_unix_nano, observed_time_unix_nano
    number, text = m.severity(sig)
    if number:
        parts.append(b"\x10" + varint(number))
    parts.append(_field(b"\x1a", _utf8(text)))
    if sig.msg is not None:
        parts.append(_field(b"\x2a", value(sig.msg)))
    parts.append(attributes(b"\x32", m.attributes(sig, span=False)))
    trace_id, span_id = m.id_bytes(sig.trace_id, 16), m.id_bytes(sig.span_id, 8)
    if trace_id and span_id:
        parts.append(b"\x45\x01\x00\x00\x00\x4a\x10" + trace_id + b"\x52\x08" + span_id)
    if sig.id is not None:
        parts.append(_field(b"\x62", _utf8(sig.id)))
    return b"".join(parts)


def _span_attributes(sig: Signal) -> bytes:
    """``m.attributes(sig, span=True)`` as field 9, without a merged dict in between unless
    the context and the data share a key (the data's value wins, in the context's place)."""
    ctx, data = sig.ctx, sig.data
    if ctx and data and not data.keys().isdisjoint(ctx):
        return attributes(b"\x4a", m.attributes(sig, span=True))
    out = attributes(b"\x4a", ctx) if ctx else b""
    if data:
        out += _SPAN_DATA.encode(data)
    if sig.location is not None or sig.thread is not None:
        out += attributes(b"\x4a", m.source_attributes(sig))
    return out


def _ids(trace_id: str | None, span_id: str | None, parent_id: str | None) -> bytes:
    """A span's ``trace_id``, ``span_id`` and ``parent_span_id`` fields: each left out when it
    is not hex of its size (a middleware's doing)."""
    out = b""
    raw = m.id_bytes(trace_id, 16)
    if raw:
        out += b"\x0a\x10" + raw
    raw = m.id_bytes(span_id, 8)
    if raw:
        out += b"\x12\x08" + raw
    raw = m.id_bytes(parent_id, 8)
    if raw:
        out += b"\x22\x08" + raw
    return out


def span(sig: Signal) -> bytes:
    """The ``Span`` message of ``sig`` (sampled: every span that ends in a signal was
    recorded)."""
    # Written for the usual span in one function (a Python call costs as much as a few
    # fields): ids in hex of their sizes, a name seen before, attributes in the data only.
    try:
        trace_id = _fromhex(sig.trace_id)  # type: ignore[arg-type]
        span_id = _fromhex(sig.span_id)  # type: ignore[arg-type]
        parent = sig.parent_id
        parent_id = b"" if parent is None else _fromhex(parent)
    except (TypeError, ValueError):
        trace_id = span_id = parent_id = b""
        parent = None
    # The strings' lengths too: bytes.fromhex skips whitespace (see m.id_bytes).
    if (
        len(trace_id) == 16
        and len(span_id) == 8
        and (parent is None or len(parent_id) == 8)
        and len(sig.trace_id) == 32  # type: ignore[arg-type]
        and len(sig.span_id) == 16  # type: ignore[arg-type]
        and (parent is None or len(parent) == 16)
    ):
        ids = b"".join(
            (
                b"\x0a\x10",
                trace_id,
                b"\x12\x08",
                span_id,
                b"\x22\x08" if parent_id else b"",
                parent_id,
            )
        )
    else:
        ids = _ids(sig.trace_id, sig.span_id, sig.parent_id)
    text = sig.id or sig.msg or "span"  # m.span_name
    if len(text) > _HUGE_TEXT:
        raise m.HugeRecord
    name = _span_names.get(text)
    if name is None:
        name = _span_name(text)
    data = sig.data
    if data:
        kind = data.get(m.SPAN_KIND_KEY)
        kind_field = _KIND_FIELDS.get(kind, _INTERNAL) if isinstance(kind, str) else _INTERNAL
        if sig.ctx or sig.location is not None or sig.thread is not None:
            attrs = _span_attributes(sig)
        else:
            attrs = _SPAN_DATA.encode(data)
    else:
        kind_field = _INTERNAL
        attrs = (
            _span_attributes(sig)
            if sig.ctx or sig.location is not None or sig.thread is not None
            else b""
        )
    inst = sig.inst
    record = b"".join(
        (
            ids,
            name,
            kind_field,
            # start_time_unix_nano, end_time_unix_nano (m.span_end), flags = 1 (field 16)
            _times_and_flags(0x39, inst, 0x41, inst + (sig.duration_ns or 0), 0x0185, 1),
            attrs,
        )
    )
    if sig.error is not None or (
        data and (_EVENTS_KEY in data or _LINKS_KEY in data or _STATUS_CODE_KEY in data)
    ):
        record += _span_tail(sig)
    return record


def _span_name(text: str) -> bytes:
    """Field 5, a span's name (kept for the next span of that name)."""
    name = _utf8(text)
    field = b"\x2a" + varint(len(name)) + name
    if len(text) <= _CACHED_STR:
        if len(_span_names) >= _CACHE_MAX:
            _span_names.clear()
        _span_names[text] = field
    return field


def _span_tail(sig: Signal) -> bytes:
    """A span's events, links and status (fields 11, 13 and 15)."""
    data = sig.data
    parts = []
    if sig.error is not None or (data and m.EVENTS_KEY in data):
        for ev_name, time, attrs in m.span_events(sig):
            ev = b"\x09" + _fixed64(time) + _field(b"\x12", _utf8(ev_name))
            parts.append(_field(b"\x5a", ev + attributes(b"\x1a", attrs)))
    if data and m.LINKS_KEY in data:
        for trace_id, span_id, attrs in m.span_links(sig):
            link = m.id_bytes(trace_id, 16), m.id_bytes(span_id, 8)
            body = (_field(b"\x0a", link[0]) if link[0] else b"") + (
                _field(b"\x12", link[1]) if link[1] else b""
            )
            parts.append(_field(b"\x6a", body + attributes(b"\x22", attrs)))
    if sig.error is not None or (data and m.STATUS_CODE_KEY in data):
        code, message = m.span_status(sig)
        if code != m.STATUS_UNSET:
            status = (_field(b"\x12", _utf8(message)) if message else b"") + b"\x18" + varint(code)
            parts.append(_field(b"\x7a", status))
    return b"".join(parts)


def scope(name: str, version: str) -> bytes:
    """An ``InstrumentationScope`` message."""
    return _field(b"\x0a", _utf8(name)) + (_field(b"\x12", _utf8(version)) if version else b"")


def resource(attrs: Mapping[str, Any]) -> bytes:
    """A ``Resource`` message."""
    return b"".join(_field(b"\x0a", _kv(k, v)) for k, v in attrs.items())


def envelope(resource_msg: bytes, scopes: Mapping[bytes, list[bytes]]) -> list[bytes]:
    """An ``Export{Logs,Trace}ServiceRequest`` (their fields are numbered alike) as parts to
    join or send one after the other: one resource, and per scope message its records, each
    already framed as field 2 of the scope's list (or one record's pieces).

    The lengths are added up, not the bytes joined: a request of a few MiB is copied once at
    most, not once per level of nesting."""
    res = _field(b"\x0a", resource_msg)
    parts = [b"", res]
    total = len(res)
    for scope_msg, records in scopes.items():
        scope_field = _field(b"\x0a", scope_msg)
        size = len(scope_field) + sum(map(len, records))
        head = b"\x12" + varint(size)
        parts.append(head)
        parts.append(scope_field)
        parts += records
        total += len(head) + size
    parts[0] = b"\x0a" + varint(total)
    return parts


def framed(record: bytes) -> bytes:
    """A record as field 2 of its scope's list (``log_records``, ``spans``)."""
    return b"\x12" + varint(len(record)) + record
