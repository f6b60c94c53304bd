"""The journald sink against a real systemd-journald (see ``tests/sinks/journal.py``), plus
property tests of its encoder with a small parser of the native protocol."""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import sys
import time
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import anyio.to_thread
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry import ConfigError, Level, Location, SinkError, Telemetry
from telemetry._signal import error_info, new_span_id, new_trace_id
from telemetry.sinks import JournaldSink
from telemetry.sinks.journald import (
    FIELD_NAME_MAX,
    MAX_FIELDS,
    RESERVED,
    JournalEncoder,
    field_name,
    format_traceback,
)
from telemetry.testing import make_signal
from tests.conftest import assert_accounted, require
from tests.sinks.journal import (  # noqa: F401 - journald_fixture provides `journald`
    Journal,
    have_journald,
    journald_fixture,
    running_journald,
    value,
)

VALID_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
BURST = 20_000
MEGABYTE = 1_000_000


def unix_queue_length() -> int:
    """How many datagrams a unix socket queues before its senders must wait."""
    return int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())


def parse_entry(data: bytes) -> list[tuple[str, bytes]]:
    """Split one native-protocol datagram into (name, value) pairs, as journald does: a line
    with ``=`` is ``KEY=VALUE``, a line without is a name followed by a 64-bit little-endian
    length, the value and a newline. Fails on anything left over."""
    fields = []
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        line = data[pos:end]
        if b"=" in line:
            name, _, val = line.partition(b"=")
            pos = end + 1
        else:
            name = line
            (size,) = struct.unpack_from("<Q", data, end + 1)
            start = end + 9
            val = data[start : start + size]
            assert len(val) == size
            assert data[start + size : start + size + 1] == b"\n"
            pos = start + size + 1
        fields.append((name.decode("ascii"), val))
    return fields


def entry_of(encoder: JournalEncoder, **fields: Any) -> dict[str, bytes]:
    """Encode a signal and parse it back into a mapping (names are unique by construction)."""
    parsed = parse_entry(encoder.encode(make_signal(**fields)))
    names = [name for name, _ in parsed]
    assert len(names) == len(set(names)), names
    return dict(parsed)


# -- the encoder, without journald ---------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_field_names_are_always_valid(key: str) -> None:
    """Any key becomes a valid journal field name, or None when it has no letter or digit."""
    name = field_name(key)
    usable = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode().upper()
    if any(c.isascii() and c.isalnum() for c in usable):
        assert name is not None
        assert VALID_NAME.fullmatch(name), name
        assert field_name(key) == name
    else:
        assert name is None


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("user_name", "USER_NAME"),
        ("http.status", "HTTP_STATUS"),
        ("2fa", "DATA_2FA"),
        ("_private", "PRIVATE"),
        ("café", "CAFE"),
        ("Content-Type", "CONTENT_TYPE"),
    ],
)
def test_field_name_examples(key: str, expected: str) -> None:
    """The documented sanitising rules, one example each."""
    assert field_name(key) == expected


def test_long_names_are_cut_with_a_stable_hash() -> None:
    """Two 200-character keys with the same beginning get distinct, stable 64-character names."""
    a, b = "k" * 150 + "a" * 50, "k" * 150 + "b" * 50
    name_a, name_b = field_name(a), field_name(b)
    assert name_a is not None
    assert name_b is not None
    assert len(name_a) == len(name_b) == FIELD_NAME_MAX
    assert name_a != name_b
    assert name_a.startswith("K" * 55 + "_")
    assert field_name(a) == name_a


values = st.one_of(
    st.text(),
    st.binary(),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    msg=st.text(),
    data=st.dictionaries(st.text(max_size=80), values, max_size=12),
    ctx=st.dictionaries(st.text(max_size=20), st.text(), max_size=4),
)
def test_entries_round_trip(msg: str, data: dict[str, Any], ctx: dict[str, str]) -> None:
    """Every encoded entry parses back whole: valid unique names, the message byte for byte,
    every data / context value that has a usable name, the rest counted."""
    encoder = JournalEncoder(identifier="t")
    parsed = parse_entry(encoder.encode(make_signal(msg, data=data, ctx=ctx)))
    names = [name for name, _ in parsed]
    assert all(VALID_NAME.fullmatch(n) for n in names), names
    assert len(names) == len(set(names))
    assert dict(parsed)["MESSAGE"] == msg.encode()
    sent = sorted(v for n, v in parsed if n not in RESERVED and n != "SYSLOG_IDENTIFIER")
    expected = []
    for origin in (data, ctx):
        for key, val in origin.items():
            if field_name(key) is None:
                continue
            if isinstance(val, str):
                expected.append(val.encode())
            elif isinstance(val, bytes):
                expected.append(val)
            else:
                expected.append(encoder._to_json(val))
    assert sent == sorted(expected)
    assert encoder.counters["invalid_fields"] == len(data) + len(ctx) - len(expected)


def test_nested_data_is_flattened_and_collisions_get_suffixes() -> None:
    """Nested mappings become NAME_SUB fields; a taken name gets _2, _3 in key order, and the
    sink's own fields are never overwritten."""
    fields = entry_of(
        JournalEncoder(identifier="t"),
        msg="the message",
        data={"http": {"status": 200, "path": "/x"}, "message": "data", "a.b": 1, "a_b": 2},
        ctx={"http_status": "ctx"},
    )
    assert fields["HTTP_STATUS"] == b"200"
    assert fields["HTTP_PATH"] == b"/x"
    assert fields["MESSAGE"] == b"the message"
    assert fields["MESSAGE_2"] == b"data"
    assert (fields["A_B"], fields["A_B_2"]) == (b"1", b"2")
    assert fields["HTTP_STATUS_2"] == b"ctx"


def test_too_many_fields_are_capped_and_counted() -> None:
    """journald refuses an entry with 1024 fields; the encoder stays under and counts the rest."""
    encoder = JournalEncoder(identifier="t")
    parsed = parse_entry(encoder.encode(make_signal(data={f"k{i}": i for i in range(1500)})))
    assert len(parsed) <= MAX_FIELDS
    data_fields = [n for n, _ in parsed if n.startswith("K")]
    assert len(data_fields) + encoder.counters["excess_fields"] == 1500


class _NamedKey:
    """A key whose str() is counted."""

    calls = 0

    def __init__(self, i: int) -> None:
        self.i = i

    def __str__(self) -> str:
        _NamedKey.calls += 1
        return f"k{self.i}"


def test_a_mapping_of_100k_keys_names_only_the_fields_written() -> None:
    """A value that is a dict of 100,000 keys fills the entry and counts the rest as excess
    fields, every item accounted for, without naming the keys that are left out."""
    encoder = JournalEncoder(identifier="t")
    _NamedKey.calls = 0
    wide = {_NamedKey(i): i for i in range(100_000)}
    parsed = parse_entry(encoder.encode(make_signal(data={"v": wide})))
    assert len(parsed) <= MAX_FIELDS
    data_fields = [n for n, _ in parsed if n.startswith("V_K")]
    assert len(data_fields) + encoder.counters["excess_fields"] == 100_000
    assert _NamedKey.calls == len(data_fields)


def test_priority_is_the_syslog_severity_of_the_level() -> None:
    """PRIORITY is Level.syslog_severity; a custom numeric level takes the one below it."""
    encoder = JournalEncoder(identifier="t")
    for lv in Level:
        assert entry_of(encoder, level=lv.label)["PRIORITY"] == str(lv.syslog_severity).encode()
    custom = msgspec.structs.replace(make_signal(), level=str(int(Level.ERROR) + 2))
    fields = dict(parse_entry(encoder.encode(custom)))
    assert fields["PRIORITY"] == str(Level.ERROR.syslog_severity).encode()


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"namespace": "a/b"}, "namespace"),
        ({"namespace": ""}, "namespace"),
        ({"namespace": "ns", "path": "/tmp/x"}, "namespace"),
        ({"identifier": ""}, "identifier"),
        ({"message_ids": {"x": "not-hex"}}, "message_ids"),
        ({"message_ids": {"x": 5}}, "message_ids"),
        ({"max_datagram": 0}, "max_datagram"),
        ({"sndbuf": -1}, "sndbuf"),
        ({"send_timeout": 0}, "send_timeout"),
    ],
)
def test_bad_configuration_fails_at_construction(kwargs: dict[str, Any], param: str) -> None:
    """Wrong options raise ConfigError naming the parameter, before anything is opened."""
    with pytest.raises(ConfigError) as info:
        JournaldSink(**kwargs)
    assert info.value.param == param


def test_namespace_names_its_socket() -> None:
    """namespace="NAME" means /run/systemd/journal.NAME/socket."""
    assert JournaldSink(namespace="web").path == "/run/systemd/journal.web/socket"
    assert JournaldSink().path == "/run/systemd/journal/socket"


# -- without a journald ---------------------------------------------------------------------------


async def test_open_without_journald_raises_naming_the_path(tmp_path: Any) -> None:
    """No socket: open() raises SinkError that names the path and the way out."""
    path = str(tmp_path / "journal.socket")
    with pytest.raises(SinkError, match=re.escape(path)) as info:
        await JournaldSink(path).open()
    assert "missing_ok=True" in str(info.value)
    absent = JournaldSink(namespace=f"absent{uuid.uuid4().hex[:8]}")
    with pytest.raises(SinkError, match=re.escape(absent.path)):
        await absent.open()


async def test_missing_ok_counts_and_drops(tmp_path: Any) -> None:
    """missing_ok=True: the hub runs, every signal is counted as journald_missing."""
    sink = JournaldSink(tmp_path / "journal.socket", missing_ok=True)
    async with Telemetry(handlers={"journal": sink}) as hub:
        for i in range(5):
            await hub.log("info", "nowhere", i=i)
    stats = await hub.aclose()
    assert_accounted(stats)
    assert stats.handlers["journal"].dropped == {"journald_missing": 5}


async def test_full_queue_times_out_and_the_retry_resumes(tmp_path: Any) -> None:
    """A receiver that stops reading makes write() fail after send_timeout; retrying the same
    batch sends only what is left, so nothing arrives twice. (A plain socket stands in for a
    stalled journald, which cannot be made to stall on cue.)"""
    path = str(tmp_path / "stalled.socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(path)
        receiver.setblocking(False)
        batch = [make_signal(f"m{i}") for i in range(unix_queue_length() + 5)]
        sink = JournaldSink(path, send_timeout=0.1)
        await sink.open()
        received: list[bytes] = []
        failures = 0
        for _attempt in range(10):
            try:
                await sink.write(batch)
                break
            except SinkError:
                failures += 1
            with contextlib.suppress(BlockingIOError):
                while True:
                    received.append(receiver.recv(65536))
        with contextlib.suppress(BlockingIOError):
            while True:
                received.append(receiver.recv(65536))
        await sink.aclose()
    uids = [dict(parse_entry(d))["TELEMETRY_UID"].decode() for d in received]
    assert failures >= 1
    assert uids == [sig.uid for sig in batch]


# -- against systemd-journald ---------------------------------------------------------------------


def _raise_chain() -> BaseException:
    def inner() -> None:
        raise KeyError("missing")

    try:
        try:
            inner()
        except KeyError as exc:
            raise ValueError("bad\nvalue") from exc
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


async def test_every_mapped_field_reads_back(journald: Journal) -> None:
    """Each field the sink maps arrives in the journal exactly as the signal had it."""
    ident = journald.unique()
    message_id = uuid.uuid4()
    err = error_info(_raise_chain())
    sig = make_signal(
        "user logged in",
        level="warn",
        kind="event",
        id="user.login",
        ns="app.auth",
        data={"user": "ada", "attempts": 3, "ok": True, "roles": ["a", "b"], "http": {"code": 1}},
        ctx={"request_id": "r-1"},
        error=err,
        location=Location(file="/srv/app/auth.py", line=42, function="login"),
        trace_id=new_trace_id(),
        span_id=new_span_id(),
        parent_id=new_span_id(),
        duration_ns=1_234_567,
        sample=0.5,
        thread="4242",
        task="Task-7",
    )
    sink = JournaldSink(
        namespace=journald.namespace, identifier=ident, message_ids={"user.login": message_id}
    )
    await sink.open()
    await sink.write([sig])
    await sink.aclose()
    (entry,) = await journald.wait_for(1, f"SYSLOG_IDENTIFIER={ident}")
    assert sig.location is not None
    expected = {
        "MESSAGE": sig.msg,
        "PRIORITY": str(Level.WARN.syslog_severity),
        "SYSLOG_IDENTIFIER": ident,
        "MESSAGE_ID": message_id.hex,
        "CODE_FILE": sig.location.file,
        "CODE_LINE": str(sig.location.line),
        "CODE_FUNC": sig.location.function,
        "TID": sig.thread,
        "TELEMETRY_THREAD": sig.thread,
        "TELEMETRY_TASK": sig.task,
        "TELEMETRY_ID": sig.id,
        "TELEMETRY_KIND": sig.kind,
        "TELEMETRY_LEVEL": sig.level,
        "TELEMETRY_UID": sig.uid,
        "TELEMETRY_INST": str(sig.inst),
        "TELEMETRY_NS": sig.ns,
        "TELEMETRY_TRACE_ID": sig.trace_id,
        "TELEMETRY_SPAN_ID": sig.span_id,
        "TELEMETRY_PARENT_ID": sig.parent_id,
        "TELEMETRY_DURATION_NS": str(sig.duration_ns),
        "TELEMETRY_SAMPLE": "0.5",
        "TELEMETRY_ERROR_TYPE": err.type,
        "TELEMETRY_ERROR_MESSAGE": err.message,
        "TELEMETRY_ERROR_TRACEBACK": format_traceback(err),
        "USER": "ada",
        "ATTEMPTS": "3",
        "OK": "true",
        "ROLES": '["a","b"]',
        "HTTP_CODE": "1",
        "REQUEST_ID": "r-1",
    }
    assert {name: value(entry, name) for name in expected} == expected
    assert "KeyError: 'missing'" in expected["TELEMETRY_ERROR_TRACEBACK"]
    assert entry["_TRANSPORT"] == "journal"


async def test_location_is_the_call_site(journald: Journal) -> None:
    """Through the hub, CODE_FILE / CODE_LINE / CODE_FUNC name the line that emitted."""
    ident = journald.unique()
    sink = JournaldSink(namespace=journald.namespace, identifier=ident)
    async with Telemetry(handlers={"journal": sink}) as hub:
        line = sys._getframe().f_lineno + 1
        await hub.log("warn", "from here")
    assert_accounted(await hub.aclose())
    (entry,) = await journald.wait_for(1, f"SYSLOG_IDENTIFIER={ident}")
    assert (entry["CODE_FILE"], entry["CODE_LINE"], entry["CODE_FUNC"]) == (
        __file__,
        str(line),
        "test_location_is_the_call_site",
    )
    assert entry["PRIORITY"] == str(Level.WARN.syslog_severity)


async def test_invalid_keys_are_sanitised_and_read_back(journald: Journal) -> None:
    """Keys journald would silently drop arrive under sanitised names; a key with nothing
    to name it by is counted, not sent."""
    ident = journald.unique()
    long_key = "very_long_key_" * 15
    data = {
        "lower": "1",
        "with.dots": "2",
        "9lives": "3",
        "__dunder": "4",
        long_key: "5",
        "naïve_ключ": "6",
        "日本": "7",
    }
    sink = JournaldSink(namespace=journald.namespace, identifier=ident)
    await sink.open()
    await sink.write([make_signal("keys", data=data)])
    await sink.aclose()
    (entry,) = await journald.wait_for(1, f"SYSLOG_IDENTIFIER={ident}")
    long_name = field_name(long_key)
    assert long_name is not None
    assert len(long_name) == FIELD_NAME_MAX
    assert entry["LOWER"] == "1"
    assert entry["WITH_DOTS"] == "2"
    assert entry["DATA_9LIVES"] == "3"
    assert entry["DUNDER"] == "4"
    assert entry[long_name] == "5"
    assert entry["NAIVE_"] == "6"
    assert "7" not in entry.values()
    assert sink.counters["invalid_fields"] == 1


async def test_newlines_nul_and_bytes_arrive_intact(journald: Journal) -> None:
    """Values with newlines, NUL bytes or non-UTF-8 bytes use the binary form and come back
    byte for byte."""
    ident = journald.unique()
    data = {
        "multi": "first line\nsecond line\n",
        "nul": "a\0b",
        "raw": b"\xff\xfe\x00\x01\n",
    }
    sink = JournaldSink(namespace=journald.namespace, identifier=ident)
    await sink.open()
    await sink.write([make_signal("line one\nline two", data=data)])
    await sink.aclose()
    (entry,) = await journald.wait_for(1, f"SYSLOG_IDENTIFIER={ident}")
    assert value(entry, "MESSAGE") == "line one\nline two"
    assert value(entry, "MULTI") == "first line\nsecond line\n"
    assert value(entry, "NUL") == b"a\0b"
    assert value(entry, "RAW") == b"\xff\xfe\x00\x01\n"


async def test_one_megabyte_message_arrives_whole_via_memfd(journald: Journal) -> None:
    """A 1 MB message is passed as a sealed memfd and stored whole."""
    ident = journald.unique()
    text = (uuid.uuid4().hex * (MEGABYTE // 32 + 1))[:MEGABYTE]
    sink = JournaldSink(namespace=journald.namespace, identifier=ident)
    await sink.open()
    t0 = time.perf_counter()
    await sink.write([make_signal(text)])
    elapsed = time.perf_counter() - t0
    await sink.aclose()
    (entry,) = await journald.wait_for(1, f"SYSLOG_IDENTIFIER={ident}")
    assert sink.counters["memfd"] == 1
    assert entry["MESSAGE"] == text
    print(f"\n1 MB message: write() took {elapsed * 1000:.2f} ms")


def test_long_values_are_joined_into_the_entry_in_their_places() -> None:
    """Long values (text with and without newlines, bytes, a list as JSON) set aside while
    the entry is built come back from it in their places, between short fields, byte for
    byte."""
    data = {
        "a": "short",
        "plain": "p" * 5000 + "é",
        "b": 1,
        "lines": "x\n" * 3000,
        "raw": bytes(range(256)) * 20,
        "items": list(range(2000)),
        "c": "end",
    }
    got = entry_of(JournalEncoder(identifier="app"), msg="m" * 9000, data=data)
    assert got["MESSAGE"] == b"m" * 9000
    assert got["PLAIN"] == data["plain"].encode()  # type: ignore[union-attr]
    assert got["LINES"] == data["lines"].encode()  # type: ignore[union-attr]
    assert got["RAW"] == data["raw"]
    assert got["ITEMS"] == msgspec.json.encode(data["items"])
    assert (got["A"], got["B"], got["C"]) == (b"short", b"1", b"end")


async def test_a_ten_megabyte_value_arrives_whole(journald: Journal) -> None:
    """An entry of 10 MB (its memfd filled off the loop) is stored whole: a long message, a
    long text value and long bytes, each in its field."""
    ident = journald.unique()
    text = (uuid.uuid4().hex * (4 * MEGABYTE // 32 + 1))[: 4 * MEGABYTE]
    raw = bytes(range(256)) * (2 * MEGABYTE // 256)
    sink = JournaldSink(namespace=journald.namespace, identifier=ident)
    await sink.open()
    await sink.write([make_signal(text, data={"body": text[::-1], "raw": raw})])
    await sink.aclose()
    (entry,) = await journald.wait_for(1, f"SYSLOG_IDENTIFIER={ident}")
    assert sink.counters["memfd"] == 1
    assert value(entry, "MESSAGE") == text
    assert value(entry, "BODY") == text[::-1]
    assert value(entry, "RAW") == raw


async def test_entry_refused_as_a_datagram_goes_through_memfd(journald: Journal) -> None:
    """An entry the kernel refuses as a datagram (EMSGSIZE) is resent through a memfd."""
    ident = journald.unique()
    text = "x" * 100_000
    sink = JournaldSink(
        namespace=journald.namespace, identifier=ident, sndbuf=4096, max_datagram=10**9
    )
    await sink.open()
    await sink.write([make_signal(text), make_signal("small")])
    await sink.aclose()
    entries = await journald.wait_for(2, f"SYSLOG_IDENTIFIER={ident}")
    assert sorted(e["MESSAGE"] for e in entries) == sorted([text, "small"])
    assert sink.counters["memfd"] == 1


async def test_too_many_fields_still_arrive(journald: Journal) -> None:
    """An entry with more fields than journald accepts is trimmed, stored, and the rest
    counted."""
    ident = journald.unique()
    sink = JournaldSink(namespace=journald.namespace, identifier=ident)
    await sink.open()
    await sink.write([make_signal("wide", data={f"k{i}": i for i in range(1500)})])
    await sink.aclose()
    (entry,) = await journald.wait_for(1, f"SYSLOG_IDENTIFIER={ident}")
    stored = [name for name in entry if re.fullmatch(r"K\d+", name)]
    assert len(stored) + sink.counters["excess_fields"] == 1500


async def test_write_sync_reaches_the_journal(journald: Journal) -> None:
    """write_sync (the exit fallback) sends with blocking waits and the entries arrive."""
    ident = journald.unique()
    sink = JournaldSink(namespace=journald.namespace, identifier=ident)
    await sink.open()
    sink.write_sync([make_signal(f"sync {i}") for i in range(50)])
    sink.close_sync()
    entries = await journald.wait_for(50, f"SYSLOG_IDENTIFIER={ident}")
    assert sorted(e["MESSAGE"] for e in entries) == sorted(f"sync {i}" for i in range(50))


async def test_burst_in_blocking_mode_loses_nothing(journald: Journal) -> None:
    """20,000 signals emitted as fast as possible in blocking mode all reach the journal."""
    ident = journald.unique()
    sink = JournaldSink(namespace=journald.namespace, identifier=ident)
    t0 = time.perf_counter()
    async with Telemetry(handlers={"journal": {"sink": sink, "mode": "blocking"}}) as hub:
        for i in range(BURST):
            await hub.log("info", "burst", seq=i)
    stats = await hub.aclose()
    elapsed = time.perf_counter() - t0
    assert_accounted(stats)
    assert stats.handlers["journal"].written == BURST
    entries = await journald.wait_for(BURST, f"SYSLOG_IDENTIFIER={ident}", fields="SEQ")
    assert sorted(int(e["SEQ"]) for e in entries) == list(range(BURST))
    print(
        f"\n{BURST} signals into journald in {elapsed:.2f} s: {BURST / elapsed:,.0f} signals/s "
        f"(waited for room {sink.counters['waits']} times)"
    )


async def test_journald_going_away_is_counted_and_survived() -> None:
    """journald stopping mid-run: its signals are counted (sink_error, or journald_missing
    with missing_ok) and never reach the app; once it is back the sink reconnects."""
    ok, reason = have_journald()
    require(ok, reason)
    with running_journald() as journal:
        ident = journal.unique()
        strict = JournaldSink(namespace=journal.namespace, identifier=ident)
        lenient = JournaldSink(namespace=journal.namespace, identifier=ident, missing_ok=True)
        hub = Telemetry(
            handlers={
                "strict": {"sink": strict, "max_retries": 1, "retry_backoff": 0.01},
                "lenient": {"sink": lenient},
            }
        )
        async with hub:
            await hub.log("info", "before")
            await hub.flush()
            await anyio.to_thread.run_sync(journal.stop)
            await hub.log("info", "while away")
            await hub.flush()
            await anyio.to_thread.run_sync(journal.start)
            await hub.log("info", "after")
            await hub.flush()
        stats = await hub.aclose()
        assert_accounted(stats)
        assert stats.handlers["strict"].dropped == {"sink_error": 1}
        assert stats.handlers["lenient"].dropped == {"journald_missing": 1}
        assert strict.counters["reconnects"] >= 1
        assert lenient.counters["reconnects"] >= 1
        entries = await journal.wait_for(4, f"SYSLOG_IDENTIFIER={ident}")
        assert sorted(e["MESSAGE"] for e in entries) == ["after", "after", "before", "before"]


# -- fields journald's tools trust ---------------------------------------------------------------

FORGED_FIELDS = {
    "OBJECT_SYSTEMD_UNIT": "forged-unit.service",
    "UNIT": "forged-unit.service",
    "USER_UNIT": "forged-unit.service",
    "COREDUMP_UNIT": "forged-unit.service",
    "SYSLOG_PID": 1,
    "SYSLOG_FACILITY": 0,
    "SYSLOG_IDENTIFIER": "sshd",
    "OBJECT_PID": 1,
}


async def test_data_cannot_set_fields_journald_tools_trust(journald: Journal) -> None:
    """Keys from user data that name fields journalctl trusts (OBJECT_*, UNIT, USER_UNIT,
    COREDUMP_*, SYSLOG_*) are written under DATA_ names: the entry does not show up under
    ``journalctl -u forged-unit.service`` nor with a forged pid or facility."""
    ident = journald.unique()
    sink = JournaldSink(namespace=journald.namespace, identifier=ident)
    await sink.open()
    await sink.write([make_signal("spoof", data=FORGED_FIELDS)])
    await sink.aclose()
    [entry] = await journald.wait_for(1, f"SYSLOG_IDENTIFIER={ident}")
    assert not journald.entries("--unit=forged-unit.service", f"SYSLOG_IDENTIFIER={ident}")
    for name in FORGED_FIELDS:
        assert value(entry, f"DATA_{name}") == str(FORGED_FIELDS[name])
        if name != "SYSLOG_IDENTIFIER":
            assert name not in entry, name
    assert value(entry, "SYSLOG_IDENTIFIER") == ident


async def test_allow_fields_lets_named_trusted_fields_through(journald: Journal) -> None:
    """``allow_fields`` names the trusted-looking fields data may set on purpose: those, and
    only those, are written as they are."""
    ident = journald.unique()
    sink = JournaldSink(
        namespace=journald.namespace, identifier=ident, allow_fields=("USER_UNIT", "SYSLOG_PID")
    )
    await sink.open()
    await sink.write([make_signal("on purpose", data=FORGED_FIELDS)])
    await sink.aclose()
    [entry] = await journald.wait_for(1, f"SYSLOG_IDENTIFIER={ident}")
    assert value(entry, "USER_UNIT") == "forged-unit.service"
    assert value(entry, "SYSLOG_PID") == "1"
    assert "OBJECT_SYSTEMD_UNIT" not in entry and "UNIT" not in entry


def test_allow_fields_must_name_fields() -> None:
    """allow_fields takes journal field names; anything else is a ConfigError."""
    with pytest.raises(ConfigError, match="allow_fields"):
        JournaldSink(allow_fields=("unit file",))
    with pytest.raises(ConfigError, match="allow_fields"):
        JournaldSink(allow_fields="UNIT")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [lambda: [list(range(1000))] * 3000, lambda: (123_456_789,) * 2_000_000],
    ids=["list-of-lists", "tuple"],
)
async def test_a_long_list_is_stored_whole_without_holding_the_loop(
    journald: Journal, make: Any
) -> None:
    """A list or tuple of millions of numbers is stored whole as JSON, and no step of the loop
    takes a quarter of what writing that JSON in one go takes (it is written some items at
    a time)."""
    from tests.sinks.test_huge import _LongestStep

    items = make()
    ident = journald.unique()
    sink = JournaldSink(namespace=journald.namespace, identifier=ident)
    hub = Telemetry(handlers={"j": {"sink": sink, "mode": "blocking"}}, location=False)
    await hub.open()
    with _LongestStep() as longest:
        await hub.log("info", "m", body=items)
        stats = await hub.aclose()
    assert stats.handlers["j"].written == 1
    c0 = time.thread_time()
    whole = msgspec.json.encode(items)
    one_go = time.thread_time() - c0
    (entry,) = await journald.wait_for(1, f"SYSLOG_IDENTIFIER={ident}")
    stored = value(entry, "BODY")
    assert (stored.encode() if isinstance(stored, str) else stored) == whole
    assert longest.cpu < one_go / 4, (longest.cpu, one_go)
