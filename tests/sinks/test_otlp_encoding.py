"""The two OTLP encodings agree on any value (Hypothesis): what http/json says, parsed by
opentelemetry-proto's JSON parser, is the very message http/protobuf sends, and plain values
come back as they went in."""

from __future__ import annotations

from tests.conftest import needs

needs("opentelemetry.proto")

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from telemetry import Signal
from telemetry.sinks._otlp_json import JsonLogs
from telemetry.sinks._otlp_proto import ProtoLogs
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
    pb = ProtoLogs(RESOURCE, "1.0").batch()
    pb.add(sig)
    js = JsonLogs(RESOURCE, "1.0").batch()
    js.add(sig)
    from_pb = logs_service_pb2.ExportLogsServiceRequest.FromString(pb.body())
    from_json, _ = decode("/v1/logs", "application/json", js.body())
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
