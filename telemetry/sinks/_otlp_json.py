"""OTLP's JSON encoding (``http/json``), encoded with msgspec.

The OTLP/JSON rules differ from the generic protobuf JSON mapping: trace and span ids are hex
strings (not base64), enums are integers, keys are lowerCamelCase; 64-bit integers are decimal
strings (receivers accept both), bytes are base64. Each record is encoded on its own, so that
its size is known exactly, and the envelope is put together around the encoded records.
"""

from __future__ import annotations

import base64
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import msgspec

from .._signal import Signal
from ..formats._safe import safe_repr, safe_text
from . import _otlp_huge as h
from . import _otlp_map as m

__all__ = ["JsonBatch", "JsonCodec", "JsonLogs", "JsonSpans", "json_value"]

_MAX_DEPTH = 32
_NOT_SEEN: frozenset[int] = frozenset()
_HUGE_TEXT = m.HUGE_TEXT
_INT64 = (-(2**63), 2**63)


def _encode(enc: msgspec.json.Encoder, obj: Any) -> bytes:
    """``enc.encode(obj)``; where a string in it is not valid Unicode (a lone surrogate in a
    message, a name, a key or a value), the record is written with such strings as `safe_text`
    writes them, instead of failing, and with it the batch (protobuf writes ``?`` there)."""
    try:
        return enc.encode(obj)
    except UnicodeEncodeError:
        return enc.encode(_repaired(obj))


def _repaired(v: Any) -> Any:
    t = type(v)
    if t is str:
        return safe_text(v)
    if t is dict:
        return {safe_text(k) if type(k) is str else k: _repaired(x) for k, x in v.items()}
    if t is list:
        return [_repaired(x) for x in v]
    return v


def json_value(
    v: Any, seen: frozenset[int] = frozenset(), walked: list[int] | None = None
) -> dict[str, Any]:
    """``v`` as an OTLP/JSON ``AnyValue``; ``HugeRecord`` for a string or ``bytes`` over
    ``HUGE_TEXT``, or containers of more than ``ITEMS_IN_ONE_GO`` items in all (counted in
    ``walked``, shared by the values of one record)."""
    t = type(v)
    if t is str:
        if len(v) > _HUGE_TEXT:
            raise m.HugeRecord
        return {"stringValue": v}
    if t is bool:
        return {"boolValue": v}
    if t is int:
        return {"intValue": str(v)} if _INT64[0] <= v < _INT64[1] else {"stringValue": str(v)}
    if t is float:
        if v != v or v in (float("inf"), float("-inf")):
            # JSON has no NaN or infinity; the proto3 JSON mapping spells them as strings.
            return {"doubleValue": "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")}
        return {"doubleValue": v}
    if v is None:
        return {}
    if isinstance(v, (bytes, bytearray, memoryview)):
        if len(v) > _HUGE_TEXT:
            raise m.HugeRecord
        return {"bytesValue": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, (Mapping, list, tuple, set, frozenset)):
        return _container(v, seen, walked)
    if isinstance(v, str):
        return json_value(str.__str__(v))
    if isinstance(v, bool):
        return {"boolValue": bool(v)}
    if isinstance(v, int):
        return json_value(int(v))
    if isinstance(v, float):
        return json_value(float(v))
    return {"stringValue": safe_repr(v)}


def _container(v: Any, seen: frozenset[int], walked: list[int] | None) -> dict[str, Any]:
    if len(seen) >= _MAX_DEPTH:
        return {"stringValue": "<too deep>"}
    if id(v) in seen:
        return {"stringValue": "<cycle>"}
    # Counted before the items are walked: the work done in vain is bounded.
    if walked is None:
        walked = [0]
    walked[0] += len(v)
    if walked[0] > m.ITEMS_IN_ONE_GO:
        raise m.HugeRecord
    inner = seen | {id(v)}
    if isinstance(v, Mapping):
        return {
            "kvlistValue": {
                "values": [
                    {
                        "key": k if type(k) is str else safe_repr(k),
                        "value": json_value(x, inner, walked),
                    }
                    for k, x in v.items()
                ]
            }
        }
    return {"arrayValue": {"values": [json_value(x, inner, walked) for x in v]}}


def _attrs(attrs: Mapping[str, Any]) -> list[dict[str, Any]]:
    walked = [0]  # container items met in these attributes (see `json_value`)
    return [{"key": k, "value": json_value(v, _NOT_SEEN, walked)} for k, v in attrs.items()]


class JsonBatch:
    """One request being built: each record encoded on its own, grouped by scope; the last
    one can be taken out again."""

    __slots__ = ("_last", "_owner", "_pieces", "_scopes", "count", "size")

    def __init__(self, owner: _Json) -> None:
        self._owner = owner
        #: The request holds one record in pieces (`put`), not records.
        self._pieces = False
        self._scopes: dict[str, list[bytes]] = {}
        self._last: tuple[str, int] | None = None
        self.count = 0
        #: The request's size in bytes, near enough (a few bytes of framing over).
        self.size = owner.overhead

    def add(self, sig: Signal) -> int:
        """Add the record made from ``sig``; return its size."""
        name = sig.ns or m.DEFAULT_SCOPE
        records = self._scopes.get(name)
        if records is None:
            records = self._scopes[name] = []
            self.size += len(name) + 40
        data, n = self._owner.record(sig)
        records.append(data)
        self._last = (name, n)
        self.count += 1
        self.size += n
        return n

    def fill(self, part: Sequence[Signal], i: int, stop: int, most: int, limit: int) -> int:
        """Add the records of ``part[i:stop]`` in order while the request keeps at most
        ``most`` records and ``limit`` bytes; the index of the first one not added (see
        ``ProtoBatch.fill``)."""
        while i < stop and self.count < most:
            try:
                self.add(part[i])
            except m.HugeRecord:
                break
            if self.size > limit:
                self.pop()
                break
            i += 1
        return i

    def put(self, name: str, pieces: list[bytes], size: int) -> None:
        """Make this empty request hold one record in pieces of ``size`` bytes in all
        (`_Json.huge`): the pieces are sent as they are, never joined."""
        assert not self.count
        self._scopes[name] = pieces
        self._pieces = True
        self.count = 1
        self.size += len(name) + 40 + size

    def pop(self) -> None:
        """Take the last record added out again."""
        assert self._last is not None
        name, n = self._last
        self._last = None
        records = self._scopes[name]
        records.pop()
        self.count -= 1
        self.size -= n
        if not records:
            del self._scopes[name]
            self.size -= len(name) + 40

    def parts(self) -> list[bytes]:
        """The request, encoded, as parts to join or send one after the other."""
        return self._owner.envelope(self._scopes, pieces=self._pieces)

    def body(self) -> bytes:
        """The request, encoded."""
        return b"".join(self.parts())


class JsonCodec:
    """How OTLP/JSON writes the pieces of a huge value (see ``_otlp_huge``)."""

    sep = b","
    #: ``\\u0001`` for a control; ``\\\\udcff`` for a lone surrogate (`safe_text`).
    text_max = 7

    def __init__(self, enc: msgspec.json.Encoder) -> None:
        self._enc = enc

    def leaf(self, v: Any, seen: frozenset[int]) -> bytes:
        """``v`` as an ``AnyValue`` in one go."""
        return self._enc.encode(json_value(v, seen))

    def text(self, s: str) -> bytes:
        """A piece of a string, escaped, without its quotes."""
        try:
            return self._enc.encode(s)[1:-1]
        except UnicodeEncodeError:  # a lone surrogate: as a visible escape
            return self._enc.encode(safe_text(s))[1:-1]

    @staticmethod
    def raw(b: bytes | memoryview) -> bytes:
        """A piece of ``bytes`` in base64."""
        return base64.b64encode(b)

    @staticmethod
    def raw_size(n: int) -> int:
        """Base64 writes 4 characters per 3 bytes."""
        return 4 * ((n + 2) // 3)

    @staticmethod
    def raw_fit(room: int) -> int:
        """Whole groups of 3 bytes, so that the next piece joins up."""
        return room // 4 * 3

    @staticmethod
    def _around(head: bytes, inside: h.Encoded, tail: bytes) -> h.Encoded:
        parts, size = inside
        return [head, *parts, tail], len(head) + size + len(tail)

    def string(self, inside: h.Encoded) -> h.Encoded:
        """``stringValue``."""
        return self._around(b'{"stringValue":"', inside, b'"}')

    def binary(self, inside: h.Encoded) -> h.Encoded:
        """``bytesValue``."""
        return self._around(b'{"bytesValue":"', inside, b'"}')

    def array(self, items: h.Encoded) -> h.Encoded:
        """``arrayValue``."""
        return self._around(b'{"arrayValue":{"values":[', items, b"]}}")

    def kvlist(self, entries: h.Encoded) -> h.Encoded:
        """``kvlistValue``."""
        return self._around(b'{"kvlistValue":{"values":[', entries, b"]}}")

    @staticmethod
    def item(value: h.Encoded) -> h.Encoded:
        """An array's item is the value itself."""
        return value

    def entry(self, key: str, value: h.Encoded) -> h.Encoded:
        """``{"key": ..., "value": ...}``."""
        return self._around(b'{"key":' + self.text_of(key) + b',"value":', value, b"}")

    def text_of(self, s: str) -> bytes:
        """A whole string in JSON, quotes included."""
        return b'"' + self.text(s) + b'"'


class _Json:
    content_type = "application/json"
    #: Spans (else log records).
    _span = False
    #: The envelope's keys: resource list, scope list, records list.
    _keys: tuple[bytes, bytes, bytes]

    def __init__(self, resource: Mapping[str, Any], sdk_version: str) -> None:
        self._enc = msgspec.json.Encoder()
        self._codec = JsonCodec(self._enc)
        self._resource = self._enc.encode({"attributes": _attrs(resource)})
        self._sdk_version = sdk_version
        self.overhead = len(self._resource) + 64

    def batch(self) -> JsonBatch:
        """A new, empty request."""
        return JsonBatch(self)

    def record(self, sig: Signal) -> tuple[bytes, int]:
        raise NotImplementedError

    def huge(self, sig: Signal, room: int) -> Generator[None, None, h.Made | None]:
        """The record of ``sig`` in at most ``room`` bytes, its big values written a piece
        at a time (yielding in between) in the places of their tokens and cut to fit: its
        pieces, their size, and the count of values cut. ``None`` if the rest of the record
        does not fit (see ``_otlp_huge``)."""
        split = h.split(sig, span=self._span, tokens=True)
        try:
            rest, _ = self.record(split.rest)
        except m.HugeRecord:  # under a key that is not an attribute (a span's events)
            return None
        values = [v for _, v in split.big]
        if split.body is not None:
            values.append(split.body)
        spots = []
        for i, v in enumerate(values):
            token = b'{"stringValue":"' + split.token(i).encode() + b'"}'
            at = rest.find(token)
            if at < 0 or rest.find(token, at + 1) >= 0:
                return None  # cannot happen: a token is 64 random bits
            spots.append((at, at + len(token), v))
        spots.sort(key=lambda spot: spot[0])
        room -= 1  # the comma between records
        size = len(rest) - sum(end - start for start, end, _ in spots)
        reserve = h.MARK_ROOM * len(spots)  # each big value gets at least its mark
        if size + reserve > room:
            return None
        parts: list[bytes] = []
        done, cuts = 0, split.cuts
        for start, end, v in spots:
            parts.append(rest[done:start])
            reserve -= h.MARK_ROOM
            value_parts, value_size, cut = yield from h.encode(
                self._codec, v, room - size - reserve
            )
            parts += value_parts
            size += value_size
            cuts += cut
            done = end
        parts.append(rest[done:])
        return parts, size, cuts

    def _scope(self, name: str) -> bytes:
        scope = {"name": name}
        if name == m.DEFAULT_SCOPE:
            scope["version"] = self._sdk_version
        return self._enc.encode(scope)

    def envelope(self, scopes: Mapping[str, list[bytes]], *, pieces: bool = False) -> list[bytes]:
        """One request holding the encoded records, grouped by scope (or, with ``pieces``,
        the pieces of one record), as parts to join or send one after the other."""
        top, scope_key, records_key = self._keys
        parts = [b'{"', top, b'":[{"resource":', self._resource, b',"', scope_key, b'":[']
        for i, (name, records) in enumerate(scopes.items()):
            if i:
                parts.append(b",")
            parts += [b'{"scope":', self._scope(name), b',"', records_key, b'":[']
            # The records one by one, not joined first: a request is copied once.
            if pieces:
                parts += records
            else:
                for j, record in enumerate(records):
                    if j:
                        parts.append(b",")
                    parts.append(record)
            parts.append(b"]}")
        parts.append(b"]}]}")
        return parts

    def _partial(self, body: bytes, field: str) -> tuple[int, str]:
        if not body.strip():
            return 0, ""
        try:
            resp = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise ValueError(str(exc)) from None
        if not isinstance(resp, dict):
            raise ValueError(f"not a JSON object: {body[:80]!r}")
        ps = resp.get("partialSuccess") or {}
        if not isinstance(ps, dict):
            raise ValueError(f"partialSuccess is not an object: {ps!r}")
        try:
            rejected = int(ps.get(field) or 0)
        except (TypeError, ValueError):
            raise ValueError(f"{field} is not a number: {ps.get(field)!r}") from None
        message = ps.get("errorMessage") or ""
        return rejected, message if isinstance(message, str) else safe_repr(message)


class JsonLogs(_Json):
    """Log records as ``ExportLogsServiceRequest`` in OTLP/JSON."""

    _keys = (b"resourceLogs", b"scopeLogs", b"logRecords")

    def record(self, sig: Signal) -> tuple[bytes, int]:
        """The encoded log record made from ``sig``, and its size."""
        sev, text = m.severity(sig)
        r: dict[str, Any] = {
            "timeUnixNano": str(sig.inst),
            "observedTimeUnixNano": str(sig.inst),
            "severityNumber": sev,
            "severityText": text,
        }
        if sig.msg is not None:
            if len(sig.msg) > _HUGE_TEXT:
                raise m.HugeRecord
            r["body"] = {"stringValue": sig.msg}
        if sig.id is not None:
            r["eventName"] = sig.id
        if m.is_id(sig.trace_id, 32) and m.is_id(sig.span_id, 16):
            r["traceId"] = sig.trace_id
            r["spanId"] = sig.span_id
            r["flags"] = 1
        r["attributes"] = _attrs(m.attributes(sig, span=False))
        data = _encode(self._enc, r)
        return data, len(data) + 1

    def rejected(self, body: bytes) -> tuple[int, str]:
        """The partial success in a response (see ``ProtoLogs.rejected``)."""
        return self._partial(body, "rejectedLogRecords")


class JsonSpans(_Json):
    """Spans as ``ExportTraceServiceRequest`` in OTLP/JSON."""

    _keys = (b"resourceSpans", b"scopeSpans", b"spans")
    _span = True

    def record(self, sig: Signal) -> tuple[bytes, int]:
        """The encoded span made from ``sig``, and its size."""
        end = m.span_end(sig)
        # Ids that are not hex (a middleware's doing) are left out, as in the binary encoding.
        s: dict[str, Any] = {
            "traceId": sig.trace_id if m.is_id(sig.trace_id, 32) else "",
            "spanId": sig.span_id if m.is_id(sig.span_id, 16) else "",
        }
        if m.is_id(sig.parent_id, 16):
            s["parentSpanId"] = sig.parent_id
        s["flags"] = 1
        s["name"] = name = m.span_name(sig)
        if len(name) > _HUGE_TEXT:
            raise m.HugeRecord
        s["kind"] = m.span_kind(sig)
        s["startTimeUnixNano"] = str(sig.inst)
        s["endTimeUnixNano"] = str(end)
        s["attributes"] = _attrs(m.attributes(sig, span=True))
        events = m.span_events(sig)
        if events:
            s["events"] = [
                {"timeUnixNano": str(time), "name": name, "attributes": _attrs(attrs)}
                for name, time, attrs in events
            ]
        links = m.span_links(sig)
        if links:
            s["links"] = [
                {"traceId": trace_id, "spanId": span_id, "attributes": _attrs(attrs)}
                for trace_id, span_id, attrs in links
            ]
        code, message = m.span_status(sig)
        if code != m.STATUS_UNSET:
            s["status"] = {"code": code, "message": message} if message else {"code": code}
        data = _encode(self._enc, s)
        return data, len(data) + 1

    def rejected(self, body: bytes) -> tuple[int, str]:
        """The partial success in a response (see ``ProtoSpans.rejected``)."""
        return self._partial(body, "rejectedSpans")
