"""OTLP's binary encoding (``http/protobuf``): signals as the message classes of
``opentelemetry-proto``, one record at a time, and the request envelope around them.

Imported only by an [`OTLPSink`][telemetry.sinks.OTLPSink] that uses this encoding, so that the
core never needs ``opentelemetry-proto``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from .._signal import Signal
from ..formats._safe import safe_repr
from . import _otlp_map as m

__all__ = ["ProtoBatch", "ProtoLogs", "ProtoSpans", "fill", "set_value"]

_MAX_DEPTH = 32
_INT64 = (-(2**63), 2**63)


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


def _resource(attrs: Mapping[str, Any]) -> resource_pb2.Resource:
    res = resource_pb2.Resource()
    fill(res.attributes, attrs)
    return res


class ProtoBatch:
    """One request being built: records are added in place (no copy), grouped by scope; the
    last one can be taken out again (when it would make the request too large)."""

    __slots__ = ("_fill", "_last", "_new_scope", "_owner", "_scopes", "count", "req", "size")

    def __init__(self, owner: _Proto) -> None:
        self._owner = owner
        self.req = owner._request()
        self._scopes: dict[str, Any] = {}
        self._fill = owner._fill_record
        self._new_scope = owner._scope
        self._last: tuple[str, int] | None = None
        self.count = 0
        #: The request's size in bytes, near enough (a few bytes of framing over).
        self.size = owner.overhead

    def add(self, sig: Signal) -> int:
        """Add the record made from ``sig``; return its size."""
        name = sig.ns or m.DEFAULT_SCOPE
        records = self._scopes.get(name)
        if records is None:
            records = self._scopes[name] = self._new_scope(self.req, name)
            self.size += len(name) + 16
        n = self._fill(records.add(), sig)
        self._last = (name, n)
        self.count += 1
        self.size += n
        return n

    def pop(self) -> None:
        """Take the last record added out again."""
        assert self._last is not None
        name, n = self._last
        self._last = None
        del self._scopes[name][-1]
        self.count -= 1
        self.size -= n
        if not len(self._scopes[name]):
            # Senders should not send empty envelopes: the scope goes too.
            del self._scopes[name]
            self._owner._drop_scope(self.req, name)
            self.size -= len(name) + 16

    def body(self) -> bytes:
        """The request, encoded."""
        data: bytes = self.req.SerializeToString()
        return data


class _Proto:
    content_type = "application/x-protobuf"

    def __init__(self, resource: Mapping[str, Any], sdk_version: str) -> None:
        self._resource = _resource(resource)
        self._sdk_version = sdk_version
        #: Bytes of the envelope around the records (resource, one scope), to bound requests.
        self.overhead = self._resource.ByteSize() + 64

    def batch(self) -> ProtoBatch:
        """A new, empty request."""
        return ProtoBatch(self)

    def _set_scope(self, scope: Any, name: str) -> None:
        scope.name = name
        if name == m.DEFAULT_SCOPE:
            scope.version = self._sdk_version

    def _request(self) -> Any:
        raise NotImplementedError

    def _scope(self, req: Any, name: str) -> Any:
        raise NotImplementedError

    def _drop_scope(self, req: Any, name: str) -> None:
        raise NotImplementedError

    def _fill_record(self, r: Any, sig: Signal) -> int:
        raise NotImplementedError


class ProtoLogs(_Proto):
    """Log records as ``ExportLogsServiceRequest`` messages."""

    def _request(self) -> logs_service_pb2.ExportLogsServiceRequest:
        req = logs_service_pb2.ExportLogsServiceRequest()
        req.resource_logs.add().resource.CopyFrom(self._resource)
        return req

    def _scope(self, req: logs_service_pb2.ExportLogsServiceRequest, name: str) -> Any:
        sl = req.resource_logs[0].scope_logs.add()
        self._set_scope(sl.scope, name)
        return sl.log_records

    def _drop_scope(self, req: logs_service_pb2.ExportLogsServiceRequest, name: str) -> None:
        scopes = req.resource_logs[0].scope_logs
        for i, sl in enumerate(scopes):
            if sl.scope.name == name:
                del scopes[i]
                return

    def _fill_record(self, r: logs_pb2.LogRecord, sig: Signal) -> int:
        r.time_unix_nano = sig.inst
        r.observed_time_unix_nano = sig.inst
        sev, text = m.severity(sig)
        r.severity_number = sev  # type: ignore[assignment]
        r.severity_text = text
        if sig.msg is not None:
            r.body.string_value = sig.msg
        if sig.id is not None:
            r.event_name = sig.id
        if sig.trace_id is not None and sig.span_id is not None:
            try:
                trace_id, span_id = bytes.fromhex(sig.trace_id), bytes.fromhex(sig.span_id)
            except ValueError:  # ids from a middleware that are not hex: leave them out
                trace_id = span_id = b""
            if len(trace_id) == 16 and len(span_id) == 8:
                r.trace_id, r.span_id, r.flags = trace_id, span_id, 1
        fill(r.attributes, m.attributes(sig, span=False))
        return r.ByteSize() + 5

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

    def _request(self) -> trace_service_pb2.ExportTraceServiceRequest:
        req = trace_service_pb2.ExportTraceServiceRequest()
        req.resource_spans.add().resource.CopyFrom(self._resource)
        return req

    def _scope(self, req: trace_service_pb2.ExportTraceServiceRequest, name: str) -> Any:
        ss = req.resource_spans[0].scope_spans.add()
        self._set_scope(ss.scope, name)
        return ss.spans

    def _drop_scope(self, req: trace_service_pb2.ExportTraceServiceRequest, name: str) -> None:
        scopes = req.resource_spans[0].scope_spans
        for i, ss in enumerate(scopes):
            if ss.scope.name == name:
                del scopes[i]
                return

    def _fill_record(self, s: trace_pb2.Span, sig: Signal) -> int:
        # Ids that are not hex of the right size (a middleware's doing) are left out.
        for field, value, size in (
            ("trace_id", sig.trace_id, 16),
            ("span_id", sig.span_id, 8),
            ("parent_span_id", sig.parent_id, 8),
        ):
            if value:
                try:
                    raw = bytes.fromhex(value)
                except ValueError:
                    continue
                if len(raw) == size:
                    setattr(s, field, raw)
        s.flags = 1  # sampled: every span that ends in a signal was recorded
        s.name = m.span_name(sig)
        s.kind = m.span_kind(sig)  # type: ignore[assignment]
        s.start_time_unix_nano = sig.inst
        end = m.span_end(sig)
        s.end_time_unix_nano = end
        fill(s.attributes, m.attributes(sig, span=True))
        for name, time, attrs in m.span_events(sig):
            ev = s.events.add()
            ev.name = name
            ev.time_unix_nano = time
            fill(ev.attributes, attrs)
        for trace_id, span_id, attrs in m.span_links(sig):
            link = s.links.add()
            link.trace_id = bytes.fromhex(trace_id)
            link.span_id = bytes.fromhex(span_id)
            fill(link.attributes, attrs)
        code, message = m.span_status(sig)
        if code != m.STATUS_UNSET:
            s.status.code = code  # type: ignore[assignment]
            if message:
                s.status.message = message
        return s.ByteSize() + 5

    def rejected(self, body: bytes) -> tuple[int, str]:
        """The partial success in a response: spans rejected, and the receiver's message.
        Raises ``ValueError`` when the body is not a response."""
        try:
            resp = trace_service_pb2.ExportTraceServiceResponse.FromString(body)
        except DecodeError as exc:
            raise ValueError(str(exc)) from None
        ps = resp.partial_success
        return ps.rejected_spans, ps.error_message
