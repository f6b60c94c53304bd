"""OTLP's huge values (telemetry/sinks/_otlp_huge.py): written a piece at a time, a value
is byte for byte what encoding it in one go gives; cut to a room, it fits, decodes with
opentelemetry-proto and is the value's start with the mark."""

from __future__ import annotations

from tests.conftest import needs

needs("httpx", "opentelemetry.proto")

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1 import common_pb2

from telemetry.sinks import _otlp_huge as h
from telemetry.sinks import _otlp_json, _otlp_map, _otlp_wire
from telemetry.sinks._otlp_json import JsonCodec, json_value
from telemetry.sinks._otlp_proto import WireCodec
from tests.sinks.test_otlp import any_value


@contextmanager
def _small(huge: int, piece: int) -> Iterator[None]:
    """Values over ``huge`` characters (or items) count as huge, and are written ``piece``
    at a time, so that small examples cross every boundary."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_otlp_wire, "_HUGE_TEXT", huge)
        mp.setattr(_otlp_json, "_HUGE_TEXT", huge)
        mp.setattr(_otlp_map, "ITEMS_IN_ONE_GO", huge)
        mp.setattr(h, "STR_PIECE", piece)
        mp.setattr(h, "RAW_PIECE", 3 * piece)
        mp.setattr(h, "ITEMS_PIECE", piece)
        yield


def _run(codec: h.Codec, value: Any, room: int) -> tuple[bytes, bool]:
    pieces = h.encode(codec, value, room)
    while True:
        try:
            next(pieces)
        except StopIteration as stop:
            parts, size, cut = stop.value
            break
    data = b"".join(parts)
    assert len(data) == size
    return data, cut


def _one_go(protocol: str, value: Any) -> bytes:
    with _small(10**9, 1):
        if protocol == "proto":
            return _otlp_wire.value(value)
        return msgspec.json.encode(json_value(value))


def _decoded(protocol: str, data: bytes) -> Any:
    if protocol == "proto":
        return any_value(common_pb2.AnyValue.FromString(data))
    return any_value(json_format.ParseDict(json.loads(data), common_pb2.AnyValue()))


def _codec(protocol: str) -> h.Codec:
    return WireCodec() if protocol == "proto" else JsonCodec(msgspec.json.Encoder())


_text = st.text(st.sampled_from('ab "\\\n\x01é€😀'), max_size=40)
_leaf = st.one_of(_text, st.binary(max_size=20), st.integers(-(2**63), 2**63 - 1), st.none())
_values = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=12), st.dictionaries(st.text("kéy", max_size=4), inner, max_size=8)
    ),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None)
@given(value=_values, huge=st.integers(0, 6), piece=st.integers(1, 5))
@pytest.mark.parametrize("protocol", ["proto", "json"])
def test_pieces_give_the_bytes_of_one_go(protocol: str, value: Any, huge: int, piece: int) -> None:
    """Strings (escapes, astral characters), bytes (base64 in JSON), lists and maps nested any
    way, written a piece at a time with room to spare, are byte for byte their encoding in
    one go, and nothing is counted as cut."""
    with _small(huge, piece):
        data, cut = _run(_codec(protocol), value, 10**9)
    assert (data, cut) == (_one_go(protocol, value), False)


@settings(max_examples=300, deadline=None)
@given(value=_values, room=st.integers(0, 400), piece=st.integers(1, 5))
@pytest.mark.parametrize("protocol", ["proto", "json"])
def test_a_value_cut_to_a_room_fits_and_is_marked(
    protocol: str, value: Any, room: int, piece: int
) -> None:
    """A value given less room than it needs comes out within the room (plus the room kept
    for the mark), decodes, and is the value's start with the mark: a string ends with
    [truncated], a list with "[truncated] N more", a map with "[truncated]": "N more"."""
    with _small(0, piece):
        data, cut = _run(_codec(protocol), value, room + h.MARK_ROOM)
    whole = _one_go(protocol, value)
    assert cut == (data != whole)
    if not cut:
        return
    assert len(data) <= room + 2 * h.MARK_ROOM
    got = _decoded(protocol, data)
    _check_prefix(_decoded(protocol, whole), got)


def _check_prefix(whole: Any, got: Any) -> None:
    mark = h.TRUNCATION_MARK
    if isinstance(whole, (str, bytes)):
        tail = mark if isinstance(whole, str) else mark.encode()
        assert got.endswith(tail) and whole.startswith(got[: -len(tail)])
    elif isinstance(whole, dict):
        left = got.pop(mark)
        assert left == f"{len(whole) - len(got)} more"
        items = list(whole.items())[: len(got)]
        assert list(got) == [k for k, _ in items]
        for (_, v), g in zip(items[:-1], list(got.values())[:-1], strict=True):
            assert g == v
        if items:
            last = list(got.values())[-1]
            if last != items[-1][1]:
                _check_prefix(items[-1][1], last)
    else:
        *kept, note = got
        assert note == f"{mark} {len(whole) - len(kept)} more"
        if kept:
            assert kept[:-1] == whole[: len(kept) - 1]
            if kept[-1] != whole[len(kept) - 1]:
                _check_prefix(whole[len(kept) - 1], kept[-1])


def test_a_record_with_big_values_keeps_its_other_fields() -> None:
    """split takes out big attributes (the data's value winning a clash with the context) and
    a log record's long message, cuts a span's huge name and an error's huge message, and
    leaves a span's reserved keys."""
    from telemetry import ErrorInfo
    from telemetry.testing import make_signal

    huge = "e" * (_otlp_map.HUGE_TEXT + 1)
    sig = make_signal(
        "m" * 200,
        data={"a": [1], "b": 2, "c": "x" * 200, "span.events": [{"name": "e"}]},
        ctx={"a": "short", "d": {"k": 1}},
        error=ErrorInfo(type="E", message=huge),
    )
    log = h.split(sig, span=False, tokens=False)
    assert [k for k, _ in log.big] == ["a", "d", "c", "span.events"]
    assert log.body == "m" * 200 and log.rest.msg is None and log.cuts == 1
    assert log.rest.data == {"b": 2} and log.rest.ctx == {}
    assert log.rest.error is not None and log.rest.error.message.endswith(h.TRUNCATION_MARK)
    span = h.split(make_signal(huge, kind="span", data=sig.data), span=True, tokens=True)
    assert [k for k, _ in span.big] == ["a", "c"]
    assert span.rest.data["span.events"] == [{"name": "e"}]
    assert span.rest.data["a"] == span.token(0) and span.rest.msg.endswith(h.TRUNCATION_MARK)
