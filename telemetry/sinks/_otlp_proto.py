"""OTLP's binary encoding (``http/protobuf``): signals as the message classes of
``opentelemetry-proto``, one record at a time, and the request envelope around them.

Imported only by an :class:`~telemetry.sinks.OTLPSink` that uses this encoding, so that the
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

__all__ = ["ProtoLogs", "ProtoSpans", "set_value"]

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
        return
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
                kv = av.kvlist_value.values
                for key, x in v.items():
                    e = kv.add()
                    e.key = key if type(key) is str else safe_repr(key)
                    set_value(e.value, x, inner)
            else:
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


def _fill(kvs: Any, attrs: Mapping[str, Any]) -> None:
    for key, v in attrs.items():
        e = kvs.add()
        e.key = key
        set_value(e.value, v)


def _resource(attrs: Mapping[str, Any]) -> resource_pb2.Resource:
    res = resource_pb2.Resource()
    _fill(res.attributes, attrs)
    return res


class _Proto:
    content_type = "application/x-protobuf"

    def __init__(self, resource: Mapping[str, Any], sdk_version: str) -> None:
        self._resource = _resource(resource)
        self._sdk_version = sdk_version
        #: Bytes of the envelope around the records (resource, one scope), to bound requests.
        self.overhead = self._resource.ByteSize() + 64


class ProtoLogs(_Proto):
    """Log records as ``ExportLogsServiceRequest`` messages."""

    def record(self, sig: Signal) -> tuple[logs_pb2.LogRecord, int]:
        """The log record made from ``sig``, and its encoded size."""
        r = logs_pb2.LogRecord()
        r.time_unix_nano = sig.inst
        r.observed_time_unix_nano = sig.inst
        sev = sig.severity
        r.severity_number = sev  # type: ignore[assignment]
        r.severity_text = m.SEVERITY_TEXT.get(sev, sig.level.upper())
        if sig.msg is not None:
            r.body.string_value = sig.msg
        if sig.id is not None:
            r.event_name = sig.id
        if sig.trace_id is not None and sig.span_id is not None:
            try:
                r.trace_id = bytes.fromhex(sig.trace_id)
                r.span_id = bytes.fromhex(sig.span_id)
                r.flags = 1
            except ValueError:  # ids from a middleware that are not hex: leave them out
                r.ClearField("trace_id")
                r.ClearField("span_id")
        _fill(r.attributes, m.attributes(sig, span=False))
        return r, r.ByteSize() + 5

    def envelope(self, scopes: Mapping[str, list[logs_pb2.LogRecord]]) -> bytes:
        """One request holding the records, grouped by scope."""
        req = logs_service_pb2.ExportLogsServiceRequest()
        rl = req.resource_logs.add()
        rl.resource.CopyFrom(self._resource)
        for name, records in scopes.items():
            sl = rl.scope_logs.add()
            sl.scope.name = name
            if name == m.DEFAULT_SCOPE:
                sl.scope.version = self._sdk_version
            sl.log_records.extend(records)
        return req.SerializeToString()

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

    def record(self, sig: Signal) -> tuple[trace_pb2.Span, int]:
        """The span made from ``sig``, and its encoded size."""
        s = trace_pb2.Span()
        try:
            s.trace_id = bytes.fromhex(sig.trace_id or "")
            s.span_id = bytes.fromhex(sig.span_id or "")
            if sig.parent_id:
                s.parent_span_id = bytes.fromhex(sig.parent_id)
        except ValueError:
            pass  # not hex (a middleware's doing): the receiver will say what it thinks
        s.flags = 1  # sampled: every span that ends in a signal was recorded
        s.name = m.span_name(sig)
        s.kind = m.span_kind(sig)  # type: ignore[assignment]
        s.start_time_unix_nano = sig.inst
        end = m.span_end(sig)
        s.end_time_unix_nano = end
        _fill(s.attributes, m.attributes(sig, span=True))
        err = sig.error
        if err is not None:
            ev = s.events.add()
            ev.name = "exception"
            ev.time_unix_nano = end
            _fill(ev.attributes, m.exception_attributes(err))
            s.status.code = m.STATUS_ERROR  # type: ignore[assignment]
            s.status.message = f"{err.type}: {err.message}" if err.message else err.type
        return s, s.ByteSize() + 5

    def envelope(self, scopes: Mapping[str, list[trace_pb2.Span]]) -> bytes:
        """One request holding the spans, grouped by scope."""
        req = trace_service_pb2.ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.CopyFrom(self._resource)
        for name, spans in scopes.items():
            ss = rs.scope_spans.add()
            ss.scope.name = name
            if name == m.DEFAULT_SCOPE:
                ss.scope.version = self._sdk_version
            ss.spans.extend(spans)
        return req.SerializeToString()

    def rejected(self, body: bytes) -> tuple[int, str]:
        """The partial success in a response: spans rejected, and the receiver's message.
        Raises ``ValueError`` when the body is not a response."""
        try:
            resp = trace_service_pb2.ExportTraceServiceResponse.FromString(body)
        except DecodeError as exc:
            raise ValueError(str(exc)) from None
        ps = resp.partial_success
        return ps.rejected_spans, ps.error_message
