"""Encoders: JSON lines, text, logfmt never raise and never lose the rest of a batch."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry import ErrorInfo, Frame, Signal
from telemetry.formats import JsonFormat, LogfmtFormat, TextFormat, _safe, make_format
from telemetry.testing import make_signal


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque thing>"


class Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
weird_values = st.one_of(
    json_values,
    st.binary(max_size=16),
    st.sets(st.integers(), max_size=3),
    st.builds(Opaque),
    st.builds(Hostile),
    st.integers(min_value=2**70, max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
)


@settings(max_examples=200)
@given(data=st.dictionaries(st.text(), weird_values, max_size=5), msg=st.text())
def test_json_never_raises_and_every_line_parses(data: dict[str, Any], msg: str) -> None:
    """Any data value (objects, sets, bytes, huge ints, NaN, a raising repr) encodes to lines
    that parse as JSON, one per signal, with the message intact."""
    fmt = JsonFormat()
    batch = [make_signal(msg, data=data), make_signal("next")]
    lines = fmt.encode_batch(batch).rstrip(b"\n").split(b"\n")  # lines end in \n only
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["msg"] == msg
    assert set(first.get("data", {})) == set(data)
    assert json.loads(lines[1])["msg"] == "next"


def test_json_survives_cycles_and_non_string_keys() -> None:
    """A reference cycle or non-string keys cost only that signal's odd values, not the batch."""
    cyclic: dict[str, Any] = {"name": "loop"}
    cyclic["self"] = cyclic
    batch = [
        make_signal("ok-1"),
        make_signal("cycle", data={"c": cyclic}),
        make_signal("keys", data={"k": {1: "one", (2, 3): "pair"}}),
        make_signal("hostile", data={"h": Hostile(), "o": Opaque()}),
        make_signal("ok-2"),
    ]
    lines = [json.loads(line) for line in JsonFormat().encode_batch(batch).splitlines()]
    assert [r["msg"] for r in lines] == ["ok-1", "cycle", "keys", "hostile", "ok-2"]
    assert lines[1]["data"]["c"] == {"name": "loop", "self": "<cycle>"}
    assert lines[2]["data"]["k"] == {"1": "one", "(2, 3)": "pair"}
    assert lines[3]["data"] == {"h": "<unrepresentable Hostile>", "o": "<Opaque thing>"}


def test_json_round_trips_into_signal() -> None:
    """What the JSON format writes decodes back into an equal Signal."""
    sig = make_signal("hi", id="x.y", data={"n": 1, "s": "two"}, ctx={"rid": "r"})
    line = JsonFormat().encode(sig)
    assert msgspec.json.decode(line, type=Signal) == sig


#: The nanoseconds since the epoch that are calendar dates (years 1 to 9999), as RFC 3339 has.
_FIRST_NS = -62_135_596_800 * 10**9
_LAST_NS = 253_402_300_800 * 10**9 - 1
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@settings(max_examples=200)
@given(
    insts=st.lists(
        st.integers(min_value=_FIRST_NS, max_value=_LAST_NS)
        | st.integers(min_value=1_700_000_000 * 10**9, max_value=1_700_000_003 * 10**9),
        min_size=1,
        max_size=8,
    )
)
def test_json_timestamp_parses_back_to_the_signal_time(insts: list[int]) -> None:
    """Every JSON line starts with "timestamp", UTC RFC 3339 with microseconds and Z, which
    datetime.fromisoformat reads back as the signal's time (inst, to the microsecond), in a
    batch whose signals straddle seconds or come out of order as in a single encode."""
    fmt = JsonFormat()
    batch = [make_signal(f"m{i}", inst=inst) for i, inst in enumerate(insts)]
    lines = fmt.encode_batch(batch).splitlines()
    assert len(lines) == len(batch)
    for sig, line in zip(batch, lines, strict=True):
        obj = json.loads(line)
        assert next(iter(obj)) == "timestamp"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", obj["timestamp"])
        when = dt.datetime.fromisoformat(obj["timestamp"])
        assert when == _EPOCH + dt.timedelta(microseconds=sig.inst // 1000)
        assert obj["inst"] == sig.inst
        assert JsonFormat().encode(sig) == line


def test_json_line_of_a_time_that_is_no_date_has_no_timestamp() -> None:
    """A signal whose time is outside the calendar (after year 9999) is still written, whole,
    only without "timestamp"; the lines around it keep theirs."""
    far = make_signal("far", inst=_LAST_NS + 10**9)
    batch = [make_signal("before"), far, make_signal("after")]
    lines = [json.loads(line) for line in JsonFormat().encode_batch(batch).splitlines()]
    assert ["timestamp" in line for line in lines] == [True, False, True]
    assert lines[1]["inst"] == far.inst and lines[1]["msg"] == "far"


@given(msg=st.text(), value=st.text())
def test_text_and_logfmt_are_one_line_per_signal(msg: str, value: str) -> None:
    """Newlines and control characters in messages and values never forge extra lines."""
    sig = make_signal(msg, data={"v": value, "obj": Opaque()})
    for fmt in (TextFormat(), TextFormat(colour=True), LogfmtFormat()):
        out = fmt.encode_batch([sig, sig]).decode()
        assert out.count("\n") == 2
        assert all(ch == "\n" or ch == "\x1b" or ord(ch) >= 32 for ch in out if ch != "\t")


def test_text_line_reads_well() -> None:
    """The text format: time, level, namespace, id, message, data, error on one line."""
    sig = make_signal(
        "user joined", level="warn", ns="app.chat", id="room.join", data={"room": "lobby", "n": 3}
    )
    line = TextFormat().format(sig)
    assert line.endswith("WARN  [app.chat] room.join user joined room=lobby n=3")
    assert line[:4].isdigit() and "T" in line[:20]


def test_logfmt_quotes_and_escapes() -> None:
    """logfmt quotes values with spaces, quotes or equals signs, and escapes quotes."""
    sig = make_signal('say "hi"', data={"path": "/a b", "ok": True, "n": 2, "none": None})
    line = LogfmtFormat().format(sig)
    assert 'msg="say \\"hi\\""' in line
    assert 'path="/a b" ok=true n=2 none=' in line


def test_make_format_names_the_allowed_formats() -> None:
    """An unknown format name is a ConfigError listing json, logfmt, text."""
    import pytest

    from telemetry import ConfigError

    with pytest.raises(ConfigError, match="format must be one of 'json', 'logfmt', 'text'"):
        make_format("xml")


_hostile_text = st.text(
    alphabet=st.characters(categories=("Cc", "Zl", "Zp", "Ll", "Zs"))
    | st.sampled_from("\x85\x1b["),
    min_size=1,
)
_LINE_BREAKING = "[\x00-\x1f\x7f-\x9f\u2028\u2029]"
_OUR_COLOURS = "\x1b\\[[0-9;]*m"


@settings(max_examples=300, deadline=None)
@given(
    kind=_hostile_text,
    level=_hostile_text,
    ident=_hostile_text,
    ns=_hostile_text,
    msg=_hostile_text,
    key=_hostile_text,
    value=_hostile_text,
    trace=_hostile_text,
    err_type=_hostile_text,
    err_file=_hostile_text,
)
def test_text_escapes_control_characters_in_every_field(
    kind: str,
    level: str,
    ident: str,
    ns: str,
    msg: str,
    key: str,
    value: str,
    trace: str,
    err_type: str,
    err_file: str,
) -> None:
    """Text (plain and coloured, as the console writes it): control characters and line
    separators in any field (kind, level, id, namespace, message, keys, values, trace id, the
    error's type and file) are escaped, so one signal is exactly one line and carries no
    terminal escape of its own."""
    error = ErrorInfo(
        type=err_type, message=msg, frames=(Frame(file=err_file, line=1, function=ident),)
    )
    sig = make_signal(
        msg,
        kind=kind,
        id=ident,
        ns=ns,
        data={key: value},
        ctx={key: value},
        trace_id=trace,
        error=error,
    )
    sig = msgspec.structs.replace(sig, level=level)  # a level of any name reaches the format
    for fmt in (TextFormat(), TextFormat(colour=True)):
        out = fmt.encode_batch([sig, sig]).decode()
        assert len(out.splitlines()) == 2
        lines = out.split("\n")
        assert lines[2] == ""
        for line in lines[:2]:
            assert not re.search(_LINE_BREAKING, re.sub(_OUR_COLOURS, "", line)), line


def test_a_slow_repr_of_a_big_list_leaves_lists_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """A list, dict or bytes whose repr was slow (a million items) is slow by its size: later
    ones of that type are still written as their repr, not as a placeholder."""
    monkeypatch.setattr(_safe, "SLOW_REPR_S", -1.0)  # every repr counts as slow
    fmt = TextFormat()
    fmt.encode_batch([make_signal("m", data={"v": [0] * 10, "d": {"k": 1}, "b": b"x"})])
    line = fmt.encode_batch([make_signal("m", data={"v": [1, 2], "d": {"k": 2}, "b": b"y"})])
    assert b"v=[1, 2] d={'k': 2} b=b'y'" in line
