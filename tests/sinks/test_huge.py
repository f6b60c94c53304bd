"""Huge strings are written a piece at a time: the same bytes, and no long step of the loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import operator
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from telemetry import Signal, Telemetry
from telemetry.formats import (
    HUGE_VALUE_CHARS,
    HugeValue,
    JsonFormat,
    LogfmtFormat,
    TextFormat,
    json,
    logfmt,
    text,
)
from telemetry.sinks import FileSink, MemorySink, _encode, _huge
from telemetry.sinks._encode import Slicer
from telemetry.sinks._syslog_format import (
    TRUNCATION_MARK,
    Rfc3164Formatter,
    Rfc5424Formatter,
    escape_msg,
    truncate_utf8,
)
from telemetry.sinks._syslog_format import (
    _text as message_text,
)
from telemetry.testing import make_signal

#: A string whose every other character needs an escape (the dearest case for the text
#: formats) and whose spaces, quotes and ``=`` decide the quoting, with lines between.
_DEAR = 'a b="c"\x01\n\\=\t\u2028' * 40_000  # 480,000 characters


def _formats() -> list[TextFormat | LogfmtFormat | JsonFormat]:
    return [TextFormat(), TextFormat(colour=True), LogfmtFormat(), JsonFormat()]


@contextlib.contextmanager
def _small_pieces(huge: int, piece: int) -> Iterator[None]:
    """Strings over ``huge`` characters count as huge, and are written ``piece`` at a time, so
    that small examples cross every boundary."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_encode, "_HUGE", huge)
        mp.setattr(_huge, "HUGE_VALUE_CHARS", huge)
        mp.setattr(text, "STR_PIECE", piece)
        mp.setattr(logfmt, "STR_PIECE", piece)
        mp.setattr(json, "STR_PIECE", piece)
        mp.setattr(json, "BYTES_PIECE", 3 * piece)
        mp.setattr(json, "ITEMS_PIECE_BYTES", piece)
        mp.setattr(json, "_FIRST_ITEMS", piece)
        yield


_text = st.text(
    st.one_of(
        st.sampled_from(' ="\\\n\r\t\x00\x01\x1b\x7f\x85\u2028\u2029é€😀'),
        st.characters(),  # lone surrogates too: they are repaired, the one-go way
    ),
    max_size=40,
)
_values = st.one_of(
    _text,
    st.binary(max_size=40),
    st.integers(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.lists(st.one_of(_text, st.integers()), max_size=9).map(tuple),
    st.dictionaries(st.one_of(_text, st.integers(-3, 3)), st.one_of(_text, st.none()), max_size=9),
)


@settings(max_examples=300, deadline=None)
@example(  # a bad small value, and a huge one the pieces refuse: repaired once
    msg=None, data={"a": "\ud800", "b": "x" * 20 + "\udc00"}, ctx={}, others=0, huge=4, piece=3
)
@given(
    msg=st.one_of(st.none(), _text),
    data=st.dictionaries(st.sampled_from(["a", "b c", "k=v", "é"]), _values, max_size=4),
    ctx=st.dictionaries(st.sampled_from(["request_id", "user"]), _text, max_size=2),
    others=st.integers(0, 3),
    huge=st.integers(0, 12),
    piece=st.integers(1, 7),
)
def test_pieces_give_the_bytes_of_one_go(
    msg: str | None,
    data: dict[str, object],
    ctx: dict[str, str],
    others: int,
    huge: int,
    piece: int,
) -> None:
    """Whatever the strings (quotes, escapes, line separators, lone surrogates) and bytes, and
    wherever the pieces are cut, a batch with huge values is byte for byte what encoding it in
    one go gives, in every format (JSON lines too), with the same count of repaired values."""
    sig = make_signal(msg, data=data, ctx=ctx)
    batch = [make_signal("before", data={"i": i}) for i in range(others)] + [sig]
    batch += [make_signal("after")]
    for sliced, whole in zip(_formats(), _formats(), strict=True):
        with _small_pieces(huge, piece):
            got = asyncio.run(Slicer().encode(sliced, batch))
        assert got == whole.encode_batch(batch), sliced.name
        assert sliced.repaired == whole.repaired


@pytest.mark.parametrize("make", [TextFormat, LogfmtFormat, JsonFormat])
def test_a_huge_string_is_found_while_writing_the_line(make: type) -> None:
    """encode_slice stops at a string value (or message) over the limit, and writes an
    ordinary batch exactly as encode_batch."""
    fmt = make()
    ordinary = [make_signal("m", data={"s": "x" * HUGE_VALUE_CHARS, "b": b"x" * 10})]
    assert fmt.encode_slice(ordinary, HUGE_VALUE_CHARS) == make().encode_batch(ordinary)
    for sig in (
        make_signal("m", data={"s": "x" * (HUGE_VALUE_CHARS + 1)}),
        make_signal("m", ctx={"s": "x" * (HUGE_VALUE_CHARS + 1)}),
        make_signal("x" * (HUGE_VALUE_CHARS + 1)),
    ):
        with pytest.raises(HugeValue):
            fmt.encode_slice([sig], HUGE_VALUE_CHARS)


def test_a_huge_bound_value_is_found_whichever_signal_of_a_slice_carries_it() -> None:
    """JSON looks at a bound context shared by the signals of a slice once, and at every other
    one: a huge value in a context that only a later signal carries is still found, and a
    slice whose signals all share an ordinary context is written as encode_batch writes it."""
    shared = {"request_id": "r1", "user": "u" * 100}
    ordinary = [make_signal("m", ctx=shared) for _ in range(5)]
    assert JsonFormat().encode_slice(ordinary, HUGE_VALUE_CHARS) == JsonFormat().encode_batch(
        ordinary
    )
    later = make_signal("m", ctx={**shared, "s": "x" * (HUGE_VALUE_CHARS + 1)})
    with pytest.raises(HugeValue):
        JsonFormat().encode_slice([*ordinary, later, *ordinary], HUGE_VALUE_CHARS)


class _LongestStep:
    """The most CPU time any one callback of the loop took while the block ran (CPU time of
    this thread: a step the machine's scheduler preempted does not look long), the garbage
    collector's own passes left out: they walk whatever the process holds (a young collection
    with a new 4-million-item list alive takes 10 to 20 ms, a full one up to 70 ms here) in
    whichever step happened to allocate when one came, and are not that step's work. Only
    this thread's loop is timed, not a receiver's loop in another thread."""

    def __enter__(self) -> _LongestStep:
        self.cpu = 0.0
        self.collector = 0.0  # the collector's CPU time in this thread since the block began
        self._run = run = asyncio.events.Handle._run
        here = threading.get_ident()
        self._open = True
        self._c0 = time.thread_time()
        self._g0 = 0.0
        started = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if threading.get_ident() != here:
                return
            if phase == "start":
                started[0] = time.thread_time()
            else:
                self.collector += time.thread_time() - started[0]

        self._on_gc = on_gc
        gc.callbacks.append(on_gc)

        def timed(handle: asyncio.events.Handle) -> None:
            if threading.get_ident() != here:
                run(handle)
                return
            c0 = self._c0 = time.thread_time()
            g0 = self._g0 = self.collector
            try:
                run(handle)
            finally:
                # The step that leaves the block goes on with the test's own work: it is
                # timed up to the block's end only (by __exit__).
                if self._open:
                    spent = time.thread_time() - c0 - (self.collector - g0)
                    self.cpu = max(self.cpu, spent)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self._open = False
        # The step running now.
        spent = time.thread_time() - self._c0 - (self.collector - self._g0)
        self.cpu = max(self.cpu, spent)
        asyncio.events.Handle._run = self._run  # type: ignore[method-assign]
        gc.callbacks.remove(self._on_gc)


_ONE_GO = {"text": TextFormat, "logfmt": LogfmtFormat, "json": JsonFormat}


@pytest.mark.parametrize(
    ("fmt", "value"),
    [
        ("text", _DEAR),
        ("logfmt", _DEAR),
        # msgspec writes JSON a hundred times faster: values big enough that one go takes
        # many times the step budget (a quarter of it is the bound below).
        ("json", _DEAR * 16),
        ("json", bytes(range(256)) * 131_072),
        ("json", list(range(2_000_000))),
        # Values of 40 characters (one shared string): one go takes well over the step budget.
        ("json", {f"key{i}": "v" * 40 for i in range(400_000)}),
        ("json", [list(range(1000))] * 8000),  # one row, 8,000 times: 8M numbers to write
    ],
    ids=["text", "logfmt", "json", "json-bytes", "json-list", "json-dict", "json-nested"],
)
async def test_a_huge_value_does_not_hold_the_loop(tmp_path: Path, fmt: str, value: object) -> None:
    """A signal logged with huge strings (every other character to be escaped) as a value
    and as the message, or huge bytes, a long list, dict or list of lists, goes to the file
    exactly as encoding it in one go writes it, and no step of the loop takes a quarter of what
    that one go takes."""
    memory = MemorySink()
    sink = FileSink(tmp_path / "out.log", format=fmt)  # type: ignore[arg-type]
    hub = Telemetry(handlers={"f": {"sink": sink, "mode": "blocking"}, "m": memory}, location=False)
    await hub.open()
    msg = value if isinstance(value, str) else "m"
    with _LongestStep() as longest:
        await hub.log("info", msg, body=value, n=1)
        stats = await hub.aclose()
    (sig,) = memory.signals
    one_go = _ONE_GO[fmt]()
    c0 = time.thread_time()
    expected = one_go.encode_batch([sig])
    whole = time.thread_time() - c0
    assert (tmp_path / "out.log").read_bytes() == expected
    assert stats.handlers["f"].written == 1
    assert longest.cpu < whole / 4, (longest.cpu, whole)


@settings(max_examples=500, deadline=None)
@given(
    value=st.one_of(_text, st.text(max_size=60), st.binary(max_size=60)), piece=st.integers(1, 9)
)
def test_json_pieces_join_to_the_value_in_one_go(value: str | bytes, piece: int) -> None:
    """msgspec escapes each character of a string on its own (controls, quotes, backslashes,
    line separators, astral characters) and base64 is cut at whole 3 bytes: the pieces of a
    value joined are its JSON in one go, quotes included; a string msgspec refuses (a lone
    surrogate) is refused by the pieces too."""
    fmt = JsonFormat()
    try:
        whole = fmt._encoder.encode(value)
    except UnicodeEncodeError:
        whole = None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(json, "STR_PIECE", piece)
        mp.setattr(json, "BYTES_PIECE", 3 * piece)
        pieces = fmt.pieces(value)
        assert pieces is not None
        inside: list[bytes] = []
        try:
            while True:
                inside.append(next(pieces))
        except StopIteration as stop:
            opening, closing = stop.value
        except UnicodeEncodeError:
            assert whole is None
            return
    assert opening + b"".join(inside) + closing == whole


_items = st.one_of(
    _text, st.integers(), st.none(), st.binary(max_size=9), st.lists(_text, max_size=3)
)


@settings(max_examples=500, deadline=None)
@given(
    value=st.one_of(
        st.lists(_items, max_size=30),
        st.lists(_items, max_size=30).map(tuple),
        st.dictionaries(st.one_of(_text, st.integers(-9, 9), st.booleans()), _items, max_size=30),
    ),
    piece=st.integers(1, 9),
)
def test_json_container_pieces_join_to_the_value_in_one_go(
    value: list[object] | tuple[object, ...] | dict[object, object], piece: int
) -> None:
    """A list, tuple or dict cut into pieces of items (members in insertion order, keys of any
    type msgspec writes as strings) joins byte for byte to its JSON in one go; a value msgspec
    refuses (a lone surrogate, a key it cannot write) is refused by the pieces too."""
    fmt = JsonFormat()
    try:
        whole = fmt._encoder.encode(value)
    except (UnicodeEncodeError, TypeError):
        whole = None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(json, "ITEMS_PIECE_BYTES", 4 * piece)
        mp.setattr(json, "_FIRST_ITEMS", piece)
        pieces = fmt.pieces(value)
        assert pieces is not None
        inside: list[bytes] = []
        try:
            while True:
                inside.append(next(pieces))
        except StopIteration as stop:
            opening, closing = stop.value
        except (UnicodeEncodeError, TypeError):
            assert whole is None
            return
    assert opening + b"".join(inside) + closing == whole


#: Text whose characters that matter (quotes, escapes, non-ASCII) may come only past the limit.
_long_text = st.builds(
    operator.add,
    st.integers(0, 200).map(lambda n: "ab" * (n // 2)),
    st.text(
        st.one_of(st.sampled_from(' ="]\\\n\x01\x85\u2028é😀'), st.characters(codec="utf-8")),
        max_size=20,
    ),
)


def _untruncated_5424(fmt: Rfc5424Formatter, sig: Signal, limit: int) -> tuple[bytes, bool]:
    """What the RFC 5424 formatter wrote before values were cut: the whole message, then
    truncated to ``limit`` as its ``_truncate`` does."""
    full, _ = fmt.format(sig, None)
    if len(full) <= limit:
        return full, False
    head = b" ".join(full.split(b" ", 6)[:6]).decode() + " "
    text = escape_msg(message_text(sig))
    body = text.encode("utf-8", "backslashreplace")
    if fmt.bom and len(body) != len(text):
        body = b"\xef\xbb\xbf" + body
    return fmt._truncate(head, fmt.params(sig), body, limit), True


@settings(max_examples=300, deadline=None)
@given(
    msg=_long_text,
    data=st.dictionaries(st.sampled_from(["a", "b", "k c"]), _long_text, max_size=3),
    ctx=st.dictionaries(st.sampled_from(["user"]), _long_text, max_size=1),
    limit=st.integers(40, 160),
)
@example(msg="", data={"a": "ab" * 60 + " x"}, ctx={}, limit=100)  # quoted for a late space
@example(msg="ab" * 100 + "é", data={}, ctx={}, limit=100)  # a BOM for a late "é"
def test_syslog_cuts_long_values_to_the_same_message(
    msg: str, data: dict[str, str], ctx: dict[str, str], limit: int
) -> None:
    """Syslog formatters cut a value or message longer than the message limit before escaping
    it (so a 10 MB value costs microseconds, not seconds), and the message is byte for byte
    the one truncating the whole gives, in both formats."""
    sig = make_signal(msg or None, data=data, ctx=ctx)
    rfc5424 = Rfc5424Formatter(facility=1, app_name="app", hostname="h")
    assert rfc5424.format(sig, limit) == _untruncated_5424(rfc5424, sig, limit)
    rfc3164 = Rfc3164Formatter(facility=1, app_name="app")
    full, _ = rfc3164.format(sig, None)
    if len(full) > limit:
        expected = truncate_utf8(full, limit - len(TRUNCATION_MARK)) + TRUNCATION_MARK.encode()
        assert rfc3164.format(sig, limit) == (expected, True)
    else:
        assert rfc3164.format(sig, limit) == (full, False)


#: Values whose record is far too long to encode in one step of the loop: strings and bytes
#: several times ``max_bytes`` (cut to fit), containers of hundreds of thousands of items
#: (the list of ints fits in protobuf, not in JSON).
_OTLP_VALUES: dict[str, Callable[[], object]] = {  # built when a test runs, then let go
    "str": lambda: "GET /a?b=c é " * 2_500_000,
    "bytes": lambda: bytes(range(256)) * 131_072,
    "list": lambda: list(range(300_000)),
    "dict": lambda: {f"key{i}": i for i in range(100_000)},
    "nested": lambda: [list(range(1000))] * 300,
}


def _otlp_one_go(protocol: str, sig: Signal) -> float:
    """CPU time of encoding the record of ``sig`` in one go, as the sink did before it looked
    for huge values."""
    from telemetry.sinks import _otlp_json, _otlp_map, _otlp_wire

    with pytest.MonkeyPatch.context() as mp:
        # (raising=False: the encoders of before had no such limits, and run the same.)
        mp.setattr(_otlp_wire, "_HUGE_TEXT", float("inf"), raising=False)
        mp.setattr(_otlp_json, "_HUGE_TEXT", float("inf"), raising=False)
        mp.setattr(_otlp_map, "ITEMS_IN_ONE_GO", float("inf"), raising=False)
        encode = (
            _otlp_json.JsonLogs({}, "").record if protocol == "http/json" else _otlp_wire.log_record
        )
        c0 = time.thread_time()
        encode(sig)
        return time.thread_time() - c0


def _check_cut(value: object, got: object, cut: bool) -> None:
    """``got`` is ``value``, or, if ``cut``, its start with the mark at the end (a list's last
    item kept may be cut itself)."""
    if not cut:
        assert got == value
    elif isinstance(value, (str, bytes)):
        mark = TRUNCATION_MARK if isinstance(value, str) else TRUNCATION_MARK.encode()
        assert isinstance(got, type(value)) and got.endswith(mark)  # type: ignore[arg-type]
        kept = got[: -len(mark)]  # type: ignore[index]
        assert value.startswith(kept) and len(kept) < len(value)  # type: ignore[arg-type]
    elif isinstance(value, dict):
        assert isinstance(got, dict)
        left = got.pop(TRUNCATION_MARK)
        assert got == dict(list(value.items())[: len(got)])
        assert left == f"{len(value) - len(got)} more"
    else:
        assert isinstance(got, list) and isinstance(value, list)
        *kept, mark = got
        assert mark == f"{TRUNCATION_MARK} {len(value) - len(kept)} more"
        assert kept[:-1] == value[: len(kept) - 1]
        last, whole = kept[-1], value[len(kept) - 1]
        _check_cut(whole, last, last != whole)


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
@pytest.mark.parametrize("shape", list(_OTLP_VALUES))
async def test_a_huge_value_does_not_hold_the_loop_over_otlp(shape: str, protocol: str) -> None:
    """A log record carrying a huge string, bytes, list, dict or list of lists reaches a real
    OTLP receiver whole if it fits max_bytes, else with the value cut to fit and marked
    (counted as truncated), and no step of the loop takes a quarter of what encoding that
    record in one go takes."""
    from tests.conftest import assert_accounted, needs

    needs("httpx", "opentelemetry.proto")
    from telemetry.sinks import OTLPSink
    from tests.sinks.otlp_receiver import receiving_in_thread
    from tests.sinks.test_otlp import attrs

    value = _OTLP_VALUES[shape]()
    memory = MemorySink()
    with receiving_in_thread() as rx:
        sink = OTLPSink(rx.receiver.endpoint, env={}, service_name="t", protocol=protocol)
        handlers = {"o": {"sink": sink, "mode": "blocking"}, "m": memory}
        # The receiver decodes in a thread of this process: on a busy machine a request of a
        # few MB in JSON takes it seconds, and the close must not give up on the record.
        hub = Telemetry(handlers=handlers, location=False, close_timeout=120)
        await hub.open()
        with _LongestStep() as longest:
            await hub.log("info", "m", body=value, n=1)
            stats = await hub.aclose()
        records = rx.receiver.log_records()
    assert_accounted(stats)
    h = stats.handlers["o"]
    assert (h.written, h.dropped) == (1, {})
    (record,) = records
    got = attrs(record)
    assert got["n"] == 1 and record.body.string_value == "m"
    cut = h.sink_counters.get("truncated", 0)
    _check_cut(value, got["body"], cut == 1)
    if shape in ("str", "bytes") or (shape == "list" and protocol == "http/json"):
        assert cut == 1  # cut to what fits in a request: most of it
        assert len(got["body"]) > (2_000_000 if shape in ("str", "bytes") else 100_000)
    (sig,) = memory.signals
    whole = _otlp_one_go(protocol, sig)
    assert longest.cpu < whole / 4, (longest.cpu, whole)


_json_values = st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(st.integers(), _long_text, st.none()), max_size=120),
    st.lists(st.lists(st.integers(), max_size=30), max_size=20).map(tuple),
    st.dictionaries(st.text("abk", max_size=3), st.one_of(st.integers(), _long_text), max_size=60),
)


@settings(max_examples=300, deadline=None)
@given(
    msg=_long_text,
    data=st.dictionaries(st.sampled_from(["a", "b"]), _json_values, max_size=2),
    limit=st.integers(40, 400),
)
@example(msg="m", data={"a": list(range(200))}, limit=60)  # a list of ints, never quoted
@example(msg="m", data={"a": [0] * 50 + ["x y"]}, limit=60)  # quoted for a late space
def test_syslog_writes_only_the_start_of_long_json_values(
    msg: str, data: dict[str, object], limit: int
) -> None:
    """A bytes value, list, tuple or dict whose JSON is longer than the message limit is
    written only as far as the message holds (so 10 MB of bytes or a million items cost
    microseconds, not tens of milliseconds), and the message is byte for byte the one
    truncating the whole gives, in both formats."""
    sig = make_signal(msg, data=data)
    rfc5424 = Rfc5424Formatter(facility=1, app_name="app", hostname="h")
    assert rfc5424.format(sig, limit) == _untruncated_5424(rfc5424, sig, limit)
    rfc3164 = Rfc3164Formatter(facility=1, app_name="app")
    full, _ = rfc3164.format(sig, None)
    if len(full) > limit:
        expected = truncate_utf8(full, limit - len(TRUNCATION_MARK)) + TRUNCATION_MARK.encode()
        assert rfc3164.format(sig, limit) == (expected, True)
    else:
        assert rfc3164.format(sig, limit) == (full, False)


#: Values whose JSON takes many times a step's budget to write whole (msgspec is fast).
_SYSLOG_VALUES: dict[str, Callable[[], object]] = {
    "bytes": lambda: bytes(range(256)) * 131_072,  # 32 MiB, 43 MiB of base64
    "list": lambda: [123_456_789] * 4_000_000,
    "dict": lambda: {f"key{i}": "v" * 40 for i in range(400_000)},
    "nested": lambda: [list(range(1000))] * 8000,
}


@pytest.mark.parametrize("shape", list(_SYSLOG_VALUES))
async def test_a_huge_json_value_does_not_hold_the_loop_over_syslog(shape: str) -> None:
    """A signal carrying huge bytes, a long list, dict or list of lists reaches a real UDP
    socket as the message truncating its whole JSON gives, and no step of the loop takes a
    quarter of what writing that JSON whole takes."""
    from telemetry.sinks import SyslogSink

    value = _SYSLOG_VALUES[shape]()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    try:
        port = rx.getsockname()[1]
        sink = SyslogSink("127.0.0.1", transport="udp", port=port, app_name="app", facility="user")
        memory = MemorySink()
        handlers = {"s": {"sink": sink, "mode": "blocking"}, "m": memory}
        hub = Telemetry(handlers=handlers, location=False)
        await hub.open()
        with _LongestStep() as longest:
            await hub.log("info", "m", body=value)
            stats = await hub.aclose()
        rx.settimeout(5)
        datagram = rx.recv(1 << 16)
    finally:
        rx.close()
    assert stats.handlers["s"].written == 1
    (sig,) = memory.signals
    fmt = Rfc5424Formatter(facility=1, app_name="app", hostname=None)
    assert sink.max_message_size is not None
    assert (datagram, True) == _untruncated_5424(fmt, sig, sink.max_message_size)
    c0 = time.thread_time()
    fmt.value(value)
    whole = time.thread_time() - c0
    assert longest.cpu < whole / 4, (longest.cpu, whole)
