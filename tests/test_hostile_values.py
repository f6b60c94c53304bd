"""A bad value costs only itself, in every format and every sink, against the real receivers.

Each test sends a batch of ordinary signals with one hostile signal in the middle (a lone
surrogate, an int of 5,000 digits, a key whose ``__str__`` raises, ...) and checks that the whole
batch is written, that the hostile signal arrives with the bad value replaced and its other
fields intact, and that the sink counted the repair (``bad_values``).
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry import Signal, Telemetry
from telemetry.formats import make_format
from telemetry.formats._safe import MAX_REPR, SLOW_REPR_S
from telemetry.sinks import ConsoleSink, FileSink, JournaldSink, SyslogSink
from telemetry.sinks._journal import JournalEncoder
from telemetry.sinks._syslog_format import Rfc3164Formatter, Rfc5424Formatter
from telemetry.testing import make_signal
from tests.conftest import assert_accounted
from tests.sinks.journal import Journal, journald_fixture  # noqa: F401
from tests.sinks.rsyslog import Rsyslog, rsyslog_fixture  # noqa: F401

N = 201
BAD_AT = 100


class NoStr:
    """A key whose ``__str__`` and ``__repr__`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """How Hypothesis shows a failing example that holds one (it cannot use repr)."""
        p.text("NoStr()")


#: name -> (message, data) of the hostile signal.
HOSTILE: dict[str, tuple[str, dict[Any, Any]]] = {
    "surrogate-msg": ("bad \udcff message", {"v": "fine"}),
    "surrogate-value": ("bad value", {"v": "bad \ud800 value"}),
    "surrogate-key": ("bad key", {"k\udcff": "fine", "v": "fine"}),
    "huge-int": ("huge int", {"n": 10**5000, "v": "fine"}),
    "huge-int-nested": ("huge nested int", {"n": {"x": [10**5000]}, "v": "fine"}),
    "key-without-str": ("bad key", {NoStr(): 1, "v": "fine"}),
    "nested-key-without-str": ("bad nested key", {"n": {NoStr(): 1}, "v": "fine"}),
}


async def send(sink: Any, case: str) -> dict[str, Any]:
    """Send N signals in one batch, the one at BAD_AT made hostile (by a middleware, so that
    even keys the creators would convert reach the sink as they are); return the counts."""
    msg, data = HOSTILE[case]

    def hostile(sig: Signal) -> Signal:
        if sig.data["seq"] != BAD_AT:
            return sig
        return msgspec.structs.replace(sig, msg=msg, data={"seq": BAD_AT, **data})

    handler = {"sink": sink, "mode": "blocking", "batch_size": N, "middleware": [hostile]}
    hub = Telemetry(handlers={"s": handler})
    async with hub:
        for i in range(N):
            hub.log_nowait("info", f"ordinary {i}", seq=i)
    stats = await hub.aclose()
    assert_accounted(stats)
    h = stats.handlers["s"]
    return {"written": h.written, "dropped": h.dropped, "bad": h.sink_counters.get("bad_values")}


def expected(case: str) -> dict[str, Any]:
    """The whole batch written, nothing dropped; a value replaced by a placeholder counted.
    Text that is not valid Unicode is written with visible ``\\udcff`` escapes, as control
    characters are, and counted only where the format had to encode the signal again."""
    if case.startswith("surrogate"):
        return {"written": N, "dropped": {}, "bad": AtMostOne()}
    return {"written": N, "dropped": {}, "bad": 1}


class AtMostOne:
    """Equal to a count of at most one repair (or none)."""

    def __eq__(self, other: object) -> bool:
        return other in (None, 1)

    def __repr__(self) -> str:
        return "None or 1"


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("fmt", ["json", "text", "logfmt"])
async def test_file_sink_writes_the_batch_around_a_bad_value(
    tmp_path: Path, fmt: str, case: str
) -> None:
    """File sink, every format: the batch is written, the bad value alone replaced."""
    path = tmp_path / "app.log"
    assert await send(FileSink(path, format=fmt), case) == expected(case)
    lines = path.read_bytes().decode("utf-8").splitlines()
    assert len(lines) == N
    assert "ordinary 0" in lines[0] and f"ordinary {N - 1}" in lines[-1]
    bad = lines[BAD_AT]
    assert "fine" in bad or "huge" in bad or "bad" in bad
    if fmt == "json":
        rec = json.loads(bad)
        assert rec["data"]["seq"] == BAD_AT


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("fmt", ["json", "text", "logfmt"])
async def test_console_sink_writes_the_batch_around_a_bad_value(fmt: str, case: str) -> None:
    """Console sink, every format: the batch is written, the bad value alone replaced."""
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    assert await send(ConsoleSink(stream, format=fmt), case) == expected(case)  # type: ignore[arg-type]
    stream.flush()
    lines = stream.buffer.getvalue().decode("utf-8").splitlines()  # type: ignore[attr-defined]
    assert len(lines) == N
    assert f"ordinary {BAD_AT + 1}" in lines[BAD_AT + 1]


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_syslog_sink_sends_the_batch_around_a_bad_value(
    rsyslog: Rsyslog, transport: str, case: str
) -> None:
    """Syslog sink to a real rsyslogd: every message arrives, the hostile one included."""
    app = f"h{uuid.uuid4().hex[:12]}"
    port = rsyslog.udp_port if transport == "udp" else rsyslog.tcp_port
    sink = SyslogSink("127.0.0.1", transport=transport, port=port, app_name=app)  # type: ignore[arg-type]
    assert await send(sink, case) == expected(case)
    records = await anyio.to_thread.run_sync(rsyslog.wait_records, transport, app, N)
    assert len(records) == N
    assert [r for r in records if f'seq="{BAD_AT}"' in r["sd"]]


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_journald_sink_writes_the_batch_around_a_bad_value(
    journald: Journal, case: str
) -> None:
    """Journald sink to a real systemd-journald: every entry arrives, the hostile one too."""
    ident = journald.unique()
    sink = JournaldSink(namespace=journald.namespace, identifier=ident)
    assert await send(sink, case) == expected(case)
    entries = await journald.wait_for(N, f"SYSLOG_IDENTIFIER={ident}")
    assert len(entries) == N
    assert [e for e in entries if e.get("SEQ") == str(BAD_AT)]


# -- property-based: any value through every encoder --------------------------------------------

_leaf = st.one_of(
    st.text(alphabet=st.characters(categories=("Cs", "Cc", "Ll", "Lo", "Zl", "Zp"))),
    st.integers(),
    st.sampled_from([5000, 4400, 20]).map(lambda digits: -(10**digits)),  # too wide for decimal
    st.sampled_from([2**64, float("nan"), float("inf"), None, True]),
    st.binary(max_size=8),
    st.builds(NoStr),
)
_key = st.one_of(st.text(alphabet=st.characters(categories=("Cs", "Cc", "Ll"))), st.builds(NoStr))
_values = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(_key, inner, max_size=3),
    ),
    max_leaves=8,
)

ENCODERS: dict[str, Callable[[Any], object]] = {
    "json": make_format("json").encode_batch,
    "text": make_format("text").encode_batch,
    "logfmt": make_format("logfmt").encode_batch,
    "rfc5424": lambda b: Rfc5424Formatter(facility=1, app_name="a").format(b[0]),
    "rfc3164": lambda b: Rfc3164Formatter(facility=1, app_name="a").format(b[0]),
    "journal": lambda b: JournalEncoder(identifier="x").encode(b[0]),
}


@given(
    msg=st.one_of(st.none(), st.text(alphabet=st.characters(categories=("Cs", "Cc", "Ll")))),
    ident=st.one_of(st.none(), st.text(alphabet=st.characters(categories=("Cs", "Cc", "Ll")))),
    data=st.dictionaries(_key, _values, max_size=4),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_no_value_makes_an_encoder_raise(
    encoder: str, msg: str | None, ident: str | None, data: dict[Any, Any]
) -> None:
    """Whatever a signal holds, every encoder turns it into what its receiver reads: one
    valid UTF-8 line (one JSON object for json), a syslog packet with its PRI, or journal
    fields that parse back, with the message and the data present."""
    out = ENCODERS[encoder]([make_signal(msg, id=ident, data=data)])
    CHECKS[encoder](out, msg, data)


def _one_line(out: object) -> str:
    assert isinstance(out, bytes)
    text = out.decode("utf-8")  # strict: a lone surrogate must have been replaced
    assert text.endswith("\n") and text.count("\n") == 1, text
    return text


def _check_json(out: object, msg: str | None, data: dict[Any, Any]) -> None:
    rec = json.loads(_one_line(out))
    assert rec["kind"] == "log" and rec["level"] == "info"
    assert msg is None or isinstance(rec["msg"], str)
    # Two keys may be repaired into the same text: as many keys, or fewer, but none lost.
    assert 0 < len(rec["data"]) <= len(data) if data else "data" not in rec or not rec["data"]


def _check_line(prefix: str) -> Callable[[object, str | None, dict[Any, Any]], None]:
    def check(out: object, msg: str | None, data: dict[Any, Any]) -> None:
        assert prefix in _one_line(out)

    return check


def _check_syslog(prefix: bytes) -> Callable[[object, str | None, dict[Any, Any]], None]:
    def check(out: object, msg: str | None, data: dict[Any, Any]) -> None:
        assert isinstance(out, tuple)
        packet, _ = out
        assert packet.startswith(prefix), packet[:20]
        packet.decode("utf-8")
        assert b"\n" not in packet and b"\0" not in packet

    return check


def _journal_fields(out: bytes) -> list[tuple[bytes, bytes]]:
    """The native journal protocol parsed back: ``NAME=value`` lines, or ``NAME``, a
    little-endian 64-bit length and that many bytes (a value with a newline)."""
    fields, i = [], 0
    while i < len(out):
        eol = out.index(b"\n", i)
        eq = out.find(b"=", i, eol)
        if eq >= 0:
            fields.append((out[i:eq], out[eq + 1 : eol]))
            i = eol + 1
        else:
            size = int.from_bytes(out[eol + 1 : eol + 9], "little")
            start = eol + 9
            assert out[start + size : start + size + 1] == b"\n"
            fields.append((out[i:eol], out[start : start + size]))
            i = start + size + 1
    return fields


def _bytes_within(value: object) -> Iterator[bytes]:
    """Every bytes-like value in ``value``, at any depth of mappings and sequences."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        yield bytes(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _bytes_within(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _bytes_within(item)


def _check_journal(out: object, msg: str | None, data: dict[Any, Any]) -> None:
    assert isinstance(out, bytes)
    fields = dict(_journal_fields(out))
    assert all(re.fullmatch(rb"[A-Z0-9][A-Z0-9_]*", name) for name in fields), list(fields)
    assert fields[b"PRIORITY"] == b"6" and fields[b"SYSLOG_IDENTIFIER"] == b"x"
    assert msg is None or b"MESSAGE" in fields
    # A bytes value goes as the bytes it is (documented: journald fields are binary), nested
    # ones too (a nested mapping is flattened into fields of its own); every other field is text.
    raw = set(_bytes_within(data))
    for value in fields.values():
        if value not in raw:
            value.decode("utf-8")


CHECKS: dict[str, Callable[[object, str | None, dict[Any, Any]], None]] = {
    "json": _check_json,
    "text": _check_line(" INFO "),
    "logfmt": _check_line("level=info"),
    "rfc5424": _check_syslog(b"<14>1 "),
    "rfc3164": _check_syslog(b"<14>"),
    "journal": _check_journal,
}


# -- unknown objects: repr once per object for every sink, bounded, a slow type skipped ---------


class Counted:
    """An object the formats do not know, whose ``__repr__`` counts its calls."""

    calls = 0

    def __init__(self, text: str = "<a Counted>", delay: float = 0.0) -> None:
        self.text = text
        self.delay = delay

    def __repr__(self) -> str:
        type(self).calls += 1
        if self.delay:
            time.sleep(self.delay)  # a __repr__ that queries a database, say
        return self.text


class SlowRepr(Counted):
    """A type whose ``__repr__`` is slow."""

    calls = 0


async def three_files(tmp_path: Path, emit: Callable[[Telemetry], None]) -> list[str]:
    """Emit through three file handlers (json, text, logfmt); return what each file holds."""
    paths = {fmt: tmp_path / f"app.{fmt}" for fmt in ("json", "text", "logfmt")}
    hub = Telemetry(handlers={fmt: FileSink(p, format=fmt) for fmt, p in paths.items()})
    async with hub:
        emit(hub)
    stats = await hub.aclose()
    assert_accounted(stats)
    return [p.read_text() for p in paths.values()]


async def test_repr_runs_once_per_object_whatever_the_number_of_sinks(tmp_path: Path) -> None:
    """An unknown object in a signal that goes to three sinks has its __repr__ called once,
    and every sink writes that text."""
    Counted.calls = 0
    thing = Counted("<the thing>")
    outputs = await three_files(tmp_path, lambda hub: hub.log_nowait("info", "m", thing=thing))
    assert Counted.calls == 1
    assert all("<the thing>" in out for out in outputs)


async def test_a_huge_repr_is_cut_and_marked(tmp_path: Path) -> None:
    """A repr of a megabyte is written cut to MAX_REPR characters, with how much was left."""
    big = Counted("x" * 1_000_000)
    outputs = await three_files(tmp_path, lambda hub: hub.log_nowait("info", "m", big=big))
    for out in outputs:
        assert "x" * MAX_REPR in out
        assert "x" * (MAX_REPR + 1) not in out
        assert f"<{1_000_000 - MAX_REPR} more characters>" in out


async def test_a_type_with_a_slow_repr_is_asked_once(tmp_path: Path) -> None:
    """Fifty signals each carrying a new instance of a type whose __repr__ is slow: the first
    is written with its repr, the others as ``<SlowRepr object>``: the slow call runs once,
    not once per signal and sink."""
    SlowRepr.calls = 0

    def emit(hub: Telemetry) -> None:
        for i in range(50):
            hub.log_nowait("info", "m", slow=SlowRepr(f"<slow {i}>", delay=SLOW_REPR_S * 5))

    outputs = await three_files(tmp_path, emit)
    assert SlowRepr.calls == 1
    for out in outputs:
        assert out.count("<slow 0>") == 1
        assert out.count("<SlowRepr object>") == 49
