"""The two OTLP encodings agree on any value (Hypothesis): what http/json says, parsed by
opentelemetry-proto's JSON parser, is the very message http/protobuf sends, and plain values
come back as they went in."""

from __future__ import annotations

from tests.conftest import needs

needs("opentelemetry.proto")

import gc
import math
import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from telemetry import Signal
from telemetry.sinks._otlp_json import JsonLogs, JsonSpans
from telemetry.sinks._otlp_proto import ProtoLogs, ProtoSpans
from tests.sinks.otlp_receiver import decode
from tests.sinks.test_otlp import attrs

RESOURCE = {"service.name": "shop", "process.pid": 1}
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(max_size=16)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def plain(v: Any) -> Any:
    """What a value should read as once decoded."""
    if isinstance(v, bool) or v is None or isinstance(v, (str, bytes, float)):
        return v
    if isinstance(v, int):
        return v if -(2**63) <= v < 2**63 else str(v)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return [plain(x) for x in v]


def has_nan(v: Any) -> bool:
    if isinstance(v, float):
        return math.isnan(v)
    if isinstance(v, dict):
        return any(has_nan(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(has_nan(x) for x in v)
    return False


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


def _both_encodings(sig: Signal) -> tuple[Any, Any]:
    """The logs request of ``sig`` alone, sent as protobuf and as JSON, each decoded."""
    pb = ProtoLogs(RESOURCE, "1.0").batch()
    pb.add(sig)
    js = JsonLogs(RESOURCE, "1.0").batch()
    js.add(sig)
    from_pb = logs_service_pb2.ExportLogsServiceRequest.FromString(pb.body())
    from_json, _ = decode("/v1/logs", "application/json", js.body())
    return from_pb, from_json


@settings(max_examples=200, deadline=None)
@given(value=values, msg=st.text(), event=st.none() | st.text(min_size=1))
def test_json_and_protobuf_encode_the_same_message(value: Any, msg: str, event: str | None) -> None:
    """Any value, message and event name: both encodings decode to one message, and the
    value reads back as it was (tuples as arrays, integers beyond 64 bits as strings)."""
    sig = Signal(
        inst=1_700_000_000_123_456_789,
        uid="0123456789abcdef",
        kind="event" if event else "log",
        level="warn",
        id=event,
        msg=msg,
        data={"v": value},
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
    )
    from_pb, from_json = _both_encodings(sig)
    if has_nan(value):  # NaN is not equal to itself, in messages too
        assert same(attrs(_only(from_json))["v"], attrs(_only(from_pb))["v"])
    else:
        assert from_json == from_pb
    rec = _only(from_pb)
    assert same(attrs(rec)["v"], plain(value))
    assert rec.body.string_value == msg and rec.event_name == (event or "")


def _only(req: Any) -> Any:
    (rl,) = req.resource_logs
    (sl,) = rl.scope_logs
    (rec,) = sl.log_records
    return rec


header_names = st.text(
    alphabet=st.characters(
        codec="ascii", categories=["L", "N"], include_characters="-_.~!#$&'*+^`|"
    ),
    min_size=1,
    max_size=12,
)


@given(
    headers=st.dictionaries(
        header_names, st.text(max_size=20).filter(lambda v: not set(v) & set("\r\n\0")), max_size=5
    )
)
def test_header_variables_round_trip_percent_encoding(headers: dict[str, str]) -> None:
    """Any header names and values, percent-encoded into OTEL_EXPORTER_OTLP_HEADERS as the
    specification says, come back as they were (values stripped of outer spaces)."""
    from urllib.parse import quote

    from telemetry.sinks._otlp_config import parse_headers

    raw = ",".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in headers.items())
    assert dict(parse_headers("OTEL_EXPORTER_OTLP_HEADERS", raw)) == {
        k: v.strip() for k, v in headers.items()
    }


_hex32 = st.text("0123456789abcdef", min_size=32, max_size=32)
_hex16 = st.text("0123456789abcdef", min_size=16, max_size=16)
#: Ids that Python's own parsers take but a receiver does not: whitespace (bytes.fromhex,
#: int), a 0x prefix, an underscore, a sign (int).
_NEAR_HEX = [
    " 0af7651916cd43dd8448eb211c80319",
    "0af7651916cd43dd8448eb211c80319c ",
    "0a f7 65 19 16 cd 43 dd 84 48 eb 21 1c 80 31 9c",
    "0x0af7651916cd43dd8448eb211c8031",
    "0af7651916cd43dd_448eb211c80319c",
    "+af7651916cd43dd8448eb211c80319c",
    "b7ad6b71 69203331",
    " b7ad6b7169203331",
    "0xb7ad6b71692033",
    "-7ad6b7169203331",
    "b7ad_b7169203331",
]


def _id_bytes(value: str | None, size: int) -> bytes:
    """What a receiver takes: exactly ``2 * size`` hex digits, as bytes; else nothing."""
    if value is None or len(value) != 2 * size or not set(value) <= set(string.hexdigits):
        return b""
    return bytes.fromhex(value)


_small_attrs = st.dictionaries(st.text(min_size=1, max_size=5), st.integers() | st.text(max_size=5))
_events = st.lists(
    st.fixed_dictionaries(
        {"name": st.text(max_size=8), "time": st.integers(0, 2**63 - 1)},
        optional={"attributes": _small_attrs},
    )
    | st.integers()  # malformed entries: left out
)
_links = st.lists(
    st.fixed_dictionaries(
        {
            "trace_id": _hex32 | st.text(max_size=4) | st.sampled_from(_NEAR_HEX),
            "span_id": _hex16 | st.none() | st.sampled_from(_NEAR_HEX),
        },
        optional={"attributes": _small_attrs},
    )
    | st.text(max_size=3)
)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["server", "client", "producer", "consumer", "internal", "odd", 3]),
    status=st.sampled_from(["OK", "ERROR", "UNSET", None, 2]),
    description=st.none() | st.text(max_size=10),
    events=st.none() | _events | st.text(max_size=3),
    links=st.none() | _links,
    failed=st.booleans(),
)
def test_span_kind_status_events_and_links_encode_alike_in_both_encodings(
    kind: Any, status: Any, description: Any, events: Any, links: Any, failed: bool
) -> None:
    """A span's reserved data keys (well-formed or not) become the same kind, status, events
    and links in protobuf and JSON, never attributes; malformed entries are left out, and an
    error adds its exception event (or stacktrace) and an error status unless one was set."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    from telemetry._signal import error_info
    from telemetry.sinks._otlp_json import JsonSpans
    from telemetry.sinks._otlp_proto import ProtoSpans

    data: dict[str, Any] = {"span.kind": kind, "keep": 1}
    for key, value in (
        ("otel.status_code", status),
        ("otel.status_description", description),
        ("span.events", events),
        ("span.links", links),
    ):
        if value is not None:
            data[key] = value
    sig = Signal(
        inst=1_000,
        uid="0123456789abcdef",
        kind="span",
        level="info",
        id="op",
        data=data,
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
        duration_ns=10,
        error=error_info(ValueError("x")) if failed else None,
    )
    pb = ProtoSpans(RESOURCE, "1.0").batch()
    pb.add(sig)
    js = JsonSpans(RESOURCE, "1.0").batch()
    js.add(sig)
    from_pb = trace_service_pb2.ExportTraceServiceRequest.FromString(pb.body())
    from_json, _ = decode("/v1/traces", "application/json", js.body())
    assert from_json == from_pb
    (span,) = from_pb.resource_spans[0].scope_spans[0].spans
    assert [kv.key for kv in span.attributes] == ["keep"]
    expected_kind = {"server": 2, "client": 3, "producer": 4, "consumer": 5}.get(kind, 1)
    assert span.kind == expected_kind
    code = {"OK": 1, "ERROR": 2}.get(status) if isinstance(status, str) else None
    assert span.status.code == (code if code is not None else 2 if failed else 0)
    good_events = [e for e in events or () if isinstance(e, dict)]
    names = [e.name for e in span.events]
    assert names[: len(good_events)] == [e["name"] for e in good_events]
    if failed:
        assert any(
            e.name == "exception"
            and {kv.key for kv in e.attributes} >= {"exception.type", "exception.stacktrace"}
            for e in span.events
        )
    assert len(span.links) == len([x for x in links or () if isinstance(x, dict)])


def test_protobuf_records_written_by_hand_keep_each_value_type_when_keys_repeat() -> None:
    """The hand-written protobuf reuses encoded attributes: one key seen with 1, True, 1.0,
    "1" and a lone surrogate (its own "?") decodes, record by record, as each value, alone or
    beside another attribute, the first time and once the values have repeated (``True == 1``
    and ``1.0 == 1``: an equal value of another type must not find the cached field)."""
    values: list[Any] = [1, True, 1.0, "1", 1, "x\ud800y", 2**70, -5]
    batch = ProtoLogs(RESOURCE, "1.0").batch()
    for data in [{"k": v} for v in values * 3] + [{"k": v, "s": "a"} for v in values * 3]:
        batch.add(
            Signal(inst=1, uid="0123456789abcdef", kind="log", level="info", msg="m", data=data)
        )
    req = logs_service_pb2.ExportLogsServiceRequest.FromString(batch.body())
    got = [attrs(r)["k"] for r in req.resource_logs[0].scope_logs[0].log_records]
    expected = [1, True, 1.0, "1", 1, "x?y", str(2**70), -5] * 6
    assert got == expected
    assert [type(g) for g in got] == [type(e) for e in expected]


_ids = (
    st.none()
    | st.sampled_from(["", "zz", "0AF7651916CD43DD8448EB211C80319C", "B7AD6B7169203331"])
    | st.sampled_from(_NEAR_HEX)
    | _hex16
    | _hex32
)
_keys = st.sampled_from(["k", "http.route", "span.kind", "otel.status_description", "n"])
_scalars = st.sampled_from([1, True, 1.0, "1", 0, False, -0.0, 0.0, "é", 2**70])
_span_attrs = st.dictionaries(_keys, _scalars | st.text(max_size=3) | st.tuples(st.integers()))
# (The context's keys are attributes whatever their name, the data's reserved ones are not.)
_ctx_attrs = st.dictionaries(
    st.sampled_from(["k", "http.route", "c"]), _scalars | st.text(max_size=3)
)


@settings(max_examples=150, deadline=None)
@given(
    spans=st.lists(
        st.tuples(_ids, _ids, _ids, st.none() | st.text(max_size=6), _ctx_attrs, _span_attrs),
        min_size=1,
        max_size=6,
    )
)
def test_span_ids_names_and_attributes_encode_alike_in_both_encodings(spans: list[Any]) -> None:
    """Spans with any ids (valid, near misses that Python's parsers take, or not), names,
    context and data of values that compare equal across types (1, True, 1.0; 0.0 and -0.0)
    decode alike from protobuf and JSON, span after span in one request, each id sent only
    when it is hex of its size and each attribute of the type it was given."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    from telemetry.sinks._otlp_json import JsonSpans
    from telemetry.sinks._otlp_proto import ProtoSpans

    pb = ProtoSpans(RESOURCE, "1.0").batch()
    js = JsonSpans(RESOURCE, "1.0").batch()
    for trace_id, span_id, parent_id, name, ctx, data in spans:
        sig = Signal(
            inst=1_000,
            uid="0123456789abcdef",
            kind="span",
            level="info",
            id=name,
            ctx=ctx,
            data=data,
            trace_id=trace_id,
            span_id=span_id,
            parent_id=parent_id,
            duration_ns=10,
        )
        pb.add(sig)
        js.add(sig)
    from_pb = trace_service_pb2.ExportTraceServiceRequest.FromString(pb.body())
    from_json, _ = decode("/v1/traces", "application/json", js.body())
    assert from_json == from_pb
    got = from_pb.resource_spans[0].scope_spans[0].spans
    for span, (trace_id, span_id, parent_id, _, ctx, data) in zip(got, spans, strict=True):
        # Each id sent only when it is hex of its size, no more and no less.
        assert span.trace_id == _id_bytes(trace_id, 16)
        assert span.span_id == _id_bytes(span_id, 8)
        assert span.parent_span_id == _id_bytes(parent_id, 8)
        expected = {
            k: plain(v)
            for k, v in {**ctx, **data}.items()
            if k not in ("span.kind", "otel.status_description")
        }
        decoded = attrs(span)
        assert same(decoded, expected), (decoded, expected)
        for k, v in expected.items():
            if isinstance(v, float) and v == 0.0:
                assert math.copysign(1, decoded[k]) == math.copysign(1, v)


def test_new_attribute_values_leave_nothing_the_garbage_collector_tracks() -> None:
    """Records whose attribute values are all new (a request id and a number each) are encoded
    without keeping alive any object the collector tracks: the cache of encoded attributes
    keeps them in dicts of strings and numbers to bytes, so a batch gathering before it is sent
    feeds no young collection, and none of it reaches the old generation."""
    batch = ProtoLogs(RESOURCE, "1.0").batch()

    def signal(i: int) -> Signal:
        data = {"request_id": f"{i:032x}", "n": 10**6 + i}
        return Signal(inst=1, uid=f"{i:016x}", kind="log", level="info", msg="m", data=data)

    for i in range(50):
        batch.add(signal(i))
    gc.collect()
    before = len(gc.get_objects())
    for i in range(50, 2050):
        batch.add(signal(i))
    assert len(gc.get_objects()) - before < 50
    req = logs_service_pb2.ExportLogsServiceRequest.FromString(batch.body())
    records = req.resource_logs[0].scope_logs[0].log_records
    assert len(records) == 2050 and attrs(records[-1])["n"] == 10**6 + 2049


@settings(max_examples=60, deadline=None)
@given(
    trace_id=_hex32 | st.sampled_from(_NEAR_HEX) | st.none(),
    span_id=_hex16 | st.sampled_from(_NEAR_HEX) | st.none(),
)
def test_a_log_record_carries_its_ids_only_when_both_are_hex_of_their_size(
    trace_id: str | None, span_id: str | None
) -> None:
    """A log record's trace and span ids go out together when both are exactly hex of their
    sizes, and neither otherwise (near misses that Python's parsers take included); both
    encodings agree, and the record itself is always sent."""
    sig = Signal(
        inst=1,
        uid="0123456789abcdef",
        kind="log",
        level="info",
        msg="m",
        trace_id=trace_id,
        span_id=span_id,
    )
    from_pb, from_json = _both_encodings(sig)
    assert from_json == from_pb
    rec = _only(from_pb)
    both = bool(_id_bytes(trace_id, 16) and _id_bytes(span_id, 8))
    assert rec.trace_id == (_id_bytes(trace_id, 16) if both else b"")
    assert rec.span_id == (_id_bytes(span_id, 8) if both else b"")
    assert rec.body.string_value == "m"


def test_a_lone_surrogate_costs_no_record_in_either_encoding() -> None:
    """A lone surrogate in a message, a span's name, a key and a value (not valid Unicode,
    which UTF-8 cannot carry) is written repaired, by protobuf as ``?`` and by JSON as its
    ``\\udXXX`` escape, and the records around it are written as they are: a bad value costs
    only itself, never its batch."""
    for kind, encodings, path in (
        ("log", (ProtoLogs, JsonLogs), "/v1/logs"),
        ("span", (ProtoSpans, JsonSpans), "/v1/traces"),
    ):
        signals = [
            Signal(
                inst=1,
                uid=f"{i:016x}",
                kind=kind,
                level="info",
                id=name if kind == "span" else None,
                msg=msg,
                data={"k": value, "n": i},
                trace_id="0af7651916cd43dd8448eb211c80319c",
                span_id="b7ad6b7169203331",
                duration_ns=10 if kind == "span" else None,
            )
            for i, (name, msg, value) in enumerate(
                [("a", "m", "v"), ("b\udc00", "m\ud800", {"x\ud801": "y\udfff"}), ("c", "m", "w")]
            )
        ]
        for encoding in encodings:
            batch = encoding(RESOURCE, "1.0").batch()
            for sig in signals:
                batch.add(sig)
            content = (
                "application/json"
                if encoding in (JsonLogs, JsonSpans)
                else "application/x-protobuf"
            )
            req, _ = decode(path, content, batch.body())
            if kind == "log":
                records = req.resource_logs[0].scope_logs[0].log_records
                texts = [r.body.string_value for r in records]
            else:
                records = req.resource_spans[0].scope_spans[0].spans
                texts = [r.name for r in records]
            assert [attrs(r)["n"] for r in records] == [0, 1, 2], encoding
            assert texts[0] in ("m", "a") and texts[2] in ("m", "c"), encoding
            bad = texts[1]
            assert bad.startswith(("m", "b")) and "\ud800" not in bad and "\udc00" not in bad
            assert bad.endswith(("?", "\\ud800", "\\udc00")), (encoding, bad)
