"""OTLP's binary encoding (``http/protobuf``): requests built record by record as bytes (see
``_otlp_wire``); ``opentelemetry-proto`` reads the responses, and fills the metrics' messages
(``set_value``, ``fill``).

Imported only by an [`OTLPSink`][telemetry.sinks.OTLPSink] that uses this encoding, so that the
core never needs ``opentelemetry-proto``.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2  # noqa: F401 - what the responses import

from .._signal import Signal
from ..formats._safe import safe_repr
from . import _otlp_huge as h
from . import _otlp_map as m
from . import _otlp_wire as w

__all__ = ["ProtoBatch", "ProtoLogs", "ProtoSpans", "WireCodec", "fill", "set_value"]

_MAX_DEPTH = 32
_INT64 = (-(2**63), 2**63)
_NO_LIMIT = 2**63
"""No bound on a request's records or bytes (`ProtoBatch.add`)."""


def set_value(av: common_pb2.AnyValue, v: Any, seen: frozenset[int] = frozenset()) -> None:
    """Fill ``av`` with ``v``: scalars as themselves, mappings as key/value lists, sequences and
    sets as arrays, ``None`` as an empty value, anything else as its ``repr``."""
    t = type(v)
    if t is str:
        av.string_value = v
    elif t is bool:
        av.bool_value = v
    elif t is int:
        if _INT64[0] <= v < _INT64[1]:
            av.int_value = v
        else:
            av.string_value = str(v)
    elif t is float:
        av.double_value = v
    elif v is None:
        av.SetInParent()  # an empty value, present (as OTLP/JSON's ``{}``)
    elif isinstance(v, (bytes, bytearray, memoryview)):
        av.bytes_value = bytes(v)
    elif isinstance(v, (Mapping, list, tuple, set, frozenset)):
        if len(seen) >= _MAX_DEPTH:
            av.string_value = "<too deep>"
        elif id(v) in seen:
            av.string_value = "<cycle>"
        else:
            inner = seen | {id(v)}
            if isinstance(v, Mapping):
                av.kvlist_value.SetInParent()  # an empty map is still a map, not "no value"
                kv = av.kvlist_value.values
                for key, x in v.items():
                    e = kv.add()
                    e.key = key if type(key) is str else safe_repr(key)
                    set_value(e.value, x, inner)
            else:
                av.array_value.SetInParent()
                arr = av.array_value.values
                for x in v:
                    set_value(arr.add(), x, inner)
    elif isinstance(v, str):
        av.string_value = str.__str__(v)
    elif isinstance(v, bool):
        av.bool_value = bool(v)
    elif isinstance(v, int):
        set_value(av, int(v))
    elif isinstance(v, float):
        av.double_value = float(v)
    else:
        av.string_value = safe_repr(v)


def fill(kvs: Any, attrs: Mapping[str, Any]) -> None:
    """Add ``attrs`` to the key/value list ``kvs``."""
    for key, v in attrs.items():
        e = kvs.add()
        e.key = key
        set_value(e.value, v)


class ProtoBatch:
    """One request being built: records as bytes (see ``_otlp_wire``), grouped by scope; the
    last one can be taken out again (when it would make the request too large)."""

    __slots__ = ("_encode", "_last", "_owner", "_scopes", "count", "size")

    def __init__(self, owner: _Proto) -> None:
        self._owner = owner
        self._encode = owner._record
        self._scopes: dict[str, list[bytes]] = {}
        self._last: str | None = None
        self.count = 0
        #: The request's size in bytes, near enough (a few bytes of framing over).
        self.size = owner.overhead

    def add(self, sig: Signal) -> int:
        """Add the record made from ``sig``; return its size (framed). Raises ``HugeRecord``
        for a record with a huge value."""
        if not self.fill((sig,), 0, 1, _NO_LIMIT, _NO_LIMIT):
            raise m.HugeRecord
        assert self._last is not None
        return len(self._scopes[self._last][-1])

    def fill(self, part: Sequence[Signal], i: int, stop: int, most: int, limit: int) -> int:
        """Add the records of ``part[i:stop]`` in order while the request keeps at most
        ``most`` records and ``limit`` bytes; the index of the first one not added (``stop``
        when all were): one that would not fit, or with a huge value (``HugeRecord``).

        One loop for a request's records, its state in locals (`add` runs it for one)."""
        scopes, encode = self._scopes, self._encode
        count, size, name = self.count, self.size, self._last
        records = None if name is None else scopes[name]
        try:
            while i < stop and count < most:
                sig = part[i]
                ns = sig.ns or m.DEFAULT_SCOPE
                rec = encode(sig)
                n = len(rec)
                # Framed as field 2 of the scope's list (w.framed), the usual sizes inline.
                if 0x80 <= n < 0x4000:
                    rec = bytes((0x12, (n & 0x7F) | 0x80, n >> 7)) + rec
                    n += 3
                else:
                    rec = w.framed(rec)
                    n = len(rec)
                if ns != name:
                    found = scopes.get(ns)
                    scope_size = 0 if found is not None else len(ns) + 16
                    if size + scope_size + n > limit:
                        break
                    if found is None:
                        found = scopes[ns] = []
                    size += scope_size
                    name, records = ns, found
                elif size + n > limit:
                    break
                records.append(rec)  # type: ignore[union-attr]
                count += 1
                size += n
                i += 1
        except m.HugeRecord:
            pass
        finally:
            self.count, self.size, self._last = count, size, name
        return i

    def put(self, name: str, pieces: list[bytes], size: int) -> None:
        """Make this empty request hold one record, framed, in pieces of ``size`` bytes in
        all (`_Proto.huge`): the pieces are sent as they are, never joined."""
        assert not self.count
        self._scopes[name] = pieces
        self.count = 1
        self.size += len(name) + 16 + size

    def pop(self) -> None:
        """Take the last record added out again."""
        assert self._last is not None
        name, self._last = self._last, None
        records = self._scopes[name]
        self.count -= 1
        self.size -= len(records.pop())
        if not records:
            # Senders should not send empty envelopes: the scope goes too.
            del self._scopes[name]
            self.size -= len(name) + 16

    def parts(self) -> list[bytes]:
        """The request, encoded, as parts to join or send one after the other."""
        owner = self._owner
        scopes = {owner.scope_message(name): recs for name, recs in self._scopes.items()}
        return w.envelope(owner.resource_message, scopes)

    def body(self) -> bytes:
        """The request, encoded."""
        return b"".join(self.parts())


class WireCodec:
    """How the protobuf encoding writes the pieces of a huge value (see ``_otlp_huge``)."""

    sep = b""
    text_max = 4

    @staticmethod
    def leaf(v: Any, seen: frozenset[int]) -> bytes:
        """``v`` as an ``AnyValue`` in one go."""
        return w.value(v, seen)

    @staticmethod
    def text(s: str) -> bytes:
        """A piece of a string (a lone surrogate as a replacement character, as in one go)."""
        return s.encode("utf-8", "replace")

    @staticmethod
    def raw(b: bytes | memoryview) -> bytes:
        """A piece of ``bytes``."""
        return bytes(b)

    @staticmethod
    def raw_size(n: int) -> int:
        """Bytes are written as they are."""
        return n

    @staticmethod
    def raw_fit(room: int) -> int:
        """As many bytes as there is room for."""
        return room

    @staticmethod
    def _framed(tag: bytes, inside: h.Encoded) -> h.Encoded:
        parts, size = inside
        head = tag + w.varint(size)
        return [head, *parts], len(head) + size

    def string(self, inside: h.Encoded) -> h.Encoded:
        """``string_value``."""
        return self._framed(b"\x0a", inside)

    def binary(self, inside: h.Encoded) -> h.Encoded:
        """``bytes_value``."""
        return self._framed(b"\x3a", inside)

    def array(self, items: h.Encoded) -> h.Encoded:
        """``array_value``: its items are ``values`` fields already."""
        return self._framed(b"\x2a", items)

    def kvlist(self, entries: h.Encoded) -> h.Encoded:
        """``kvlist_value``: its entries are ``values`` fields already."""
        return self._framed(b"\x32", entries)

    def item(self, value: h.Encoded) -> h.Encoded:
        """An ``ArrayValue.values`` field."""
        return self._framed(b"\x0a", value)

    def entry(self, key: str, value: h.Encoded) -> h.Encoded:
        """A ``KeyValueList.values`` field: a ``KeyValue``."""
        return self._framed(b"\x0a", _key_value(key, value))


def _key_value(key: str, value: h.Encoded) -> h.Encoded:
    """A ``KeyValue`` message around an encoded value."""
    k = key.encode("utf-8", "replace")
    parts, size = value
    head = b"\x0a" + w.varint(len(k)) + k + b"\x12" + w.varint(size)
    return [head, *parts], len(head) + size


_CODEC = WireCodec()


class _Proto:
    content_type = "application/x-protobuf"
    #: Spans (else log records), and the tag of their attributes field.
    _span = False
    _attributes_tag = b"\x32"

    def __init__(self, resource: Mapping[str, Any], sdk_version: str) -> None:
        #: The ``Resource`` message every request carries.
        self.resource_message = w.resource(resource)
        self._sdk_version = sdk_version
        self._scopes: dict[str, bytes] = {}
        #: Bytes of the envelope around the records (resource, one scope), to bound requests.
        self.overhead = len(self.resource_message) + 64

    def batch(self) -> ProtoBatch:
        """A new, empty request."""
        return ProtoBatch(self)

    def scope_message(self, name: str) -> bytes:
        """The ``InstrumentationScope`` message of the scope ``name`` (kept for the next)."""
        msg = self._scopes.get(name)
        if msg is None:
            if len(self._scopes) >= 1024:
                self._scopes.clear()
            version = self._sdk_version if name == m.DEFAULT_SCOPE else ""
            msg = self._scopes[name] = w.scope(name, version)
        return msg

    def _record(self, sig: Signal) -> bytes:
        raise NotImplementedError

    def huge(self, sig: Signal, room: int) -> Generator[None, None, h.Made | None]:
        """The record of ``sig``, framed, in at most ``room`` bytes, its big values written
        a piece at a time (yielding in between) and cut to fit: its pieces, their size, and
        the count of values cut. ``None`` if the rest of the record does not fit (see
        ``_otlp_huge``)."""
        split = h.split(sig, span=self._span, tokens=False)
        try:
            rest = self._record(split.rest)
        except m.HugeRecord:  # under a key that is not an attribute (a span's events)
            return None
        # Each big value gets at least the room for its mark (and its key).
        values: list[tuple[str | None, Any]] = list(split.big)
        if split.body is not None:
            values.append((None, split.body))
        reserve = sum(h.MARK_ROOM + 3 * len(key or "") for key, _ in values)
        room -= 8  # the record's own framing
        if len(rest) + reserve > room:
            return None
        parts, size, cuts = [rest], len(rest), split.cuts
        for key, v in values:
            reserve -= h.MARK_ROOM + 3 * len(key or "")
            budget = room - size - reserve - 3 * len(key or "") - 24
            value_parts, value_size, cut = yield from h.encode(_CODEC, v, budget)
            cuts += cut
            if key is None:  # a log record's body
                field = WireCodec._framed(b"\x2a", (value_parts, value_size))
            else:  # appended to the record's attributes (a repeated field may come in parts)
                field = WireCodec._framed(
                    self._attributes_tag, _key_value(key, (value_parts, value_size))
                )
            parts += field[0]
            size += field[1]
        head = b"\x12" + w.varint(size)
        return [head, *parts], len(head) + size, cuts


class ProtoLogs(_Proto):
    """Log records as ``ExportLogsServiceRequest`` messages."""

    _record = staticmethod(w.log_record)

    def rejected(self, body: bytes) -> tuple[int, str]:
        """The partial success in a response: records rejected, and the receiver's message.
        Raises ``ValueError`` when the body is not a response."""
        try:
            resp = logs_service_pb2.ExportLogsServiceResponse.FromString(body)
        except DecodeError as exc:
            raise ValueError(str(exc)) from None
        ps = resp.partial_success
        return ps.rejected_log_records, ps.error_message


class ProtoSpans(_Proto):
    """Spans as ``ExportTraceServiceRequest`` messages."""

    _record = staticmethod(w.span)
    _span = True
    _attributes_tag = b"\x4a"

    def rejected(self, body: bytes) -> tuple[int, str]:
        """The partial success in a response: spans rejected, and the receiver's message.
        Raises ``ValueError`` when the body is not a response."""
        try:
            resp = trace_service_pb2.ExportTraceServiceResponse.FromString(body)
        except DecodeError as exc:
            raise ValueError(str(exc)) from None
        ps = resp.partial_success
        return ps.rejected_spans, ps.error_message
